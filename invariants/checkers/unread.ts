// Shared by lost-write, unseen and liveness: the sends that must have
// committed but that no `ok` poll ever read, split by Jepsen's bound rule.
import { indexRange, memo, mustHaveCommitted, positionsOf, readKind, type Analysis, type SendRecord } from "../analysis.js";

export interface Unread {
  /** Must-have-committed sends never read by an `ok` poll, in send order. */
  unread: SendRecord[];
  /**
   * The subset Jepsen calls lost without a final drain (K L1045): in some
   * key it sits at or below the highest first-index of any value an `ok`
   * poll read in that key, so consumers have moved past it.
   */
  belowBound: Set<string>;
}

export function unreadSends(a: Analysis): Unread {
  return memo(a, "unread", () => {
    const unread: SendRecord[] = [];
    for (const send of a.sends) {
      if (mustHaveCommitted(send) && !send.info.okRead) unread.push(send);
    }
    const belowBound = new Set<string>();
    if (unread.length === 0) return { unread, belowBound };

    // bound(k) = max over values read by `ok` polls in k of their first index in k.
    const bound = new Map<string, number>();
    for (const poll of a.polls) {
      if (poll.type !== "ok") continue;
      for (const read of poll.reads) {
        if (readKind(read) !== "normal") continue;
        const range = indexRange(a, read.value, read.key);
        if (range === undefined) continue;
        const current = bound.get(read.key);
        if (current === undefined || range.first > current) bound.set(read.key, range.first);
      }
    }
    for (const send of unread) {
      for (const position of positionsOf(send.info)) {
        const keyBound = bound.get(position.key);
        const range = indexRange(a, send.value, position.key);
        if (keyBound !== undefined && range !== undefined && range.last <= keyBound) {
          belowBound.add(send.value);
          break;
        }
      }
    }
    return { unread, belowBound };
  });
}
