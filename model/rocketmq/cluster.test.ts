import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { HistoryOp } from "../../invariants/index.js";
import { runScenario, type RunOverrides } from "../run.js";

function scenario(name: string): unknown {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`../../scenarios/${name}.json`, import.meta.url)), "utf8"));
}

function completedSends(ops: readonly HistoryOp[]) {
  return ops.filter((o) => o.f === "send" && o.type !== "invoke") as Array<HistoryOp & { value: { key: string; value: string; offset?: number } }>;
}

const short: RunOverrides = { durationSeconds: 30 };

describe("RocketMQ end to end", () => {
  for (const name of ["rocketmq-single-async-flush", "rocketmq-single-sync-flush", "rocketmq-multi-master"]) {
    it(`${name}: without faults every send is acknowledged and read back, with no anomaly`, () => {
      for (const seed of [1, 2]) {
        const r = runScenario(scenario(name), { seed, overrides: short });
        expect(r.verdict).toBe("pass");
        expect(r.outcome).toBe("drained");
        expect(r.anomalies).toEqual([]);
        const sends = completedSends(r.history.ops);
        expect(sends.length).toBeGreaterThan(1000);
        expect(sends.every((o) => o.type === "ok")).toBe(true);
      }
    });
  }

  it("SYNC_FLUSH keeps every SEND_OK through power loss; ASYNC_FLUSH loses some", () => {
    let asyncLost = 0;
    for (const seed of [1, 2, 3]) {
      const sync = runScenario(scenario("rocketmq-single-sync-flush"), { seed, overrides: { faults: ["power-loss"] } });
      expect(sync.anomalies.find((a) => a.type === "lost-write")).toBeUndefined();
      expect(sync.verdict).toBe("pass");
      const asy = runScenario(scenario("rocketmq-single-async-flush"), { seed, overrides: { faults: ["power-loss"] } });
      asyncLost += asy.anomalies.find((a) => a.type === "lost-write")?.count ?? 0;
    }
    expect(asyncLost).toBeGreaterThan(0);
  });

  it("is a pure function of (scenario, seed)", () => {
    const a = runScenario(scenario("rocketmq-multi-master"), { seed: 9, overrides: { faults: ["mixed"], durationSeconds: 40 } });
    const b = runScenario(scenario("rocketmq-multi-master"), { seed: 9, overrides: { faults: ["mixed"], durationSeconds: 40 } });
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.plan).toEqual(a.plan);
  });
});

describe("producer retry paths", () => {
  it("a crashed master's sends retry on the other broker and succeed", () => {
    const r = runScenario(scenario("rocketmq-multi-master"), {
      seed: 1,
      overrides: { durationSeconds: 40, plan: [{ atMs: 10_000, kind: "process-crash", durationMs: 20_000, targets: ["broker-a"] }] },
    });
    const during = completedSends(r.history.ops).filter((o) => o.timeUs > 10_100_000 && o.timeUs < 30_000_000);
    expect(during.length).toBeGreaterThan(500);
    expect(during.every((o) => o.type === "ok" && o.value.key.includes("@broker-b#"))).toBe(true);
    expect(r.anomalies).toEqual([]);
  });

  it("with the only master down, sends fail definitely (connection refused) and nothing is lost", () => {
    const r = runScenario(scenario("rocketmq-single-sync-flush"), {
      seed: 1,
      overrides: { durationSeconds: 40, plan: [{ atMs: 10_000, kind: "process-crash", durationMs: 10_000, targets: ["broker-a"] }] },
    });
    const during = completedSends(r.history.ops).filter((o) => o.timeUs > 10_100_000 && o.timeUs < 20_000_000);
    expect(during.length).toBeGreaterThan(10);
    expect(during.every((o) => o.type === "fail")).toBe(true);
    expect(r.verdict).toBe("pass");
  });

  it("a paused master makes sends time out as indeterminate; they are stored after it resumes and read back", () => {
    const r = runScenario(scenario("rocketmq-single-sync-flush"), {
      seed: 1,
      overrides: { durationSeconds: 40, plan: [{ atMs: 10_000, kind: "pause", durationMs: 10_000, targets: ["broker-a"] }] },
    });
    const info = completedSends(r.history.ops).filter((o) => o.type === "info");
    expect(info.length).toBeGreaterThan(0);
    // The one attempt used the whole budget: RemotingTooMuchRequestException, no retry.
    expect(info.every((o) => o.error === "sendDefaultImpl call timeout")).toBe(true);
    const read = new Set<string>();
    for (const o of r.history.ops) if (o.f === "poll" && o.type === "ok") for (const x of (o.value as { reads: Array<{ value: string }> }).reads) read.add(x.value);
    expect(info.some((o) => read.has(o.value.value))).toBe(true);
    expect(r.anomalies.filter((a) => a.type === "lost-write")).toEqual([]);
  });

  it("FLUSH_DISK_TIMEOUT comes back to the caller, is not retried, and is not an acknowledgement", () => {
    const input = scenario("rocketmq-single-sync-flush") as { faults: Record<string, unknown> };
    input.faults = { ...input.faults, disk: { fsyncLatencySpikeProbability: 1, fsyncLatencySpikeUs: 6_000_000 } };
    // The producer must wait longer than syncFlushTimeout (5 s) to see the broker's answer.
    const r = runScenario(input, { seed: 1, overrides: { durationSeconds: 40, set: { sendMsgTimeout: 10_000 } } });
    const sends = completedSends(r.history.ops);
    const timeouts = sends.filter((o) => o.error === "FLUSH_DISK_TIMEOUT");
    expect(timeouts.length).toBeGreaterThan(0);
    expect(timeouts.every((o) => o.type === "info")).toBe(true);
    // Not retried: no value stored twice.
    expect(r.anomalies.find((a) => a.type === "duplicate")).toBeUndefined();
  });
});
