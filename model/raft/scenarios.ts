// Adaptive fault scripts that reproduce the documented Raft/DLedger bugs
// (facts/known-bugs.md §C, §D) on the harness. Each script names its nodes
// from the live state ("whoever leads now"), so it reproduces on any seed;
// the faults it starts are recorded as a plain plan in the run's result.
// Every script is run twice by the tests: with the buggy knob, where the
// checkers must flag the bug, and with the fixed one, where they must not.
import { TEXTBOOK_RAFT, type RaftConfigInput } from "./config.js";
import type { RaftHarness, ScriptStep } from "./harness.js";

const now = (h: RaftHarness): number => h.world.sim.now;
const SECOND = 1_000_000;

/** Textbook Raft: the baseline every variant is compared with, flipping one knob. */
export const TEXTBOOK: RaftConfigInput = { ...TEXTBOOK_RAFT };

/**
 * C1 (Raft Figure 8) in DLedger's terms, three replicas:
 * (a) S1 leads term t and is cut off from its peers, but clients still reach
 *     it, so it appends term-t entries nobody else has;
 * (b) W wins term t+1 without S1 and is cut off from V as well, so the
 *     entries clients then give W stay on W;
 * (c) W crashes (its page cache keeps them); S1 rejoins V, with no client
 *     reaching S1, and wins a later term: its dispatcher copies its term-t
 *     entries to V. With `count-replicas` they are now committed (S1 and V
 *     hold them); with `current-term` they are not (no entry of S1's term);
 * (d)/(e) a COMMIT push later S1 crashes and W comes back: W's last term
 *     (t+1) beats V's (t), W wins and overwrites V's copy. With
 *     count-replicas that copy was committed: committed-truncation (V's own
 *     commit point covered it) and log-divergence (S1 and V logged it as
 *     committed; W's entry at that index gets committed later).
 */
export function figure8Script(): ScriptStep[] {
  const c = { s1: "", w: "", v: "", t: 0, caughtUpUs: -1, peers: [] as string[] };
  return [
    {
      name: "(a) S1 leads term t: cut off from its peers, clients still reach it",
      when: (h) => now(h) >= 6 * SECOND && h.leaders().length === 1,
      run: (f, h) => {
        const l = h.leaders()[0]!;
        c.s1 = l.name;
        c.t = l.term;
        c.peers = h.servers.filter((s) => s !== c.s1);
        f.partition("s1-alone", [c.s1], c.peers);
      },
    },
    {
      name: "(b) W wins term t+1 without S1: cut W off from V too",
      when: (h) => h.leaders().some((n) => n.name !== c.s1 && n.term > c.t),
      run: (f, h) => {
        c.w = h.leaders().find((n) => n.name !== c.s1)!.name;
        c.v = c.peers.find((s) => s !== c.w)!;
        f.partition("w-alone", [c.w], [c.v]);
      },
    },
    {
      name: "(c) W holds a term-(t+1) entry nobody else has: W crashes; S1 rejoins V, clients cannot reach S1",
      when: (h) => {
        const w = h.node(c.w);
        return w !== null && w.ledgerEndIndex >= 0 && w.entry(w.ledgerEndIndex)!.term > c.t;
      },
      run: (f, h) => {
        f.crash("w-down", c.w, "process");
        f.partition("s1-no-clients", [c.s1], h.clients);
        f.end("s1-alone");
      },
    },
    {
      name: "(d) S1 leads a later term and V holds S1's term-t entries",
      when: (h) => {
        const s = h.node(c.s1);
        const v = h.node(c.v);
        return s !== null && v !== null && s.isLeader && s.term > c.t + 1 && v.ledgerEndIndex === s.ledgerEndIndex;
      },
      run: (_f, h) => {
        c.caughtUpUs = now(h);
      },
    },
    {
      name: "(e) a COMMIT push later: S1 crashes; W comes back and reaches V",
      when: (h) => now(h) >= c.caughtUpUs + 1.5 * SECOND,
      run: (f) => {
        f.crash("s1-down", c.s1, "process");
        f.end("w-down");
        f.end("w-alone");
      },
    },
  ];
}

/**
 * C2 (votes not durable) in DLedger's terms, three replicas:
 * (1) L leads term t and is cut off from its peers A and B; clients still
 *     reach it, so it keeps appending term-t entries (x) nobody else has;
 * (2) A and B lose power within 30 s of their last vote, before the kernel
 *     wrote their `currterm` file back (persistVote=page-cache), or lose
 *     their memory (none): they come back at term 0 with no vote;
 * (3) they elect one of themselves in term t again — a second leader of
 *     term t (leader-conflict) — which commits entries (y) of term t at the
 *     same indices as L's x;
 * (4) clients are cut off from A and B, so L's x stay at least as many as
 *     the committed y;
 * (5) the new leader crashes and L rejoins the other peer: equal last
 *     terms, L's log at least as long, so L wins and its COMPARE (same
 *     index, same term, other body) truncates the committed y
 *     (committed-truncation, lost-write, log-divergence).
 * With persistVote=fsync A and B come back at term t having voted for L, so
 * the new leader's term is above t and its entries win: nothing is lost.
 */
export function lostVoteScript(): ScriptStep[] {
  const c = { l: "", a: "", b: "", k: -1, atUs: 0, newLeader: "" };
  return [
    {
      name: "(1) L leads term t: cut off from its peers, clients still reach it",
      when: (h) => now(h) >= 6 * SECOND && h.leaders().length === 1,
      run: (f, h) => {
        const l = h.leaders()[0]!;
        c.l = l.name;
        c.k = l.ledgerEndIndex;
        [c.a, c.b] = h.servers.filter((s) => s !== c.l) as [string, string];
        c.atUs = now(h);
        f.partition("l-alone", [c.l], [c.a, c.b]);
      },
    },
    {
      name: "(2) both peers lose power before their term file was written back",
      when: (h) => now(h) >= c.atUs + 4 * SECOND,
      run: (f, h) => {
        c.atUs = now(h);
        f.crash("a-down", c.a, "power");
        f.crash("b-down", c.b, "power");
      },
    },
    {
      name: "(3) power back",
      when: (h) => now(h) >= c.atUs + 2 * SECOND,
      run: (f) => {
        f.end("a-down");
        f.end("b-down");
      },
    },
    {
      name: "(4) a peer leads and committed entries of its own: clients now reach only L",
      when: (h) => h.leaders().some((n) => n.name !== c.l && n.committedIndex > c.k),
      run: (f, h) => {
        c.newLeader = h.leaders().find((n) => n.name !== c.l)!.name;
        c.atUs = now(h);
        f.partition("peers-no-clients", [c.a, c.b], h.clients);
      },
    },
    {
      name: "(5) the new leader crashes; L rejoins the other peer",
      when: (h) => now(h) >= c.atUs + SECOND,
      run: (f) => {
        f.crash("new-leader-down", c.newLeader, "process");
        f.end("l-alone");
      },
    },
  ];
}

/**
 * C5 (acking before fsync): every replica loses power right after a
 * client received an `ok`, `rounds` times. With fsyncBeforeAck=false the
 * acknowledged entry is often still only in the page caches (flushed every
 * 10 ms): it is gone from every replica (lost-write, and the index it had
 * is reused: inconsistent offsets, log-divergence). With true, an `ok`
 * implies a majority had it on the platter.
 */
export function ackBeforeFsyncScript(rounds = 3): ScriptStep[] {
  const steps: ScriptStep[] = [];
  for (let i = 0; i < rounds; i++) {
    let atUs = 0;
    steps.push({
      name: `power loss of every replica right after an ok (#${i + 1})`,
      when: (h) => now(h) >= (8 + 12 * i) * SECOND && h.lastOkUs > now(h) - 1000,
      run: (f, h) => {
        atUs = now(h);
        f.powerLossAll(`all-down-${i + 1}`);
      },
    });
    steps.push({
      name: `power back (#${i + 1})`,
      when: (h) => now(h) >= atUs + 3 * SECOND,
      run: (f) => f.end(`all-down-${i + 1}`),
    });
  }
  return steps;
}
