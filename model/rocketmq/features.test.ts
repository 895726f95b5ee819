// The feature scenario end to end: each RocketMQ feature shows up in the
// history (and so is exercised), and without faults every promise holds.
// Under each fault class one seed runs to a verdict without a model error.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { HistoryOp, PollRead } from "../../invariants/index.js";
import { FAULT_CLASSES } from "../../sim/faults.js";
import { runScenario } from "../run.js";

function scenario(): { workload: { features: Record<string, unknown> } } & Record<string, unknown> {
  return JSON.parse(readFileSync(fileURLToPath(new URL("../../scenarios/rocketmq-features.json", import.meta.url)), "utf8"));
}

type Poll = Extract<HistoryOp, { f: "poll" }>;
type Send = Extract<HistoryOp, { f: "send" }>;

function polls(ops: readonly HistoryOp[], group?: string): Poll[] {
  return ops.filter((o): o is Poll => o.f === "poll" && o.type === "ok" && (group === undefined || o.value.group === group));
}
function reads(ops: readonly HistoryOp[], group?: string): PollRead[] {
  return polls(ops, group).flatMap((p) => p.value.reads);
}
function sends(ops: readonly HistoryOp[]): Send[] {
  return ops.filter((o): o is Send => o.f === "send" && o.type !== "invoke");
}

describe("scenario rocketmq-features", () => {
  // A long run: poison messages reach the DLQ after 16 retries, about 4 h 46 m later.
  const r = runScenario(scenario(), { seed: 1 });
  const ops = r.history.ops;

  it("drains, and every promise holds without faults", () => {
    expect(r.outcome).toBe("drained");
    expect(r.violations).toEqual([]);
    expect(r.verdict).toBe("pass");
    // Hours of simulated time: the retries' delay levels reach 2 h.
    expect(r.stats.simTimeMs).toBeGreaterThan(4 * 3600 * 1000);
  });

  it("delayed messages are delivered, none before its time", () => {
    const delayed = sends(ops).filter((s) => s.type === "ok" && s.value.delayMs !== undefined);
    expect(delayed.length).toBeGreaterThan(10);
    const invokeTime = new Map(ops.filter((o) => o.f === "send" && o.type === "invoke").map((o) => [(o.value as { value: string }).value, o.timeUs]));
    for (const s of delayed) {
      const firstRead = polls(ops).find((p) => p.value.reads.some((x) => x.value === s.value.value));
      expect(firstRead, s.value.value).toBeDefined();
      expect(firstRead!.timeUs).toBeGreaterThanOrEqual(invokeTime.get(s.value.value)! + s.value.delayMs! * 1000);
    }
  });

  it("transactions: commits become visible, rollbacks never", () => {
    const txn = sends(ops).filter((s) => s.type === "ok" && s.value.txn !== undefined);
    const read = new Set(reads(ops).map((x) => x.value));
    const commits = txn.filter((s) => s.value.txn!.outcome === "commit");
    const rollbacks = txn.filter((s) => s.value.txn!.outcome === "rollback");
    expect(commits.length).toBeGreaterThan(5);
    expect(rollbacks.length).toBeGreaterThan(2);
    for (const s of commits) expect(read.has(s.value.value), s.value.value).toBe(true);
    for (const s of rollbacks) expect(read.has(s.value.value), s.value.value).toBe(false);
  });

  it("failed consumption is retried through the retry topic, and poison messages reach the DLQ", () => {
    const fails = ops.filter((o) => o.f === "consume-fail" && o.type === "ok");
    expect(fails.length).toBeGreaterThan(10);
    const retried = reads(ops, "mqsim_consumer").filter((x) => x.topic?.startsWith("%RETRY%"));
    expect(retried.length).toBeGreaterThan(5);
    const dead = reads(ops).filter((x) => x.dlq === true);
    expect(dead.length).toBeGreaterThan(0);
    for (const d of dead) expect(fails.filter((f) => (f.value as { value: string }).value === d.value).length).toBe(17);
  });

  it("the tag group sees only its tags; ordered messages are consumed in send order per queue", () => {
    const tagged = reads(ops, "mqsim_consumer_tag");
    expect(tagged.length).toBeGreaterThan(50);
    expect(tagged.every((x) => x.tag === "TagA")).toBe(true);
    const ordered = reads(ops, "mqsim_consumer_order");
    expect(ordered.length).toBeGreaterThan(100);
  });

  it("lookups by key find what was acknowledged", () => {
    const lookups = ops.filter((o) => o.f === "lookup" && o.type === "ok");
    expect(lookups.length).toBeGreaterThan(10);
    for (const l of lookups) expect((l.value as { found: string[] }).found).toContain((l.value as { msgKey: string }).msgKey);
  });

  it("runs to a verdict under every fault class", () => {
    for (const c of FAULT_CLASSES) {
      if (c === "none") continue;
      const f = runScenario({ ...scenario(), faults: { classes: [c], maxConcurrent: 1 } }, { seed: 2 });
      expect(f.verdict, c).not.toBe("error");
    }
  });
});
