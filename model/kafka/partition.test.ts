// One test per replication rule of Partition.scala / UnifiedLog as the
// facts (semantics.md §12, known-bugs.md §A) state them, each run against the
// current protocol and, where a historical version broke the rule, against
// that version too.
import { describe, expect, it } from "vitest";
import { Disk, DiskConfigSchema } from "../../sim/disk.js";
import { Simulation } from "../../sim/kernel.js";
import { Rng } from "../../sim/rng.js";
import type { ProtocolVersion } from "./config.js";
import { EpochCache } from "./epoch-cache.js";
import { PartitionLog } from "./log.js";
import { Partition, type PartitionEnv } from "./partition.js";
import type { FetchPartition, FetchPartitionResponse, PartitionState } from "./protocol.js";
import { makeBatch, type Batch } from "./records.js";

const S = 1_000_000;
const TP = "t-0";

interface Harness {
  clock: { now: number };
  fenced: Set<number>;
  events: string[];
  truncations: Array<{ node: number; from: number; removed: number }>;
  make(id: number, version?: ProtocolVersion, minIsr?: number): Partition;
}

function harness(): Harness {
  const sim = new Simulation();
  const clock = { now: 0 };
  const fenced = new Set<number>();
  const events: string[] = [];
  const truncations: Harness["truncations"] = [];
  return {
    clock,
    fenced,
    events,
    truncations,
    make(id, version = "3.7", minIsr = 1) {
      const disk = new Disk(sim, new Rng(id), DiskConfigSchema.parse({}));
      const log = PartitionLog.create(disk, TP, { segmentBytes: 1 << 30, flushIntervalMessages: Number.MAX_SAFE_INTEGER }, () => true);
      const env: PartitionEnv = {
        brokerId: id,
        version,
        minIsr,
        lagTimeUs: 30 * S,
        now: () => clock.now,
        isrEligible: (b) => !fenced.has(b),
        hooks: {
          onLeader: (p) => events.push(`leader ${id} e${p.leaderEpoch}`),
          onHighWatermark: (p) => events.push(`hw ${id} ${p.hw}`),
          onTruncate: (_p, from, removed) => truncations.push({ node: id, from, removed: removed.reduce((n, b) => n + b.values.length, 0) }),
          onLeaderAppend: () => undefined,
        },
      };
      return new Partition(TP, log, env);
    },
  };
}

function state(leader: number, leaderEpoch: number, isr: number[], partitionEpoch = leaderEpoch, replicas = [1, 2, 3]): PartitionState {
  return { tp: TP, topic: "t", partition: 0, replicas, isr, leader, leaderEpoch, partitionEpoch };
}

/** Appends `n` one-record batches as the leader would. */
function produce(leader: Partition, n: number, tag = "v"): void {
  for (let i = 0; i < n; i++) {
    const b = makeBatch(leader.log.leo, leader.leaderEpoch, { producerId: -1, producerEpoch: -1, baseSequence: -1, timestampMs: 0, values: [`${tag}${leader.log.leo}`] });
    leader.appendAsLeader(b);
  }
}

function fetchAt(offset: number, follower: Partition | null, leaderEpoch: number): FetchPartition {
  return { tp: TP, fetchOffset: offset, lastFetchedEpoch: follower?.log.latestEpoch() ?? -1, currentLeaderEpoch: leaderEpoch };
}

/** A follower fetch at `offset`, returning the ISR expansion it made the leader propose. */
function fetchProposal(leader: Partition, followerId: number, offset: number, epoch = 0) {
  leader.fetchFromFollower(followerId, 0, fetchAt(offset, null, epoch), 1 << 20);
  return leader.takeProposal();
}

/** One follower fetch round trip: the follower's request, the leader's answer applied. */
function round(leader: Partition, follower: Partition, followerId: number): FetchPartitionResponse {
  const response = leader.fetchFromFollower(followerId, 0, follower.fetchRequest(), 1 << 20);
  follower.onFetchResponse(response);
  return response;
}

describe("leader high watermark", () => {
  it("is the lowest LEO over the ISR", () => {
    const h = harness();
    const leader = h.make(1);
    leader.applyState(state(1, 0, [1, 2, 3]));
    produce(leader, 3);
    leader.fetchFromFollower(2, 0, fetchAt(3, null, 0), 1 << 20);
    expect(leader.hw).toBe(0);
    leader.fetchFromFollower(3, 0, fetchAt(1, null, 0), 1 << 20);
    expect(leader.hw).toBe(1);
    leader.fetchFromFollower(3, 0, fetchAt(3, null, 0), 1 << 20);
    expect(leader.hw).toBe(3);
  });

  it("never decreases, even when an ISR follower reports a lower LEO", () => {
    const h = harness();
    const leader = h.make(1);
    leader.applyState(state(1, 0, [1, 2]));
    produce(leader, 4);
    leader.fetchFromFollower(2, 0, fetchAt(4, null, 0), 1 << 20);
    expect(leader.hw).toBe(4);
    leader.fetchFromFollower(2, 0, fetchAt(2, null, 0), 1 << 20);
    expect(leader.hw).toBe(4);
  });

  it("counts a proposed ISR addition before the controller confirms it (maximal ISR, A6); 1.1 does not", () => {
    for (const version of ["3.7", "1.1"] as const) {
      const h = harness();
      const leader = h.make(1, version);
      leader.applyState(state(1, 0, [1, 2]));
      // Replica 3 reaches the HW (0), so the leader proposes ISR [1, 2, 3] and waits for the controller.
      const proposal = fetchProposal(leader, 3, 0);
      expect(proposal?.newIsr).toEqual([1, 2, 3]);
      produce(leader, 10);
      leader.fetchFromFollower(2, 0, fetchAt(10, null, 0), 1 << 20);
      // With the maximal ISR the HW waits for replica 3, which the controller may elect next.
      expect(leader.hw).toBe(version === "3.7" ? 0 : 10);
    }
  });

  it("does not advance while the ISR is below min.insync.replicas (3.7); 1.1 advances", () => {
    for (const version of ["3.7", "1.1"] as const) {
      const h = harness();
      const leader = h.make(1, version, 2);
      leader.applyState(state(1, 0, [1]));
      produce(leader, 5);
      expect(leader.hw).toBe(version === "3.7" ? 0 : 5);
      expect(leader.produceError(-1)).toBe("NOT_ENOUGH_REPLICAS");
      expect(leader.produceError(1)).toBeNull();
    }
  });
});

describe("followers", () => {
  it("learn the high watermark one fetch round after the leader", () => {
    const h = harness();
    const leader = h.make(1);
    const follower = h.make(2);
    leader.applyState(state(1, 0, [1, 2], 0, [1, 2]));
    follower.applyState(state(1, 0, [1, 2], 0, [1, 2]));
    produce(leader, 1);
    round(leader, follower, 2);
    expect(follower.log.leo).toBe(1);
    expect(leader.hw).toBe(0);
    expect(follower.hw).toBe(0);
    // The next fetch (offset 1) moves the leader's HW; its answer carries it to the follower.
    round(leader, follower, 2);
    expect(leader.hw).toBe(1);
    expect(follower.hw).toBe(1);
    expect(h.events.filter((e) => e.startsWith("hw"))).toEqual(["hw 1 1", "hw 2 1"]);
  });

  it("a fetch with a stale leader epoch is fenced (KIP-320); 1.1 serves it", () => {
    for (const version of ["3.7", "1.1"] as const) {
      const h = harness();
      const leader = h.make(1, version);
      leader.applyState(state(1, 3, [1, 2]));
      produce(leader, 2);
      const r = leader.fetchFromFollower(2, 0, fetchAt(0, null, 2), 1 << 20);
      expect(r.error).toBe(version === "3.7" ? "FENCED_LEADER_EPOCH" : "NONE");
    }
  });
});

describe("ISR changes", () => {
  it("shrink only after replica.lag.time.max.ms without catching up (checked every lag/2)", () => {
    const h = harness();
    const leader = h.make(1);
    leader.applyState(state(1, 0, [1, 2, 3]));
    h.clock.now = 1 * S;
    leader.fetchFromFollower(2, 0, fetchAt(0, null, 0), 1 << 20);
    leader.fetchFromFollower(3, 0, fetchAt(0, null, 0), 1 << 20);
    h.clock.now = 2 * S;
    produce(leader, 1);
    // Replica 2 keeps fetching and catches up; replica 3 goes silent.
    for (let t = 3; t <= 40; t++) {
      h.clock.now = t * S;
      leader.fetchFromFollower(2, 0, fetchAt(leader.log.leo, null, 0), 1 << 20);
      const proposal = leader.maybeShrinkIsr();
      if (t <= 31) {
        // Replica 3 was caught up at t=1 s (its fetch reached the LEO then): 30 s of grace.
        expect(proposal).toBeNull();
      } else {
        expect(proposal?.newIsr).toEqual([1, 2]);
        break;
      }
    }
  });

  it("a follower that fetched up to the leader's LEO as of its previous fetch counts as caught up then", () => {
    const h = harness();
    const leader = h.make(1);
    leader.applyState(state(1, 0, [1, 2]));
    // The follower always fetches the LEO of its previous round while the leader appends in between:
    // it never equals the current LEO, yet it never falls behind by more than one round.
    for (let t = 1; t <= 100; t++) {
      h.clock.now = t * S;
      const seen = leader.log.leo;
      produce(leader, 1);
      leader.fetchFromFollower(2, 0, fetchAt(seen, null, 0), 1 << 20);
      expect(leader.maybeShrinkIsr()).toBeNull();
    }
  });

  it("expansion needs the HW and the start offset of the leader's epoch (A7); 1.1 needs only the HW", () => {
    for (const version of ["3.7", "1.1"] as const) {
      const h = harness();
      const leader = h.make(2, version);
      // Replica 2 was a follower with 5 records but a stale HW of 2, and is now elected in epoch 1;
      // the old leader 1, still in the ISR, has not fetched from it yet, so the HW stays at 2.
      for (let i = 0; i < 5; i++) leader.log.append(makeBatch(i, 0, { producerId: -1, producerEpoch: -1, baseSequence: -1, timestampMs: 0, values: [`v${i}`] }));
      leader.log.hw = 2;
      leader.applyState(state(2, 1, [2, 1]));
      expect(leader.hw).toBe(2);
      expect(leader.leaderEpochStartOffset).toBe(5);
      const atHw = fetchProposal(leader, 3, 2, 1);
      expect(atHw === null).toBe(version === "3.7");
      if (version === "3.7") {
        const atStart = fetchProposal(leader, 3, 5, 1);
        expect(atStart?.newIsr).toEqual([2, 1, 3]);
      }
    }
  });

  it("a fenced broker cannot join the ISR (KIP-841)", () => {
    const h = harness();
    const leader = h.make(1);
    leader.applyState(state(1, 0, [1]));
    h.fenced.add(3);
    expect(fetchProposal(leader, 3, 0)).toBeNull();
    h.fenced.delete(3);
    expect(fetchProposal(leader, 3, 0)?.newIsr).toEqual([1, 3]);
  });
});

describe("truncation", () => {
  /** A follower with records 0–2 in epoch 0 and 3–4 in epoch 1 follows a leader whose epoch 2 starts at 3. */
  function diverged(version: ProtocolVersion) {
    const h = harness();
    const leader = h.make(1, version);
    const follower = h.make(2, version);
    const fields = (v: string) => ({ producerId: -1, producerEpoch: -1, baseSequence: -1, timestampMs: 0, values: [v] });
    for (let i = 0; i < 3; i++) {
      leader.log.append(makeBatch(i, 0, fields(`a${i}`)));
      follower.log.append(makeBatch(i, 0, fields(`a${i}`)));
    }
    follower.log.append(makeBatch(3, 1, fields("stale3")));
    follower.log.append(makeBatch(4, 1, fields("stale4")));
    leader.log.hw = 3;
    follower.log.hw = 3;
    leader.applyState(state(1, 2, [1, 2], 2, [1, 2]));
    follower.applyState(state(1, 2, [1, 2], 2, [1, 2]));
    produce(leader, 3, "new");
    return { h, leader, follower };
  }

  it("a follower truncates to where its last epoch diverges from the leader's log (3.7)", () => {
    const { h, leader, follower } = diverged("3.7");
    const r = round(leader, follower, 2);
    expect(r.divergingEpoch).toEqual({ epoch: 0, endOffset: 3 });
    expect(follower.log.leo).toBe(3);
    expect(h.truncations).toEqual([{ node: 2, from: 3, removed: 2 }]);
    round(leader, follower, 2);
    expect(follower.log.batches.map((b) => b.values[0])).toEqual(["a0", "a1", "a2", "new3", "new4", "new5"]);
  });

  it("before KIP-101 (0.10.2) a new follower truncates to its own high watermark", () => {
    const h = harness();
    const follower = h.make(2, "0.10.2");
    for (let i = 0; i < 5; i++) follower.log.append(makeBatch(i, 0, { producerId: -1, producerEpoch: -1, baseSequence: -1, timestampMs: 0, values: [`v${i}`] }));
    follower.log.hw = 3;
    follower.applyState(state(1, 1, [1, 2], 1, [1, 2]));
    expect(follower.log.leo).toBe(3);
    expect(h.truncations).toEqual([{ node: 2, from: 3, removed: 2 }]);
  });

  it("OffsetsForLeaderEpoch v0 answers an unknown epoch with the next epoch's start (KAFKA-6361); v1 finds the largest common epoch", () => {
    const h = harness();
    const leader = h.make(1, "1.1");
    // The leader's cache: epoch 1 from 0, epoch 3 from 21 (it never had epoch 2).
    const cache: EpochCache = leader.log.epochs;
    cache.assign(1, 0);
    cache.assign(3, 21);
    // A follower whose latest epoch is 2 asks where epoch 2 ends.
    expect(cache.endOffsetForV0(2, 31)).toBe(21);
    expect(cache.endOffsetFor(2, 31)).toEqual({ epoch: 1, endOffset: 21 });
    expect(cache.endOffsetFor(3, 31)).toEqual({ epoch: 3, endOffset: 31 });
    expect(cache.endOffsetFor(0, 31)).toEqual({ epoch: 0, endOffset: 0 });
  });
});

describe("recovery after an unclean restart", () => {
  function writeLog(disk: Disk, n: number): PartitionLog {
    const log = PartitionLog.create(disk, TP, { segmentBytes: 1 << 30, flushIntervalMessages: Number.MAX_SAFE_INTEGER }, () => true);
    for (let i = 0; i < n; i++) log.append(makeBatch(i, 0, { producerId: -1, producerEpoch: -1, baseSequence: -1, timestampMs: 0, values: [`value-${i}`.padEnd(300, "x")] }));
    return log;
  }

  it("keeps every valid batch and cuts a torn tail at the first bad CRC", () => {
    const sim = new Simulation();
    const disk = new Disk(sim, new Rng(3), DiskConfigSchema.parse({ tearProbability: 1 }));
    const log = writeLog(disk, 20);
    let synced = false;
    log.flush();
    disk.fsync(`${TP}/00000000000000000000.log`, () => (synced = true));
    sim.run();
    expect(synced).toBe(true);
    // Five more batches reach only the page cache; the power fails while the last page is being written.
    for (let i = 20; i < 25; i++) log.append(makeBatch(i, 0, { producerId: -1, producerEpoch: -1, baseSequence: -1, timestampMs: 0, values: [`value-${i}`.padEnd(300, "x")] }));
    disk.powerLoss();
    const { log: recovered, report } = PartitionLog.load(disk, TP, { segmentBytes: 1 << 30, flushIntervalMessages: Number.MAX_SAFE_INTEGER }, () => true, 0, 100);
    expect(recovered.leo).toBeGreaterThanOrEqual(20);
    expect(recovered.leo).toBeLessThan(25);
    // The torn page left a partial batch behind, which recovery removed.
    expect(report.truncatedBytes).toBeGreaterThan(0);
    expect(recovered.batches.map((b) => b.values[0])).toEqual(Array.from({ length: recovered.leo }, (_, i) => `value-${i}`.padEnd(300, "x")));
    // The checkpointed HW (100) is capped at what the log still holds.
    expect(recovered.hw).toBe(recovered.leo);
  });

  it("a flipped byte inside a batch fails its CRC and ends the log there", () => {
    const sim = new Simulation();
    const disk = new Disk(sim, new Rng(4), DiskConfigSchema.parse({}));
    writeLog(disk, 10);
    // Corrupt a byte in the middle of the 7th batch (each batch is the same size).
    const file = `${TP}/00000000000000000000.log`;
    const size = disk.size(file) / 10;
    disk.corrupt(file, Math.floor(6.5 * size), 1);
    const { log } = PartitionLog.load(disk, TP, { segmentBytes: 1 << 30, flushIntervalMessages: Number.MAX_SAFE_INTEGER }, () => true, 0, 0);
    expect(log.leo).toBe(6);
    expect(disk.size(file)).toBe(6 * size);
  });

  it("segments roll at log.segment.bytes and a roll flushes the old segment, moving the recovery point", () => {
    const sim = new Simulation();
    const disk = new Disk(sim, new Rng(5), DiskConfigSchema.parse({}));
    const log = PartitionLog.create(disk, TP, { segmentBytes: 2000, flushIntervalMessages: Number.MAX_SAFE_INTEGER }, () => true);
    for (let i = 0; i < 20; i++) log.append(makeBatch(i, 0, { producerId: -1, producerEpoch: -1, baseSequence: -1, timestampMs: 0, values: [`v${i}`.padEnd(300, "x")] }));
    sim.run();
    expect(disk.list(`${TP}/`).filter((f) => f.endsWith(".log")).length).toBeGreaterThan(1);
    expect(log.recoveryPoint).toBeGreaterThan(0);
    expect(log.recoveryPoint).toBeLessThan(20);
  });
});

describe("idempotent producer state", () => {
  it("a resend of a retained batch is a duplicate with its original offsets; a gap is out of order", () => {
    const h = harness();
    const leader = h.make(1);
    leader.applyState(state(1, 0, [1]));
    const b = (seq: number, offset: number): Batch => makeBatch(offset, 0, { producerId: 7, producerEpoch: 0, baseSequence: seq, timestampMs: 0, values: [`s${seq}`] });
    for (let seq = 0; seq < 6; seq++) {
      expect(leader.log.producers.check(7, 0, seq, 1).kind).toBe("append");
      leader.appendAsLeader(b(seq, leader.log.leo));
    }
    expect(leader.log.producers.check(7, 0, 5, 1)).toEqual({ kind: "duplicate", firstOffset: 5, lastOffset: 5 });
    expect(leader.log.producers.check(7, 0, 1, 1)).toEqual({ kind: "duplicate", firstOffset: 1, lastOffset: 1 });
    // Only the last five batches are retained: sequence 0 has been forgotten.
    expect(leader.log.producers.check(7, 0, 0, 1)).toEqual({ kind: "error", error: "OUT_OF_ORDER_SEQUENCE_NUMBER" });
    expect(leader.log.producers.check(7, 0, 8, 1)).toEqual({ kind: "error", error: "OUT_OF_ORDER_SEQUENCE_NUMBER" });
    // After a truncation the state is rebuilt from the log that remains.
    leader.log.truncateTo(3);
    expect(leader.log.producers.check(7, 0, 3, 1).kind).toBe("append");
  });
});
