// Benchmark of the checkers: a one-million-operation history from the
// perfect queue model (several producers, consumers and keys; sends, polls,
// retries, lookups and a final drain), checked by `checkAll`. Only the check
// is timed; building the history is setup. Wall-clock time is allowed here,
// never under invariants/.
import { performance } from "node:perf_hooks";
import { checkAll } from "../invariants/check.js";
import { DEFAULT_PARAMS, runPerfectQueue, seededScript } from "../invariants/testing/perfect-queue.js";
import type { History } from "../invariants/history.js";

/** History entries (invoke and completion entries each count as one op). */
export const BENCH_OPS_TARGET = 1_000_000;
const BENCH_SEED = 20_240_601;

/** A deterministic history of at least `targetOps` entries. */
export function buildBenchHistory(targetOps: number = BENCH_OPS_TARGET): History {
  // About 1.9 entries per action plus the drain; grow until the target is met.
  let actions = Math.ceil(targetOps / 1.9);
  for (;;) {
    const { history } = runPerfectQueue(seededScript(BENCH_SEED, actions), { ...DEFAULT_PARAMS, producers: 8, consumers: 4, keys: 16 });
    if (history.ops.length >= targetOps) return history;
    actions = Math.ceil(actions * 1.05);
  }
}

export async function benchInvariants(): Promise<Record<string, { value: number; unit: string }>> {
  const history = buildBenchHistory();
  const startMs = performance.now();
  const anomalies = checkAll(history, { maxReconsumeTimes: DEFAULT_PARAMS.maxReconsumeTimes });
  const elapsedMs = performance.now() - startMs;
  // A perfect queue must check clean; anything else means the bench measured a broken checker.
  if (anomalies.length > 0) {
    throw new Error(`benchInvariants: perfect history produced anomalies: ${anomalies.map((a) => a.type).join(", ")}`);
  }
  return {
    "invariants.ops_per_sec": { value: Math.round(history.ops.length / (elapsedMs / 1000)), unit: "ops/s" },
    "invariants.check_1m_ms": { value: Math.round(elapsedMs), unit: "ms" },
  };
}
