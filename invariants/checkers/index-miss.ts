// index-miss: a query-by-key missed a message it had to find. An `ok`
// `lookup` of (topic, msgKey) must return every message with msgKey in its
// KEYS sent to that topic whose send completed `ok` (and, if
// transactional, committed) before the lookup was invoked. Indeterminate
// sends are not required even if read later: `info` does not say WHEN the
// message was stored, maybe after the lookup. Extra results are not
// flagged (RocketMQ's caller re-checks keys because hashes collide).
//
// Example: send t@b#0 v1 keys ["order-1"] ok, then lookup t "order-1"
// found [] → count 1, missing v1.
// Example: two such sends, lookup finds only one → count 1.
//
// count = number of (lookup, missing value) pairs.
import { analysisOf, type SendRecord } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";

export const checkIndexMiss: Checker = (input, opts) => {
  const a = analysisOf(input);
  if (a.lookups.length === 0) return null;
  const wanted = new Set(a.lookups.map((l) => `${l.topic}\u0000${l.msgKey}`));
  const byKey = new Map<string, SendRecord[]>();
  for (const send of a.sends) {
    if (send.type !== "ok" || send.keys === undefined) continue;
    if (send.txnOutcome === "rollback" || send.txnOutcome === "unknown") continue;
    for (const msgKey of send.keys) {
      const id = `${send.topic}\u0000${msgKey}`;
      if (!wanted.has(id)) continue;
      const list = byKey.get(id);
      if (list === undefined) byKey.set(id, [send]);
      else list.push(send);
    }
  }
  const findings = new Findings("index-miss", resolveOptions(opts).maxExamples);
  for (const lookup of a.lookups) {
    const found = new Set(lookup.found);
    for (const send of byKey.get(`${lookup.topic}\u0000${lookup.msgKey}`) ?? []) {
      if (send.completeIndex > lookup.invokeIndex || found.has(send.value)) continue;
      findings.add(() => ({
        topic: lookup.topic,
        msgKey: lookup.msgKey,
        value: send.value,
        key: send.key,
        lookupIndex: lookup.invokeIndex,
        process: lookup.process,
      }));
    }
  }
  return findings.result((n) => `${n} acknowledged message(s) missing from query-by-key results`);
};
