// lost-write: a message that must have committed (acknowledged `ok`, or
// indeterminate but read by someone) that no `ok` poll ever read, although
// consumers had every chance to read it.
//
// "Every chance" depends on how the run ended:
// - After a converged final drain (a `drained` phase marker, and no
//   `drain-timeout`), every must-have-committed value that no `ok` poll read
//   is lost: the drain read every queue to its end.
// - Otherwise Jepsen's bound rule (K L1045): per key, bound = the highest
//   first-index of any value an `ok` poll read there; an unread value whose
//   last index is ≤ bound is lost, because a consumer moved past it.
//   Unread values above the bound are only `unseen`.
// An `info` send nobody read is never lost; `fail` and transactional
// rollbacks never committed, so they are never lost either.
//
// Example (drained): send k v1 ok@0, send k v2 ok@1, poll reads k@1=v2,
// phase drained → lost-write count 1, value v1.
// Example (bound rule, no drain): same sends, poll reads k@1=v2 → v1 (index
// 0 ≤ bound 1) is lost; a further unread v3@2 would only be unseen.
//
// count = number of lost values.
import { analysisOf } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";
import { unreadSends } from "./unread.js";

export const checkLostWrite: Checker = (input, opts) => {
  const a = analysisOf(input);
  const findings = new Findings("lost-write", resolveOptions(opts).maxExamples);
  const { unread, belowBound } = unreadSends(a);
  for (const send of unread) {
    if (!a.drained && !belowBound.has(send.value)) continue;
    findings.add(() => ({ key: send.key, value: send.value, offset: send.offset, process: send.process, sendIndex: send.invokeIndex }));
  }
  const rule = a.drained ? "after the final drain" : "below what consumers already read";
  return findings.result((n) => `${n} acknowledged value(s) never read ${rule}`);
};
