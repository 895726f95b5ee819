import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FAULT_CLASSES, FaultPlanSchema, expandClasses, generateFaultPlan, type Fault, type FaultClass } from "./faults.js";
import { Rng } from "./rng.js";
import { runPhases } from "./runner.js";
import { recordingWorld } from "./testing/recorder.js";

const SERVERS = ["s1", "s2", "s3", "s4", "s5"];

function maxOverlap(plan: readonly Fault[]): number {
  const points: Array<[number, number]> = [];
  for (const f of plan) points.push([f.atMs, 1], [f.atMs + f.durationMs, -1]);
  // Ends sort before starts at the same instant: a fault that heals as another starts does not overlap it.
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of points) {
    cur += d;
    max = Math.max(max, cur);
  }
  return max;
}

const KIND_OF_CLASS: Record<string, string> = {
  "process-crash": "process-crash",
  "power-loss": "power-loss",
  "power-loss-all": "power-loss-all",
  "disk-loss": "disk-loss",
  partition: "partition",
  pause: "pause",
};

describe("nemesis: fault plans", () => {
  it("honour the classes asked for, the concurrency bound and the time window", () => {
    const classArb = fc.subarray(FAULT_CLASSES as unknown as FaultClass[], { minLength: 1 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), classArb, fc.integer({ min: 1, max: 3 }), (seed, classes, maxConcurrent) => {
        const plan = generateFaultPlan(new Rng(seed), { classes, maxConcurrent, startMs: 5_000, endMs: 300_000, servers: SERVERS, roles: ["@leader"] });
        expect(FaultPlanSchema.parse(plan)).toEqual(plan);
        const allowed = new Set(expandClasses(classes).map((c) => KIND_OF_CLASS[c]));
        for (const f of plan) {
          expect(allowed.has(f.kind)).toBe(true);
          expect(f.atMs).toBeGreaterThanOrEqual(5_000);
          expect(f.atMs + f.durationMs).toBeLessThanOrEqual(300_000);
        }
        expect(maxOverlap(plan)).toBeLessThanOrEqual(maxConcurrent);
        if (classes.every((c) => c === "none")) expect(plan).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("are a pure function of the seed, and swarm: seeds differ in their mix", () => {
    const gen = (seed: number) => generateFaultPlan(new Rng(seed), { classes: ["mixed"], maxConcurrent: 2, startMs: 0, endMs: 600_000, servers: SERVERS });
    expect(gen(4)).toEqual(gen(4));
    const mixes = new Set<string>();
    for (let s = 0; s < 40; s++) {
      const counts: Record<string, number> = {};
      for (const f of gen(s)) counts[f.kind] = (counts[f.kind] ?? 0) + 1;
      const dominant = Object.entries(counts).sort((a, b) => b[1] - a[1])[0]?.[0] ?? "none";
      mixes.add(dominant);
    }
    expect(mixes.size).toBeGreaterThanOrEqual(3);
  });

  it("mixed expands to crash, power loss, partition and pause", () => {
    expect(expandClasses(["mixed"])).toEqual(["process-crash", "power-loss", "partition", "pause"]);
    expect(expandClasses(["none"])).toEqual([]);
  });

  it("reject malformed faults by schema", () => {
    expect(FaultPlanSchema.safeParse([{ atMs: -1, kind: "pause", durationMs: 10 }]).success).toBe(false);
    expect(FaultPlanSchema.safeParse([{ atMs: 1, kind: "meteor", durationMs: 10 }]).success).toBe(false);
    expect(FaultPlanSchema.safeParse([{ atMs: 1, kind: "pause", durationMs: 10, color: "red" }]).success).toBe(false);
  });
});

describe("fault injector", () => {
  it("crashes, powers off, wipes, pauses and partitions, then heals each after its duration", () => {
    const { world, sim } = recordingWorld(["s1", "s2", "s3"]);
    world.node("s2").disk.append("log", new Uint8Array(100).fill(1));
    const events: string[] = [];
    sim.onTrace((e) => {
      if (e.node === "nemesis" || e.kind.startsWith("node.")) events.push(`${e.timeUs / 1000}:${e.node}:${e.kind}`);
    });
    const plan: Fault[] = [
      { atMs: 1000, kind: "process-crash", durationMs: 500, targets: ["s1"] },
      { atMs: 2000, kind: "disk-loss", durationMs: 500, targets: ["s2"] },
      { atMs: 3000, kind: "pause", durationMs: 500, targets: ["s3"] },
      { atMs: 4000, kind: "partition", durationMs: 500, targets: [], shape: "halves", groups: [["s1"], ["s2", "s3"]] },
    ];
    let duringPartition = false;
    sim.schedule(4_200_000, () => (duringPartition = world.net.isBlocked(world.node("s1"), world.node("s2"))));
    const r = runPhases({ world, model: { start: () => {}, isDrained: () => true }, plan, workloadUs: 10_000_000, drainTimeoutUs: 1_000_000 });
    expect(r.outcome).toBe("drained");
    expect(duringPartition).toBe(true);
    expect(world.net.isBlocked(world.node("s1"), world.node("s2"))).toBe(false);
    expect(world.node("s2").disk.exists("log")).toBe(false);
    expect(events).toEqual([
      "1000:s1:node.crash",
      "1000:nemesis:fault.start",
      "1500:s1:node.start",
      "1500:nemesis:fault.end",
      "2000:s2:node.crash",
      "2000:nemesis:fault.start",
      "2500:s2:node.start",
      "2500:nemesis:fault.end",
      "3000:s3:node.pause",
      "3000:nemesis:fault.start",
      "3500:s3:node.resume",
      "3500:nemesis:fault.end",
      "4000:nemesis:fault.start",
      "4500:nemesis:fault.end",
    ]);
  });

  it("power-loss-all takes every server at the same instant", () => {
    const { world, sim } = recordingWorld(["s1", "s2", "s3"]);
    const crashes: Array<[number, string]> = [];
    sim.onTrace((e) => {
      if (e.kind === "node.crash") crashes.push([e.timeUs, e.node]);
    });
    runPhases({ world, model: { start: () => {}, isDrained: () => true }, plan: [{ atMs: 50, kind: "power-loss-all", durationMs: 100, targets: ["@all"] }], workloadUs: 1_000_000, drainTimeoutUs: 1 });
    expect(crashes).toEqual([
      [50_000, "s1"],
      [50_000, "s2"],
      [50_000, "s3"],
    ]);
    expect(world.nodes.every((n) => n.up)).toBe(true);
  });

  it("heals everything still active when the workload phase ends", () => {
    const { world } = recordingWorld(["s1", "s2"]);
    const plan: Fault[] = [
      { atMs: 100, kind: "power-loss", durationMs: 1_000_000, targets: ["s1"] },
      { atMs: 100, kind: "partition", durationMs: 1_000_000, targets: ["s2"], shape: "isolate" },
    ];
    let downAtEnd = false;
    const r = runPhases({
      world,
      model: { start: () => {}, isDrained: () => true, onPhase: (p) => p === "heal" && (downAtEnd = !world.node("s1").up) },
      plan,
      workloadUs: 5_000_000,
      drainTimeoutUs: 1_000_000,
    });
    expect(downAtEnd).toBe(true);
    expect(r.outcome).toBe("drained");
    expect(world.node("s1").up).toBe(true);
    expect(world.net.isBlocked(world.node("s2"), world.node("s1"))).toBe(false);
  });

  it("resolves role selectors through the model when the fault fires", () => {
    const { world, sim } = recordingWorld(["s1", "s2", "s3"]);
    let leader = "s1";
    world.setRoleResolver((sel) => (sel === "@leader" ? [leader] : undefined));
    sim.schedule(50_000, () => (leader = "s3"));
    runPhases({ world, model: { start: () => {}, isDrained: () => true }, plan: [{ atMs: 100, kind: "process-crash", durationMs: 100, targets: ["@leader"] }], workloadUs: 1_000_000, drainTimeoutUs: 1 });
    expect(world.node("s3").boots).toBe(2);
    expect(world.node("s1").boots).toBe(1);
  });

  it("skips a fault whose target is already down, and says so", () => {
    const { world, sim } = recordingWorld(["s1"]);
    const kinds: string[] = [];
    sim.onTrace((e) => e.node === "nemesis" && kinds.push(e.kind));
    runPhases({
      world,
      model: { start: () => {}, isDrained: () => true },
      plan: [
        { atMs: 100, kind: "process-crash", durationMs: 1000, targets: ["@random"] },
        { atMs: 200, kind: "power-loss", durationMs: 1000, targets: ["@random"] },
      ],
      workloadUs: 5_000_000,
      drainTimeoutUs: 1,
    });
    expect(kinds).toEqual(["fault.start", "fault.skip", "fault.end"]);
  });

  it("reports a drain that never converges as a drain timeout", () => {
    const { world } = recordingWorld(["s1"]);
    const r = runPhases({ world, model: { start: () => {}, isDrained: () => false }, plan: [], workloadUs: 1_000_000, drainTimeoutUs: 2_000_000 });
    expect(r.outcome).toBe("drain-timeout");
    expect(r.endUs).toBe(3_000_000);
  });
});
