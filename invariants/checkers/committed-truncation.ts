// committed-truncation: a replica removed an entry that had been committed
// (Raft's Leader Completeness / Kafka's "committed data is never truncated";
// Jepsen's 2013 Kafka loss was exactly this). An entry removed by a
// `truncate` observation of (group, node) is committed data if either
// - its index is below that node's OWN commit point (exclusive) as of the
//   truncation, i.e. the node itself had reported it committed; or
// - the very same entry (index, term, value) appears in some replica's
//   `log` observation of the group made up to the truncation time, and log
//   observations only hold committed entries.
// A group-wide commit point alone is not used: a Raft follower may
// legitimately drop a stale uncommitted entry at an index that the group
// committed with a different entry; the (index, term, value) match is what
// identifies the committed entry.
//
// Example: commit g n1 index 3; truncate g n1 from 2 removing {2,t1,"c"} →
// count 1 (index 2 < 3).
// Example: log g n2 [{0,t1,"a"}]; truncate g n1 removing {0,t1,"a"} →
// count 1 (n1 never reported a commit point, but n2 committed that entry).
//
// count = number of committed entries removed.
import { analysisOf } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";
import { commitAt, commitsByReplica, replicaId } from "./commit-points.js";

export const checkCommittedTruncation: Checker = (input, opts) => {
  const a = analysisOf(input);
  if (a.truncations.length === 0) return null;
  const commits = commitsByReplica(a);
  const findings = new Findings("committed-truncation", resolveOptions(opts).maxExamples);
  // Only positions some truncation removed can matter: index them first,
  // then scan log snapshots for committed entries at those positions.
  const removedAt = new Map<string, Set<number>>();
  for (const cut of a.truncations) {
    let positions = removedAt.get(cut.group);
    if (positions === undefined) {
      positions = new Set();
      removedAt.set(cut.group, positions);
    }
    for (const entry of cut.entries) positions.add(entry.index);
  }
  // "group\0index\0term\0value" → earliest time a log snapshot held it.
  const committedSinceUs = new Map<string, number>();
  for (const log of a.logs) {
    const positions = removedAt.get(log.group);
    if (positions === undefined) continue;
    for (const entry of log.entries) {
      if (!positions.has(entry.index)) continue;
      const id = entryId(log.group, entry.index, entry.term, entry.value);
      if (!committedSinceUs.has(id)) committedSinceUs.set(id, log.timeUs);
    }
  }
  for (const cut of a.truncations) {
    const timeline = commits.get(replicaId(cut.group, cut.node));
    const ownCommit = timeline === undefined ? 0 : commitAt(timeline, cut.timeUs);
    for (const entry of cut.entries) {
      const seenUs = committedSinceUs.get(entryId(cut.group, entry.index, entry.term, entry.value));
      const inLog = seenUs !== undefined && seenUs <= cut.timeUs;
      if (entry.index >= ownCommit && !inLog) continue;
      findings.add(() => ({
        group: cut.group,
        node: cut.node,
        index: entry.index,
        term: entry.term,
        value: entry.value,
        ownCommitIndex: ownCommit,
        reason: entry.index < ownCommit ? "below-own-commit" : "committed-elsewhere",
        timeUs: cut.timeUs,
      }));
    }
  }
  return findings.result((n) => `${n} committed entr${n === 1 ? "y" : "ies"} truncated`);
};

function entryId(group: string, index: number, term: number, value: string): string {
  return `${group}\u0000${index}\u0000${term}\u0000${value}`;
}
