import { runScenario, type RunOptions, type RunResult } from "../model/run.js";
import { MQSIM_VERSION } from "../version.js";
import { TRACE_FORMAT_VERSION } from "./format.js";
import { TraceWriter } from "./writer.js";

/**
 * Runs a scenario and, when `tracePath` is given, streams its trace there
 * (atomically: the file appears only once the footer is written).
 */
export function runWithTrace(input: unknown, opts: RunOptions, tracePath?: string): RunResult {
  if (tracePath === undefined) return runScenario(input, opts);
  let writer: TraceWriter | null = null;
  try {
    const result = runScenario(input, {
      ...opts,
      onStart: (scenario, plan) => {
        writer = new TraceWriter(tracePath, { type: "header", format: TRACE_FORMAT_VERSION, mqsim: MQSIM_VERSION, scenario, seed: opts.seed, plan });
        opts.onStart?.(scenario, plan);
      },
      onTraceLine: (line) => {
        writer?.event(line);
        opts.onTraceLine?.(line);
      },
    });
    (writer as TraceWriter | null)?.finish({
      type: "footer",
      events: result.stats.traceEvents,
      hash: result.traceHash,
      verdict: result.verdict,
      outcome: result.outcome,
      anomalies: result.anomalies,
    });
    return result;
  } catch (err) {
    (writer as TraceWriter | null)?.abort();
    throw err;
  }
}
