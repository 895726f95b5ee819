import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runScenario } from "../model/run.js";
import type { Metrics } from "./metrics.js";

export function scenarioInput(name: string): unknown {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`../../scenarios/${name}.json`, import.meta.url)), "utf8"));
}

/**
 * Simulated seconds per wall second for rocketmq-single-async-flush at its
 * default load (2 producers × 20 msg/s, 60 s of workload, no faults),
 * including the checks; the best of several seeds after a warm-up.
 */
export function benchRocketMq(): Metrics {
  const input = scenarioInput("rocketmq-single-async-flush");
  for (let i = 0; i < 3; i++) runScenario(input, { seed: 100 + i });
  let best = 0;
  let events = 0;
  for (let seed = 1; seed <= 8; seed++) {
    const t0 = performance.now();
    const r = runScenario(input, { seed });
    const wallMs = performance.now() - t0;
    events = r.stats.events;
    best = Math.max(best, r.stats.simTimeMs / wallMs);
  }
  return {
    "rocketmq.sim_speedup": { value: Math.round(best), unit: "x real time" },
    "rocketmq.kernel_events_per_run": { value: events, unit: "events" },
  };
}
