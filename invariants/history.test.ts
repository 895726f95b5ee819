import { describe, expect, it } from "vitest";
import {
  HistoryBuilder,
  HistorySchema,
  pairAll,
  pairOps,
  partitionKey,
  queueKey,
  readKind,
  topicOfKey,
  wellFormednessProblems,
  type History,
} from "./history.js";

/** A literal history as it would sit in a trace file. */
const literal = {
  ops: [
    { index: 0, timeUs: 0, process: 0, type: "invoke", f: "send", value: { key: "orders-0", value: "v1", ordered: true } },
    { index: 1, timeUs: 5, process: 1, type: "invoke", f: "poll", value: { group: "g", reads: [] } },
    { index: 2, timeUs: 9, process: 0, type: "ok", f: "send", value: { key: "orders-0", value: "v1", ordered: true, offset: 0 } },
    {
      index: 3,
      timeUs: 12,
      process: 1,
      type: "ok",
      f: "poll",
      value: { group: "g", reads: [{ key: "orders-0", offset: 0, value: "v1" }], rebalance: { revoked: [], assigned: ["orders-0"] } },
    },
    { index: 4, timeUs: 13, process: 2, type: "invoke", f: "send", value: { key: "orders-1", value: "v2", delayMs: 5 } },
    { index: 5, timeUs: 20, process: 2, type: "info", f: "send", value: { key: "orders-1", value: "v2", delayMs: 5 }, error: "timeout" },
    { index: 6, timeUs: 21, process: 3, type: "invoke", f: "lookup", value: { topic: "orders", msgKey: "o-1", found: [] } },
  ],
  observations: [
    { timeUs: 0, node: "n1", kind: "leader", group: "orders-0", term: 1, leader: "n1" },
    { timeUs: 9, node: "n1", kind: "commit", group: "orders-0", key: "orders-0", index: 1 },
    { timeUs: 30, node: "runner", kind: "phase", phase: "drained" },
  ],
};

describe("HistorySchema", () => {
  it("parses a literal history", () => {
    const parsed = HistorySchema.parse(literal);
    expect(parsed.ops).toHaveLength(7);
    expect(parsed.ops[5]).toMatchObject({ type: "info", error: "timeout" });
    expect(parsed.observations[2]).toMatchObject({ kind: "phase", phase: "drained" });
  });

  it("rejects an unknown operation, a non-integer time and an unknown observation", () => {
    const badF = { ...literal, ops: [{ ...literal.ops[0], f: "crash" }] };
    const badTime = { ...literal, ops: [{ ...literal.ops[0], timeUs: 1.5 }] };
    const badObs = { ...literal, observations: [{ timeUs: 0, node: "n1", kind: "vote" }] };
    expect(HistorySchema.safeParse(badF).success).toBe(false);
    expect(HistorySchema.safeParse(badTime).success).toBe(false);
    expect(HistorySchema.safeParse(badObs).success).toBe(false);
  });

  it("rejects histories whose structure is broken", () => {
    const swapped = { ...literal, ops: [literal.ops[2], literal.ops[0]] };
    const result = HistorySchema.safeParse(swapped);
    expect(result.success).toBe(false);
    const problems = wellFormednessProblems(swapped as History);
    expect(problems).toEqual([
      "ops[0] has index 2",
      "ops[0] completes process 0, which has nothing in flight",
      "ops[1] has index 0",
      "ops[1] goes back in time (0 < 9)",
    ]);
  });
});

describe("pairOps", () => {
  it("pairs each invoke with the next completion of its process, in completion order", () => {
    const history = HistorySchema.parse(literal);
    const pairs = pairOps(history);
    expect(pairs.map((p) => [p.f, p.invoke.index, p.complete.index])).toEqual([
      ["send", 0, 2],
      ["poll", 1, 3],
      ["send", 4, 5],
    ]);
    expect(pairAll(history).pending.map((op) => op.index)).toEqual([6]);
  });

  it("throws on a completion with nothing in flight, or a second invoke", () => {
    const orphan: History = { ops: [{ ...literal.ops[2], index: 0 } as History["ops"][number]], observations: [] };
    expect(() => pairOps(orphan)).toThrow(/nothing in flight/);
    const b = new HistoryBuilder();
    b.invoke(0, "send", { key: "k", value: "v1" }, 0);
    const twice: History = b.build();
    twice.ops.push({ ...twice.ops[0]!, index: 1 });
    expect(() => pairOps(twice)).toThrow(/in flight/);
  });
});

describe("HistoryBuilder", () => {
  it("builds indices, repeats the invoke value when asked, and records events", () => {
    const b = new HistoryBuilder();
    const p = b.newProcess();
    expect(b.invoke(p, "assign", { keys: ["k"] }, 0)).toBe(0);
    expect(b.complete(p, "ok", undefined, 1)).toBe(1);
    expect(b.event(p, "consume-fail", { group: "g", key: "k", offset: 0, value: "v", reconsumeTimes: 0 }, 2)).toBe(3);
    b.phase("drained", 3);
    const h = b.build();
    expect(h.ops[1]).toEqual({ index: 1, timeUs: 1, process: p, type: "ok", f: "assign", value: { keys: ["k"] } });
    expect(HistorySchema.safeParse(h).success).toBe(true);
    expect(h.observations).toEqual([{ timeUs: 3, node: "runner", kind: "phase", phase: "drained" }]);
  });

  it("stops a broken model loudly", () => {
    const b = new HistoryBuilder();
    b.invoke(0, "send", { key: "k", value: "v1" }, 5);
    expect(() => b.invoke(0, "send", { key: "k", value: "v2" }, 6)).toThrow(/in flight/);
    expect(() => b.complete(0, "ok", undefined, 4)).toThrow(/time/);
    b.complete(0, "info", undefined, 7, "timeout");
    expect(() => b.invoke(0, "send", { key: "k", value: "v3" }, 8)).toThrow(/must not be reused/);
    expect(() => b.complete(1, "ok", undefined, 8)).toThrow(/nothing in flight/);
    // Ids chosen by hand are never handed out again.
    expect(b.newProcess()).toBe(1);
  });
});

describe("key helpers", () => {
  it("names queues and partitions and recovers their topics", () => {
    expect(queueKey("TopicTest", "broker-a", 3)).toBe("TopicTest@broker-a#3");
    expect(partitionKey("orders", 0)).toBe("orders-0");
    expect(topicOfKey("TopicTest@broker-a#3")).toBe("TopicTest");
    expect(topicOfKey("my-orders-12")).toBe("my-orders");
    expect(topicOfKey("plain")).toBe("plain");
  });

  it("tells normal, retry and DLQ reads apart", () => {
    expect(readKind({ key: "t@b#0", offset: 0, value: "v" })).toBe("normal");
    expect(readKind({ key: "%RETRY%g@b#0", offset: 0, value: "v" })).toBe("retry");
    expect(readKind({ key: "q", topic: "%RETRY%g", offset: 0, value: "v" })).toBe("retry");
    expect(readKind({ key: "q", offset: 0, value: "v", dlq: true })).toBe("dlq");
    expect(readKind({ key: "%DLQ%g@b#0", offset: 0, value: "v" })).toBe("dlq");
  });
});
