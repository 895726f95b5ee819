// History format: what clients observed, in Jepsen's shape, plus what models
// saw inside (observations) for replica-level invariants clients cannot see.
//
// Each client operation appears twice in `ops`: an `invoke` entry, then a
// completion entry (`ok` it happened, `fail` it certainly did not, `info`
// unknown) of the same process. The completion is the next completion of that
// process (Jepsen's pairing rule), so a process has at most one operation in
// flight. After an `info` a client continues under a NEW process id, which is
// why per-process checks restart after a crash or timeout.
//
// The completion of an operation repeats the fields of its invoke and adds
// what became known: a send's `offset` (and its final `key`, because a
// RocketMQ producer retry may pick another queue), a poll's `reads` and
// `rebalance`, a lookup's `found`.
import { z } from "zod";

/** Simulated time: an integer count of microseconds since the run started. */
const TimeUsSchema = z.number().int().nonnegative();
const NonNegativeInt = z.number().int().nonnegative();

export const OpTypeSchema = z.enum(["invoke", "ok", "fail", "info"]);
export type OpType = z.infer<typeof OpTypeSchema>;
export type CompletionType = Exclude<OpType, "invoke">;

export const TxnOutcomeSchema = z.enum(["commit", "rollback", "unknown"]);
export type TxnOutcome = z.infer<typeof TxnOutcomeSchema>;

/**
 * A produced message. `key` names one queue or partition
 * ("TopicTest@broker-a#3", "orders-0"); `value` is unique across the whole
 * history, so a value identifies its send.
 */
export const SendValueSchema = z.object({
  key: z.string(),
  value: z.string(),
  /** Topic of `key`; when absent it is derived with `topicOfKey(key)`. */
  topic: z.string().optional(),
  /**
   * Offset of the message in `key`, known once the broker acknowledged it.
   * It must be an offset in `key` itself: a delayed RocketMQ message is first
   * stored in SCHEDULE_TOPIC_XXXX, and that offset must not be reported here.
   */
  offset: NonNegativeInt.optional(),
  tag: z.string().optional(),
  /** RocketMQ message keys (the KEYS property), indexed for query-by-key. */
  keys: z.array(z.string()).optional(),
  /** Delayed delivery: the message is due at invoke time + delayMs. */
  delayMs: z.number().nonnegative().optional(),
  /** Sent through a queue selector: the producer relies on this key's order. */
  ordered: z.boolean().optional(),
  /** Transactional message; a rollback must never become visible. */
  txn: z.object({ outcome: TxnOutcomeSchema }).optional(),
});
export type SendValue = z.infer<typeof SendValueSchema>;

/**
 * One message returned by a poll. A redelivery through the consumer group's
 * retry topic keeps the ORIGINAL value and names the retry topic in `topic`
 * (or in `key`), e.g. topic "%RETRY%group"; a read from the dead-letter
 * queue sets `dlq: true` (or names "%DLQ%group"). See `readKind`.
 */
export const PollReadSchema = z.object({
  key: z.string(),
  offset: NonNegativeInt,
  value: z.string(),
  tag: z.string().optional(),
  reconsumeTimes: NonNegativeInt.optional(),
  topic: z.string().optional(),
  dlq: z.boolean().optional(),
});
export type PollRead = z.infer<typeof PollReadSchema>;

export const SubscriptionSchema = z.object({
  topic: z.string(),
  tags: z.union([z.array(z.string()), z.literal("*")]),
});
export type Subscription = z.infer<typeof SubscriptionSchema>;

export const RebalanceSchema = z.object({
  revoked: z.array(z.string()),
  assigned: z.array(z.string()),
});
export type Rebalance = z.infer<typeof RebalanceSchema>;

/** A poll; its invoke carries `reads: []`, its completion what was read. */
export const PollValueSchema = z.object({
  group: z.string(),
  subscription: SubscriptionSchema.optional(),
  reads: z.array(PollReadSchema),
  /** Queues revoked or assigned while this poll ran (Jepsen's rebalance-log). */
  rebalance: RebalanceSchema.optional(),
});
export type PollValue = z.infer<typeof PollValueSchema>;

/** The consumer's listener returned RECONSUME_LATER for this message. */
export const ConsumeFailValueSchema = z.object({
  group: z.string(),
  key: z.string(),
  offset: NonNegativeInt,
  value: z.string(),
  /** reconsumeTimes of the delivery that failed (0 on the first delivery). */
  reconsumeTimes: NonNegativeInt,
});
export type ConsumeFailValue = z.infer<typeof ConsumeFailValueSchema>;

/** assign / subscribe: the consumer now covers exactly these queues. */
export const AssignValueSchema = z.object({
  group: z.string().optional(),
  keys: z.array(z.string()),
  /** The consumer restarts these keys from the beginning (a final drain). */
  seekToBeginning: z.boolean().optional(),
});
export type AssignValue = z.infer<typeof AssignValueSchema>;

/** An admin query-by-key over the index; `found` lists message values. */
export const LookupValueSchema = z.object({
  topic: z.string(),
  msgKey: z.string(),
  found: z.array(z.string()),
});
export type LookupValue = z.infer<typeof LookupValueSchema>;

const opBase = {
  index: NonNegativeInt,
  timeUs: TimeUsSchema,
  process: NonNegativeInt,
  type: OpTypeSchema,
  error: z.string().optional(),
};

export const SendOpSchema = z.object({ ...opBase, f: z.literal("send"), value: SendValueSchema });
export const PollOpSchema = z.object({ ...opBase, f: z.literal("poll"), value: PollValueSchema });
export const ConsumeFailOpSchema = z.object({
  ...opBase,
  f: z.literal("consume-fail"),
  value: ConsumeFailValueSchema,
});
export const AssignOpSchema = z.object({ ...opBase, f: z.literal("assign"), value: AssignValueSchema });
export const SubscribeOpSchema = z.object({ ...opBase, f: z.literal("subscribe"), value: AssignValueSchema });
export const LookupOpSchema = z.object({ ...opBase, f: z.literal("lookup"), value: LookupValueSchema });

export const HistoryOpSchema = z.discriminatedUnion("f", [
  SendOpSchema,
  PollOpSchema,
  ConsumeFailOpSchema,
  AssignOpSchema,
  SubscribeOpSchema,
  LookupOpSchema,
]);
export type HistoryOp = z.infer<typeof HistoryOpSchema>;
export type OpF = HistoryOp["f"];
export type OpOf<F extends OpF> = Extract<HistoryOp, { f: F }>;
export type ValueOf<F extends OpF> = OpOf<F>["value"];
export type OpValue = HistoryOp["value"];
export type SendOp = OpOf<"send">;
export type PollOp = OpOf<"poll">;

// ---------------------------------------------------------------------------
// Observations: what models see inside. Index convention for every kind:
// a replication group's log is indexed from 0 (a Kafka partition's log offset,
// a Raft log index, a RocketMQ queue offset), and a commit point is EXCLUSIVE:
// `commit.index = n` means entries 0..n-1 are committed, like Kafka's high
// watermark. A Raft model therefore reports commitIndex + 1 when its log is
// 1-based-inclusive. All commit observations of one group share one index
// space; a `key` on a commit observation says that this index space is also
// the client-visible offsets of that key (so dirty reads can be checked).
// ---------------------------------------------------------------------------

const obsBase = { timeUs: TimeUsSchema, node: z.string() };

export const LogEntrySchema = z.object({
  index: NonNegativeInt,
  term: NonNegativeInt,
  value: z.string(),
});
export type LogEntry = z.infer<typeof LogEntrySchema>;

/** `leader` claims leadership of replication group `group` in `term`/epoch. */
export const LeaderObservationSchema = z.object({
  ...obsBase,
  kind: z.literal("leader"),
  group: z.string(),
  term: NonNegativeInt,
  leader: z.string(),
});
/** On `node`, the commit point of `group` advanced to `index` (exclusive). */
export const CommitObservationSchema = z.object({
  ...obsBase,
  kind: z.literal("commit"),
  group: z.string(),
  key: z.string().optional(),
  index: NonNegativeInt,
});
/** A snapshot of `node`'s log of `group`, only entries below its commit point. */
export const LogObservationSchema = z.object({
  ...obsBase,
  kind: z.literal("log"),
  group: z.string(),
  entries: z.array(LogEntrySchema),
});
/** `node` removed `entries` (index ≥ fromIndex) from its log of `group`. */
export const TruncateObservationSchema = z.object({
  ...obsBase,
  kind: z.literal("truncate"),
  group: z.string(),
  fromIndex: NonNegativeInt,
  entries: z.array(LogEntrySchema),
});
export const PhaseSchema = z.enum(["workload", "heal", "drain", "drained", "drain-timeout"]);
export type Phase = z.infer<typeof PhaseSchema>;
/** Runner markers; `node` is "runner" by convention. */
export const PhaseObservationSchema = z.object({
  ...obsBase,
  kind: z.literal("phase"),
  phase: PhaseSchema,
});

export const ObservationSchema = z.discriminatedUnion("kind", [
  LeaderObservationSchema,
  CommitObservationSchema,
  LogObservationSchema,
  TruncateObservationSchema,
  PhaseObservationSchema,
]);
export type Observation = z.infer<typeof ObservationSchema>;
export type ObservationOf<K extends Observation["kind"]> = Extract<Observation, { kind: K }>;
export type LeaderObservation = ObservationOf<"leader">;
export type CommitObservation = ObservationOf<"commit">;
export type LogObservation = ObservationOf<"log">;
export type TruncateObservation = ObservationOf<"truncate">;
export type PhaseObservation = ObservationOf<"phase">;

const HistoryShapeSchema = z.object({
  ops: z.array(HistoryOpSchema),
  observations: z.array(ObservationSchema),
});

/** A history file/object; parsing also checks indices, time order and pairing. */
export const HistorySchema = HistoryShapeSchema.superRefine((history, ctx) => {
  for (const problem of wellFormednessProblems(history, 20)) {
    ctx.addIssue({ code: "custom", message: problem, path: ["ops"] });
  }
});
export type History = z.infer<typeof HistoryShapeSchema>;

/**
 * Structural problems that make a history meaningless to the checkers: an
 * `index` that is not its position, time going backwards, a completion with
 * no invoke of its process in flight, a second invoke while one is in flight,
 * or a completion whose `f` differs from its invoke. At most `limit` returned.
 */
export function wellFormednessProblems(history: History, limit = Number.POSITIVE_INFINITY): string[] {
  const problems: string[] = [];
  const inFlight = new Map<number, HistoryOp>();
  let lastTimeUs = 0;
  for (let i = 0; i < history.ops.length && problems.length < limit; i++) {
    const op = history.ops[i]!;
    if (op.index !== i) problems.push(`ops[${i}] has index ${op.index}`);
    if (op.timeUs < lastTimeUs) problems.push(`ops[${i}] goes back in time (${op.timeUs} < ${lastTimeUs})`);
    lastTimeUs = Math.max(lastTimeUs, op.timeUs);
    const pending = inFlight.get(op.process);
    if (op.type === "invoke") {
      if (pending !== undefined) problems.push(`ops[${i}] invokes on process ${op.process}, busy since ops[${pending.index}]`);
      inFlight.set(op.process, op);
    } else if (pending === undefined) {
      problems.push(`ops[${i}] completes process ${op.process}, which has nothing in flight`);
    } else {
      if (pending.f !== op.f) problems.push(`ops[${i}] completes ${pending.f} ops[${pending.index}] as ${op.f}`);
      inFlight.delete(op.process);
    }
  }
  let lastObsTimeUs = 0;
  for (let i = 0; i < history.observations.length && problems.length < limit; i++) {
    const obs = history.observations[i]!;
    if (obs.timeUs < lastObsTimeUs) problems.push(`observations[${i}] goes back in time`);
    lastObsTimeUs = Math.max(lastObsTimeUs, obs.timeUs);
  }
  return problems;
}

// ---------------------------------------------------------------------------
// Pairing
// ---------------------------------------------------------------------------

/** A completed operation: its invoke and its completion, narrowed by `f`. */
export type OpPair = {
  [F in OpF]: { f: F; process: number; invoke: OpOf<F>; complete: OpOf<F> };
}[OpF];

export interface Pairing {
  /** Completed operations, in the order their completions appear. */
  completed: OpPair[];
  /** Invokes never completed (the run ended first): indeterminate, like `info`. */
  pending: HistoryOp[];
}

/**
 * Calls `onPair` for every completed operation, in completion order, and
 * returns the invokes never completed (the run ended first; indeterminate,
 * like `info`), in invoke order. One pass, no allocation per pair. Throws on
 * a completion with nothing in flight, a second invoke while one is in
 * flight, or a mismatched `f`: such a history comes from a broken model, and
 * checking it would only mislead.
 */
export function forEachPair(history: History, onPair: (pair: OpPair) => void): HistoryOp[] {
  // A process with nothing in flight maps to undefined rather than being
  // deleted: a Map that keeps losing and regaining keys reallocates its table.
  const inFlight = new Map<number, HistoryOp | undefined>();
  // One reusable carrier object: callers must copy what they keep.
  const carrier = { f: "send", process: 0, invoke: undefined, complete: undefined } as unknown as {
    f: OpF;
    process: number;
    invoke: HistoryOp;
    complete: HistoryOp;
  };
  const ops = history.ops;
  // An index loop: this runs over every op of every checked history, and the iterator would cost an object per op.
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.type === "invoke") {
      const busy = inFlight.get(op.process);
      if (busy !== undefined) {
        throw new Error(`history: process ${op.process} invoked ops[${op.index}] while ops[${busy.index}] was in flight`);
      }
      inFlight.set(op.process, op);
      continue;
    }
    const invoke = inFlight.get(op.process);
    if (invoke === undefined) {
      throw new Error(`history: ops[${op.index}] completes process ${op.process}, which has nothing in flight`);
    }
    if (invoke.f !== op.f) {
      throw new Error(`history: ops[${op.index}] completes ${invoke.f} ops[${invoke.index}] as ${op.f}`);
    }
    inFlight.set(op.process, undefined);
    carrier.f = op.f;
    carrier.process = op.process;
    carrier.invoke = invoke;
    carrier.complete = op;
    // The f equality just checked makes the carrier a well-typed pair.
    onPair(carrier as OpPair);
  }
  const pending: HistoryOp[] = [];
  for (const op of inFlight.values()) if (op !== undefined) pending.push(op);
  return pending.sort((a, b) => a.index - b.index);
}

/** Pairs every invoke with the next completion of its process; O(n). */
export function pairAll(history: History): Pairing {
  const completed: OpPair[] = [];
  const pending = forEachPair(history, (pair) => {
    completed.push({ ...pair });
  });
  return { completed, pending };
}

/** Completed operations `{ invoke, complete }`, in completion order; O(n). */
export function pairOps(history: History): OpPair[] {
  return pairAll(history).completed;
}

// ---------------------------------------------------------------------------
// Key naming. Models name queues with these helpers so that checkers can find
// a key's topic (query-by-key is per topic) and recognise retry and DLQ reads.
// ---------------------------------------------------------------------------

/** RocketMQ queue id: "TopicTest@broker-a#3". */
export function queueKey(topic: string, brokerName: string, queueId: number): string {
  return `${topic}@${brokerName}#${queueId}`;
}

/** Kafka topic-partition id: "orders-0". */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

const PARTITION_SUFFIX = /^(.*)-(\d+)$/;

/** The topic a key belongs to, for keys built by `queueKey` or `partitionKey`. */
export function topicOfKey(key: string): string {
  const at = key.indexOf("@");
  if (at >= 0) return key.slice(0, at);
  const match = PARTITION_SUFFIX.exec(key);
  return match === null ? key : match[1]!;
}

export const RETRY_TOPIC_PREFIX = "%RETRY%";
export const DLQ_TOPIC_PREFIX = "%DLQ%";

/** RocketMQ's per-group retry topic (MixAll.getRetryTopic). */
export function retryTopic(group: string): string {
  return RETRY_TOPIC_PREFIX + group;
}

/** RocketMQ's per-group dead-letter topic (MixAll.getDLQTopic). */
export function dlqTopic(group: string): string {
  return DLQ_TOPIC_PREFIX + group;
}

export type ReadKind = "normal" | "retry" | "dlq";

/**
 * Where a read came from. Retry and DLQ reads carry the original value at a
 * position in another topic, so they are kept out of every per-key order
 * check (version order, duplicate, skip) and only count as deliveries.
 */
export function readKind(read: PollRead): ReadKind {
  if (read.dlq === true) return "dlq";
  const topic = read.topic ?? read.key;
  if (topic.startsWith(DLQ_TOPIC_PREFIX)) return "dlq";
  if (topic.startsWith(RETRY_TOPIC_PREFIX)) return "retry";
  return "normal";
}

// ---------------------------------------------------------------------------
// Builder: the models' hot path. No zod here; only cheap assertions that stop
// a broken model loudly (STYLE: an impossible state should not limp on).
// ---------------------------------------------------------------------------

export class HistoryBuilder {
  private readonly ops: HistoryOp[] = [];
  private readonly observations: Observation[] = [];
  /** A process's operation in flight; undefined once completed (kept, not deleted: see forEachPair). */
  private readonly inFlight = new Map<number, HistoryOp | undefined>();
  /** Processes that completed `info`: Jepsen never reuses them. */
  private readonly retired = new Set<number>();
  private nextProcess = 0;
  private lastOpTimeUs = 0;
  private lastObsTimeUs = 0;

  /** A fresh process id; a client takes a new one after every `info`. */
  newProcess(): number {
    return this.nextProcess++;
  }

  /** Appends an invoke entry; returns its index. */
  invoke<F extends OpF>(process: number, f: F, value: ValueOf<F>, timeUs: number): number {
    this.checkTime(timeUs);
    if (this.inFlight.get(process) !== undefined) throw new Error(`HistoryBuilder: process ${process} already has an operation in flight`);
    if (this.retired.has(process)) throw new Error(`HistoryBuilder: process ${process} completed info and must not be reused`);
    if (process >= this.nextProcess) this.nextProcess = process + 1;
    const op = { index: this.ops.length, timeUs, process, type: "invoke", f, value } as HistoryOp;
    this.ops.push(op);
    this.inFlight.set(process, op);
    return op.index;
  }

  /**
   * Appends the completion of `process`'s operation in flight. `value`
   * undefined repeats the invoke's value. Returns the entry's index.
   */
  complete(process: number, type: CompletionType, value: OpValue | undefined, timeUs: number, error?: string): number {
    this.checkTime(timeUs);
    const invoke = this.inFlight.get(process);
    if (invoke === undefined) throw new Error(`HistoryBuilder: process ${process} has nothing in flight`);
    this.inFlight.set(process, undefined);
    if (type === "info") this.retired.add(process);
    const op = { index: this.ops.length, timeUs, process, type, f: invoke.f, value: value ?? invoke.value } as HistoryOp;
    if (error !== undefined) op.error = error;
    this.ops.push(op);
    return op.index;
  }

  /** An instantaneous event (e.g. consume-fail): invoke and `ok` at `timeUs`. */
  event<F extends OpF>(process: number, f: F, value: ValueOf<F>, timeUs: number): number {
    this.invoke(process, f, value, timeUs);
    return this.complete(process, "ok", value, timeUs);
  }

  /** Whether `process` has an operation in flight. */
  busy(process: number): boolean {
    return this.inFlight.get(process) !== undefined;
  }

  observe(observation: Observation): void {
    if (!Number.isInteger(observation.timeUs) || observation.timeUs < this.lastObsTimeUs) {
      throw new Error(`HistoryBuilder: observation time ${observation.timeUs} is not an integer ≥ ${this.lastObsTimeUs}`);
    }
    this.lastObsTimeUs = observation.timeUs;
    this.observations.push(observation);
  }

  /** A runner phase marker. */
  phase(phase: Phase, timeUs: number): void {
    this.observe({ timeUs, node: "runner", kind: "phase", phase });
  }

  get size(): number {
    return this.ops.length;
  }

  build(): History {
    return { ops: this.ops.slice(), observations: this.observations.slice() };
  }

  private checkTime(timeUs: number): void {
    if (!Number.isInteger(timeUs) || timeUs < this.lastOpTimeUs) {
      throw new Error(`HistoryBuilder: op time ${timeUs} is not an integer ≥ ${this.lastOpTimeUs}`);
    }
    this.lastOpTimeUs = timeUs;
  }
}
