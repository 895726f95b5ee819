import { runScenario, type RunResult } from "../model/run.js";
import type { TraceFooter, TraceHeader } from "./format.js";
import { traceLines, type TraceLine } from "./view/read.js";

export interface ReplayDifference {
  /** 0-based index of the first event that differs (or is missing on one side). */
  index: number;
  /** Line number in the trace file of the recorded event, if there is one. */
  line: number | null;
  recorded: string | null;
  replayed: string | null;
}

export interface ReplayResult {
  reproduced: boolean;
  scenario: string;
  seed: number;
  events: number;
  difference: ReplayDifference | null;
  recorded: { verdict: TraceFooter["verdict"]; hash: string };
  replayed: { verdict: RunResult["verdict"] | null; hash: string | null };
}

class Diverged extends Error {}

/**
 * Re-runs a trace from its header and compares every event line, byte for
 * byte, with the recording, then the verdict and hash. Throws (a usage
 * error for the CLI) if the file is not a readable trace.
 */
export function replayTrace(path: string): ReplayResult {
  const records = traceLines(path);
  const first = records.next();
  if (first.done || first.value.kind !== "header") throw new Error(`${path}: not an mqsim trace`);
  const header: TraceHeader = first.value.header;
  let index = 0;
  let difference: ReplayDifference | null = null;
  let footer: TraceFooter | null = null;
  const nextRecorded = (): Extract<TraceLine, { kind: "event" }> | null => {
    const r = records.next();
    if (r.done) throw new Error(`${path}: no footer (the run was interrupted?)`);
    if (r.value.kind === "footer") {
      footer = r.value.footer;
      return null;
    }
    if (r.value.kind !== "event") throw new Error(`${path}:${r.value.line}: a second header`);
    return r.value;
  };
  let result: RunResult | null = null;
  try {
    result = runScenario(header.scenario, {
      seed: header.seed,
      overrides: { plan: header.plan },
      onTraceLine: (line) => {
        const rec = footer === null ? nextRecorded() : null;
        if (rec === null || rec.text !== line) {
          difference = { index, line: rec?.line ?? null, recorded: rec?.text ?? null, replayed: line };
          throw new Diverged();
        }
        index++;
      },
    });
  } catch (err) {
    if (!(err instanceof Diverged)) throw err;
  }
  if (difference === null && footer === null) {
    // The replay ended; the recording must end here too.
    const rec = nextRecorded();
    if (rec !== null) difference = { index, line: rec.line, recorded: rec.text ?? null, replayed: null };
  }
  // Drain the reader so that a malformed tail is still reported.
  if (footer === null && difference !== null) {
    for (const r of records) if (r.kind === "footer") footer = r.footer;
  }
  const rec = footer as TraceFooter | null;
  if (rec === null) throw new Error(`${path}: no footer (the run was interrupted?)`);
  const reproduced = difference === null && result !== null && result.verdict === rec.verdict && result.traceHash === rec.hash;
  if (difference === null && !reproduced) {
    difference = { index, line: null, recorded: `footer: verdict ${rec.verdict}, hash ${rec.hash}`, replayed: `footer: verdict ${result?.verdict}, hash ${result?.traceHash}` };
  }
  return {
    reproduced,
    scenario: header.scenario.name,
    seed: header.seed,
    events: index,
    difference,
    recorded: { verdict: rec.verdict, hash: rec.hash },
    replayed: { verdict: result?.verdict ?? null, hash: result?.traceHash ?? null },
  };
}
