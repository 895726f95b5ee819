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
  /** Present when this is one slice of a sharded sweep. */
  shard?: { index: number; count: number };
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

/**
 * `digest` identifies a sweep's outcome: each (seed, traceHash) pair is
 * hashed, and the hashes are added lane by lane modulo 2^32. Addition does
 * not care about order, so any worker count, and any split into shards
 * merged later, gives the same digest as one sequential sweep.
 */
export class SweepDigest {
  private lo = 0;
  private hi = 0;

  add(seed: number, traceHash: string): void {
    const h = new RunningHash();
    h.update(`${seed}:${traceHash}`);
    this.addHex(h.digest());
  }

  /** Adds another digest (a shard's) into this one. */
  addHex(hex: string): void {
    if (!/^[0-9a-f]{16}$/.test(hex)) throw new Error(`not a sweep digest: ${hex}`);
    this.hi = (this.hi + parseInt(hex.slice(0, 8), 16)) >>> 0;
    this.lo = (this.lo + parseInt(hex.slice(8), 16)) >>> 0;
  }

  hex(): string {
    return this.hi.toString(16).padStart(8, "0") + this.lo.toString(16).padStart(8, "0");
  }
}

export function sweepDigest(pairs: ReadonlyArray<{ seed: number; traceHash: string }>): string {
  const d = new SweepDigest();
  for (const p of pairs) d.add(p.seed, p.traceHash);
  return d.hex();
}

export function traceFileName(outDir: string, scenario: string, seed: number): string {
  return join(outDir, `${scenario}-seed-${seed}.jsonl`);
}

/** Runs one seed for a sweep, turning a model crash into an `error` summary instead of an exception. */
/**
 * Runs one seed. With `outDir` a failing seed's trace is written there (by
 * a second, identical run, so passing seeds cost no trace); with
 * `traceFile` the run is always traced to that file.
 */
export function runSeed(input: unknown, seed: number, overrides: RunOverrides, outDir?: string, traceFile?: string): SeedSummary {
  let r: RunResult;
  try {
    r = traceFile !== undefined ? runWithTrace(input, { seed, overrides }, traceFile) : runScenario(input, { seed, overrides });
  } catch (err) {
    if (err instanceof ScenarioError) throw err;
    return { seed, verdict: "error", traceHash: "0000000000000000", anomalies: [], trace: null, error: (err as Error).message };
  }
  const anomalies = r.anomalies.map((a: Anomaly) => ({ type: a.type, count: a.count }));
  let trace: string | null = traceFile ?? null;
  if (traceFile === undefined && r.verdict !== "pass" && outDir !== undefined) {
    mkdirSync(outDir, { recursive: true });
    trace = traceFileName(outDir, r.scenario, seed);
    runWithTrace(input, { seed, overrides }, trace);
  }
  return { seed, verdict: r.verdict, traceHash: r.traceHash, anomalies, trace };
}

/** The I-th (1-based) of N contiguous slices of [from, to]; sizes differ by at most one. */
export function shardRange(from: number, to: number, index: number, count: number): { from: number; to: number } {
  const total = to - from + 1;
  const base = Math.floor(total / count);
  const extra = total % count;
  const start = from + (index - 1) * base + Math.min(index - 1, extra);
  const size = base + (index <= extra ? 1 : 0);
  return { from: start, to: start + size - 1 };
}

export function summarize(scenario: string, faults: string[], from: number, to: number, perSeed: SeedSummary[]): SweepResult {
  const sorted = [...perSeed].sort((a, b) => a.seed - b.seed);
  const counts: Record<string, number> = {};
  for (const s of sorted) for (const a of s.anomalies) counts[a.type] = (counts[a.type] ?? 0) + 1;
  // Sorted by name, so a sweep and a merge of its shards print the same object.
  const anomalies = Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
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
