// inconsistent-offsets: one (key, offset) holds two or more distinct values
// in the version order (K anomaly 1): two acknowledged sends reported the
// same offset, or two polls returned different messages at one offset.
//
// Example: send k v1 ok@0, send k v2 ok@0 → count 1, k@0 = [v1, v2].
// Example: send k v1 ok@0; a poll (even an `info` one) reads k@0=v9 →
// count 1, k@0 = [v1, v9].
//
// count = number of (key, offset) positions with more than one value;
// the values are listed sorted.
import { analysisOf, valuesAt } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";

export const checkInconsistentOffsets: Checker = (input, opts) => {
  const a = analysisOf(input);
  const findings = new Findings("inconsistent-offsets", resolveOptions(opts).maxExamples);
  for (const [key, order] of a.keyOrders) {
    for (const offset of order.extraValues.keys()) findings.add(() => ({ key, offset, values: valuesAt(order, offset).sort() }));
  }
  return findings.result((n) => `${n} offset(s) hold more than one value`);
};
