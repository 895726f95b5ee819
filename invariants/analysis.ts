// Derived indices shared by all checkers, built once per history in O(n)
// (plus one numeric sort of each key's offsets). Checkers only read it;
// lazily computed shared results go through `memo`, keyed by a fixed name,
// so the analysis stays a pure function of the history.
//
// Built for million-operation histories: each value is hashed once into
// `values`, a send and its reads share one ValueInfo, and a key whose known
// offsets are contiguous (the usual case) needs no offset → index map.
import {
  forEachPair,
  readKind,
  topicOfKey,
  type AssignValue,
  type CommitObservation,
  type CompletionType,
  type ConsumeFailValue,
  type History,
  type LeaderObservation,
  type LogObservation,
  type PhaseObservation,
  type PollRead,
  type ReadKind,
  type Rebalance,
  type SendValue,
  type Subscription,
  type TruncateObservation,
  type TxnOutcome,
} from "./history.js";

/** A send, with the fields of its completion when it completed `ok`/`info`. */
export interface SendRecord {
  process: number;
  /** `info` also stands for an invoke the run never completed. */
  type: CompletionType;
  key: string;
  topic: string;
  value: string;
  offset: number | undefined;
  tag: string | undefined;
  keys: readonly string[] | undefined;
  delayMs: number | undefined;
  ordered: boolean;
  txnOutcome: TxnOutcome | undefined;
  invokeIndex: number;
  invokeTimeUs: number;
  /** Index of the completion entry; +Infinity when never completed. */
  completeIndex: number;
  completeTimeUs: number;
  info: ValueInfo;
}

export interface PollRecord {
  process: number;
  type: CompletionType;
  group: string;
  subscription: Subscription | undefined;
  reads: readonly PollRead[];
  rebalance: Rebalance | undefined;
  invokeIndex: number;
  completeIndex: number;
  completeTimeUs: number;
}

export interface ConsumeFailRecord extends ConsumeFailValue {
  process: number;
  completeIndex: number;
  timeUs: number;
}

export interface AssignRecord extends AssignValue {
  process: number;
  completeIndex: number;
}

export interface LookupRecord {
  process: number;
  topic: string;
  msgKey: string;
  found: readonly string[];
  invokeIndex: number;
  completeIndex: number;
}

export interface Position {
  key: string;
  offset: number;
}

/** Everything known about one value. */
export interface ValueInfo {
  value: string;
  /** Its send; undefined if no send carried it (a phantom read). */
  send: SendRecord | undefined;
  /** Read by an `ok` poll, from any topic (retry and DLQ included). */
  okRead: boolean;
  /** Key of the first position in the version order; undefined if none. */
  firstKey: string | undefined;
  firstOffset: number;
  /** Further distinct positions (only duplicates have any). */
  more: Position[] | undefined;
}

/** Per key: offset → value(s) and the dense index of each known offset. */
export interface KeyOrder {
  key: string;
  /** The first value seen at each known offset. */
  firstValue: Map<number, string>;
  /** Further distinct values at an offset (only inconsistent offsets). */
  extraValues: Map<number, string[]>;
  /** Known offsets, ascending; `offsets[i]` has index i. */
  offsets: Float64Array;
  /** Set when offsets are not contiguous; otherwise index = offset − offsets[0]. */
  indexByOffset: Map<number, number> | undefined;
}

export interface Analysis {
  readonly kind: "mqsim.analysis";
  readonly history: History;
  /** Sends in completion order, then never-completed ones in invoke order. */
  readonly sends: SendRecord[];
  /** Polls of every completion type, in completion order. */
  readonly polls: PollRecord[];
  readonly consumeFails: ConsumeFailRecord[];
  /** Completed `ok` assign and subscribe ops, in completion order. */
  readonly assignments: AssignRecord[];
  /** Completed `ok` lookups, in completion order. */
  readonly lookups: LookupRecord[];
  /** Every value sent or read, in first-seen order. */
  readonly values: Map<string, ValueInfo>;
  /** Values with two or more positions, in the order they got the second. */
  readonly multiPositioned: ValueInfo[];
  /** Version order per key, in first-seen key order. */
  readonly keyOrders: Map<string, KeyOrder>;
  /** The final drain converged (a `drained` marker and no `drain-timeout`). */
  readonly drained: boolean;
  readonly drainTimeouts: PhaseObservation[];
  readonly leaders: LeaderObservation[];
  readonly commits: CommitObservation[];
  readonly logs: LogObservation[];
  readonly truncations: TruncateObservation[];
  readonly memo: Map<string, unknown>;
}

export function isAnalysis(input: History | Analysis): input is Analysis {
  return (input as Analysis).kind === "mqsim.analysis";
}

export function analysisOf(input: History | Analysis): Analysis {
  return isAnalysis(input) ? input : analyze(input);
}

/** Computes `compute()` once per analysis under `name`. */
export function memo<T>(a: Analysis, name: string, compute: () => T): T {
  if (a.memo.has(name)) return a.memo.get(name) as T;
  const value = compute();
  a.memo.set(name, value);
  return value;
}

export function analyze(history: History): Analysis {
  const sends: SendRecord[] = [];
  const polls: PollRecord[] = [];
  const consumeFails: ConsumeFailRecord[] = [];
  const assignments: AssignRecord[] = [];
  const lookups: LookupRecord[] = [];
  const values = new Map<string, ValueInfo>();
  /** topicOfKey per key: every send names one of a few keys, and slicing out the topic would build a string each time. */
  const topics = new Map<string, string>();
  const topicOf = (key: string): string => {
    let topic = topics.get(key);
    if (topic === undefined) topics.set(key, (topic = topicOfKey(key)));
    return topic;
  };

  const addSend = (process: number, type: CompletionType, v: SendValue, invokeIndex: number, invokeTimeUs: number, completeIndex: number, completeTimeUs: number): void => {
    let info = values.get(v.value);
    if (info === undefined) {
      info = { value: v.value, send: undefined, okRead: false, firstKey: undefined, firstOffset: 0, more: undefined };
      values.set(v.value, info);
    }
    const send: SendRecord = {
      process,
      type,
      key: v.key,
      topic: v.topic ?? topicOf(v.key),
      value: v.value,
      offset: v.offset,
      tag: v.tag,
      keys: v.keys,
      delayMs: v.delayMs,
      ordered: v.ordered === true,
      txnOutcome: v.txn?.outcome,
      invokeIndex,
      invokeTimeUs,
      completeIndex,
      completeTimeUs,
      info,
    };
    // Values are unique by contract; if a model breaks that, the first wins.
    if (info.send === undefined) info.send = send;
    sends.push(send);
  };

  const pending = forEachPair(history, (pair) => {
    const type = pair.complete.type as CompletionType;
    switch (pair.f) {
      case "send":
        // A failed send tells nothing new; its invoke says what was attempted.
        addSend(
          pair.process,
          type,
          type === "fail" ? pair.invoke.value : pair.complete.value,
          pair.invoke.index,
          pair.invoke.timeUs,
          pair.complete.index,
          pair.complete.timeUs,
        );
        break;
      case "poll": {
        const v = pair.complete.value;
        polls.push({
          process: pair.process,
          type,
          group: v.group,
          subscription: v.subscription ?? pair.invoke.value.subscription,
          reads: v.reads,
          rebalance: v.rebalance,
          invokeIndex: pair.invoke.index,
          completeIndex: pair.complete.index,
          completeTimeUs: pair.complete.timeUs,
        });
        break;
      }
      case "consume-fail":
        if (type === "ok") {
          consumeFails.push({ ...pair.complete.value, process: pair.process, completeIndex: pair.complete.index, timeUs: pair.complete.timeUs });
        }
        break;
      case "assign":
      case "subscribe":
        if (type === "ok") assignments.push({ ...pair.complete.value, process: pair.process, completeIndex: pair.complete.index });
        break;
      case "lookup":
        if (type === "ok") {
          const v = pair.complete.value;
          lookups.push({
            process: pair.process,
            topic: v.topic,
            msgKey: v.msgKey,
            found: v.found,
            invokeIndex: pair.invoke.index,
            completeIndex: pair.complete.index,
          });
        }
        break;
    }
  });
  // An invoke the run never completed may or may not have happened: `info`.
  for (const op of pending) {
    if (op.f === "send") addSend(op.process, "info", op.value, op.index, op.timeUs, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
  }

  const keyOrders = new Map<string, KeyOrder>();
  const multiPositioned: ValueInfo[] = [];
  let lastKey = "";
  let lastOrder: KeyOrder | undefined;
  const place = (key: string, offset: number, info: ValueInfo): void => {
    // Consecutive placements usually hit the same key; skip the map then.
    let order = key === lastKey ? lastOrder : keyOrders.get(key);
    if (order === undefined) {
      order = { key, firstValue: new Map(), extraValues: new Map(), offsets: new Float64Array(0), indexByOffset: undefined };
      keyOrders.set(key, order);
    }
    lastKey = key;
    lastOrder = order;
    const first = order.firstValue.get(offset);
    if (first === undefined) {
      order.firstValue.set(offset, info.value);
    } else if (first === info.value) {
      return;
    } else {
      const extra = order.extraValues.get(offset);
      if (extra === undefined) order.extraValues.set(offset, [info.value]);
      else if (extra.includes(info.value)) return;
      else extra.push(info.value);
    }
    if (info.firstKey === undefined) {
      info.firstKey = key;
      info.firstOffset = offset;
    } else if (info.more === undefined) {
      info.more = [{ key, offset }];
      multiPositioned.push(info);
    } else {
      info.more.push({ key, offset });
    }
  };

  // Version order (K L908): offsets from reads of ALL polls, because a poll
  // must only ever return safe data, and from sends that must have
  // committed. Reads go first because must-have-committed depends on them.
  for (const poll of polls) {
    const ok = poll.type === "ok";
    for (const read of poll.reads) {
      const value = read.value;
      let info = values.get(value);
      if (info === undefined) {
        info = { value, send: undefined, okRead: false, firstKey: undefined, firstOffset: 0, more: undefined };
        values.set(value, info);
      }
      if (ok) info.okRead = true;
      if (readKind(read) === "normal") place(read.key, read.offset, info);
    }
  }
  for (const send of sends) {
    if (send.offset !== undefined && mustHaveCommitted(send)) place(send.key, send.offset, send.info);
  }
  // The index is a dense renumbering of known offsets; gaps (transaction
  // markers, filtered or lost entries nobody reported) are tolerated.
  for (const order of keyOrders.values()) {
    // Filled by hand: Float64Array.from takes a slow generic path over an iterator.
    const offsets = new Float64Array(order.firstValue.size);
    let filled = 0;
    for (const offset of order.firstValue.keys()) offsets[filled++] = offset;
    offsets.sort();
    order.offsets = offsets;
    const n = offsets.length;
    if (n > 0 && offsets[n - 1]! - offsets[0]! !== n - 1) {
      const indexByOffset = new Map<number, number>();
      for (let i = 0; i < n; i++) indexByOffset.set(offsets[i]!, i);
      order.indexByOffset = indexByOffset;
    }
  }

  const leaders: LeaderObservation[] = [];
  const commits: CommitObservation[] = [];
  const logs: LogObservation[] = [];
  const truncations: TruncateObservation[] = [];
  let sawDrained = false;
  const drainTimeouts: PhaseObservation[] = [];
  for (const obs of history.observations) {
    switch (obs.kind) {
      case "leader":
        leaders.push(obs);
        break;
      case "commit":
        commits.push(obs);
        break;
      case "log":
        logs.push(obs);
        break;
      case "truncate":
        truncations.push(obs);
        break;
      case "phase":
        if (obs.phase === "drained") sawDrained = true;
        if (obs.phase === "drain-timeout") drainTimeouts.push(obs);
        break;
    }
  }

  return {
    kind: "mqsim.analysis",
    history,
    sends,
    polls,
    consumeFails,
    assignments,
    lookups,
    values,
    multiPositioned,
    keyOrders,
    drained: sawDrained && drainTimeouts.length === 0,
    drainTimeouts,
    leaders,
    commits,
    logs,
    truncations,
    memo: new Map(),
  };
}

/**
 * K's must-have-committed? (L788): the send completed `ok`, or it is
 * indeterminate (an `info` send, or an `ok` transactional send whose outcome
 * is unknown) and its value was read by an `ok` poll. `fail` and rolled-back
 * transactional sends never committed.
 */
export function mustHaveCommitted(send: SendRecord): boolean {
  if (send.type === "fail" || send.txnOutcome === "rollback") return false;
  if (send.type === "ok" && send.txnOutcome !== "unknown") return true;
  return send.info.okRead;
}

/** Whether an `ok` poll read `value`. */
export function wasReadOk(a: Analysis, value: string): boolean {
  return a.values.get(value)?.okRead === true;
}

/** The send that carried `value`, if any. */
export function sendOf(a: Analysis, value: string): SendRecord | undefined {
  return a.values.get(value)?.send;
}

/** All distinct positions of a value, in first-seen order. */
export function positionsOf(info: ValueInfo | undefined): Position[] {
  if (info?.firstKey === undefined) return [];
  const first = { key: info.firstKey, offset: info.firstOffset };
  return info.more === undefined ? [first] : [first, ...info.more];
}

/** Dense index of `offset` in a key's version order, if known. */
export function indexInOrder(order: KeyOrder, offset: number): number | undefined {
  if (order.indexByOffset !== undefined) return order.indexByOffset.get(offset);
  const index = offset - order.offsets[0]!;
  return index >= 0 && index < order.offsets.length ? index : undefined;
}

/** Dense index of (key, offset) in the version order, if known. */
export function indexOf(a: Analysis, key: string, offset: number): number | undefined {
  const order = a.keyOrders.get(key);
  return order === undefined ? undefined : indexInOrder(order, offset);
}

/** Values at (key, offset): the first seen, then any conflicting ones. */
export function valuesAt(order: KeyOrder, offset: number): string[] {
  const first = order.firstValue.get(offset);
  if (first === undefined) return [];
  const extra = order.extraValues.get(offset);
  return extra === undefined ? [first] : [first, ...extra];
}

/** Smallest and largest index of `value` within `key`, if it has positions there. */
export function indexRange(a: Analysis, value: string, key: string): { first: number; last: number } | undefined {
  const order = a.keyOrders.get(key);
  if (order === undefined) return undefined;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const p of positionsOf(a.values.get(value))) {
    if (p.key !== key) continue;
    const index = indexInOrder(order, p.offset)!;
    if (index < first) first = index;
    if (index > last) last = index;
  }
  return first === Number.POSITIVE_INFINITY ? undefined : { first, last };
}

/** Values at indices strictly between `fromIndex` and `toIndex`, at most `limit`. */
export function valuesBetween(a: Analysis, key: string, fromIndex: number, toIndex: number, limit: number): string[] {
  const order = a.keyOrders.get(key);
  const out: string[] = [];
  if (order === undefined) return out;
  for (let i = fromIndex + 1; i < toIndex && out.length < limit; i++) {
    for (const v of valuesAt(order, order.offsets[i]!)) if (out.length < limit) out.push(v);
  }
  return out;
}

export { readKind, type ReadKind };
