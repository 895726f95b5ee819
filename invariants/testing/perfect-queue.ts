// A perfect in-memory queue that records a history, for property tests and
// the benchmark: every acknowledged message is stored once, in order, and
// delivered in order; delayed messages appear when due; failed consumption
// goes through a retry queue and, past the maximum, the DLQ; a final drain
// reads everything. Its histories must never show an anomaly. One injected
// fault (loss, duplicate, reorder, early delivery) must show exactly one.
//
// Operations overlap the way real clients do: an actor's operation stays in
// flight until that actor's next action (or the heal), and takes effect at
// its completion.
import { HistoryBuilder, dlqTopic, queueKey, retryTopic, type History, type PollRead, type SendValue } from "../history.js";

export type SendOutcome = "ok" | "fail" | "info-stored" | "info-lost" | "txn-commit" | "txn-rollback";

export type Action =
  | {
      kind: "send";
      producer: number;
      key: number;
      ordered: boolean;
      /** 0 = not delayed. Delayed sends are never ordered. */
      delayMs: number;
      tag: "a" | "b";
      outcome: SendOutcome;
      /** Message key for query-by-key, or none. */
      msgKey: number | null;
      dtUs: number;
    }
  | { kind: "poll"; consumer: number; max: number; failFirst: boolean; dtUs: number }
  | { kind: "lookup"; msgKey: number; dtUs: number };

export type InjectionKind = "loss" | "duplicate" | "reorder" | "early";
export interface Injection {
  kind: InjectionKind;
  /** The send's value (values are "v<action index>"). */
  value: string;
}

export interface QueueParams {
  producers: number;
  consumers: number;
  keys: number;
  /** Consumers with an odd index subscribe to tag "a" only. */
  tagFilters: boolean;
  maxReconsumeTimes: number;
}

export const DEFAULT_PARAMS: QueueParams = { producers: 3, consumers: 2, keys: 3, tagFilters: true, maxReconsumeTimes: 2 };

export const TOPIC = "t";
const BROKER = "broker-a";
const DRAIN_BATCH = 64;
/** The delay an early-delivery injection claims: far beyond the run's end. */
const EARLY_DELAY_MS = 10_000_000;

export interface Candidates {
  loss: string[];
  duplicate: string[];
  reorder: string[];
  early: string[];
}

export interface QueueRun {
  history: History;
  /** Sends an injection of each kind may target. */
  candidates: Candidates;
}

interface InFlightSend {
  kind: "send";
  action: Extract<Action, { kind: "send" }>;
  value: SendValue;
  invokeTimeUs: number;
}
interface InFlightPoll {
  kind: "poll";
  action: Extract<Action, { kind: "poll" }>;
}
interface InFlightLookup {
  kind: "lookup";
  msgKey: string;
}
type InFlight = InFlightSend | InFlightPoll | InFlightLookup;

interface Actor {
  process: number;
  inFlight: InFlight | undefined;
}
interface Consumer extends Actor {
  group: string;
  tags: string[] | "*";
  cursors: number[];
}
interface RetryMessage {
  value: string;
  reconsumeTimes: number;
  offset: number;
}
interface Scheduled {
  dueUs: number;
  seq: number;
  key: number;
  value: string;
}

export function runPerfectQueue(actions: readonly Action[], params: QueueParams = DEFAULT_PARAMS, injection?: Injection): QueueRun {
  const b = new HistoryBuilder();
  const keys = Array.from({ length: params.keys }, (_, i) => queueKey(TOPIC, BROKER, i));
  const logs: string[][] = keys.map(() => []);
  const tagOf = new Map<string, string>();
  const index = new Map<string, string[]>();
  const schedule: Scheduled[] = [];
  const retries = new Map<string, RetryMessage[]>();
  const retryOffsets = new Map<string, number>();
  const dlq = new Map<string, string[]>();
  const candidates: Candidates = { loss: [], duplicate: [], reorder: [], early: [] };
  // Last ordered, stored, non-delayed ok send per (process, key): a reorder
  // candidate once the same process sends there again in order.
  const lastOrdered = new Map<string, string>();
  let deferred: { value: string; afterProcess: number; key: number } | undefined;
  let nowUs = 0;
  let seq = 0;

  const producers: Actor[] = Array.from({ length: params.producers }, () => ({ process: b.newProcess(), inFlight: undefined }));
  const consumers: Consumer[] = Array.from({ length: params.consumers }, (_, i) => ({
    process: b.newProcess(),
    inFlight: undefined,
    group: `g${i}`,
    tags: params.tagFilters && i % 2 === 1 ? ["a"] : "*",
    cursors: keys.map(() => 0),
  }));
  const admin: Actor = { process: b.newProcess(), inFlight: undefined };

  b.phase("workload", 0);
  for (let k = 0; k < keys.length; k++) {
    b.observe({ timeUs: 0, node: "n1", kind: "leader", group: keys[k]!, term: 1, leader: "n1" });
  }
  for (const c of consumers) b.event(c.process, "assign", { group: c.group, keys }, 0);

  const append = (k: number, value: string): number => {
    const log = logs[k]!;
    log.push(value);
    b.observe({ timeUs: nowUs, node: "n1", kind: "commit", group: keys[k]!, key: keys[k]!, index: log.length });
    return log.length - 1;
  };

  const flushSchedule = (): void => {
    if (schedule.length === 0) return;
    const due = schedule.filter((s) => s.dueUs <= nowUs).sort((x, y) => x.dueUs - y.dueUs || x.seq - y.seq);
    if (due.length === 0) return;
    for (const s of due) append(s.key, s.value);
    const rest = schedule.filter((s) => s.dueUs > nowUs);
    schedule.length = 0;
    schedule.push(...rest);
  };

  const completeSend = (actor: Actor, op: InFlightSend): void => {
    const { action, value } = op;
    const k = action.key;
    const inject = injection?.value === value.value ? injection.kind : undefined;
    const acked = action.outcome === "ok" || action.outcome === "txn-commit" || action.outcome === "txn-rollback";
    const stored = action.outcome === "ok" || action.outcome === "txn-commit" || action.outcome === "info-stored";
    let offset: number | undefined;
    if (stored && inject !== "loss") {
      if (value.delayMs !== undefined && inject !== "early") {
        schedule.push({ dueUs: Math.max(op.invokeTimeUs + value.delayMs * 1000, nowUs), seq: seq++, key: k, value: value.value });
      } else if (inject === "reorder") {
        deferred = { value: value.value, afterProcess: actor.process, key: k };
      } else {
        offset = append(k, value.value);
        if (inject === "duplicate") append(k, value.value);
        if (deferred !== undefined && deferred.afterProcess === actor.process && deferred.key === k && action.ordered) {
          append(k, deferred.value);
          deferred = undefined;
        }
      }
      if (value.keys !== undefined) for (const mk of value.keys) index.get(mk)?.push(value.value) ?? index.set(mk, [value.value]);
    } else if (acked && inject === "loss" && value.keys !== undefined) {
      // The broker acknowledged and indexed it, then lost the queue entry.
      for (const mk of value.keys) index.get(mk)?.push(value.value) ?? index.set(mk, [value.value]);
    }
    const type = acked ? "ok" : action.outcome === "fail" ? "fail" : "info";
    const reportOffset = type === "ok" && value.delayMs === undefined && inject === undefined && offset !== undefined;
    b.complete(actor.process, type, reportOffset ? { ...value, offset } : value, nowUs, type === "info" ? "timeout" : undefined);
    if (type === "info") actor.process = b.newProcess();

    // Candidates for the injections, judged on the uninjected run.
    if (action.outcome === "ok" || action.outcome === "txn-commit") {
      candidates.loss.push(value.value);
      if (value.delayMs === undefined) candidates.duplicate.push(value.value);
      if (value.delayMs !== undefined) candidates.early.push(value.value);
      if (value.delayMs === undefined && action.ordered) {
        const id = `${actor.process}\u0000${k}`;
        const previous = lastOrdered.get(id);
        if (previous !== undefined) candidates.reorder.push(previous);
        lastOrdered.set(id, value.value);
      }
    }
  };

  const completePoll = (c: Consumer, op: InFlightPoll, failFirst: boolean): void => {
    const reads: PollRead[] = [];
    const pendingRetries = retries.get(c.group) ?? [];
    while (reads.length < op.action.max && pendingRetries.length > 0) {
      const r = pendingRetries.shift()!;
      reads.push({ key: queueKey(retryTopic(c.group), BROKER, 0), topic: retryTopic(c.group), offset: r.offset, value: r.value, reconsumeTimes: r.reconsumeTimes });
    }
    for (let k = 0; k < keys.length && reads.length < op.action.max; k++) {
      const log = logs[k]!;
      while (c.cursors[k]! < log.length && reads.length < op.action.max) {
        const offset = c.cursors[k]!;
        c.cursors[k] = offset + 1;
        const value = log[offset]!;
        const tag = tagOf.get(value)!;
        if (c.tags !== "*" && !c.tags.includes(tag)) continue;
        reads.push({ key: keys[k]!, offset, value, tag });
      }
    }
    const done = { group: c.group, subscription: { topic: TOPIC, tags: c.tags }, reads };
    b.complete(c.process, "ok", done, nowUs);
    const first = reads[0];
    if (!failFirst || first === undefined) return;
    const reconsumeTimes = first.reconsumeTimes ?? 0;
    b.event(c.process, "consume-fail", { group: c.group, key: first.key, offset: first.offset, value: first.value, reconsumeTimes }, nowUs);
    if (reconsumeTimes >= params.maxReconsumeTimes) {
      dlq.get(c.group)?.push(first.value) ?? dlq.set(c.group, [first.value]);
    } else {
      const offset = retryOffsets.get(c.group) ?? 0;
      retryOffsets.set(c.group, offset + 1);
      pendingRetries.push({ value: first.value, reconsumeTimes: reconsumeTimes + 1, offset });
      retries.set(c.group, pendingRetries);
    }
  };

  const completeInFlight = (actor: Actor): void => {
    const op = actor.inFlight;
    if (op === undefined) return;
    actor.inFlight = undefined;
    if (op.kind === "send") completeSend(actor, op);
    else if (op.kind === "poll") completePoll(actor as Consumer, op, op.action.failFirst);
    else b.complete(actor.process, "ok", { topic: TOPIC, msgKey: op.msgKey, found: (index.get(op.msgKey) ?? []).slice() }, nowUs);
  };

  for (let i = 0; i < actions.length; i++) {
    const action = actions[i]!;
    nowUs += action.dtUs;
    flushSchedule();
    if (action.kind === "send") {
      const actor = producers[action.producer % producers.length]!;
      completeInFlight(actor);
      const value = `v${i}`;
      const inject = injection?.value === value ? injection.kind : undefined;
      const send: SendValue = { key: keys[action.key % keys.length]!, value, tag: action.tag };
      const delayed = action.delayMs > 0;
      if (delayed) send.delayMs = inject === "early" ? EARLY_DELAY_MS : action.delayMs;
      if (action.ordered && !delayed) send.ordered = true;
      if (action.msgKey !== null) send.keys = [`mk${action.msgKey}`];
      if (action.outcome === "txn-commit") send.txn = { outcome: "commit" };
      if (action.outcome === "txn-rollback") send.txn = { outcome: "rollback" };
      tagOf.set(value, action.tag);
      b.invoke(actor.process, "send", send, nowUs);
      actor.inFlight = { kind: "send", action: { ...action, key: action.key % keys.length, ordered: send.ordered === true }, value: send, invokeTimeUs: nowUs };
    } else if (action.kind === "poll") {
      const c = consumers[action.consumer % consumers.length]!;
      completeInFlight(c);
      b.invoke(c.process, "poll", { group: c.group, subscription: { topic: TOPIC, tags: c.tags }, reads: [] }, nowUs);
      c.inFlight = { kind: "poll", action };
    } else {
      completeInFlight(admin);
      const msgKey = `mk${action.msgKey}`;
      b.invoke(admin.process, "lookup", { topic: TOPIC, msgKey, found: [] }, nowUs);
      admin.inFlight = { kind: "lookup", msgKey };
    }
  }

  // Heal: everything in flight completes, delayed messages come due.
  nowUs += 1;
  b.phase("heal", nowUs);
  for (const p of producers) completeInFlight(p);
  for (const c of consumers) completeInFlight(c);
  completeInFlight(admin);
  if (deferred !== undefined) {
    // The reorder target's successor never came; store it anyway (not lost).
    append(deferred.key, deferred.value);
    deferred = undefined;
  }
  for (const s of schedule) nowUs = Math.max(nowUs, s.dueUs);
  flushSchedule();

  // Drain: each group empties its retry queue, then a fresh reader reads
  // every queue from the beginning and every DLQ.
  nowUs += 1;
  b.phase("drain", nowUs);
  for (const c of consumers) {
    while ((retries.get(c.group)?.length ?? 0) > 0) {
      b.invoke(c.process, "poll", { group: c.group, subscription: { topic: TOPIC, tags: c.tags }, reads: [] }, nowUs);
      completePoll(c, { kind: "poll", action: { kind: "poll", consumer: 0, max: DRAIN_BATCH, failFirst: false, dtUs: 0 } }, false);
    }
  }
  const reader = b.newProcess();
  b.event(reader, "assign", { group: "drain", keys, seekToBeginning: true }, nowUs);
  for (let k = 0; k < keys.length; k++) {
    const log = logs[k]!;
    for (let from = 0; from < log.length; from += DRAIN_BATCH) {
      const reads: PollRead[] = [];
      for (let offset = from; offset < Math.min(log.length, from + DRAIN_BATCH); offset++) {
        reads.push({ key: keys[k]!, offset, value: log[offset]!, tag: tagOf.get(log[offset]!)! });
      }
      b.invoke(reader, "poll", { group: "drain", reads: [] }, nowUs);
      b.complete(reader, "ok", { group: "drain", reads }, nowUs);
    }
  }
  for (const [group, values] of dlq) {
    const reads = values.map((value, offset) => ({ key: queueKey(dlqTopic(group), BROKER, 0), topic: dlqTopic(group), offset, value, dlq: true }));
    b.invoke(reader, "poll", { group: "drain", reads: [] }, nowUs);
    b.complete(reader, "ok", { group: "drain", reads }, nowUs);
  }

  // Replica observations of a healthy pair: identical committed logs, and
  // the follower dropping one uncommitted entry past its commit point.
  for (let k = 0; k < keys.length; k++) {
    const log = logs[k]!;
    const entries = log.map((value, i) => ({ index: i, term: 1, value }));
    b.observe({ timeUs: nowUs, node: "n2", kind: "commit", group: keys[k]!, index: log.length });
    b.observe({ timeUs: nowUs, node: "n1", kind: "log", group: keys[k]!, entries });
    b.observe({ timeUs: nowUs, node: "n2", kind: "log", group: keys[k]!, entries });
    const stale = { index: log.length, term: 0, value: `stale-${k}` };
    b.observe({ timeUs: nowUs, node: "n2", kind: "truncate", group: keys[k]!, fromIndex: log.length, entries: [stale] });
  }
  b.phase("drained", nowUs);
  return { history: b.build(), candidates };
}

/** A deterministic pseudo-random script (mulberry32), for the benchmark. */
export function seededScript(seed: number, length: number, params: QueueParams = DEFAULT_PARAMS): Action[] {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = (n: number): number => Math.floor(next() * n);
  const outcomes: SendOutcome[] = ["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "fail", "info-stored", "info-lost", "txn-commit", "txn-rollback"];
  const actions: Action[] = [];
  for (let i = 0; i < length; i++) {
    const r = next();
    const dtUs = pick(200);
    if (r < 0.6) {
      actions.push({
        kind: "send",
        producer: pick(params.producers),
        key: pick(params.keys),
        ordered: next() < 0.5,
        delayMs: next() < 0.05 ? 1 + pick(20) : 0,
        tag: next() < 0.5 ? "a" : "b",
        outcome: outcomes[pick(outcomes.length)]!,
        msgKey: next() < 0.1 ? pick(1000) : null,
        dtUs,
      });
    } else if (r < 0.999) {
      actions.push({ kind: "poll", consumer: pick(params.consumers), max: 1 + pick(8), failFirst: next() < 0.02, dtUs });
    } else {
      actions.push({ kind: "lookup", msgKey: pick(1000), dtUs });
    }
  }
  return actions;
}
