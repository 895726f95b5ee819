import type { ProtocolVersion } from "./config.js";
import { UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET } from "./epoch-cache.js";
import type { PartitionLog } from "./log.js";
import type { FetchPartition, FetchPartitionResponse, KafkaError, PartitionState } from "./protocol.js";
import { makeBatch, NO_SEQUENCE, type Batch } from "./records.js";

/** The records of `b` from offset `from` on, as a batch of their own. */
function suffixOf(b: Batch, from: number): Batch {
  const skip = from - b.baseOffset;
  return makeBatch(from, b.epoch, {
    producerId: b.producerId,
    producerEpoch: b.producerEpoch,
    baseSequence: b.baseSequence === NO_SEQUENCE ? NO_SEQUENCE : b.baseSequence + skip,
    timestampMs: b.timestampMs,
    values: b.values.slice(skip),
  });
}

/** What a partition needs from its broker: identity, settings, time, and where to report. */
export interface PartitionEnv {
  readonly brokerId: number;
  readonly version: ProtocolVersion;
  /** min.insync.replicas */
  readonly minIsr: number;
  /** replica.lag.time.max.ms, in µs. */
  readonly lagTimeUs: number;
  now(): number;
  /**
   * Partition.isReplicaIsrEligible: the broker is unfenced (and not shutting
   * down) in this broker's metadata, and `brokerEpoch` is its current epoch.
   */
  isrEligible(brokerId: number, brokerEpoch: number): boolean;
  readonly hooks: PartitionHooks;
}

export interface PartitionHooks {
  /** This replica became leader of the partition in `leaderEpoch`. */
  onLeader(p: Partition): void;
  /** This replica's high watermark rose. */
  onHighWatermark(p: Partition): void;
  /** This replica removed `removed` (offsets ≥ fromOffset) from its log. */
  onTruncate(p: Partition, fromOffset: number, removed: readonly Batch[], reason: string): void;
  /** The leader appended a producer's batch. */
  onLeaderAppend(p: Partition, batch: Batch): void;
}

/** The leader's view of one follower (Replica.scala's ReplicaState). */
export interface FollowerState {
  readonly id: number;
  /** The follower's LEO, from its last fetch offset; -1 while unknown (just after an election). */
  leo: number;
  /** The last time the follower was known to have caught up with the leader's LEO. */
  lastCaughtUpUs: number;
  /** The leader's LEO at the follower's previous fetch, and that fetch's time. */
  lastFetchLeaderLeo: number;
  lastFetchUs: number;
  brokerEpoch: number;
}

/** How a follower resynchronises its log before it fetches, by protocol version. */
export type FollowerPhase = "truncate-by-epoch-request" | "fetching" | "failed";

/** An ISR change the leader wants the controller to commit. */
export interface IsrProposal {
  leaderEpoch: number;
  partitionEpoch: number;
  newIsr: number[];
}

/**
 * One partition on one broker: its log and its replication state, as
 * Partition.scala keeps them. Pure state transitions: the broker carries
 * the network traffic and timers, and this class says what changed.
 *
 * Leader invariants: hw <= log.leo; hw never decreases while leading;
 * isr includes this broker; while an AlterPartition is in flight, `pendingIsr`
 * holds the proposed ISR and nothing else is proposed.
 */
export class Partition {
  role: "leader" | "follower" | "none" = "none";
  leader = -1;
  leaderEpoch = -1;
  partitionEpoch = -1;
  replicas: number[] = [];
  isr: number[] = [];
  /** The ISR proposed to the controller and not yet answered (Partition's PendingPartitionChange). */
  pendingIsr: number[] | null = null;
  readonly followers = new Map<number, FollowerState>();
  /** The LEO when this replica became leader in the current epoch (leaderEpochStartOffsetOpt). */
  leaderEpochStartOffset = 0;
  followerPhase: FollowerPhase = "fetching";

  constructor(
    readonly tp: string,
    readonly log: PartitionLog,
    private readonly env: PartitionEnv,
  ) {}

  private get current(): boolean {
    return this.env.version === "3.7";
  }

  get hw(): number {
    return this.log.hw;
  }

  /** ISR ∪ pending additions: what the HW must wait for while a change is in flight (3.7). */
  maximalIsr(): readonly number[] {
    if (this.pendingIsr === null) return this.isr;
    const out = this.isr.slice();
    for (const r of this.pendingIsr) if (!out.includes(r)) out.push(r);
    return out;
  }

  // ---- role changes -------------------------------------------------------------

  /**
   * Applies the controller's state for this partition. Returns what the
   * broker must do next: start leading, start (or restart) following, or
   * nothing new.
   */
  applyState(state: PartitionState): "lead" | "follow" | "stop" | "none" {
    if (state.partitionEpoch <= this.partitionEpoch && state.leaderEpoch <= this.leaderEpoch) return "none";
    this.replicas = state.replicas;
    const me = this.env.brokerId;
    if (state.leader === me) {
      if (this.role === "leader" && state.leaderEpoch === this.leaderEpoch) {
        // Same leadership, a newer ISR (the controller removed a fenced follower, or our AlterPartition landed).
        this.isr = state.isr.slice();
        this.partitionEpoch = state.partitionEpoch;
        this.pendingIsr = null;
        this.maybeIncrementHw();
        return "none";
      }
      this.makeLeader(state);
      return "lead";
    }
    const wasLeader = this.role === "leader";
    const previousLeader = this.leader;
    const epochChanged = state.leaderEpoch !== this.leaderEpoch;
    this.leader = state.leader;
    this.leaderEpoch = state.leaderEpoch;
    this.partitionEpoch = state.partitionEpoch;
    this.isr = state.isr.slice();
    this.pendingIsr = null;
    this.followers.clear();
    if (state.leader < 0 || !state.replicas.includes(me)) {
      this.role = "none";
      return "stop";
    }
    if (!wasLeader && this.role === "follower" && !epochChanged) return "none";
    this.role = "follower";
    this.becomeFollower(wasLeader, previousLeader);
    return "follow";
  }

  /** Partition.makeLeader. */
  private makeLeader(state: PartitionState): void {
    const now = this.env.now();
    this.role = "leader";
    this.leader = this.env.brokerId;
    this.leaderEpoch = state.leaderEpoch;
    this.partitionEpoch = state.partitionEpoch;
    this.isr = state.isr.slice();
    this.pendingIsr = null;
    this.followers.clear();
    const leo = this.log.leo;
    for (const r of state.replicas) {
      if (r === this.env.brokerId) continue;
      // ReplicaState reset: followers in the ISR are presumed caught up as of now; their LEO is unknown.
      // The others never caught up (Kafka uses 0 on a wall clock, i.e. long ago).
      this.followers.set(r, {
        id: r,
        leo: -1,
        lastCaughtUpUs: state.isr.includes(r) ? now : Number.NEGATIVE_INFINITY,
        lastFetchLeaderLeo: leo,
        lastFetchUs: now,
        brokerEpoch: -1,
      });
    }
    this.leaderEpochStartOffset = leo;
    // KIP-279 (PR #5678): a new leader records its epoch at its LEO at once; before that the
    // epoch entered the cache with the first batch appended in it.
    if (this.current) this.log.epochs.assign(this.leaderEpoch, leo);
    this.env.hooks.onLeader(this);
    this.maybeIncrementHw();
  }

  /**
   * Partition.makeFollower plus the version's resynchronisation: before
   * KIP-101 the follower truncates to its own HW at once; with epochs it
   * asks the leader first (1.1: OffsetsForLeaderEpoch) or lets the fetch
   * tell it where the logs diverge (3.7).
   */
  private becomeFollower(wasLeader: boolean, previousLeader: number): void {
    switch (this.env.version) {
      case "0.10.2":
        this.truncate(this.log.hw, "become-follower-hw");
        this.followerPhase = "fetching";
        break;
      case "1.1":
        // KAFKA-7164 is not fixed here: with the same leader the epoch bump goes unnoticed.
        this.followerPhase = !wasLeader && previousLeader === this.leader ? "fetching" : "truncate-by-epoch-request";
        break;
      case "3.7":
        this.followerPhase = "fetching";
        break;
    }
  }

  // ---- leader: appends and the high watermark ------------------------------------------

  /** Why a produce to this replica is refused before appending, or null. */
  produceError(acks: -1 | 0 | 1): KafkaError | null {
    if (this.role !== "leader") return "NOT_LEADER_OR_FOLLOWER";
    // Partition.appendRecordsToLeader: acks=all needs the committed ISR at min.insync.replicas.
    if (acks === -1 && this.isr.length < this.env.minIsr) return "NOT_ENOUGH_REPLICAS";
    return null;
  }

  /** Appends a leader batch (already stamped with offsets) and reports it. */
  appendAsLeader(batch: Batch): void {
    this.log.append(batch);
    this.env.hooks.onLeaderAppend(this, batch);
    this.maybeIncrementHw();
  }

  /**
   * Partition.maybeIncrementLeaderHW. The HW is the lowest LEO among the
   * replicas it must wait for, and only ever rises. 3.7 waits for the
   * maximal ISR (so an ISR addition the controller has not confirmed already
   * counts, A6) and for caught-up, eligible replicas outside it, and does not
   * move at all while the ISR is below min(min.insync.replicas, RF). Older
   * versions wait for the committed ISR only.
   */
  maybeIncrementHw(): boolean {
    if (this.role !== "leader") return false;
    const now = this.env.now();
    if (this.current && this.isr.length < Math.min(this.env.minIsr, this.replicas.length)) return false;
    const members = this.current ? this.maximalIsr() : this.isr;
    const leaderLeo = this.log.leo;
    let newHw = leaderLeo;
    for (const f of this.followers.values()) {
      if (f.leo >= newHw) continue;
      const wait = members.includes(f.id) || (this.current && this.isCaughtUp(f, leaderLeo, now) && this.env.isrEligible(f.id, f.brokerEpoch));
      if (wait) newHw = f.leo;
    }
    if (newHw <= this.log.hw) return false;
    this.log.hw = newHw;
    this.env.hooks.onHighWatermark(this);
    return true;
  }

  /** ReplicaState.isCaughtUp. */
  private isCaughtUp(f: FollowerState, leaderLeo: number, now: number): boolean {
    return f.leo === leaderLeo || now - f.lastCaughtUpUs <= this.env.lagTimeUs;
  }

  // ---- leader: follower fetches ------------------------------------------------------

  /**
   * A follower's fetch for this partition (Partition.fetchRecords with
   * updateFollowerFetchState): the answer to send, which may be empty (the
   * broker then parks the fetch). An ISR expansion the fetch made possible
   * is left for `takeProposal`, which the broker calls right after.
   */
  fetchFromFollower(replicaId: number, brokerEpoch: number, req: FetchPartition, maxBytes: number): FetchPartitionResponse {
    this.proposal = null;
    const error = this.leaderFetchError(req);
    if (error !== null) return this.errorResponse(error);
    const follower = this.followers.get(replicaId);
    if (follower === undefined) return this.errorResponse("NOT_LEADER_OR_FOLLOWER");
    // UnifiedLog/Partition: validate the fetch offset against the follower's last epoch (IBP 2.7+).
    // A follower whose last epoch is the leader's latest cannot have diverged (only this leader
    // writes in that epoch), which is the common case and needs no lookup.
    if (this.current && req.lastFetchedEpoch >= 0 && req.lastFetchedEpoch !== this.log.latestEpoch()) {
      const eo = this.log.endOffsetForEpoch(req.lastFetchedEpoch);
      if (eo.epoch < req.lastFetchedEpoch || eo.endOffset < req.fetchOffset) {
        return { tp: this.tp, error: "NONE", highWatermark: this.log.hw, logEndOffset: this.log.leo, batches: [], divergingEpoch: { epoch: eo.epoch, endOffset: eo.endOffset } };
      }
    }
    if (req.fetchOffset > this.log.leo) return this.errorResponse("OFFSET_OUT_OF_RANGE");
    this.updateFollowerFetchState(follower, req.fetchOffset, brokerEpoch);
    this.proposal = this.maybeExpandIsr(follower);
    this.maybeIncrementHw();
    const batches = this.log.read(req.fetchOffset, this.log.leo, maxBytes);
    return { tp: this.tp, error: "NONE", highWatermark: this.log.hw, logEndOffset: this.log.leo, batches, divergingEpoch: null };
  }

  /** The ISR expansion the last follower fetch proposed, if any; it is handed out once. */
  takeProposal(): IsrProposal | null {
    const p = this.proposal;
    this.proposal = null;
    return p;
  }

  private proposal: IsrProposal | null = null;

  /** KIP-320 epoch fencing (3.7 only) and leadership. */
  leaderFetchError(req: FetchPartition): KafkaError | null {
    if (this.role !== "leader") return "NOT_LEADER_OR_FOLLOWER";
    if (this.current && req.currentLeaderEpoch >= 0) {
      if (req.currentLeaderEpoch < this.leaderEpoch) return "FENCED_LEADER_EPOCH";
      if (req.currentLeaderEpoch > this.leaderEpoch) return "UNKNOWN_LEADER_EPOCH";
    }
    return null;
  }

  errorResponse(error: KafkaError): FetchPartitionResponse {
    return { tp: this.tp, error, highWatermark: -1, logEndOffset: -1, batches: [], divergingEpoch: null };
  }

  /** Replica.updateFetchState: the follower's LEO and its caught-up time. */
  private updateFollowerFetchState(f: FollowerState, fetchOffset: number, brokerEpoch: number): void {
    const now = this.env.now();
    const leaderLeo = this.log.leo;
    if (fetchOffset >= leaderLeo) f.lastCaughtUpUs = Math.max(f.lastCaughtUpUs, now);
    else if (fetchOffset >= f.lastFetchLeaderLeo) f.lastCaughtUpUs = Math.max(f.lastCaughtUpUs, f.lastFetchUs);
    f.leo = fetchOffset;
    f.lastFetchLeaderLeo = leaderLeo;
    f.lastFetchUs = now;
    f.brokerEpoch = brokerEpoch;
  }

  /**
   * Partition.maybeExpandIsr: a follower joins once its LEO reaches the HW
   * and (3.7, KIP-320 / A7) the start offset of the leader's epoch, and it
   * is eligible (unfenced, current broker epoch).
   */
  maybeExpandIsr(f: FollowerState): IsrProposal | null {
    if (this.role !== "leader" || this.pendingIsr !== null || this.isr.includes(f.id)) return null;
    if (f.leo < this.log.hw) return null;
    if (this.current) {
      if (f.leo < this.leaderEpochStartOffset) return null;
      if (!this.env.isrEligible(f.id, f.brokerEpoch)) return null;
    }
    return this.propose([...this.isr, f.id]);
  }

  /**
   * Partition.maybeShrinkIsr, run every replica.lag.time.max.ms / 2: ISR
   * followers that have not caught up for longer than the lag time leave.
   */
  maybeShrinkIsr(): IsrProposal | null {
    if (this.role !== "leader" || this.pendingIsr !== null) return null;
    const now = this.env.now();
    const leaderLeo = this.log.leo;
    const out = this.isr.filter((id) => {
      if (id === this.env.brokerId) return false;
      const f = this.followers.get(id);
      return f !== undefined && !this.isCaughtUp(f, leaderLeo, now);
    });
    if (out.length === 0) return null;
    return this.propose(this.isr.filter((id) => !out.includes(id)));
  }

  private propose(newIsr: number[]): IsrProposal {
    this.pendingIsr = newIsr;
    return { leaderEpoch: this.leaderEpoch, partitionEpoch: this.partitionEpoch, newIsr };
  }

  /** The controller's answer to our AlterPartition. */
  onAlterPartitionResponse(error: KafkaError | "retriable", state: PartitionState | null): "retry" | "done" {
    if (this.role !== "leader") return "done";
    if (error === "retriable") return "retry";
    if (error !== "NONE" || state === null) {
      // The proposal is dead (a newer partition epoch, a fenced replica): wait for metadata and try again later.
      this.pendingIsr = null;
      return "done";
    }
    if (state.leaderEpoch === this.leaderEpoch && state.partitionEpoch > this.partitionEpoch) {
      this.isr = state.isr.slice();
      this.partitionEpoch = state.partitionEpoch;
      this.pendingIsr = null;
      this.maybeIncrementHw();
    }
    return "done";
  }

  /** OffsetsForLeaderEpoch as a 1.1 leader answers it (version 0: an offset, no epoch). */
  offsetForLeaderEpochV0(requested: number): { error: KafkaError; leaderEpoch: number; endOffset: number } {
    if (this.role !== "leader") return { error: "NOT_LEADER_OR_FOLLOWER", leaderEpoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    return { error: "NONE", leaderEpoch: UNDEFINED_EPOCH, endOffset: this.log.epochs.endOffsetForV0(requested, this.log.leo) };
  }

  // ---- follower ----------------------------------------------------------------------

  /** What this follower puts in its next fetch for the partition. */
  fetchRequest(): FetchPartition {
    return {
      tp: this.tp,
      fetchOffset: this.log.leo,
      lastFetchedEpoch: this.current ? this.log.latestEpoch() : -1,
      currentLeaderEpoch: this.current ? this.leaderEpoch : -1,
    };
  }

  /**
   * Applies a fetch response (AbstractFetcherThread.processFetchResponse):
   * a diverging epoch truncates; records are appended (they must continue
   * the log exactly, else the partition fails, as UnexpectedAppendOffset
   * does); the follower's HW becomes min(leader HW, own LEO), one round
   * behind the leader.
   */
  onFetchResponse(resp: FetchPartitionResponse): "ok" | "failed" {
    if (resp.divergingEpoch !== null) {
      this.truncateOnDivergence(resp.divergingEpoch.epoch, resp.divergingEpoch.endOffset);
      return "ok";
    }
    for (const b of resp.batches) {
      if (b.lastOffset < this.log.leo) continue;
      if (b.baseOffset !== this.log.leo) {
        if (this.env.version === "0.10.2" && b.baseOffset < this.log.leo) {
          // Message format v1 (before 0.11) stored messages one by one, so a fetch returned them
          // from exactly the fetch offset: take the part of the batch at and after our LEO.
          this.log.append(suffixOf(b, this.log.leo));
          continue;
        }
        // UnexpectedAppendOffsetException: the fetcher marks the partition failed until its
        // leadership changes (a v2 batch straddles our log end because the logs diverged).
        this.followerPhase = "failed";
        return "failed";
      }
      this.log.append(b);
    }
    const hw = Math.min(resp.highWatermark, this.log.leo);
    if (hw > this.log.hw) {
      this.log.hw = hw;
      this.env.hooks.onHighWatermark(this);
    } else if (hw < this.log.hw) {
      // UnifiedLog.updateHighWatermark on a follower follows the leader down as well.
      this.log.hw = hw;
    }
    return "ok";
  }

  /** AbstractFetcherThread.getOffsetTruncationState for a diverging epoch (3.7). */
  private truncateOnDivergence(epoch: number, endOffset: number): void {
    const leo = this.log.leo;
    if (endOffset === UNDEFINED_EPOCH_OFFSET || epoch === UNDEFINED_EPOCH) {
      this.truncate(Math.min(this.log.hw, leo), "diverging-epoch-undefined");
      return;
    }
    const local = this.log.endOffsetForEpoch(epoch);
    if (local.endOffset === UNDEFINED_EPOCH_OFFSET) this.truncate(Math.min(endOffset, leo), "diverging-epoch");
    else if (local.epoch !== epoch) this.truncate(Math.min(local.endOffset, leo), "diverging-epoch-intermediate");
    else this.truncate(Math.min(local.endOffset, endOffset, leo), "diverging-epoch");
  }

  /** The follower's answer handling for OffsetsForLeaderEpoch v0 (1.1): min(leader's offset, own LEO), or the HW if undefined. */
  onOffsetForLeaderEpochV0(endOffset: number): void {
    const target = endOffset === UNDEFINED_EPOCH_OFFSET ? this.log.hw : Math.min(endOffset, this.log.leo);
    this.truncate(target, "offsets-for-leader-epoch");
    this.followerPhase = "fetching";
  }

  /** The leader's log ends before our fetch offset: cut back to it (the unclean-election path). */
  onOffsetOutOfRange(leaderLeo: number): void {
    if (leaderLeo < this.log.leo) this.truncate(leaderLeo, "leader-log-shorter");
  }

  truncate(offset: number, reason: string): void {
    const removed = this.log.truncateTo(offset);
    if (removed.length > 0) this.env.hooks.onTruncate(this, removed[0]!.baseOffset, removed, reason);
  }

  /** What a follower of the latest epoch asks in 1.1's OffsetsForLeaderEpoch. */
  latestEpoch(): number {
    return this.log.latestEpoch();
  }
}
