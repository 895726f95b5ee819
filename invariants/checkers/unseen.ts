// unseen: a message that must have committed but that no `ok` poll had read
// by the end of a run that did NOT converge in a final drain (K L1482). It is
// informational: without a drain one cannot tell lost from merely delayed.
// Values the bound rule already reports as lost-write are not repeated here,
// and after a converged drain every unread value is a lost-write instead, so
// this checker then reports nothing.
//
// Example: send k v1 ok@0, send k v2 ok@1, poll reads k@0=v1, no drained
// marker → unseen count 1, value v2 (above every read, so not lost).
// Example: the same history with a `drained` marker → no unseen (v2 is lost).
//
// count = number of unseen values.
import { analysisOf } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";
import { unreadSends } from "./unread.js";

export const checkUnseen: Checker = (input, opts) => {
  const a = analysisOf(input);
  if (a.drained) return null;
  const findings = new Findings("unseen", resolveOptions(opts).maxExamples);
  const { unread, belowBound } = unreadSends(a);
  const perKey = new Map<string, number>();
  for (const send of unread) {
    if (belowBound.has(send.value)) continue;
    perKey.set(send.key, (perKey.get(send.key) ?? 0) + 1);
    findings.add(() => ({ key: send.key, value: send.value, offset: send.offset }));
  }
  const keys = [...perKey].map(([key, n]) => `${key}: ${n}`).join(", ");
  return findings.result((n) => `${n} acknowledged value(s) not read by the end of the run (${keys})`);
};
