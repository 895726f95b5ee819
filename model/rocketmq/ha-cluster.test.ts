import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkAll, type HistoryOp } from "../../invariants/index.js";
import type { FaultClass, FaultPlan } from "../../sim/faults.js";
import type { TraceEvent } from "../../sim/kernel.js";
import { runPhases } from "../../sim/runner.js";
import { World } from "../../sim/world.js";
import { resolveScenario, runScenario } from "../run.js";
import type { RocketMqScenario } from "../scenario.js";
import { RocketMqCluster } from "./cluster.js";

const S = 1_000_000;
const HA_SCENARIOS = ["rocketmq-async-master", "rocketmq-sync-master", "rocketmq-sync-master-sync-flush"] as const;

function scenario(name: string): unknown {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`../../scenarios/${name}.json`, import.meta.url)), "utf8"));
}

type SendOp = HistoryOp & { f: "send"; value: { key: string; value: string; offset?: number } };

function completedSends(ops: readonly HistoryOp[]): SendOp[] {
  return ops.filter((o) => o.f === "send" && o.type !== "invoke") as SendOp[];
}

/** runScenario, keeping the cluster object so a test can look at the operator table and the stores. */
function runCluster(name: string, opts: { seed?: number; plan: FaultPlan; durationSeconds: number; set?: Record<string, string | number | boolean> }) {
  const s = resolveScenario(scenario(name), { plan: opts.plan, durationSeconds: opts.durationSeconds, ...(opts.set ? { set: opts.set } : {}) }) as RocketMqScenario;
  const world = new World({ seed: opts.seed ?? 1, network: { traceMessages: true } });
  const events: TraceEvent[] = [];
  /** Responses each broker node sent to consumers, by code; and pulls each one received. */
  const pullAnswers = new Map<string, number[]>();
  const pullsTo = new Map<string, number>();
  world.sim.onTrace((e) => {
    if (e.kind !== "net.msg") {
      events.push(e);
      return;
    }
    const d = e.details as { from: string; type: string };
    if (d.type === "req 11" && d.from.startsWith("consumer")) pullsTo.set(e.node, (pullsTo.get(e.node) ?? 0) + 1);
    if (e.node.startsWith("consumer") && d.from.startsWith("broker") && d.type.startsWith("resp ")) {
      const codes = pullAnswers.get(d.from) ?? [];
      codes.push(Number(d.type.slice(5)));
      pullAnswers.set(d.from, codes);
    }
  });
  const cluster = new RocketMqCluster(world, s);
  const phases = runPhases({
    world,
    model: cluster,
    plan: opts.plan,
    workloadUs: s.workload.durationSeconds * S,
    drainTimeoutUs: s.workload.drainTimeoutSeconds * S,
    faultTargets: cluster.faultTargets(),
  });
  const history = cluster.buildHistory();
  return { world, cluster, events, pullAnswers, pullsTo, phases, history, anomalies: checkAll(history) };
}

describe("the HA scenarios end to end", () => {
  for (const name of HA_SCENARIOS) {
    it(`${name}: without faults every send is SEND_OK and read back, with no anomaly`, () => {
      const r = runScenario(scenario(name), { seed: 1, overrides: { durationSeconds: 30 } });
      expect(r.verdict).toBe("pass");
      expect(r.outcome).toBe("drained");
      expect(r.anomalies).toEqual([]);
      const sends = completedSends(r.history.ops);
      expect(sends.length).toBeGreaterThan(700);
      expect(sends.every((o) => o.type === "ok")).toBe(true);
    });
  }

  // One seed per (scenario, fault class): every run converges, and the guarantees each scenario
  // states hold where a single machine fails (power-loss-all and disk-loss can take both copies).
  const classes: FaultClass[] = ["process-crash", "power-loss", "power-loss-all", "disk-loss", "partition", "pause", "mixed"];
  for (const name of HA_SCENARIOS) {
    it(`${name}: converges under every fault class`, () => {
      for (const cls of classes) {
        const r = runScenario(scenario(name), { seed: 3, overrides: { faults: [cls], durationSeconds: 60 } });
        expect(r.verdict, `${name} ${cls}`).not.toBe("error");
        expect(r.outcome, `${name} ${cls}`).toBe("drained");
        if (name !== "rocketmq-async-master" && cls !== "disk-loss" && cls !== "power-loss-all") expect(r.verdict, `${name} ${cls}`).toBe("pass");
      }
    });
  }

  it("SYNC_MASTER + SYNC_FLUSH keeps every SEND_OK when a machine, or both, lose power", () => {
    for (const seed of [1, 2, 3]) {
      for (const cls of ["power-loss", "power-loss-all"] as const) {
        const r = runScenario(scenario("rocketmq-sync-master-sync-flush"), { seed, overrides: { faults: [cls], durationSeconds: 60 } });
        expect(r.anomalies.find((a) => a.type === "lost-write"), `seed ${seed} ${cls}`).toBeUndefined();
      }
    }
  });

  it("ASYNC_MASTER + ASYNC_FLUSH loses SEND_OKs when the master loses power (its unflushed tail, which it keeps serving as master)", () => {
    const plan: FaultPlan = [{ atMs: 30_000, kind: "power-loss", durationMs: 5_000, targets: ["broker-a"] }];
    const r = runScenario(scenario("rocketmq-async-master"), { seed: 1, overrides: { plan, durationSeconds: 60 } });
    expect(r.anomalies.map((a) => a.type)).toContain("inconsistent-offsets");
  });
});

describe("the operator's recovery from a master's lost disk", () => {
  const plan: FaultPlan = [{ atMs: 20_000, kind: "disk-loss", durationMs: 10_000, targets: ["@master"] }];

  it("promotes the slave: roles, routes and selectors follow; producers continue; the old master returns empty as slave and catches up", () => {
    const r = runCluster("rocketmq-sync-master", { plan, durationSeconds: 80 });
    const [a, s1] = r.cluster.topology.brokers;
    expect([a!.node, a!.brokerId, s1!.node, s1!.brokerId]).toEqual(["broker-a", 1, "broker-a-s1", 0]);
    expect(r.cluster.resolveRole("@master", ["broker-a", "broker-a-s1"])).toEqual(["broker-a-s1"]);
    expect(r.cluster.resolveRole("@slave", ["broker-a", "broker-a-s1"])).toEqual(["broker-a"]);
    const promote = r.events.find((e) => e.kind === "operator.promote")!;
    expect(promote.timeUs).toBe(30 * S);
    expect(promote.details).toMatchObject({ group: "broker-a", master: "broker-a-s1", slave: "broker-a", epoch: 1 });
    // The slave restarts cleanly as master and registers as brokerId 0.
    expect(r.events.some((e) => e.kind === "namesrv.register" && e.details?.broker === "broker-a-s1" && e.details?.brokerId === 0)).toBe(true);
    expect(r.history.observations.filter((o) => o.kind === "leader").map((o) => [o.term, o.kind === "leader" ? o.leader : ""])).toEqual([
      [0, "broker-a"],
      [1, "broker-a-s1"],
    ]);
    // Producers write again once their routes refresh, to the new master.
    const later = completedSends(r.history.ops).filter((o) => o.timeUs > 62 * S && o.timeUs < 80 * S);
    expect(later.length).toBeGreaterThan(500);
    expect(later.every((o) => o.type === "ok")).toBe(true);
    // The node that lost its disk replicated everything from the new master.
    expect(a!.store!.recovery.maxOffset).toBe(0);
    expect(a!.store!.getMaxPhyOffset()).toBe(s1!.store!.getMaxPhyOffset());
    expect(a!.store!.getMaxOffsetInQueue("TopicTest", 0)).toBe(s1!.store!.getMaxOffsetInQueue("TopicTest", 0));
    // SYNC_MASTER: every SEND_OK was on the slave before the master's disk went.
    expect(r.phases.outcome).toBe("drained");
    expect(r.anomalies).toEqual([]);
  });

  it("a master that restarts with its disk stays master, whatever its slave holds", () => {
    const r = runCluster("rocketmq-sync-master", { plan: [{ atMs: 20_000, kind: "power-loss", durationMs: 5_000, targets: ["@master"] }], durationSeconds: 40 });
    expect(r.cluster.topology.brokers.map((b) => [b.node, b.brokerId])).toEqual([
      ["broker-a", 0],
      ["broker-a-s1", 1],
    ]);
    expect(r.events.some((e) => e.kind === "operator.promote")).toBe(false);
  });

  it("a consumer reads from the slave once the master has left the route", () => {
    // A process crash resets the NameServers' channels to the master, which drop it from routes at once;
    // consumers see that at their next route refresh (every 30 s) and fall back to the slave.
    const r = runCluster("rocketmq-sync-master", { plan: [{ atMs: 20_000, kind: "process-crash", durationMs: 45_000, targets: ["broker-a"] }], durationSeconds: 70 });
    expect(r.pullsTo.get("broker-a-s1") ?? 0).toBeGreaterThan(0);
    const answers = r.pullAnswers.get("broker-a-s1") ?? [];
    // Answered like a master would: held pulls come back PULL_NOT_FOUND (19), none is turned away.
    expect(answers.every((code) => code === 0 || code === 19)).toBe(true);
    expect(r.anomalies).toEqual([]);
  });
});
