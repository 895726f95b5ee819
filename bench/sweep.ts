import { SeedPool, sweepOnPool } from "../traces/pool.js";
import type { Metrics } from "./metrics.js";
import { scenarioInput } from "./rocketmq.js";

/**
 * Seeds per second for a standard sweep (rocketmq-single-sync-flush under
 * mixed faults, 120 seeds) on one worker thread and on two, and the speedup
 * of two over one; the digests must agree.
 */
export async function benchSweep(): Promise<Metrics> {
  const input = scenarioInput("rocketmq-single-sync-flush");
  const overrides = { faults: ["mixed" as const] };
  const timed = async (workers: number) => {
    const pool = new SeedPool(workers);
    try {
      // Warm the workers up (module loading, JIT: eight seeds each) before timing.
      await sweepOnPool(pool, input, { from: 1000, to: 999 + workers * 8, overrides });
      const t0 = performance.now();
      const r = await sweepOnPool(pool, input, { from: 1, to: 120, overrides });
      return { seconds: (performance.now() - t0) / 1000, digest: r.digest };
    } finally {
      await pool.close();
    }
  };
  const one = await timed(1);
  const two = await timed(2);
  if (one.digest !== two.digest) throw new Error(`bench: digests differ (${one.digest} vs ${two.digest})`);
  return {
    "sweep.seeds_per_sec": { value: Number((120 / two.seconds).toFixed(1)), unit: "seeds/s (2 workers)" },
    "sweep.seeds_per_sec_1_worker": { value: Number((120 / one.seconds).toFixed(1)), unit: "seeds/s" },
    "sweep.two_worker_speedup": { value: Number((one.seconds / two.seconds).toFixed(2)), unit: "x" },
  };
}
