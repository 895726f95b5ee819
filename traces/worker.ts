// A sweep worker: runs one seed per task on a worker thread.
import { runSeed, type SeedSummary } from "./sweep.js";
import type { RunOverrides } from "../model/run.js";

export interface SeedTask {
  input: unknown;
  seed: number;
  overrides: RunOverrides;
  outDir?: string;
  /** Always write the trace here. */
  traceFile?: string;
}

export default function runTask(task: SeedTask): SeedSummary {
  return runSeed(task.input, task.seed, task.overrides, task.outDir, task.traceFile);
}
