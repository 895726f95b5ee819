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
  const r = speedup("rocketmq-single-async-flush");
  return {
    "rocketmq.sim_speedup": { value: r.best, unit: "x real time" },
    "rocketmq.kernel_events_per_run": { value: r.events, unit: "events" },
  };
}

/** The same figure for kafka-acks-all-isr2 (3 brokers and a controller, RF 3, default load, no faults). */
export function benchKafka(): Metrics {
  const r = speedup("kafka-acks-all-isr2");
  return {
    "kafka.sim_speedup": { value: r.best, unit: "x real time" },
    "kafka.kernel_events_per_run": { value: r.events, unit: "events" },
  };
}

function speedup(name: string): { best: number; events: number } {
  const input = scenarioInput(name);
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
  return { best: Math.round(best), events };
}
