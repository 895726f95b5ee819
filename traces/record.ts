import { ScenarioError, runScenario, type RunOptions, type RunResult } from "../model/run.js";
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
      // The writer exists from onStart on, before the first event is emitted.
      traceSink: {
        line: (t, tail, details) => writer?.line(t, tail, details),
        message: (t, tail, from, conn, sentUs, type, reason) => writer?.message(t, tail, from, conn, sentUs, type, reason),
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
    // A bad scenario leaves nothing behind; a model that crashed leaves its partial trace to study.
    const w = writer as TraceWriter | null;
    if (err instanceof ScenarioError || w === null) {
      w?.abort();
      throw err;
    }
    w.abort(`${tracePath}.partial`);
    throw new ModelCrash((err as Error).message, `${tracePath}.partial`, err);
  }
}

/** An internal error inside a model during a traced run; `partialTrace` holds the events up to it. */
export class ModelCrash extends Error {
  constructor(
    message: string,
    readonly partialTrace: string | null,
    readonly original: unknown,
  ) {
    super(message);
    this.name = "ModelCrash";
  }
}
