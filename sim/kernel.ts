import { EventHeap } from "./heap.js";
import { RunningHash, hashEvent } from "./hash.js";
import type { Micros } from "./time.js";

/**
 * Something that owns scheduled events: a simulated process. An event
 * records its owner's incarnation when scheduled; a crash bumps the
 * incarnation, which cancels every timer and in-flight handler of the old
 * incarnation in O(1). A paused owner (SIGSTOP) keeps its events: they wait
 * in `deferred` and run, in their original order, when it resumes.
 */
export interface EventOwner {
  incarnation: number;
  paused: boolean;
  deferred: SimEvent[];
}

export type Callback = (arg: any) => void;

/**
 * Receives trace lines in parts, so a trace writer can encode them without
 * building each line as a string. `tail` is `,"n":<node>,"k":<kind>`;
 * quoted parts are JSON strings already. The lines are exactly those
 * `onTraceLine` listeners receive.
 */
export interface TraceSink {
  /** `{"t":<t><tail>}`, or `{"t":<t><tail>,"d":<JSON.stringify(details)>}`. */
  line(t: number, tail: string, details: Record<string, unknown> | undefined): void;
  /** `{"t":<t><tail>,"d":{"from":<from>,"conn":<conn>,"sentUs":<sentUs>,"type":<type>}}`, with `,"reason":<reason>` before the last two braces when given. */
  message(t: number, tail: string, from: string, conn: number, sentUs: number, type: string, reason: string | null): void;
}

/** Compaction waits for this many cancelled events, so small queues never pay for it. */
const COMPACT_MIN_CANCELLED = 256;

export class SimEvent {
  time: Micros = 0;
  seq = 0;
  /** null once cancelled or run. */
  fn: Callback | null = null;
  arg: unknown = undefined;
  owner: EventOwner | null = null;
  incarnation = 0;
}

/** A handle to a scheduled event; `cancel` is idempotent. */
export type Timer = SimEvent;

export type StopReason = "time-limit" | "event-budget" | "quiescent" | "stopped" | "condition";

export interface RunLimits {
  /** Stop once the next event would be later than this time (the clock is then set to it). */
  untilUs?: Micros;
  /** Stop after this many events have run in this call. */
  maxEvents?: number;
  /** Checked after every event; the run stops as soon as it returns true. */
  until?: () => boolean;
}

export interface RunResult {
  reason: StopReason;
  events: number;
  nowUs: Micros;
}

export interface TraceEvent {
  timeUs: Micros;
  node: string;
  kind: string;
  details?: Record<string, unknown>;
}

export type TraceListener = (event: TraceEvent, line: string) => void;

/**
 * The virtual clock and event queue. Nothing here reads host time: the
 * clock moves only by jumping to the next event, so idle simulated time costs
 * nothing.
 */
export class Simulation {
  private nowUs: Micros = 0;
  private seq = 0;
  private readonly heap = new EventHeap<SimEvent>();
  private stopRequested = false;
  /** Events run since the simulation was created (cancelled ones excluded). */
  eventsRun = 0;
  private readonly traceHash = new RunningHash();
  private traceCount = 0;
  private readonly listeners: TraceListener[] = [];

  get now(): Micros {
    return this.nowUs;
  }

  /** Events still queued, including cancelled ones not yet discarded. */
  get pending(): number {
    return this.heap.size;
  }

  schedule(atUs: Micros, fn: Callback, arg?: unknown, owner: EventOwner | null = null): Timer {
    if (!(atUs >= this.nowUs)) {
      throw new RangeError(`schedule: time ${atUs} is before now ${this.nowUs}`);
    }
    if (!Number.isInteger(atUs)) throw new RangeError(`schedule: time ${atUs} is not an integer`);
    return this.scheduleEvent(new SimEvent(), atUs, fn, arg, owner);
  }

  /**
   * Schedules a caller-made event object (a subclass of SimEvent, such as a
   * network packet), saving an allocation on hot paths.
   */
  scheduleEvent<E extends SimEvent>(ev: E, atUs: Micros, fn: Callback, arg: unknown, owner: EventOwner | null): E {
    // Callers on hot paths pass integer times by construction; `schedule` checks for the rest.
    if (!(atUs >= this.nowUs)) throw new RangeError(`schedule: time ${atUs} is before now ${this.nowUs}`);
    ev.time = atUs;
    ev.seq = this.seq++;
    ev.fn = fn;
    ev.arg = arg;
    ev.owner = owner;
    ev.incarnation = owner === null ? 0 : owner.incarnation;
    this.heap.push(ev);
    return ev;
  }

  after(delayUs: Micros, fn: Callback, arg?: unknown, owner: EventOwner | null = null): Timer {
    return this.schedule(this.nowUs + Math.max(0, Math.round(delayUs)), fn, arg, owner);
  }

  cancel(timer: Timer | null | undefined): void {
    if (!timer || timer.fn === null) return;
    timer.fn = null;
    // Cancelled events stay queued until they reach the front. Long timeouts
    // that are nearly always cancelled (a request's 30 s timer, answered in
    // milliseconds) would otherwise make most of the queue dead weight that
    // every push and pop sifts through.
    if (++this.cancelledQueued > COMPACT_MIN_CANCELLED && this.cancelledQueued * 2 > this.heap.size) this.compact();
  }

  /**
   * Cancelled events counted since the last compaction, an estimate of how
   * many the queue holds (one cancelled while deferred by a pause is counted
   * too); compaction recounts from scratch.
   */
  private cancelledQueued = 0;

  /**
   * Removes cancelled events and events of dead incarnations from the
   * queue: neither would ever run, and the queue pops the rest in the same
   * (time, seq) order, so no event runs differently. Only `pending` can
   * tell, and `run`'s reason when nothing live is left before its time
   * limit (quiescent instead of time-limit, with the same clock).
   */
  private compact(): void {
    this.heap.retain((ev) => ev.fn !== null && (ev.owner === null || ev.owner.incarnation === ev.incarnation));
    this.cancelledQueued = 0;
  }

  /** Re-queues a paused owner's deferred events at the current time, in their original order. */
  resumeDeferred(owner: EventOwner): void {
    const list = owner.deferred;
    owner.deferred = [];
    for (const ev of list) {
      if (ev.fn === null || ev.incarnation !== owner.incarnation) continue;
      ev.time = this.nowUs;
      ev.seq = this.seq++;
      this.heap.push(ev);
    }
  }

  stop(): void {
    this.stopRequested = true;
  }

  run(limits: RunLimits = {}): RunResult {
    const untilUs = limits.untilUs ?? Number.POSITIVE_INFINITY;
    const maxEvents = limits.maxEvents ?? Number.POSITIVE_INFINITY;
    const until = limits.until;
    const heap = this.heap;
    let ran = 0;
    this.stopRequested = false;
    for (;;) {
      if (this.stopRequested) return this.result("stopped", ran);
      if (ran >= maxEvents) return this.result("event-budget", ran);
      const next = heap.peek();
      if (next === undefined) {
        if (untilUs !== Number.POSITIVE_INFINITY) this.nowUs = Math.max(this.nowUs, untilUs);
        return this.result("quiescent", ran);
      }
      if (next.time > untilUs) {
        this.nowUs = untilUs;
        return this.result("time-limit", ran);
      }
      heap.pop();
      const fn = next.fn;
      if (fn === null) {
        if (this.cancelledQueued > 0) this.cancelledQueued--;
        continue;
      }
      const owner = next.owner;
      if (owner !== null) {
        if (owner.incarnation !== next.incarnation) continue;
        if (owner.paused) {
          owner.deferred.push(next);
          continue;
        }
      }
      this.nowUs = next.time;
      next.fn = null;
      fn(next.arg);
      ran++;
      this.eventsRun++;
      if (until !== undefined && until()) return this.result("condition", ran);
    }
  }

  private result(reason: StopReason, events: number): RunResult {
    return { reason, events, nowUs: this.nowUs };
  }

  // ---- trace events -------------------------------------------------------

  /**
   * Records a meaningful event (a fault, a client operation, a protocol
   * step). Every one feeds the running hash; listeners (a trace writer, a
   * viewer) receive the event and its canonical JSON line.
   */
  emit(node: string, kind: string, details?: Record<string, unknown>): void {
    hashEvent(this.traceHash, this.nowUs, node, kind, details);
    this.traceCount++;
    if (!this.tracing) return;
    const tail = this.lineTail(node, kind);
    for (let i = 0; i < this.sinks.length; i++) this.sinks[i]!.line(this.nowUs, tail, details);
    if (this.lineListeners.length === 0 && this.listeners.length === 0) return;
    const line = details === undefined ? `{"t":${this.nowUs}${tail}}` : `{"t":${this.nowUs}${tail},"d":${JSON.stringify(details)}}`;
    this.deliver(node, kind, details, line);
  }

  /**
   * Records a transport event (a message's arrival or loss) that is written
   * to traces but kept out of the running hash. Transport lines are only
   * produced when someone listens (a trace file, a viewer), so a sweep does
   * not pay for them, and a run's hash is the same whether or not it was
   * traced. Replay still compares them byte for byte.
   */
  emitTransport(node: string, kind: string, details: Record<string, unknown>): void {
    if (!this.tracing) return;
    this.traceCount++;
    const tail = this.lineTail(node, kind);
    for (let i = 0; i < this.sinks.length; i++) this.sinks[i]!.line(this.nowUs, tail, details);
    if (this.lineListeners.length === 0 && this.listeners.length === 0) return;
    this.deliver(node, kind, details, `{"t":${this.nowUs}${tail},"d":${JSON.stringify(details)}}`);
  }

  /**
   * A network message's transport line, from its parts (`from`, `type` and
   * `reason` unquoted): the line is
   * `{"t":…,"n":…,"k":…,"d":{"from":…,"conn":…,"sentUs":…,"type":…[,"reason":…]}}`.
   * A sink receives the parts and encodes them without building the line.
   */
  emitMessage(node: string, kind: string, from: string, conn: number, sentUs: number, type: string, reason: string | null): void {
    if (!this.tracing) return;
    this.traceCount++;
    const tail = this.lineTail(node, kind);
    const qFrom = this.quoted(from);
    const qType = this.quoted(type);
    const qReason = reason === null ? null : this.quoted(reason);
    for (let i = 0; i < this.sinks.length; i++) this.sinks[i]!.message(this.nowUs, tail, qFrom, conn, sentUs, qType, qReason);
    if (this.lineListeners.length === 0 && this.listeners.length === 0) return;
    const json = `{"from":${qFrom},"conn":${conn},"sentUs":${sentUs},"type":${qType}${qReason !== null ? `,"reason":${qReason}` : ""}}`;
    const line = `{"t":${this.nowUs}${tail},"d":${json}}`;
    for (let i = 0; i < this.lineListeners.length; i++) this.lineListeners[i]!(line);
    if (this.listeners.length > 0) {
      const ev: TraceEvent = { timeUs: this.nowUs, node, kind, details: JSON.parse(json) as Record<string, unknown> };
      for (const l of this.listeners) l(ev, line);
    }
  }

  /** JSON-quotes a string, caching the result (node names, kinds and labels repeat endlessly). */
  quote(s: string): string {
    return this.quoted(s);
  }

  /** True when some listener receives trace lines, i.e. transport events are worth producing. */
  get tracing(): boolean {
    return this.sinks.length > 0 || this.lineListeners.length > 0 || this.listeners.length > 0;
  }

  private deliver(node: string, kind: string, details: Record<string, unknown> | undefined, line: string): void {
    for (let i = 0; i < this.lineListeners.length; i++) this.lineListeners[i]!(line);
    if (this.listeners.length > 0) {
      const ev: TraceEvent = details === undefined ? { timeUs: this.nowUs, node, kind } : { timeUs: this.nowUs, node, kind, details };
      for (const l of this.listeners) l(ev, line);
    }
  }

  /** `,"n":<node>,"k":<kind>` for each (node, kind) pair, built once. */
  private readonly tails = new Map<string, Map<string, string>>();
  private lineTail(node: string, kind: string): string {
    let byKind = this.tails.get(node);
    if (byKind === undefined) {
      byKind = new Map();
      this.tails.set(node, byKind);
    }
    let t = byKind.get(kind);
    if (t === undefined) {
      t = `,"n":${this.quoted(node)},"k":${this.quoted(kind)}`;
      byKind.set(kind, t);
    }
    return t;
  }

  /** Node names and kinds repeat endlessly; quote each once. */
  private readonly quotedCache = new Map<string, string>();
  private quoted(s: string): string {
    let q = this.quotedCache.get(s);
    if (q === undefined) {
      q = JSON.stringify(s);
      this.quotedCache.set(s, q);
    }
    return q;
  }

  /** A cheaper listener that receives only the canonical line (a trace writer needs nothing else). */
  onTraceLine(listener: (line: string) => void): void {
    this.lineListeners.push(listener);
  }

  private readonly lineListeners: Array<(line: string) => void> = [];

  /** The cheapest listener: receives each line in parts (see TraceSink). */
  onTraceSink(sink: TraceSink): void {
    this.sinks.push(sink);
  }

  private readonly sinks: TraceSink[] = [];

  onTrace(listener: TraceListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** The running hash over every (non-transport) trace event emitted so far. */
  get traceDigest(): string {
    return this.traceHash.digest();
  }

  get traceEvents(): number {
    return this.traceCount;
  }
}
