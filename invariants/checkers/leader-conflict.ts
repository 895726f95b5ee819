// leader-conflict (Raft's Election Safety; Kafka's one leader per leader
// epoch): two different nodes claimed leadership of the same replication
// group in the same term/epoch, according to `leader` observations.
//
// Example: leader g term 3 n1, leader g term 3 n2 → count 1, leaders
// [n1, n2].
// Example: three claimants n1, n2, n3 in term 1 of g → count 1 (one term).
//
// count = number of (group, term) pairs with more than one leader.
import { analysisOf } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";

export const checkLeaderConflict: Checker = (input, opts) => {
  const a = analysisOf(input);
  const claims = new Map<string, { group: string; term: number; leaders: string[] }>();
  for (const obs of a.leaders) {
    const id = `${obs.group}\u0000${obs.term}`;
    const claim = claims.get(id);
    if (claim === undefined) claims.set(id, { group: obs.group, term: obs.term, leaders: [obs.leader] });
    else if (!claim.leaders.includes(obs.leader)) claim.leaders.push(obs.leader);
  }
  const findings = new Findings("leader-conflict", resolveOptions(opts).maxExamples);
  for (const claim of claims.values()) {
    if (claim.leaders.length > 1) findings.add(() => ({ ...claim, leaders: claim.leaders.slice() }));
  }
  return findings.result((n) => `${n} term(s) with more than one leader`);
};
