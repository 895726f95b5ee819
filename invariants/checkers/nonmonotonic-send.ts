// nonmonotonic-send: a producer's ordered sends to one queue were stored out
// of order (K anomaly 9). Per process and key, over `ok` and `info` sends
// marked `ordered: true` (sent through a queue selector, so the producer
// relies on order), in the order the process issued them: if a send's index
// in the version order is not above the previous one's, that is an error.
// Only ordered sends count; unordered sends to the same key are ignored.
//
// A send's index is that of its acknowledged offset, or, when the offset is
// unknown, the first position its value was read at in that key. A send with
// no known index is skipped (Jepsen treats an unknown delta as 1). A new
// process starts fresh, so a timeout (`info`, new process) resets the order.
// There is no skip check: other producers' writes legitimately interleave.
//
// Example: p0 sends k v1 ordered ok@5, then k v2 ordered ok@4 → count 1
// (v2 stored before v1).
// Example: p0 sends k v1 ordered ok@5, then k v2 ordered ok@5 → count 1
// (delta 0; the same offset is also inconsistent-offsets).
//
// count = number of out-of-order (previous, next) send pairs.
import { analysisOf, indexOf, indexRange } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";

interface Last {
  index: number;
  value: string;
  offset: number | undefined;
}

export const checkNonmonotonicSend: Checker = (input, opts) => {
  const a = analysisOf(input);
  const findings = new Findings("nonmonotonic-send", resolveOptions(opts).maxExamples);
  const lastByProcess = new Map<number, Map<string, Last>>();
  for (const send of a.sends) {
    if (!send.ordered || send.type === "fail") continue;
    const index =
      send.offset === undefined ? indexRange(a, send.value, send.key)?.first : indexOf(a, send.key, send.offset);
    if (index === undefined) continue;
    let last = lastByProcess.get(send.process);
    if (last === undefined) {
      last = new Map();
      lastByProcess.set(send.process, last);
    }
    const previous = last.get(send.key);
    if (previous !== undefined && index - previous.index < 1) {
      findings.add(() => ({
        process: send.process,
        key: send.key,
        previous: { value: previous.value, offset: previous.offset, index: previous.index },
        value: send.value,
        offset: send.offset,
        index,
      }));
    }
    last.set(send.key, { index, value: send.value, offset: send.offset });
  }
  return findings.result((n) => `${n} ordered send(s) stored before an earlier send of the same producer`);
};
