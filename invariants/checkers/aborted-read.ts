// aborted-read (G1a): an `ok` poll returned a message that was never stored
// for good: its send completed `fail` (definitely not written), or it was a
// transactional message whose transaction rolled back (K L1001; RocketMQ
// half messages become visible only on commit). Reads from retry topics and
// DLQs count: they are deliveries too.
//
// Example: send k v1 fail; poll reads k@0=v1 → count 1, value v1,
// reason "send-failed".
// Example: send k v2 txn rollback (ok); poll reads k@0=v2 → count 1,
// reason "txn-rollback".
//
// count = number of distinct aborted values read.
import { analysisOf } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";

export const checkAbortedRead: Checker = (input, opts) => {
  const a = analysisOf(input);
  // Only values of failed or rolled-back sends can be aborted reads; a small
  // set of them keeps the scan over every read cheap.
  const aborted = new Map<string, "send-failed" | "txn-rollback">();
  for (const send of a.sends) {
    if (send.type === "fail") aborted.set(send.value, "send-failed");
    else if (send.txnOutcome === "rollback") aborted.set(send.value, "txn-rollback");
  }
  if (aborted.size === 0) return null;
  const findings = new Findings("aborted-read", resolveOptions(opts).maxExamples);
  for (const poll of a.polls) {
    if (poll.type !== "ok") continue;
    for (const read of poll.reads) {
      const reason = aborted.get(read.value);
      if (reason === undefined) continue;
      aborted.delete(read.value);
      findings.add(() => ({
        value: read.value,
        key: read.key,
        offset: read.offset,
        reason,
        process: poll.process,
        pollIndex: poll.completeIndex,
      }));
    }
  }
  return findings.result((n) => `${n} failed or rolled-back value(s) were read`);
};
