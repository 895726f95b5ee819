// A compact way to write literal histories in tests. Every call appends one
// operation (invoke then completion) at the script's clock, which advances by
// 1 µs per entry unless `at()` sets it. Observations use the same clock.
import {
  HistoryBuilder,
  type CompletionType,
  type History,
  type LogEntry,
  type OpF,
  type OpValue,
  type Phase,
  type PollRead,
  type PollValue,
  type SendValue,
  type ValueOf,
} from "../history.js";

export type ReadSpec = [key: string, offset: number, value: string] | PollRead;
export type EntrySpec = [index: number, term: number, value: string];

export interface SendExtra extends Partial<Omit<SendValue, "key" | "value">> {
  durationUs?: number;
  error?: string;
}

export interface PollExtra {
  group?: string;
  subscription?: PollValue["subscription"];
  rebalance?: PollValue["rebalance"];
  type?: CompletionType;
  durationUs?: number;
}

export class HistoryScript {
  readonly builder = new HistoryBuilder();
  private nowUs = 0;

  /** Moves the clock to `timeUs` (never backwards). */
  at(timeUs: number): this {
    this.nowUs = timeUs;
    return this;
  }

  get timeUs(): number {
    return this.nowUs;
  }

  invoke<F extends OpF>(process: number, f: F, value: ValueOf<F>): this {
    this.builder.invoke(process, f, value, this.nowUs++);
    return this;
  }

  complete(process: number, type: CompletionType, value?: OpValue, error?: string): this {
    this.builder.complete(process, type, value, this.nowUs++, error);
    return this;
  }

  /** A send; the ack's `offset` (from `extra`) appears only on the completion. */
  send(process: number, key: string, value: string, type: CompletionType = "ok", extra: SendExtra = {}): this {
    const { durationUs, error, offset, ...rest } = extra;
    const invoked: SendValue = { key, value, ...rest };
    this.invoke(process, "send", invoked);
    this.nowUs += durationUs ?? 0;
    const completed: SendValue = offset === undefined || type === "fail" ? invoked : { ...invoked, offset };
    return this.complete(process, type, completed, error);
  }

  poll(process: number, reads: ReadSpec[], extra: PollExtra = {}): this {
    const group = extra.group ?? "g";
    const base: PollValue = { group, reads: [] };
    if (extra.subscription !== undefined) base.subscription = extra.subscription;
    this.invoke(process, "poll", base);
    this.nowUs += extra.durationUs ?? 0;
    const done: PollValue = { ...base, reads: reads.map(toRead) };
    if (extra.rebalance !== undefined) done.rebalance = extra.rebalance;
    return this.complete(process, extra.type ?? "ok", done);
  }

  consumeFail(process: number, group: string, key: string, offset: number, value: string, reconsumeTimes: number): this {
    this.builder.event(process, "consume-fail", { group, key, offset, value, reconsumeTimes }, this.nowUs++);
    return this;
  }

  assign(process: number, keys: string[], extra: { seekToBeginning?: boolean; f?: "assign" | "subscribe" } = {}): this {
    const value = extra.seekToBeginning === undefined ? { keys } : { keys, seekToBeginning: extra.seekToBeginning };
    this.invoke(process, extra.f ?? "assign", value);
    return this.complete(process, "ok");
  }

  lookup(process: number, topic: string, msgKey: string, found: string[], type: CompletionType = "ok"): this {
    this.invoke(process, "lookup", { topic, msgKey, found: [] });
    return this.complete(process, type, { topic, msgKey, found });
  }

  leader(group: string, term: number, leader: string): this {
    this.builder.observe({ timeUs: this.nowUs, node: leader, kind: "leader", group, term, leader });
    return this;
  }

  commit(group: string, node: string, index: number, key?: string): this {
    this.builder.observe({ timeUs: this.nowUs, node, kind: "commit", group, index, ...(key === undefined ? {} : { key }) });
    return this;
  }

  log(group: string, node: string, entries: EntrySpec[]): this {
    this.builder.observe({ timeUs: this.nowUs, node, kind: "log", group, entries: entries.map(toEntry) });
    return this;
  }

  truncate(group: string, node: string, fromIndex: number, entries: EntrySpec[]): this {
    this.builder.observe({ timeUs: this.nowUs, node, kind: "truncate", group, fromIndex, entries: entries.map(toEntry) });
    return this;
  }

  phase(phase: Phase): this {
    this.builder.phase(phase, this.nowUs);
    return this;
  }

  build(): History {
    return this.builder.build();
  }
}

function toRead(spec: ReadSpec): PollRead {
  return Array.isArray(spec) ? { key: spec[0], offset: spec[1], value: spec[2] } : spec;
}

function toEntry([index, term, value]: EntrySpec): LogEntry {
  return { index, term, value };
}

export function script(): HistoryScript {
  return new HistoryScript();
}
