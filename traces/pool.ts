import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import type { RunOverrides } from "../model/run.js";
import { resolveScenario } from "../model/run.js";
import { runSeed, summarize, type SeedSummary, type SweepResult } from "./sweep.js";
import type { SeedTask } from "./worker.js";

/** One worker per core by default. */
export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

/**
 * A pool of worker threads that run seeds. Seeds are independent pure
 * functions of (scenario, seed), so running them in parallel changes only
 * the wall time; results are put back in seed order.
 */
export class SeedPool {
  private readonly pool: Piscina | null;

  constructor(readonly workers: number) {
    if (workers <= 1) {
      this.pool = null;
      return;
    }
    // From TypeScript sources (tests, tsx) the worker needs the same loader.
    const fromSource = import.meta.url.endsWith(".ts");
    this.pool = new Piscina({
      filename: new URL(fromSource ? "./worker.ts" : "./worker.js", import.meta.url).href,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: 1000,
      ...(fromSource ? { execArgv: ["--import", "tsx"] } : {}),
    });
  }

  run(task: SeedTask): Promise<SeedSummary> {
    if (this.pool === null) return Promise.resolve(runSeed(task.input, task.seed, task.overrides, task.outDir, task.traceFile));
    return this.pool.run(task) as Promise<SeedSummary>;
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}

export interface ParallelSweepOptions {
  from: number;
  to: number;
  overrides?: RunOverrides;
  stopOnFirst?: boolean;
  outDir?: string;
  onRun?: (s: SeedSummary) => void;
}

/** Runs seeds from..to on a pool; the result is the same as a sequential sweep's. */
export async function sweepOnPool(pool: SeedPool, input: unknown, opts: ParallelSweepOptions): Promise<SweepResult> {
  const overrides = opts.overrides ?? {};
  const scenario = resolveScenario(input, overrides);
  const results: SeedSummary[] = [];
  let stop = false;
  let next = opts.from;
  // Keep every worker busy with a bounded number of tasks in flight.
  const inFlight = Math.max(1, pool.workers * 2);
  const lanes: Array<Promise<void>> = [];
  for (let l = 0; l < inFlight; l++) {
    lanes.push(
      (async () => {
        while (!stop && next <= opts.to) {
          const seed = next++;
          const s = await pool.run({ input, seed, overrides, ...(opts.outDir !== undefined ? { outDir: opts.outDir } : {}) });
          results.push(s);
          opts.onRun?.(s);
          if (opts.stopOnFirst && s.verdict !== "pass") stop = true;
        }
      })(),
    );
  }
  await Promise.all(lanes);
  let perSeed = results;
  if (opts.stopOnFirst) {
    // Keep only seeds up to the first failure, so the answer does not depend on scheduling.
    const firstBad = Math.min(...results.filter((s) => s.verdict !== "pass").map((s) => s.seed));
    if (Number.isFinite(firstBad)) perSeed = results.filter((s) => s.seed <= firstBad);
  }
  return summarize(scenario.name, scenario.faults.classes, opts.from, opts.to, perSeed);
}
