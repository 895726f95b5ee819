// The historical variants (facts/known-bugs.md C1, C2, C5 and D2, D3), each
// reproduced by a scripted fault plan (scenarios.ts) and flagged by the
// checkers; the same script with the fix in place must stay clean. Two
// seeds each: the scripts aim at states ("whoever leads now"), not at
// times, so they reproduce on any seed.
import { describe, expect, it } from "vitest";
import type { Anomaly, AnomalyType } from "../../invariants/index.js";
import type { RaftConfigInput } from "./config.js";
import type { Outgoing } from "./core.js";
import { runRaft, type ScriptStep } from "./harness.js";
import { ackBeforeFsyncScript, figure8Script, lostVoteScript, TEXTBOOK } from "./scenarios.js";
import { CoreCluster } from "./testing.js";

const SEEDS = [1, 2];
/** Replica-level and client-visible safety anomalies; liveness is judged apart. */
const SAFETY: AnomalyType[] = ["leader-conflict", "log-divergence", "committed-truncation", "lost-write", "inconsistent-offsets", "duplicate", "dirty-read"];

function runScript(seed: number, config: RaftConfigInput, script: () => ScriptStep[]) {
  const r = runRaft({ seed, durationSeconds: 45, config, script: script() });
  const types = new Set(r.anomalies.map((a: Anomaly) => a.type));
  return { r, types, safety: r.anomalies.filter((a) => SAFETY.includes(a.type)) };
}

describe("C1 / D2 — Figure 8: committing a previous-term entry by counting replicas", () => {
  for (const seed of SEEDS) {
    it(`count-replicas commits S1's old entry on {S1, V}; W later overwrites it (seed ${seed})`, () => {
      const { r, types } = runScript(seed, { ...TEXTBOOK, "dledger.commitRule": "count-replicas" }, figure8Script);
      expect(r.outcome).toBe("drained");
      // Every step of the script fired: W crashed, S1 led and crashed, W came back.
      expect(r.plan.map((f) => f.kind)).toEqual(["partition", "partition", "process-crash", "partition", "process-crash"]);
      expect(types).toContain("committed-truncation");
      expect(types).toContain("log-divergence");
      const cut = r.anomalies.find((a) => a.type === "committed-truncation")!.examples[0] as { reason: string };
      expect(cut.reason).toBe("below-own-commit");
    });
    it(`current-term leaves it uncommitted, so overwriting it is safe (seed ${seed})`, () => {
      const { r, safety } = runScript(seed, TEXTBOOK, figure8Script);
      expect(r.outcome).toBe("drained");
      expect(r.plan).toHaveLength(5);
      expect(safety).toEqual([]);
    });
  }
});

describe("C2 / D3 — currTerm and votedFor not durable", () => {
  for (const persistVote of ["page-cache", "none"] as const) {
    for (const seed of SEEDS) {
      it(`persistVote=${persistVote}: peers forget term and vote, a second leader of the same term commits, then loses it to the first (seed ${seed})`, () => {
        const { r, types } = runScript(seed, { ...TEXTBOOK, "dledger.persistVote": persistVote }, lostVoteScript);
        expect(r.outcome).toBe("drained");
        expect(types).toContain("leader-conflict");
        expect(types).toContain("committed-truncation");
        expect(types).toContain("lost-write");
        expect(types).toContain("log-divergence");
      });
    }
  }
  for (const seed of SEEDS) {
    it(`persistVote=fsync: the term and vote survive the power loss; nothing is lost (seed ${seed})`, () => {
      const { r, safety } = runScript(seed, TEXTBOOK, lostVoteScript);
      expect(r.outcome).toBe("drained");
      expect(r.plan).toHaveLength(5);
      expect(safety).toEqual([]);
    });
  }
});

describe("C5 / D3 — acking before fsync", () => {
  for (const seed of SEEDS) {
    it(`fsyncBeforeAck=false: an acknowledged entry still in the page caches is gone after every replica loses power (seed ${seed})`, () => {
      const { r, types } = runScript(seed, { ...TEXTBOOK, "dledger.fsyncBeforeAck": false }, ackBeforeFsyncScript);
      expect(r.outcome).toBe("drained");
      expect(r.plan.map((f) => f.kind)).toEqual(["power-loss-all", "power-loss-all", "power-loss-all"]);
      expect(types).toContain("lost-write");
      expect(types).toContain("log-divergence");
    });
    it(`fsyncBeforeAck=true (textbook): an ok means a majority had it on the platter (seed ${seed})`, () => {
      const { r, safety } = runScript(seed, TEXTBOOK, ackBeforeFsyncScript);
      expect(r.outcome).toBe("drained");
      expect(r.plan).toHaveLength(3);
      expect(safety).toEqual([]);
    });
  }
});

describe("a script's faults are a plain plan", () => {
  it("the realized Figure 8 plan, replayed without the script, reproduces the bug", () => {
    const config = { ...TEXTBOOK, "dledger.commitRule": "count-replicas" } as const;
    const scripted = runRaft({ seed: 1, durationSeconds: 45, config, script: figure8Script() });
    const replayed = runRaft({ seed: 1, durationSeconds: 45, config, plan: scripted.plan });
    expect(replayed.plan).toEqual(scripted.plan);
    const types = replayed.anomalies.map((a) => a.type);
    expect(types).toContain("committed-truncation");
    expect(types).toContain("log-divergence");
  });
});

describe("0.3.1.2 quirk found by the sweeps: a comparison index kept across terms", () => {
  const SECOND = 1_000_000;
  const pushOf = (m: Outgoing, type: string) => (m.kind === "request" && m.request.type === "push" && m.request.pushType === type ? m.request : null);

  /**
   * P leads term 1; F misses entries 5..9. P's dispatcher for F ends up
   * comparing at F's end (4) and that COMPARE never arrives. Q then leads
   * term 2 without P and brings F to 9, committed. Finally P wins term 3
   * against F (its log is longer) and starts comparing where it stopped.
   */
  function staleComparison(mode: "keep" | "reset") {
    const c = new CoreCluster(["n0", "n1", "n2"], { "dledger.compareIndexOnNewTerm": mode });
    c.runUntil(() => c.leader() !== undefined, 5 * SECOND);
    const p = c.leader()!.selfId;
    const [f, q] = ["n0", "n1", "n2"].filter((x) => x !== p) as [string, string];
    for (let i = 0; i < 5; i++) c.propose(p, `e${i}`);
    c.runFor(1500);
    c.isolate(f);
    for (let i = 5; i < 10; i++) c.propose(p, `e${i}`);
    c.runFor(500);
    c.dropIf = (from, m) => from === p && m.to === f && (pushOf(m, "APPEND")?.entries[0]?.index === 5 || pushOf(m, "COMPARE")?.entries[0]?.index === 4);
    c.unblock(p, f);
    c.propose(p, "e10");
    c.runFor(5000);
    c.heal();
    c.isolate(p);
    c.dropIf = (from, m) => from === q && m.to === f && (pushOf(m, "APPEND")?.entries.some((e) => e.index >= 10) ?? false);
    expect(c.runUntil(() => c.core(q).isLeader && c.core(f).committedIndex === 9, c.nowUs + 40 * SECOND)).toBe(true);
    c.heal();
    c.dropIf = null;
    c.isolate(q);
    expect(c.runUntil(() => c.core(p).isLeader && c.core(f).ledgerEndIndex === 10, c.nowUs + 60 * SECOND)).toBe(true);
    expect(c.core(p).term).toBeGreaterThan(2);
    return c.truncated.get(f)!;
  }

  it("keep (0.3.1.2): the new term's first COMPARE matches at the stale index and TRUNCATE drops F's committed 5..9", () => {
    const cuts = staleComparison("keep");
    expect(cuts.map((t) => [t.fromIndex, t.entries.length])).toEqual([[5, 5]]);
  });

  it("reset: the comparison starts at the leader's end and nothing is truncated", () => {
    expect(staleComparison("reset")).toEqual([]);
  });
});

describe("determinism", () => {
  it("the same seed gives the same trace hash; another seed gives another", () => {
    const run = (seed: number) => runRaft({ seed, faults: ["mixed"], maxConcurrentFaults: 2, durationSeconds: 40 });
    const a = run(7);
    const b = run(7);
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.plan).toEqual(a.plan);
    expect(b.history).toEqual(a.history);
    expect(run(8).traceHash).not.toBe(a.traceHash);
  });

  it("a script run is deterministic too", () => {
    const a = runScript(3, TEXTBOOK, figure8Script);
    const b = runScript(3, TEXTBOOK, figure8Script);
    expect(b.r.traceHash).toBe(a.r.traceHash);
    expect(b.r.plan).toEqual(a.r.plan);
  });
});
