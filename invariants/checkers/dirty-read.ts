// dirty-read (Jepsen's precommitted-read, in the replica's terms): an `ok`
// poll returned (key, offset) although, as of the poll's completion time,
// no `commit` observation for that key had moved the commit point past that
// offset. Commit points are exclusive (history.ts): offset o is committed
// once some node reported commit index > o for the key. The check is the
// lenient one: the highest commit point reported by ANY node up to and
// including the completion time counts, so only a read of data that no
// replica had yet committed is flagged (Kafka: above every high watermark;
// RocketMQ DLedger: above every committed index). Only keys that have commit
// observations are checked; retry and DLQ reads are checked on their own
// keys when those have commit observations.
//
// Example: commit k index 1 at t=10; poll completing at t=20 reads k@1=v1 →
// count 1 (offset 1 is not below 1).
// Example: poll at t=5 reads k@0=v0, and the first commit of k is at t=10 →
// count 1.
//
// count = number of dirty reads.
import { analysisOf } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";
import { commitAt, commitsByKey, countAtOrBefore, type Timeline } from "./commit-points.js";

export const checkDirtyRead: Checker = (input, opts) => {
  const a = analysisOf(input);
  const timelines = commitsByKey(a);
  if (timelines.size === 0) return null;
  const findings = new Findings("dirty-read", resolveOptions(opts).maxExamples);
  // Polls complete in time order, so each key's timeline is walked forward
  // with a cursor instead of a search per read.
  const cursors = new Map<string, { timeline: Timeline; next: number; committed: number }>();
  for (const [key, timeline] of timelines) cursors.set(key, { timeline, next: 0, committed: 0 });
  for (const poll of a.polls) {
    if (poll.type !== "ok") continue;
    for (const read of poll.reads) {
      const cursor = cursors.get(read.key);
      if (cursor === undefined) continue;
      const { timesUs, maxIndex } = cursor.timeline;
      if (cursor.next > 0 && timesUs[cursor.next - 1]! > poll.completeTimeUs) {
        // Out of time order (a hand-made history): fall back to a search.
        cursor.committed = commitAt(cursor.timeline, poll.completeTimeUs);
        cursor.next = countAtOrBefore(timesUs, poll.completeTimeUs);
      }
      while (cursor.next < timesUs.length && timesUs[cursor.next]! <= poll.completeTimeUs) cursor.committed = maxIndex[cursor.next++]!;
      const committed = cursor.committed;
      if (read.offset < committed) continue;
      findings.add(() => ({
        key: read.key,
        offset: read.offset,
        value: read.value,
        process: poll.process,
        pollIndex: poll.completeIndex,
        timeUs: poll.completeTimeUs,
        commitIndexAtTime: committed,
      }));
    }
  }
  return findings.result((n) => `${n} read(s) of data not yet committed`);
};

