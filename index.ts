/**
 * mqsim as a library, for teams that check a configuration in their own CI:
 *
 *   import { run, sweep, scenarios, arbitraries } from "mqsim";
 *
 * Everything here is a pure function of (scenario, seed, overrides): the same
 * call gives the same trace hash on any machine.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Anomaly, AnomalyType } from "./invariants/index.js";
import { resolveScenario, runScenario, type RunOverrides, type RunResult } from "./model/run.js";
import type { Scenario } from "./model/scenario.js";
import { faultPlan } from "./sim/arbitraries.js";
import type { FaultClass, FaultPlan } from "./sim/faults.js";
import { builtinScenarioNames, loadScenarioInput, scenariosDir } from "./cli/scenarios.js";
import { SeedPool, sweepOnPool } from "./traces/pool.js";
import { runWithTrace } from "./traces/record.js";
import { sweep as sweepSerial, type SweepResult } from "./traces/sweep.js";

export type { Anomaly, AnomalyType, FaultClass, FaultPlan, RunResult, Scenario, SweepResult };
export { ANOMALY_TYPES, checkAll, judge } from "./invariants/index.js";
export { replayTrace } from "./traces/replay.js";
export { exportTrace } from "./traces/export.js";

export interface RunOptions {
  seed?: number;
  faults?: FaultClass[];
  maxConcurrentFaults?: number;
  durationSeconds?: number;
  /** Config changes under the real key names, e.g. `{ flushDiskType: "SYNC_FLUSH" }`. */
  set?: Record<string, string | number | boolean>;
  /** An explicit fault plan instead of the seed's nemesis. */
  plan?: FaultPlan;
  /** Write the trace here. */
  trace?: string;
}

function overridesOf(o: RunOptions): RunOverrides {
  const out: RunOverrides = {};
  if (o.faults !== undefined) out.faults = o.faults;
  if (o.maxConcurrentFaults !== undefined) out.maxConcurrentFaults = o.maxConcurrentFaults;
  if (o.durationSeconds !== undefined) out.durationSeconds = o.durationSeconds;
  if (o.set !== undefined) out.set = o.set;
  if (o.plan !== undefined) out.plan = o.plan;
  return out;
}

function inputOf(scenario: string | object): unknown {
  return typeof scenario === "string" ? loadScenarioInput(scenario) : scenario;
}

/** Runs a built-in scenario (by name), a scenario file (by path) or a scenario object with one seed. */
export function run(scenario: string | object, opts: RunOptions = {}): RunResult {
  return runWithTrace(inputOf(scenario), { seed: opts.seed ?? 1, overrides: overridesOf(opts) }, opts.trace);
}

export interface SweepOptions extends Omit<RunOptions, "seed" | "trace"> {
  seeds: [number, number];
  /** Worker threads; 1 runs on this thread. */
  workers?: number;
  stopOnFirst?: boolean;
  /** Write the trace of every failing seed here. */
  outDir?: string;
}

/** Runs seeds A..B (inclusive); the digest is the same whatever the worker count. */
export async function sweep(scenario: string | object, opts: SweepOptions): Promise<SweepResult> {
  const input = inputOf(scenario);
  const common = { from: opts.seeds[0], to: opts.seeds[1], overrides: overridesOf(opts), stopOnFirst: opts.stopOnFirst ?? false, ...(opts.outDir !== undefined ? { outDir: opts.outDir } : {}) };
  if ((opts.workers ?? 1) <= 1) return sweepSerial(input, common);
  const pool = new SeedPool(opts.workers!);
  try {
    return await sweepOnPool(pool, input, common);
  } finally {
    await pool.close();
  }
}

/** The built-in scenarios: their names, and each one fully resolved. */
export const scenarios = {
  names: (): string[] => builtinScenarioNames(),
  load: (name: string): Scenario => resolveScenario(loadScenarioInput(name)),
  /** The raw JSON of a built-in scenario, to copy and edit. */
  json: (name: string): unknown => JSON.parse(readFileSync(join(scenariosDir(), `${name}.json`), "utf8")),
};

/** fast-check arbitraries: explicit fault plans that fast-check shrinks for free. */
export const arbitraries = { faultPlan };
