// nonmonotonic-poll: a consumer went back, or re-read the same message, in a
// queue outside a rebalance (K anomalies 7 and 8). Per process and key, over
// consecutive reads of `ok` polls (across polls and inside one poll), the
// index in the key's version order did not rise (delta < 1). State resets
// and exemptions are those of poll-scan.ts (new process, rebalance keys,
// assign/subscribe); tag filters do not exempt going back.
//
// Example: p1 polls [k@1=v1], then [k@0=v0] → count 1 (delta −1).
// Example: one poll reads [k@0=v0, k@0=v0] → count 1 (delta 0, a re-read).
//
// count = number of backward steps.
import { analysisOf } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";
import { pollScan } from "./poll-scan.js";

export const checkNonmonotonicPoll: Checker = (input, opts) => {
  const a = analysisOf(input);
  const findings = new Findings("nonmonotonic-poll", resolveOptions(opts).maxExamples);
  for (const step of pollScan(a).backs) {
    findings.add(() => ({ ...step, delta: step.index - step.previous.index }));
  }
  return findings.result((n) => `${n} poll step(s) went back or re-read`);
};
