// Shared by poll-skip and nonmonotonic-poll (K anomalies 6–8): walks each
// process's `ok` polls in completion order and compares consecutive reads of
// one key, across polls and inside one poll alike. delta = index(next) −
// index(previous) in the key's version order; delta > 1 jumped over a
// message, delta < 1 went back or re-read.
//
// State resets, so legitimate jumps are not reported:
// - a new process starts with no state (a client gets one after `info`);
// - keys named in a poll's `rebalance` (revoked or assigned) are exempt in
//   that poll, and their state restarts from what that poll read;
// - an `ok` assign/subscribe drops state for keys it no longer covers, and
//   for all keys when it seeks to the beginning.
// Tag-filtered polls (subscription tags other than "*") are exempt from the
// skip check only: the broker legitimately skips messages whose tag does not
// match, but it must never go back.
// Retry and DLQ reads are not positions in the key's order and are ignored.
import { indexOf, memo, readKind, type Analysis, type AssignRecord, type PollRecord } from "../analysis.js";

export interface PollStep {
  process: number;
  key: string;
  previous: { offset: number; value: string; index: number };
  offset: number;
  value: string;
  index: number;
  /** History index of the poll's completion. */
  pollIndex: number;
}

export interface PollScan {
  skips: PollStep[];
  backs: PollStep[];
}

interface Seen {
  offset: number;
  value: string;
  index: number;
}

const NO_KEYS: ReadonlySet<string> = new Set();

export function pollScan(a: Analysis): PollScan {
  return memo(a, "poll-scan", () => {
    const skips: PollStep[] = [];
    const backs: PollStep[] = [];
    const state = new Map<number, Map<string, Seen>>();
    const stateOf = (process: number): Map<string, Seen> => {
      let s = state.get(process);
      if (s === undefined) {
        s = new Map();
        state.set(process, s);
      }
      return s;
    };
    const onAssign = (assign: AssignRecord): void => {
      const s = state.get(assign.process);
      if (s === undefined) return;
      if (assign.seekToBeginning === true) {
        s.clear();
        return;
      }
      const covered = new Set(assign.keys);
      for (const key of s.keys()) if (!covered.has(key)) s.delete(key);
    };
    const onPoll = (poll: PollRecord): void => {
      if (poll.type !== "ok") return;
      const s = stateOf(poll.process);
      // Most polls rebalance nothing: they share one empty set.
      let exempt: ReadonlySet<string> = NO_KEYS;
      if (poll.rebalance !== undefined) {
        const keys = new Set<string>();
        for (const key of poll.rebalance.revoked) keys.add(key);
        for (const key of poll.rebalance.assigned) keys.add(key);
        for (const key of keys) s.delete(key);
        exempt = keys;
      }
      const tags = poll.subscription?.tags;
      const skipExempt = tags !== undefined && tags !== "*";
      for (const read of poll.reads) {
        if (readKind(read) !== "normal") continue;
        // Every normal read is in the version order, so its index is known.
        const index = indexOf(a, read.key, read.offset)!;
        const previous = s.get(read.key);
        if (previous !== undefined && !exempt.has(read.key)) {
          const delta = index - previous.index;
          if (delta < 1 || (delta > 1 && !skipExempt)) {
            const step: PollStep = {
              process: poll.process,
              key: read.key,
              previous,
              offset: read.offset,
              value: read.value,
              index,
              pollIndex: poll.completeIndex,
            };
            (delta < 1 ? backs : skips).push(step);
          }
        }
        s.set(read.key, { offset: read.offset, value: read.value, index });
      }
    };
    // Merge polls and assignments by completion index: both lists are sorted.
    let j = 0;
    for (const poll of a.polls) {
      while (j < a.assignments.length && a.assignments[j]!.completeIndex < poll.completeIndex) onAssign(a.assignments[j++]!);
      onPoll(poll);
    }
    return { skips, backs };
  });
}
