// Prints the trace hash of a faulted ping-pong run for the seed given as the
// first argument; the determinism test runs it in a separate process.
import { generateFaultPlan } from "../faults.js";
import { runPingPong } from "../examples/pingpong.js";
import { Rng } from "../rng.js";

export function faultedPingPongHash(seed: number): { hash: string; events: number } {
  const servers = ["n1", "n2", "n3", "n4", "n5"];
  const plan = generateFaultPlan(new Rng(seed).fork("nemesis"), { classes: ["mixed", "disk-loss"], maxConcurrent: 2, startMs: 100, endMs: 1_500, servers });
  const r = runPingPong({ seed, workloadUs: 1_500_000, plan, traceEvery: 5, window: 1, heartbeatUs: 250_000 });
  return { hash: r.traceHash, events: r.events };
}

if (process.argv[1] !== undefined && process.argv[1].endsWith("pingpong-hash.ts")) {
  const seed = Number(process.argv[2] ?? "1");
  process.stdout.write(JSON.stringify(faultedPingPongHash(seed)) + "\n");
}
