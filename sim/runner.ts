import { FaultInjector, type FaultPlan } from "./faults.js";
import type { Micros } from "./time.js";
import type { World } from "./world.js";

export type Phase = "workload" | "heal" | "drain" | "drained" | "drain-timeout";

/** What the runner needs from a model to drive its phases. */
export interface PhasedModel {
  /** Called once at time 0, after the nodes exist: start processes and clients. */
  start(): void;
  /** Told of each phase change (the model records it in its history). */
  onPhase?(phase: Phase): void;
  /** True once every consumer has read everything it must (the final drain converged). */
  isDrained(): boolean;
}

export interface PhaseOptions {
  world: World;
  model: PhasedModel;
  plan: FaultPlan;
  /** Length of the workload-under-faults phase. */
  workloadUs: Micros;
  /** How long the drain may take after healing before it counts as a liveness failure. */
  drainTimeoutUs: Micros;
  /** How often to ask the model whether it has drained. */
  drainCheckIntervalUs?: Micros;
  /** A bound on the whole run; hitting it is reported, never silently ignored. */
  maxEvents?: number;
  /** Nodes faults may hit; defaults to every server node. */
  faultTargets?: readonly string[];
}

export interface PhaseResult {
  outcome: "drained" | "drain-timeout" | "event-budget";
  /** Simulated time the workload ended and the drain ended. */
  workloadEndUs: Micros;
  endUs: Micros;
  events: number;
  injector: FaultInjector;
}

/**
 * Runs a model through the phases every run has: workload under faults, heal
 * everything, then a liveness phase in which the system must converge (every
 * consumer drains), then the checks (done by the caller on the history).
 */
export function runPhases(opts: PhaseOptions): PhaseResult {
  const { world, model } = opts;
  const sim = world.sim;
  const injector = new FaultInjector(world, world.rng.fork("nemesis-targets"), opts.faultTargets ?? world.serverNames());
  const maxEvents = opts.maxEvents ?? Number.POSITIVE_INFINITY;
  const phase = (p: Phase): void => {
    sim.emit("runner", "phase", { phase: p });
    model.onPhase?.(p);
  };

  phase("workload");
  model.start();
  injector.schedule(opts.plan.filter((f) => f.atMs * 1000 < opts.workloadUs));
  const r1 = sim.run({ untilUs: opts.workloadUs, maxEvents });
  if (r1.reason === "event-budget") {
    return { outcome: "event-budget", workloadEndUs: sim.now, endUs: sim.now, events: sim.eventsRun, injector };
  }

  phase("heal");
  injector.healAll();
  phase("drain");
  const deadline = opts.workloadUs + opts.drainTimeoutUs;
  const interval = opts.drainCheckIntervalUs ?? 100_000;
  let drained = false;
  const check = (): void => {
    if (model.isDrained()) {
      drained = true;
      sim.stop();
      return;
    }
    if (sim.now + interval <= deadline) sim.after(interval, check);
  };
  sim.after(0, check);
  const r2 = sim.run({ untilUs: deadline, maxEvents: maxEvents - r1.events });
  if (!drained && r2.reason === "event-budget") {
    return { outcome: "event-budget", workloadEndUs: opts.workloadUs, endUs: sim.now, events: sim.eventsRun, injector };
  }
  phase(drained ? "drained" : "drain-timeout");
  return { outcome: drained ? "drained" : "drain-timeout", workloadEndUs: opts.workloadUs, endUs: sim.now, events: sim.eventsRun, injector };
}
