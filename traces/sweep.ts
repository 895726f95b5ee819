import { join } from "node:path";
import { mkdirSync } from "node:fs";
import type { Anomaly } from "../invariants/index.js";
import { RunningHash } from "../sim/hash.js";
import { resolveScenario, runScenario, ScenarioError, type RunOverrides, type RunResult } from "../model/run.js";
import { runWithTrace } from "./record.js";

export interface SweepOptions {
  from: number;
  to: number;
  overrides?: RunOverrides;
  stopOnFirst?: boolean;
  /** Write the trace of every failing seed here. */
  outDir?: string;
  onRun?: (r: SeedSummary) => void;
}

export interface SeedSummary {
  seed: number;
  verdict: RunResult["verdict"];
  traceHash: string;
  anomalies: Array<{ type: string; count: number }>;
  trace: string | null;
  error?: string;
}

export interface SweepResult {
  scenario: string;
  faults: string[];
  seeds: { from: number; to: number; count: number };
  runs: number;
  passed: number;
  failed: number;
  errors: number;
  /** anomaly type → number of seeds showing it */
  anomalies: Record<string, number>;
  firstFailure: { seed: number; anomalies: Array<{ type: string; count: number }>; trace: string | null } | null;
  digest: string;
  perSeed: SeedSummary[];
}

/** `digest` hashes the (seed, traceHash) pairs in seed order, so any worker count or sharding gives the same value. */
export function sweepDigest(pairs: ReadonlyArray<{ seed: number; traceHash: string }>): string {
  const h = new RunningHash();
  for (const p of [...pairs].sort((a, b) => a.seed - b.seed)) h.update(`${p.seed}:${p.traceHash}`);
  return h.digest();
}

export function traceFileName(outDir: string, scenario: string, seed: number): string {
  return join(outDir, `${scenario}-seed-${seed}.jsonl`);
}

/** Runs one seed for a sweep, turning a model crash into an `error` summary instead of an exception. */
export function runSeed(input: unknown, seed: number, overrides: RunOverrides, outDir?: string): SeedSummary {
  let r: RunResult;
  try {
    r = runScenario(input, { seed, overrides });
  } catch (err) {
    if (err instanceof ScenarioError) throw err;
    return { seed, verdict: "error", traceHash: "0000000000000000", anomalies: [], trace: null, error: (err as Error).message };
  }
  const anomalies = r.anomalies.map((a: Anomaly) => ({ type: a.type, count: a.count }));
  let trace: string | null = null;
  if (r.verdict !== "pass" && outDir !== undefined) {
    mkdirSync(outDir, { recursive: true });
    trace = traceFileName(outDir, r.scenario, seed);
    runWithTrace(input, { seed, overrides }, trace);
  }
  return { seed, verdict: r.verdict, traceHash: r.traceHash, anomalies, trace };
}

export function summarize(scenario: string, faults: string[], from: number, to: number, perSeed: SeedSummary[]): SweepResult {
  const sorted = [...perSeed].sort((a, b) => a.seed - b.seed);
  const anomalies: Record<string, number> = {};
  for (const s of sorted) for (const a of s.anomalies) anomalies[a.type] = (anomalies[a.type] ?? 0) + 1;
  const first = sorted.find((s) => s.verdict !== "pass");
  return {
    scenario,
    faults,
    seeds: { from, to, count: to - from + 1 },
    runs: sorted.length,
    passed: sorted.filter((s) => s.verdict === "pass").length,
    failed: sorted.filter((s) => s.verdict === "fail").length,
    errors: sorted.filter((s) => s.verdict === "error").length,
    anomalies,
    firstFailure: first === undefined ? null : { seed: first.seed, anomalies: first.anomalies, trace: first.trace },
    digest: sweepDigest(sorted),
    perSeed: sorted,
  };
}

/** Runs seeds from..to in order on this thread. */
export function sweep(input: unknown, opts: SweepOptions): SweepResult {
  const overrides = opts.overrides ?? {};
  const scenario = resolveScenario(input, overrides);
  const perSeed: SeedSummary[] = [];
  for (let seed = opts.from; seed <= opts.to; seed++) {
    const s = runSeed(input, seed, overrides, opts.outDir);
    perSeed.push(s);
    opts.onRun?.(s);
    if (opts.stopOnFirst && s.verdict !== "pass") break;
  }
  return summarize(scenario.name, scenario.faults.classes, opts.from, opts.to, perSeed);
}
