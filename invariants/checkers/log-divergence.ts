// log-divergence (Raft's Log Matching, for committed entries): two replicas
// of one group hold different entries at the same index, although both had
// committed that index. Each `log` observation is a snapshot of a replica's
// log below its commit point; as a guard, entries at or above the node's own
// commit point as of the snapshot (exclusive, from `commit` observations of
// that group and node) are ignored when the node has commit observations at
// all. Per (group, index) the first committed entry seen is the reference;
// an entry from another node with a different term or value diverges.
// (A node changing its own committed entry is committed-truncation's case.)
//
// Example: log g n1 [{0, t1, "a"}], log g n2 [{0, t1, "b"}] → count 1,
// g index 0.
// Example: the same index with equal values but terms 1 and 2 → count 1.
//
// count = number of (group, index) positions that diverge.
import { analysisOf } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { LogEntry } from "../history.js";
import type { Checker } from "./checker.js";
import { commitAt, commitsByReplica, replicaId } from "./commit-points.js";

interface Reference {
  node: string;
  entry: LogEntry;
}

export const checkLogDivergence: Checker = (input, opts) => {
  const a = analysisOf(input);
  if (a.logs.length < 2) return null;
  const commits = commitsByReplica(a);
  const findings = new Findings("log-divergence", resolveOptions(opts).maxExamples);
  // group → index → the first committed entry seen there; numeric inner keys
  // keep this cheap for snapshots of long logs.
  const references = new Map<string, Map<number, Reference>>();
  const diverged = new Map<string, Set<number>>();
  for (const log of a.logs) {
    const timeline = commits.get(replicaId(log.group, log.node));
    const committed = timeline === undefined ? Number.POSITIVE_INFINITY : commitAt(timeline, log.timeUs);
    let reference = references.get(log.group);
    if (reference === undefined) {
      reference = new Map();
      references.set(log.group, reference);
    }
    for (const entry of log.entries) {
      if (entry.index >= committed) continue;
      const ref = reference.get(entry.index);
      if (ref === undefined) {
        reference.set(entry.index, { node: log.node, entry });
        continue;
      }
      if (ref.node === log.node || (ref.entry.term === entry.term && ref.entry.value === entry.value)) continue;
      let seen = diverged.get(log.group);
      if (seen === undefined) {
        seen = new Set();
        diverged.set(log.group, seen);
      }
      if (seen.has(entry.index)) continue;
      seen.add(entry.index);
      findings.add(() => ({
        group: log.group,
        index: entry.index,
        a: { node: ref.node, term: ref.entry.term, value: ref.entry.value },
        b: { node: log.node, term: entry.term, value: entry.value },
      }));
    }
  }
  return findings.result((n) => `${n} committed log position(s) differ between replicas`);
};
