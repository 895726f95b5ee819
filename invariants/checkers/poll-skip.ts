// poll-skip: a consumer jumped over messages of a queue outside a rebalance
// (K anomalies 6 and 8, int-poll-skip folded in). Per process and key, over
// consecutive reads of `ok` polls (across polls and inside one poll), the
// index in the key's version order rose by more than 1. The state resets
// and exemptions are those of poll-scan.ts: new process, keys in the poll's
// `rebalance`, assign/subscribe no longer covering the key, and tag-filtered
// subscriptions (the broker skips non-matching tags by design).
//
// Example: k holds v0@0 v1@1 v2@2; p1 polls [k@0=v0], then [k@2=v2] →
// count 1, skipped [v1].
// Example: one poll reads [k@0=v0, k@2=v2] → count 1 (inside the poll).
//
// count = number of skipping steps.
import { analysisOf, valuesBetween } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";
import { pollScan } from "./poll-scan.js";

export const checkPollSkip: Checker = (input, opts) => {
  const a = analysisOf(input);
  const { maxExamples } = resolveOptions(opts);
  const findings = new Findings("poll-skip", maxExamples);
  for (const step of pollScan(a).skips) {
    findings.add(() => ({
      ...step,
      delta: step.index - step.previous.index,
      skipped: valuesBetween(a, step.key, step.previous.index, step.index, maxExamples),
    }));
  }
  return findings.result((n) => `${n} poll step(s) jumped over messages`);
};
