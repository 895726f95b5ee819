import { checkAll, judge, type Anomaly, type History } from "../invariants/index.js";
import { expandClasses, generateFaultPlan, type FaultClass, type FaultPlan } from "../sim/faults.js";
import { runPhases } from "../sim/runner.js";
import type { TraceListener, TraceSink } from "../sim/kernel.js";
import { World } from "../sim/world.js";
import { ConfigError, type ClusterModel } from "./cluster.js";
import { createCluster } from "./systems.js";
import { ConfigValueSchema, ScenarioSchema, describeZodError, type Scenario } from "./scenario.js";

/** A problem with the scenario or an override: the CLI reports it with exit code 2. */
export class ScenarioError extends Error {}

export interface RunOverrides {
  faults?: FaultClass[];
  maxConcurrentFaults?: number;
  durationSeconds?: number;
  /** `key=value` changes to the scenario's config. */
  set?: Record<string, string | number | boolean>;
  /** An explicit fault plan (replay, shrink); replaces the nemesis. */
  plan?: FaultPlan;
}

export interface RunOptions {
  seed: number;
  overrides?: RunOverrides;
  /** Sees every trace event; does not change the run. */
  onTrace?: TraceListener;
  /** Sees every trace line (a trace writer); cheaper than onTrace. */
  onTraceLine?: (line: string) => void;
  /** Receives every trace line in parts (a trace writer); the cheapest. */
  traceSink?: TraceSink;
  /** Called with the fully resolved scenario and plan before the run starts. */
  onStart?: (scenario: Scenario, plan: FaultPlan) => void;
  maxEvents?: number;
}

export interface RunResult {
  scenario: string;
  seed: number;
  verdict: "pass" | "fail" | "error";
  anomalies: Anomaly[];
  violations: Anomaly[];
  findings: Anomaly[];
  stats: { events: number; traceEvents: number; simTimeMs: number; ops: number };
  traceHash: string;
  outcome: "drained" | "drain-timeout" | "event-budget";
  plan: FaultPlan;
  resolved: Scenario;
  history: History;
  error?: string;
}

/** Parses a `--set` value the way a properties file would be read: numbers and booleans become typed. */
export function parseSetValue(raw: string): string | number | boolean {
  if (raw === "true") return true;
  if (raw === "false") return false;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

/** Applies overrides to a scenario and validates the result; throws ScenarioError naming the problem. */
export function resolveScenario(input: unknown, overrides: RunOverrides = {}): Scenario {
  const parsed = ScenarioSchema.safeParse(input);
  if (!parsed.success) throw new ScenarioError(describeZodError(parsed.error, "scenario: "));
  const s: Scenario = structuredClone(parsed.data);
  if (overrides.faults !== undefined) s.faults.classes = overrides.faults;
  if (overrides.maxConcurrentFaults !== undefined) s.faults.maxConcurrent = overrides.maxConcurrentFaults;
  if (overrides.durationSeconds !== undefined) s.workload.durationSeconds = overrides.durationSeconds;
  if (overrides.plan !== undefined) s.faults.plan = overrides.plan;
  for (const [k, v] of Object.entries(overrides.set ?? {})) {
    if (!ConfigValueSchema.safeParse(v).success) throw new ScenarioError(`--set ${k}: bad value`);
    s.config[k] = v;
  }
  const probe = new World({ seed: 0 });
  try {
    // Validates every config key and value now, before any run starts.
    createCluster(probe, s);
  } catch (err) {
    if (err instanceof ConfigError) throw new ScenarioError(err.message);
    throw err;
  }
  // An explicit plan may only name nodes the cluster has (role selectors resolve when a fault fires).
  (s.faults.plan ?? []).forEach((f, i) => {
    for (const n of [...f.targets, ...(f.groups ?? []).flat()]) {
      if (!n.startsWith("@") && !probe.has(n)) throw new ScenarioError(`faults.plan[${i}]: unknown node ${JSON.stringify(n)}; nodes: ${probe.nodes.map((x) => x.name).join(", ")}`);
    }
  });
  return s;
}

/** The fault plan a seed gives a scenario: the scenario's explicit plan, or the nemesis's draw. */
export function planFor(scenario: Scenario, world: World, cluster: ClusterModel): FaultPlan {
  if (scenario.faults.plan !== undefined) return scenario.faults.plan;
  if (expandClasses(scenario.faults.classes).length === 0) return [];
  const startMs = Math.round(scenario.workload.startDelaySeconds * 1000) + 2_000;
  return generateFaultPlan(world.rng.fork("nemesis"), {
    classes: scenario.faults.classes,
    maxConcurrent: scenario.faults.maxConcurrent,
    startMs,
    endMs: Math.round(scenario.workload.durationSeconds * 1000),
    servers: cluster.partitionNodes(),
    roles: cluster.roles(),
  });
}

/**
 * Runs one scenario with one seed: a pure function of (scenario, seed,
 * overrides). Returns the verdict, every anomaly found, and the trace hash.
 */
export function runScenario(input: unknown, opts: RunOptions): RunResult {
  const scenario = resolveScenario(input, opts.overrides);
  const world = new World({
    seed: opts.seed,
    // Messages are traced by default so that timelines can draw them.
    network: { traceMessages: true, ...(scenario.faults.network ?? {}) },
    ...(scenario.faults.disk ? { disk: scenario.faults.disk } : {}),
  });
  if (opts.traceSink) world.sim.onTraceSink(opts.traceSink);
  if (opts.onTraceLine) world.sim.onTraceLine(opts.onTraceLine);
  if (opts.onTrace) world.sim.onTrace(opts.onTrace);
  const cluster = createCluster(world, scenario);
  const plan = planFor(scenario, world, cluster);
  opts.onStart?.(scenario, plan);
  world.sim.emit("runner", "start", { scenario: scenario.name, seed: opts.seed, faults: plan.length });
  const phases = runPhases({
    world,
    model: cluster,
    plan,
    workloadUs: Math.round(scenario.workload.durationSeconds * 1_000_000),
    drainTimeoutUs: Math.round(scenario.workload.drainTimeoutSeconds * 1_000_000),
    faultTargets: cluster.faultTargets(),
    ...(opts.maxEvents !== undefined ? { maxEvents: opts.maxEvents } : {}),
  });
  const history = cluster.buildHistory();
  const anomalies = checkAll(history);
  const j = judge(anomalies, scenario.expect);
  const verdict = phases.outcome === "event-budget" ? "error" : j.verdict;
  world.sim.emit("runner", "verdict", { verdict, anomalies: anomalies.map((a) => ({ type: a.type, count: a.count })) });
  return {
    scenario: scenario.name,
    seed: opts.seed,
    verdict,
    anomalies,
    violations: j.violations,
    findings: j.findings,
    stats: { events: world.sim.eventsRun, traceEvents: world.sim.traceEvents, simTimeMs: Math.round(world.sim.now / 1000), ops: history.ops.length },
    traceHash: world.sim.traceDigest,
    outcome: phases.outcome,
    plan,
    resolved: scenario,
    history,
    ...(phases.outcome === "event-budget" ? { error: "event budget exhausted" } : {}),
  };
}
