// Commit points over time, from `commit` observations. A commit point is
// EXCLUSIVE (history.ts): `index = n` means entries 0..n-1 are committed.
// Commit points never go back in meaning: once an entry was committed it
// stays committed, so each timeline keeps the running maximum.
import { memo, type Analysis } from "../analysis.js";
import type { CommitObservation } from "../history.js";

/** Running-maximum commit point; `timesUs` ascending. */
export interface Timeline {
  timesUs: number[];
  maxIndex: number[];
}

function build(observations: CommitObservation[]): Timeline {
  // Observations are appended in time order; a stable sort guards parsed files.
  const sorted = isSortedByTime(observations) ? observations : observations.slice().sort((x, y) => x.timeUs - y.timeUs);
  const timesUs: number[] = [];
  const maxIndex: number[] = [];
  let max = 0;
  for (const obs of sorted) {
    if (obs.index > max) max = obs.index;
    timesUs.push(obs.timeUs);
    maxIndex.push(max);
  }
  return { timesUs, maxIndex };
}

function isSortedByTime(observations: CommitObservation[]): boolean {
  for (let i = 1; i < observations.length; i++) if (observations[i]!.timeUs < observations[i - 1]!.timeUs) return false;
  return true;
}

/** The commit point as of `timeUs` (observations at `timeUs` included); 0 before any. */
export function commitAt(timeline: Timeline, timeUs: number): number {
  const count = countAtOrBefore(timeline.timesUs, timeUs);
  return count === 0 ? 0 : timeline.maxIndex[count - 1]!;
}

/** How many of the ascending `timesUs` are ≤ `timeUs` (binary search). */
export function countAtOrBefore(timesUs: readonly number[], timeUs: number): number {
  let lo = 0;
  let hi = timesUs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (timesUs[mid]! <= timeUs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function groupBy(observations: CommitObservation[], name: (obs: CommitObservation) => string | undefined): Map<string, Timeline> {
  const lists = new Map<string, CommitObservation[]>();
  for (const obs of observations) {
    const n = name(obs);
    if (n === undefined) continue;
    const list = lists.get(n);
    if (list === undefined) lists.set(n, [obs]);
    else list.push(obs);
  }
  const out = new Map<string, Timeline>();
  for (const [n, list] of lists) out.set(n, build(list));
  return out;
}

/** Per client key: commit observations that carry `key` (dirty-read). */
export function commitsByKey(a: Analysis): Map<string, Timeline> {
  return memo(a, "commits-by-key", () => groupBy(a.commits, (obs) => obs.key));
}

/** Per replica: (group, node) → that node's own commit point. */
export function commitsByReplica(a: Analysis): Map<string, Timeline> {
  return memo(a, "commits-by-replica", () => groupBy(a.commits, (obs) => replicaId(obs.group, obs.node)));
}

export function replicaId(group: string, node: string): string {
  return `${group}\u0000${node}`;
}
