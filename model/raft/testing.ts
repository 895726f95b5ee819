// A minimal driver for RaftCore without the simulator, for tests that feed
// the core messages directly (as etcd's raft_paper_test does with its
// network stub): instant delivery, a manual clock, cuttable links, and
// instant durability unless a test holds a node's flushes back.
import { Rng } from "../../sim/rng.js";
import { parseRaftConfig, type RaftConfigInput } from "./config.js";
import { RaftCore, entrySize, type AppendResult, type Entry, type HardState, type Outgoing, type Ready } from "./core.js";

const encoder = new TextEncoder();

/** A log with DLedger positions: item i becomes entry i. */
export function makeLog(items: ReadonlyArray<{ term: number; value: string }>): Entry[] {
  const out: Entry[] = [];
  let pos = 0;
  items.forEach((it, index) => {
    const body = encoder.encode(it.value);
    out.push({ index, term: it.term, pos, body });
    pos += entrySize(body);
  });
  return out;
}

export interface Sent {
  atUs: number;
  from: string;
  msg: Outgoing;
  dropped: boolean;
}

export interface RecoveredState {
  term: number;
  votedFor: string | null;
  entries: Entry[];
  committedIndex: number;
}

export class CoreCluster {
  nowUs = 0;
  readonly cores = new Map<string, RaftCore>();
  /** Every message any core sent, in order, and whether the link dropped it. */
  readonly sent: Sent[] = [];
  readonly results: Array<{ node: string; token: unknown; result: AppendResult }> = [];
  readonly committed = new Map<string, Entry[]>();
  readonly truncated = new Map<string, Array<{ fromIndex: number; entries: Entry[] }>>();
  readonly hardStates = new Map<string, HardState[]>();
  /** Nodes whose flushes are held back (their entries stay non-durable). */
  readonly holdFlush = new Set<string>();
  /** Drops the messages it returns true for, besides cut links. */
  dropIf: ((from: string, msg: Outgoing) => boolean) | null = null;
  private readonly queue: Array<{ from: string; msg: Outgoing }> = [];
  private readonly cut = new Set<string>();

  constructor(
    readonly ids: readonly string[],
    config: RaftConfigInput = {},
    recovered: Record<string, RecoveredState> = {},
    seed = 1,
  ) {
    const cfg = parseRaftConfig(config);
    const rng = new Rng(seed);
    for (const id of ids) {
      const r = rng.fork(id);
      const rec = recovered[id];
      this.cores.set(id, new RaftCore({ selfId: id, peers: ids, config: cfg, random: () => r.next(), nowUs: 0, ...(rec ? { recovered: rec } : {}) }));
      this.committed.set(id, []);
      this.truncated.set(id, []);
      this.hardStates.set(id, []);
    }
    for (const id of ids) this.collect(id);
  }

  core(id: string): RaftCore {
    const c = this.cores.get(id);
    if (c === undefined) throw new Error(`no core ${id}`);
    return c;
  }

  /** Drops every message between `a` and `b`, both ways. */
  block(a: string, b: string): void {
    this.cut.add(`${a}>${b}`);
    this.cut.add(`${b}>${a}`);
  }

  /** Drops messages from `a` to `b` only. */
  blockOneWay(a: string, b: string): void {
    this.cut.add(`${a}>${b}`);
  }

  isolate(id: string): void {
    for (const other of this.ids) if (other !== id) this.block(id, other);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Restores the links between `a` and `b`. */
  unblock(a: string, b: string): void {
    this.cut.delete(`${a}>${b}`);
    this.cut.delete(`${b}>${a}`);
  }

  propose(id: string, value: string, token: unknown = value): void {
    this.core(id).propose(encoder.encode(value), token, this.nowUs);
    this.collect(id);
    this.deliver();
  }

  /** Makes `id`'s whole log durable (used with `holdFlush`). */
  flush(id: string): void {
    const c = this.core(id);
    c.onFlushed(c.ledgerEndIndex, this.nowUs);
    this.collect(id);
    this.deliver();
  }

  /** Delivers queued messages (instantly, in order) until none are left. */
  deliver(): void {
    for (let guard = 0; this.queue.length > 0; guard++) {
      if (guard > 1_000_000) throw new Error("CoreCluster: messages never settle");
      const { from, msg } = this.queue.shift()!;
      const dropped = this.cut.has(`${from}>${msg.to}`) || (this.dropIf !== null && this.dropIf(from, msg));
      this.sent.push({ atUs: this.nowUs, from, msg, dropped });
      if (dropped) continue;
      const to = this.core(msg.to);
      if (msg.kind === "request") to.receiveRequest(from, { rpcId: msg.rpcId }, msg.request, this.nowUs);
      else to.receiveResponse((msg.token as { rpcId: number }).rpcId, msg.response, this.nowUs);
      this.collect(msg.to);
    }
  }

  /**
   * Runs time forward, tick by tick, until `done` holds or `untilUs` is
   * reached; returns whether `done` held.
   */
  runUntil(done: () => boolean, untilUs: number): boolean {
    this.deliver();
    for (let guard = 0; ; guard++) {
      if (guard > 1_000_000) throw new Error("CoreCluster: time never advances");
      if (done()) return true;
      let next = Number.POSITIVE_INFINITY;
      for (const c of this.cores.values()) next = Math.min(next, c.nextDeadlineUs());
      if (next > untilUs) {
        this.nowUs = Math.max(this.nowUs, untilUs);
        return done();
      }
      this.nowUs = Math.max(this.nowUs, Math.ceil(next));
      for (const [id, c] of this.cores) {
        if (c.nextDeadlineUs() <= this.nowUs) {
          c.tick(this.nowUs);
          this.collect(id);
        }
      }
      this.deliver();
    }
  }

  /** Runs for `ms` milliseconds of simulated time. */
  runFor(ms: number): void {
    this.runUntil(() => false, this.nowUs + ms * 1000);
  }

  leader(): RaftCore | undefined {
    return [...this.cores.values()].find((c) => c.isLeader);
  }

  /** Requests `from` sent to `to` of one kind (push type for pushes). */
  requests(from: string, to: string, kind: string): Sent[] {
    return this.sent.filter((s) => s.from === from && s.msg.to === to && s.msg.kind === "request" && (s.msg.request.type === kind || (s.msg.request.type === "push" && s.msg.request.pushType === kind)));
  }

  private collect(id: string): void {
    const c = this.core(id);
    for (let guard = 0; ; guard++) {
      if (guard > 10_000) throw new Error("CoreCluster: effects never settle");
      const r: Ready = c.ready();
      if (r.hardState !== null) this.hardStates.get(id)!.push(r.hardState);
      for (const m of r.messages) this.queue.push({ from: id, msg: m });
      for (const a of r.appendResults) this.results.push({ node: id, token: a.token, result: a.result });
      this.committed.get(id)!.push(...r.committed);
      this.truncated.get(id)!.push(...r.truncated);
      const wrote = r.logOps.length > 0 || r.flushNow;
      if (wrote && !this.holdFlush.has(id)) c.onFlushed(c.ledgerEndIndex, this.nowUs);
      else if (r.messages.length === 0 && r.hardState === null && r.appendResults.length === 0 && r.committed.length === 0 && r.truncated.length === 0 && r.roleChanges.length === 0 && r.traces.length === 0 && !wrote) return;
    }
  }
}
