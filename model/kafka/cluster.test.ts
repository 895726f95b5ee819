// End-to-end runs of the Kafka model: every built-in scenario without faults,
// then the documented losses (known-bugs.md §A) reproduced by explicit fault
// plans, each next to the configuration or protocol version that survives the
// same plan.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { AnomalyType, HistoryOp } from "../../invariants/index.js";
import type { FaultPlan } from "../../sim/faults.js";
import { runScenario, type RunResult } from "../run.js";

type ScenarioInput = {
  cluster: Record<string, unknown>;
  config: Record<string, unknown>;
  workload: Record<string, unknown>;
  expect: string[];
};

function scenario(name: string): ScenarioInput {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`../../scenarios/${name}.json`, import.meta.url)), "utf8")) as ScenarioInput;
}

function run(input: unknown, plan: FaultPlan, seed = 1, durationSeconds = 60): RunResult {
  return runScenario(input, { seed, overrides: { plan, durationSeconds } });
}

function types(r: RunResult): AnomalyType[] {
  return r.anomalies.map((a) => a.type);
}

function sends(ops: readonly HistoryOp[]) {
  return ops.filter((o) => o.f === "send" && o.type !== "invoke");
}

/** Anomalies that show acknowledged data went missing or was replaced. */
const LOSS: AnomalyType[] = ["lost-write", "inconsistent-offsets", "committed-truncation", "log-divergence"];
const hasLoss = (r: RunResult): boolean => types(r).some((t) => LOSS.includes(t));

describe("Kafka end to end without faults", () => {
  for (const name of ["kafka-acks-1", "kafka-acks-all-isr1", "kafka-acks-all-isr2", "kafka-unclean", "kafka-no-idempotence"]) {
    it(`${name}: every send is acknowledged and read back, with no anomaly`, () => {
      const r = runScenario(scenario(name), { seed: 1, overrides: { durationSeconds: 30 } });
      expect(r.outcome).toBe("drained");
      expect(r.anomalies).toEqual([]);
      expect(r.verdict).toBe("pass");
      const done = sends(r.history.ops);
      expect(done.length).toBeGreaterThan(1000);
      expect(done.every((o) => o.type === "ok")).toBe(true);
      // Internal observations are there for the replica-level checkers.
      const kinds = new Set(r.history.observations.map((o) => o.kind));
      for (const k of ["leader", "commit", "log", "phase"]) expect(kinds.has(k as never)).toBe(true);
    });
  }

  it("is a pure function of (scenario, seed)", () => {
    const a = runScenario(scenario("kafka-acks-all-isr2"), { seed: 5, overrides: { faults: ["mixed"], maxConcurrentFaults: 2, durationSeconds: 40 } });
    const b = runScenario(scenario("kafka-acks-all-isr2"), { seed: 5, overrides: { faults: ["mixed"], maxConcurrentFaults: 2, durationSeconds: 40 } });
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.plan).toEqual(a.plan);
  });
});

describe("A1: truncation to the high watermark, then a fast election (KIP-101 scenario 1)", () => {
  // Two brokers, one partition led by broker-1. The follower restarts (and, before KIP-101,
  // truncates to its checkpointed HW, dropping committed records); the leader dies before
  // the follower has fetched them again, and the follower is elected.
  const plan: FaultPlan = [
    { atMs: 10_000, kind: "process-crash", durationMs: 2_000, targets: ["broker-2"] },
    { atMs: 11_000, kind: "process-crash", durationMs: 30_000, targets: ["broker-1"] },
  ];
  const input = (version: string): ScenarioInput => {
    const s = scenario("kafka-acks-all-isr1");
    s.cluster = { ...s.cluster, brokers: 2, replicationFactor: 2 };
    s.workload = { ...s.workload, queues: 1 };
    s.config = { ...s.config, "inter.broker.protocol.version": version };
    return s;
  };

  it("0.10.2 loses committed records: replicas diverge below the high watermark", () => {
    const r = run(input("0.10.2"), plan);
    expect(types(r)).toEqual(expect.arrayContaining(["inconsistent-offsets", "log-divergence", "committed-truncation"]));
    const truncate = r.history.observations.find((o) => o.kind === "truncate" && o.node === "broker-2");
    expect(truncate).toBeDefined();
  });

  it("leader epochs (1.1 and 3.7) keep every committed record on the same plan", () => {
    for (const version of ["1.1", "3.7"]) {
      const r = run(input(version), plan);
      expect(r.outcome).toBe("drained");
      expect(hasLoss(r)).toBe(false);
    }
  });
});

describe("A9: acks=1 and a leader cut off from its followers", () => {
  // broker-1 leads partitions 0 and 3. Cut from the other brokers and the controller, it keeps
  // acknowledging acks=1 writes that no follower has, while the controller elects a new leader.
  const plan: FaultPlan = [{ atMs: 10_000, kind: "partition", durationMs: 20_000, targets: [], shape: "halves", groups: [["broker-1"], ["broker-2", "broker-3", "controller"]] }];

  it("acks=1 loses acknowledged records", () => {
    const r = run(scenario("kafka-acks-1"), plan);
    expect(types(r)).toEqual(expect.arrayContaining(["lost-write", "inconsistent-offsets"]));
    expect(r.verdict).toBe("pass");
  });

  it("acks=all on the same plan loses nothing", () => {
    const r = run(scenario("kafka-acks-all-isr1"), plan);
    expect(r.outcome).toBe("drained");
    expect(r.anomalies).toEqual([]);
  });
});

describe("A8: unclean leader election", () => {
  // Brokers 2 and 3 lose the controller and broker-1, so the ISR shrinks to broker-1, which
  // acknowledges alone (min.insync.replicas=1). Then broker-1 dies; once 2 and 3 are back,
  // only an unclean election can give the partitions a leader.
  const plan: FaultPlan = [
    { atMs: 10_000, kind: "partition", durationMs: 35_000, targets: [], shape: "halves", groups: [["broker-1", "controller"], ["broker-2", "broker-3"]] },
    { atMs: 40_000, kind: "process-crash", durationMs: 60_000, targets: ["broker-1"] },
  ];

  it("with unclean.leader.election.enable=true a replica outside the ISR is elected and committed records are lost", () => {
    const r = run(scenario("kafka-unclean"), plan);
    expect(types(r)).toEqual(expect.arrayContaining(["inconsistent-offsets", "committed-truncation"]));
    expect(r.history.observations.some((o) => o.kind === "truncate" && o.node === "broker-1")).toBe(true);
  });

  it("with it disabled the partitions wait for broker-1 and nothing is lost", () => {
    const r = run(scenario("kafka-acks-all-isr1"), plan);
    expect(r.outcome).toBe("drained");
    expect(hasLoss(r)).toBe(false);
  });
});

describe("A11: the last replica standing loses power (KIP-966)", () => {
  // The ISR shrinks to broker-1 (2 and 3 are cut off from it and from the controller). broker-1
  // then loses power: nothing was fsynced and the kernel had not yet written its pages back, so
  // it comes back without records that were committed while 2 and 3 were still in the ISR. As
  // the only ISR member it is elected again, and 2 and 3 truncate the last copies.
  const plan = (kind: "power-loss" | "process-crash"): FaultPlan => [
    { atMs: 10_000, kind: "partition", durationMs: 20_000, targets: [], shape: "halves", groups: [["broker-1", "controller"], ["broker-2", "broker-3"]] },
    { atMs: 25_000, kind, durationMs: 1_000, targets: ["broker-1"] },
  ];

  it("with min.insync.replicas=2 committed records are truncated on every replica", () => {
    const r = run(scenario("kafka-acks-all-isr2"), plan("power-loss"));
    expect(types(r)).toEqual(expect.arrayContaining(["committed-truncation", "inconsistent-offsets"]));
    expect(r.verdict).toBe("fail");
  });

  it("a process crash at the same moment keeps the page cache, and nothing is lost", () => {
    const r = run(scenario("kafka-acks-all-isr2"), plan("process-crash"));
    expect(r.outcome).toBe("drained");
    expect(r.anomalies).toEqual([]);
  });

  it("with log.flush.interval.messages=1 the records are fsynced before they are acknowledged and survive", () => {
    const s = scenario("kafka-acks-all-isr2");
    s.config = { ...s.config, "log.flush.interval.messages": 1 };
    const r = run(s, plan("power-loss"));
    expect(hasLoss(r)).toBe(false);
  });
});

describe("A13: retries without idempotence", () => {
  it("a retried produce is written twice without idempotence, once with it", () => {
    // broker-3 dies, so the HW of the partitions it follows stalls until the controller fences it;
    // then their leader broker-1 dies with appended, replicated, unacknowledged records. The
    // producer resends them to the new leader, broker-2, which already has them.
    const plan: FaultPlan = [
      { atMs: 10_000, kind: "process-crash", durationMs: 20_000, targets: ["broker-3"] },
      { atMs: 12_000, kind: "process-crash", durationMs: 5_000, targets: ["broker-1"] },
    ];
    const without = run(scenario("kafka-no-idempotence"), plan);
    expect(types(without)).toContain("duplicate");
    const withIdempotence = run(scenario("kafka-acks-all-isr2"), plan);
    expect(types(withIdempotence)).not.toContain("duplicate");
  });
});
