import { describe, expect, it } from "vitest";
import type { Anomaly } from "../../invariants/index.js";
import type { TraceEventLine } from "../format.js";
import { linkAnomalies } from "./anomalies.js";
import { sampleTrace } from "./testing/sample-trace.js";

const ev = (t: number, n: string, k: string, d?: Record<string, unknown>): TraceEventLine => (d === undefined ? { t, n, k } : { t, n, k, d });

describe("linkAnomalies", () => {
  it("links a lost write to its send, its append, the crash and fault that undid it, and the recovery", () => {
    const events = [
      ev(0, "broker-a", "node.start", { boot: 1, incarnation: 1 }),
      ev(10, "producer-1", "op.invoke", { process: 0, f: "send", value: "producer-1:1" }),
      ev(11, "broker-a", "store.append", { topic: "T", queueId: 1, queueOffset: 4, offset: 800, size: 200 }),
      // Same queue offset on another queue and on another broker: not the write.
      ev(11, "broker-a", "store.append", { topic: "T", queueId: 2, queueOffset: 4, offset: 1000, size: 200 }),
      ev(11, "broker-b", "store.append", { topic: "T", queueId: 1, queueOffset: 4, offset: 800, size: 200 }),
      ev(12, "producer-1", "op.ok", { process: 0, f: "send", value: "producer-1:1", key: "T@broker-a#1", offset: 4 }),
      ev(20, "broker-b", "node.crash", { mode: "power" }),
      ev(30, "broker-a", "node.crash", { mode: "power" }),
      ev(30, "nemesis", "fault.start", { index: 0, kind: "power-loss", nodes: ["broker-a"], durationMs: 1 }),
      ev(40, "broker-a", "node.start", { boot: 2, incarnation: 2 }),
      ev(41, "broker-a", "store.recover", { mode: "abnormal", maxOffset: 800, truncatedFrom: 800 }),
      ev(50, "consumer-1", "op.poll", { process: 1, key: "T@broker-a#1", offsets: [3, 5], n: 3 }),
      ev(51, "consumer-1", "op.poll", { process: 1, key: "T@broker-a#1", offsets: [5, 6], n: 2 }),
      ev(60, "broker-a", "node.crash", { mode: "process" }),
    ];
    const anomalies: Anomaly[] = [{ type: "lost-write", count: 1, examples: [{ key: "T@broker-a#1", value: "producer-1:1", offset: 4, process: 0 }] }];
    const [link] = linkAnomalies(events, anomalies, ["lost-write"]);
    expect(link).toMatchObject({ type: "lost-write", count: 1, violation: true });
    expect(link!.examples[0]!.events).toEqual([1, 2, 5, 7, 8, 10, 11]);
  });

  it("follows every position of a duplicate and every value of inconsistent offsets", () => {
    const events = [
      ev(1, "producer-1", "op.ok", { f: "send", value: "v1", key: "k", offset: 0 }),
      ev(2, "producer-1", "op.ok", { f: "send", value: "v2", key: "k", offset: 1 }),
      ev(3, "producer-1", "op.ok", { f: "send", value: "v3", key: "k", offset: 2 }),
      ev(4, "consumer-1", "consumer.offset-moved", { group: "g", mq: "k", from: 1, to: 3 }),
    ];
    const links = linkAnomalies(events, [
      { type: "duplicate", count: 1, examples: [{ value: "v9", positions: [{ key: "k", offset: 0 }, { key: "k", offset: 2 }] }] },
      { type: "inconsistent-offsets", count: 1, examples: [{ key: "k", offset: 7, values: ["v2", "v3"] }] },
      { type: "poll-skip", count: 1, examples: [{ key: "k", offset: 3, previous: { offset: 0, value: "v1", index: 0 }, skipped: [] }] },
    ]);
    expect(links.map((l) => l.examples[0]!.events)).toEqual([[0, 2, 3], [1, 2], [0, 3]]);
    expect(links.every((l) => !l.violation)).toBe(true);
  });

  it("matches replicated-log examples by node and index, leader conflicts by node and term, and keeps times as moments", () => {
    const events = [
      ev(1, "n1", "raft.append", { group: "g", index: 2, term: 1 }),
      ev(2, "n2", "raft.append", { group: "g", index: 2, term: 2 }),
      ev(3, "n1", "raft.become-leader", { group: "g", term: 3 }),
      ev(4, "n2", "raft.become-leader", { group: "g", term: 3 }),
      ev(5, "n3", "raft.become-leader", { group: "g", term: 4 }),
    ];
    const links = linkAnomalies(events, [
      { type: "log-divergence", count: 1, examples: [{ group: "g", index: 2, a: { node: "n1", term: 1, value: "a" }, b: { node: "n2", term: 2, value: "b" } }] },
      { type: "leader-conflict", count: 1, examples: [{ group: "g", term: 3, leaders: ["n1", "n2"] }] },
      { type: "liveness", count: 1, examples: [{ timeUs: 4, unseen: [] }] },
    ]);
    // Each side of the divergence is found on its own node at the example's index.
    expect(links[0]!.examples[0]!.events).toEqual([0, 1]);
    // Only the two leaders of term 3; n3's term-4 leadership is not part of it.
    expect(links[1]!.examples[0]!.events).toEqual([2, 3]);
    expect(links[2]!.examples[0]).toMatchObject({ events: [], moments: [4] });
  });

  it("finds the lost writes of the sample trace", () => {
    const trace = sampleTrace();
    const [link] = linkAnomalies(trace.events, trace.footer.anomalies, trace.header.scenario.expect);
    for (const ex of link!.examples) {
      const kinds = ex.events.map((i) => trace.events[i]!.k);
      expect(kinds).toEqual(expect.arrayContaining(["op.invoke", "store.append", "op.ok", "node.crash", "fault.start", "store.recover"]));
    }
  });
});
