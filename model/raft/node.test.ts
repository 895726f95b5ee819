// The simulator binding: what DLedger writes, what survives which crash,
// and that replies promising durability wait for the write they promise.
import { describe, expect, it } from "vitest";
import type { TraceEvent } from "../../sim/kernel.js";
import { World } from "../../sim/world.js";
import { decodeEntries, decodeIndexUnit, decodeProperties, ENTRY_MAGIC, INDEX_UNIT_BYTES } from "./codec.js";
import { parseRaftConfig, type RaftConfigInput } from "./config.js";
import type { AppendResult } from "./core.js";
import { raftNode, type RaftNode } from "./node.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MS = 1000;
const DATA = "dledger/data/00000000000000000000";
const INDEX = "dledger/index/00000000000000000000";

/** A world running DLedger groups of `names`, with every trace event kept. */
function group(names: string[], config: RaftConfigInput = {}, opts: { seed?: number; disk?: ConstructorParameters<typeof World>[0]["disk"]; traceMessages?: boolean } = {}) {
  const world = new World({ seed: opts.seed ?? 1, ...(opts.disk ? { disk: opts.disk } : {}), network: { traceMessages: opts.traceMessages ?? false } });
  const nodes = new Map<string, RaftNode>();
  const events: TraceEvent[] = [];
  world.sim.onTrace((e) => events.push(e));
  const cfg = parseRaftConfig(config);
  for (const n of names) world.addNode(n, raftNode({ group: "g", peers: names, config: cfg, onStart: (api) => nodes.set(n, api) }));
  world.startAll();
  const until = (ms: number) => world.sim.run({ untilUs: ms * MS });
  const leader = () => [...nodes.values()].find((n) => n.isLeader && world.node(n.name).up);
  const recoveries = (name: string) => events.filter((e) => e.node === name && e.kind === "raft.recover").map((e) => e.details as Record<string, unknown>);
  return { world, nodes, events, until, leader, recoveries };
}

function appendAll(n: RaftNode, values: string[]): AppendResult[] {
  const results: AppendResult[] = [];
  for (const v of values) n.append(encoder.encode(v), (r) => results.push(r));
  return results;
}

describe("the entry log on disk (DLedgerMmapFileStore)", () => {
  it("writes DLedger's 48-byte entry header and 32-byte index units, and commits a one-replica group on its own", () => {
    const g = group(["n0"]);
    g.until(1000);
    const n = g.leader()!;
    expect(n.name).toBe("n0");
    const results = appendAll(n, ["a", "bb", "ccc"]);
    g.until(1100);
    expect(results.map((r) => [r.code, r.index])).toEqual([
      ["SUCCESS", 0],
      ["SUCCESS", 1],
      ["SUCCESS", 2],
    ]);
    const disk = g.world.node("n0").disk;
    const data = disk.readAll(DATA);
    expect(data.length).toBe(3 * 48 + 6);
    const view = new DataView(data.buffer);
    // magic, size, index (8), term (8), pos (8) of the second entry at pos 49.
    expect(view.getInt32(49)).toBe(ENTRY_MAGIC);
    expect(view.getInt32(53)).toBe(48 + 2);
    expect(view.getUint32(61)).toBe(1);
    expect(view.getUint32(69)).toBe(n.term);
    expect(view.getUint32(77)).toBe(49);
    expect(decoder.decode(data.subarray(49 + 48, 49 + 50))).toBe("bb");
    const unit = decodeIndexUnit(disk.readAll(INDEX), 2 * INDEX_UNIT_BYTES)!;
    expect(unit).toEqual({ magic: ENTRY_MAGIC, pos: 49 + 50, size: 51, index: 2, term: n.term });
  });

  it("recovery keeps the entries before the first record that fails its checks and drops the rest", () => {
    const g = group(["n0"]);
    g.until(1000);
    appendAll(g.leader()!, ["e0", "e1", "e2", "e3", "e4"]);
    g.until(4000);
    g.world.crash("n0", "process");
    // A bad sector in the body of entry 3 (entries are 50 bytes here).
    g.world.node("n0").disk.corrupt(DATA, 3 * 50 + 48, 2);
    g.world.start("n0");
    const rec = g.recoveries("n0").at(-1)!;
    expect(rec).toMatchObject({ entries: 3, stop: "body crc", droppedBytes: 100 });
    const n = g.nodes.get("n0")!;
    expect(n.ledgerEndIndex).toBe(2);
    expect(decoder.decode(n.entry(2)!.body)).toBe("e2");
    // The checkpoint had said entries up to 4 were committed; the commit index is clamped to what survived.
    expect(n.committedIndex).toBeLessThanOrEqual(2);
    // Once it leads again, new appends overwrite the dropped records in place.
    g.until(5000);
    expect(n.isLeader).toBe(true);
    appendAll(n, ["new"]);
    g.until(6000);
    expect(decodeEntries(g.world.node("n0").disk.readAll(DATA)).entries.map((e) => decoder.decode(e.body))).toEqual(["e0", "e1", "e2", "new"]);
  });

  it("after a power loss with torn pages, recovery returns a prefix of what was written, never a damaged entry", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const g = group(["n0"], {}, { seed, disk: { tearProbability: 1, pageSizeBytes: 512, sectorSizeBytes: 64 } });
      g.until(1000);
      const values = Array.from({ length: 40 }, (_, i) => `value-${seed}-${i}-${"x".repeat(i % 7)}`);
      appendAll(g.leader()!, values);
      // Some were flushed (every 10 ms), the last ones not.
      g.until(1000 + (seed % 3) * 5);
      g.world.crash("n0", "power");
      g.world.start("n0");
      const n = g.nodes.get("n0")!;
      for (let i = 0; i <= n.ledgerEndIndex; i++) expect(decoder.decode(n.entry(i)!.body)).toBe(values[i]);
      expect(n.ledgerEndIndex).toBeLessThan(values.length);
    }
  });
});

describe("the term and vote file (MemberState.persistTerm)", () => {
  /** Three replicas elect a leader in term 1; then one of them crashes and reboots. */
  const afterCrash = (persistVote: "page-cache" | "fsync" | "none", crash: "power" | "process", atMs = 5000) => {
    const g = group(["n0", "n1", "n2"], { "dledger.persistVote": persistVote });
    g.until(atMs);
    const l = g.leader()!;
    expect(l.term).toBe(1);
    const victim = ["n0", "n1", "n2"].find((n) => n !== l.name)!;
    expect(g.nodes.get(victim)!.term).toBe(1);
    g.world.crash(victim, crash);
    g.world.start(victim);
    return { recovered: g.recoveries(victim).at(-1)!, leader: l.name, g, victim };
  };

  it("page-cache: a process crash keeps them, a power loss within 30 s takes them back (the rename reached the journal, the data did not)", () => {
    const kept = afterCrash("page-cache", "process");
    expect(kept.recovered).toMatchObject({ term: 1, votedFor: kept.leader });
    expect(afterCrash("page-cache", "power").recovered).toMatchObject({ term: 0, votedFor: null });
  });

  it("page-cache: once the kernel wrote the file back (dirty pages older than 30 s), a power loss keeps them", () => {
    const late = afterCrash("page-cache", "power", 40_000);
    expect(late.recovered).toMatchObject({ term: 1, votedFor: late.leader });
    expect(decodeProperties(late.g.world.node(late.victim).disk.readAll("dledger/currterm")).get("currTerm")).toBe("1");
  });

  it("fsync: durable before anything leaves, so a power loss keeps them", () => {
    const r = afterCrash("fsync", "power");
    expect(r.recovered).toMatchObject({ term: 1, votedFor: r.leader });
  });

  it("none: memory only, so even a process crash forgets them", () => {
    expect(afterCrash("none", "process").recovered).toMatchObject({ term: 0, votedFor: null });
  });
});

describe("replies that promise durability wait for it", () => {
  /**
   * Times from the arrival at `to` of a request of `kind` to the departure
   * of its reply with `result` (requests and replies pair up in order on a
   * connection; replies are labelled "<request kind> <result>").
   */
  const replyDelays = (events: TraceEvent[], kind: string, result: string, to: string): number[] => {
    const arrived = new Map<number, number[]>();
    const out: number[] = [];
    for (const e of events) {
      if (e.kind !== "net.msg") continue;
      const d = e.details as { from: string; sentUs: number; type: string; conn: number };
      if (e.node === to && d.type === `raft.req ${kind}`) {
        const q = arrived.get(d.conn) ?? [];
        q.push(e.timeUs);
        arrived.set(d.conn, q);
      } else if (d.from === to && d.type.startsWith(`raft.resp ${kind} `)) {
        const t = arrived.get(d.conn)?.shift();
        if (t !== undefined && d.type === `raft.resp ${kind} ${result}`) out.push(d.sentUs - t);
      }
    }
    return out;
  };
  const slowDisk = { fsyncLatencyUs: 20 * MS };

  it("persistVote=fsync: a vote is answered only after the term file is on the platter (page-cache answers at once)", () => {
    for (const [mode, atLeast] of [["fsync", 20 * MS], ["page-cache", 0]] as const) {
      const g = group(["n0", "n1", "n2"], { "dledger.persistVote": mode }, { disk: slowDisk, traceMessages: true });
      g.until(5000);
      expect(g.leader()).toBeDefined();
      // Only a granted vote changes the state it depends on; refusals leave at once in both modes.
      const delays = ["n0", "n1", "n2"].flatMap((n) => replyDelays(g.events, "vote", "ACCEPT", n));
      expect(delays.length).toBeGreaterThan(0);
      if (atLeast > 0) expect(Math.min(...delays)).toBeGreaterThanOrEqual(atLeast);
      else expect(Math.max(...delays)).toBe(0);
    }
  });

  it("fsyncBeforeAck=true: a follower answers an APPEND only once the entry is durable (false: at once)", () => {
    for (const [ack, durable] of [[true, true], [false, false]] as const) {
      const g = group(["n0", "n1", "n2"], { "dledger.fsyncBeforeAck": ack }, { disk: slowDisk, traceMessages: true });
      g.until(3000);
      const l = g.leader()!;
      for (const [i, v] of ["a", "b", "c"].entries()) {
        appendAll(l, [v]);
        g.until(3000 + (i + 1) * 500);
      }
      const followers = ["n0", "n1", "n2"].filter((n) => n !== l.name);
      const delays = followers.flatMap((n) => replyDelays(g.events, "APPEND", "SUCCESS", n));
      expect(delays.length).toBeGreaterThan(0);
      if (durable) expect(Math.min(...delays)).toBeGreaterThanOrEqual(20 * MS);
      else expect(Math.max(...delays)).toBe(0);
      expect(l.committedIndex).toBe(2);
    }
  });
});
