// duplicate: one value stored at two or more distinct (key, offset)
// positions of the version order (K anomaly 2). Positions come from sends
// that must have committed and from reads of all polls, so an `info` send
// nobody read is never a duplicate. Positions in different keys count too: a
// RocketMQ producer retry can store the same message in another queue.
// Redeliveries through the retry topic or the DLQ are not positions (they
// are kept out of the version order), so they never count as duplicates.
//
// Example: send k v1 ok@0; poll reads k@0=v1, k@1=v1 → duplicate count 1,
// value v1 at [k@0, k@1].
// Example: send a#0 v1 ok@3; poll reads a#1@7=v1 → duplicate (across keys).
//
// count = number of duplicated values; positions are listed sorted by key, offset.
import { analysisOf, positionsOf, type Position } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";

export const checkDuplicate: Checker = (input, opts) => {
  const a = analysisOf(input);
  const findings = new Findings("duplicate", resolveOptions(opts).maxExamples);
  for (const info of a.multiPositioned) {
    findings.add(() => ({ value: info.value, positions: positionsOf(info).sort(byKeyThenOffset) }));
  }
  return findings.result((n) => `${n} value(s) stored at more than one position`);
};

function byKeyThenOffset(x: Position, y: Position): number {
  return x.key < y.key ? -1 : x.key > y.key ? 1 : x.offset - y.offset;
}
