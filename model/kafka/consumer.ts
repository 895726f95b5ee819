import type { NodeContext } from "../../sim/node.js";
import { US_PER_MS } from "../../sim/time.js";
import { backoffUs, type ClientMetadata } from "./client-metadata.js";
import type { ClientConfig, ConsumerConfig } from "./config.js";
import {
  brokerNode,
  type FetchRequest,
  type FetchResponse,
  type FindCoordinatorResponse,
  type HeartbeatResponse,
  type JoinGroupResponse,
  type KafkaError,
  type ListOffsetsResponse,
  type OffsetCommitResponse,
  type OffsetFetchResponse,
  type SyncGroupResponse,
} from "./protocol.js";
import type { Rpc } from "./rpc.js";

/** One record a fetch returned, as the application sees it; `key` is the partition key, as in histories. */
export interface ConsumedRecord {
  key: string;
  offset: number;
  value: string;
}

/** What the application is told after each fetch that returned records. */
export interface PollResult {
  records: ConsumedRecord[];
  /** Set on the first poll after an assignment: the partitions assigned, and those revoked before it. */
  rebalance: { assigned: string[]; revoked: string[] } | null;
}

type GroupPhase = "unjoined" | "finding" | "joining" | "syncing" | "stable";

/**
 * KafkaConsumer in a group with the classic protocol and eager range
 * assignment (ConsumerCoordinator, Fetcher): it finds the coordinator,
 * joins, the leader assigns partitions, every member syncs; then it
 * heartbeats every heartbeat.interval.ms, commits its positions every
 * auto.commit.interval.ms, and before every rejoin it commits synchronously
 * and gives up all its partitions. It fetches from each partition's leader
 * from its position — the committed offset, or auto.offset.reset when there
 * is none or the position fell off the log — and only ever sees records
 * below the high watermark, because that is all a leader returns.
 */
export class KafkaConsumer {
  private phase: GroupPhase = "unjoined";
  private coordinator = -1;
  private memberId = "";
  private generation = -1;
  private assigned: string[] = [];
  /** Next offset to read, per assigned partition whose position is known. */
  private readonly positions = new Map<string, number>();
  /** Bumped on every assignment, so that answers meant for an older one are ignored. */
  private assignmentEpoch = 0;
  private readonly fetching = new Set<number>();
  private readonly nodeBackoffUntil = new Map<number, number>();
  private pendingRebalance: { assigned: string[]; revoked: string[] } | null = null;
  private revokedSinceLastAssignment: string[] = [];
  private failures = 0;
  private heartbeatInFlight = false;
  /**
   * Bumped whenever the membership sequence (find coordinator → join → sync)
   * starts over, so that an answer to an abandoned step is ignored: only one
   * step is ever in flight, as in AbstractCoordinator.
   */
  private attempt = 0;

  constructor(
    private readonly ctx: NodeContext,
    private readonly rpc: Rpc,
    private readonly metadata: ClientMetadata,
    private readonly cfg: ConsumerConfig,
    private readonly client: ClientConfig,
    readonly groupId: string,
    private readonly topic: string,
    private readonly onPoll: (result: PollResult) => void,
  ) {
    metadata.onUpdate(() => {
      // ConsumerCoordinator.rejoinNeededOrPending: the subscribed topic's partitions changed since the
      // last assignment (for instance the topic did not exist yet), so the group must rebalance.
      if (this.phase === "stable" && this.metadata.partitions(this.topic).length !== this.partitionsAtJoin) this.rejoin();
      this.fetchAll();
    });
  }

  /** How many partitions of the topic this member's metadata knew when it last joined. */
  private partitionsAtJoin = 0;

  start(): void {
    this.metadata.requestUpdate();
    this.findCoordinator();
    const heartbeatLoop = (): void => {
      this.heartbeat();
      this.ctx.after(this.cfg["heartbeat.interval.ms"] * US_PER_MS, heartbeatLoop);
    };
    this.ctx.after(this.cfg["heartbeat.interval.ms"] * US_PER_MS, heartbeatLoop);
    if (this.cfg["enable.auto.commit"]) {
      const commitLoop = (): void => {
        if (this.phase === "stable") this.commit(() => undefined);
        this.ctx.after(this.cfg["auto.commit.interval.ms"] * US_PER_MS, commitLoop);
      };
      this.ctx.after(this.cfg["auto.commit.interval.ms"] * US_PER_MS, commitLoop);
    }
  }

  /** Positions of the assigned partitions, for the cluster's drain check. */
  currentPositions(): ReadonlyMap<string, number> {
    return this.positions;
  }

  private get requestTimeoutUs(): number {
    return this.client["request.timeout.ms"] * US_PER_MS;
  }

  private retryLater(fn: () => void): void {
    this.failures++;
    this.ctx.after(backoffUs(this.client, this.failures, this.ctx.rng.next()), fn);
  }

  // ---- group membership ------------------------------------------------------------

  private findCoordinator(): void {
    if (this.phase === "finding") return;
    this.phase = "finding";
    this.coordinator = -1;
    const attempt = ++this.attempt;
    const target = this.metadata.anyBroker();
    this.rpc.call(brokerNode(target), "FindCoordinator", { key: this.groupId }, this.requestTimeoutUs, (body, err) => {
      if (attempt !== this.attempt) return;
      const r = body as FindCoordinatorResponse | null;
      if (err !== null || r === null || r.error !== "NONE") {
        this.phase = "unjoined";
        this.retryLater(() => this.findCoordinator());
        return;
      }
      this.coordinator = r.nodeId;
      this.phase = "unjoined";
      this.join();
    });
  }

  private coordinatorLost(): void {
    this.phase = "unjoined";
    const attempt = ++this.attempt;
    this.retryLater(() => {
      if (attempt === this.attempt) this.findCoordinator();
    });
  }

  /** ConsumerCoordinator.onJoinPrepare then JoinGroup: commit, revoke everything (eager), rejoin. */
  private rejoin(): void {
    if (this.phase === "joining" || this.phase === "syncing" || this.phase === "finding") return;
    if (this.assigned.length > 0 && this.cfg["enable.auto.commit"]) {
      this.phase = "joining";
      const attempt = ++this.attempt;
      this.commit(() => {
        if (attempt !== this.attempt) return;
        this.revokeAll();
        this.join();
      });
      return;
    }
    this.revokeAll();
    this.join();
  }

  private revokeAll(): void {
    if (this.assigned.length === 0) return;
    this.revokedSinceLastAssignment.push(...this.assigned);
    this.assigned = [];
    this.positions.clear();
    this.assignmentEpoch++;
  }

  private join(): void {
    if (this.coordinator < 0) return this.findCoordinator();
    this.phase = "joining";
    const attempt = ++this.attempt;
    this.partitionsAtJoin = this.metadata.partitions(this.topic).length;
    const body = {
      groupId: this.groupId,
      memberId: this.memberId,
      sessionTimeoutMs: this.cfg["session.timeout.ms"],
      rebalanceTimeoutMs: this.cfg["max.poll.interval.ms"],
      topics: [this.topic],
    };
    // AbstractCoordinator.joinGroupTimeoutMs: a JoinGroup may wait out a whole rebalance, so it gets
    // max(request.timeout.ms, rebalance timeout + 5 s). If the coordinator's machine dies meanwhile,
    // nothing else tells the member: it waits this long.
    const timeoutUs = Math.max(this.requestTimeoutUs, (this.cfg["max.poll.interval.ms"] + 5_000) * US_PER_MS);
    this.rpc.call(brokerNode(this.coordinator), "JoinGroup", body, timeoutUs, (resp, err) => {
      if (attempt !== this.attempt) return;
      const r = resp as JoinGroupResponse | null;
      if (err !== null || r === null) return this.coordinatorLost();
      switch (r.error) {
        case "NONE":
          this.failures = 0;
          this.memberId = r.memberId;
          this.generation = r.generation;
          this.sync(r);
          return;
        case "UNKNOWN_MEMBER_ID":
        case "REBALANCE_IN_PROGRESS":
          this.joinAgain(r.error);
          return;
        default:
          this.coordinatorLost();
      }
    });
  }

  /** The coordinator asked for a new join; an unknown member also forgets its member id. */
  private joinAgain(error: string): void {
    if (error === "UNKNOWN_MEMBER_ID") this.memberId = "";
    this.phase = "unjoined";
    this.join();
  }

  private sync(join: JoinGroupResponse): void {
    this.phase = "syncing";
    const attempt = ++this.attempt;
    const assignments = join.leaderId === this.memberId ? this.assignRange(join.members.map((m) => m.memberId)) : [];
    const body = { groupId: this.groupId, generation: this.generation, memberId: this.memberId, assignments };
    this.rpc.call(brokerNode(this.coordinator), "SyncGroup", body, this.requestTimeoutUs, (resp, err) => {
      if (attempt !== this.attempt) return;
      const r = resp as SyncGroupResponse | null;
      if (err !== null || r === null) return this.coordinatorLost();
      switch (r.error) {
        case "NONE":
          this.onAssignment(r.tps);
          return;
        case "UNKNOWN_MEMBER_ID":
        case "REBALANCE_IN_PROGRESS":
        case "ILLEGAL_GENERATION":
          this.joinAgain(r.error);
          return;
        default:
          this.coordinatorLost();
      }
    });
  }

  /** RangeAssignor: members sorted by id, each takes a contiguous range, the first ones one extra. */
  private assignRange(memberIds: string[]): Array<{ memberId: string; tps: string[] }> {
    const members = [...memberIds].sort();
    const tps = this.metadata.partitions(this.topic);
    const per = Math.floor(tps.length / Math.max(1, members.length));
    const extra = tps.length % Math.max(1, members.length);
    const out: Array<{ memberId: string; tps: string[] }> = [];
    let at = 0;
    members.forEach((memberId, i) => {
      const n = per + (i < extra ? 1 : 0);
      out.push({ memberId, tps: tps.slice(at, at + n) });
      at += n;
    });
    return out;
  }

  private onAssignment(tps: string[]): void {
    this.phase = "stable";
    this.assigned = [...tps];
    this.assignmentEpoch++;
    this.positions.clear();
    this.pendingRebalance = { assigned: [...tps], revoked: this.revokedSinceLastAssignment };
    this.revokedSinceLastAssignment = [];
    this.ctx.emit("kafka.consumer.assign", { generation: this.generation, tps });
    if (tps.length > 0) this.initPositions(this.assignmentEpoch);
  }

  private heartbeat(): void {
    if (this.phase !== "stable" || this.heartbeatInFlight) return;
    this.heartbeatInFlight = true;
    const body = { groupId: this.groupId, generation: this.generation, memberId: this.memberId };
    this.rpc.call(brokerNode(this.coordinator), "Heartbeat", body, this.requestTimeoutUs, (resp, err) => {
      this.heartbeatInFlight = false;
      if (this.phase !== "stable") return;
      const r = resp as HeartbeatResponse | null;
      if (err !== null || r === null) return this.markCoordinatorUnknown();
      this.onGroupError(r.error);
    });
  }

  /** The coordinator went away: find it again, keeping membership, as AbstractCoordinator does. */
  private markCoordinatorUnknown(): void {
    const target = this.metadata.anyBroker();
    this.rpc.call(brokerNode(target), "FindCoordinator", { key: this.groupId }, this.requestTimeoutUs, (body, err) => {
      const r = body as FindCoordinatorResponse | null;
      if (err === null && r !== null && r.error === "NONE") this.coordinator = r.nodeId;
    });
  }

  /** What a heartbeat or commit error means for membership. */
  private onGroupError(error: KafkaError): void {
    switch (error) {
      case "NONE":
        return;
      case "REBALANCE_IN_PROGRESS":
      case "ILLEGAL_GENERATION":
        this.rejoin();
        return;
      case "UNKNOWN_MEMBER_ID":
        this.memberId = "";
        this.rejoin();
        return;
      case "NOT_COORDINATOR":
      case "COORDINATOR_NOT_AVAILABLE":
        this.markCoordinatorUnknown();
        return;
      default:
        return;
    }
  }

  /** OffsetCommit of every assigned position; `done` runs whatever the outcome. */
  private commit(done: () => void): void {
    const offsets = this.assigned.filter((tp) => this.positions.has(tp)).map((tp) => ({ tp, offset: this.positions.get(tp)! }));
    if (offsets.length === 0 || this.coordinator < 0) return done();
    const body = { groupId: this.groupId, generation: this.generation, memberId: this.memberId, offsets };
    this.rpc.call(brokerNode(this.coordinator), "OffsetCommit", body, this.requestTimeoutUs, (resp, err) => {
      const r = resp as OffsetCommitResponse | null;
      if (err !== null || r === null) this.markCoordinatorUnknown();
      else if (r.error !== "NONE" && this.phase === "stable") this.onGroupError(r.error);
      done();
    });
  }

  // ---- positions --------------------------------------------------------------------

  /** The committed offsets, else auto.offset.reset (ConsumerCoordinator.refreshCommittedOffsetsIfNeeded). */
  private initPositions(epoch: number): void {
    const body = { groupId: this.groupId, tps: this.assigned };
    this.rpc.call(brokerNode(this.coordinator), "OffsetFetch", body, this.requestTimeoutUs, (resp, err) => {
      if (epoch !== this.assignmentEpoch) return;
      const r = resp as OffsetFetchResponse | null;
      if (err !== null || r === null || r.error !== "NONE") {
        this.retryLater(() => {
          if (epoch === this.assignmentEpoch) this.initPositions(epoch);
        });
        return;
      }
      const reset: string[] = [];
      for (const o of r.offsets) {
        if (o.offset >= 0) this.positions.set(o.tp, o.offset);
        else reset.push(o.tp);
      }
      if (reset.length > 0) this.resetPositions(reset, epoch);
      this.fetchAll();
    });
  }

  /** auto.offset.reset through ListOffsets to each partition's leader. */
  private resetPositions(tps: string[], epoch: number): void {
    const policy = this.cfg["auto.offset.reset"];
    if (policy === "none") {
      this.ctx.emit("kafka.consumer.no-offset", { tps });
      return;
    }
    for (const tp of tps) {
      const info = this.metadata.leaderOf(tp);
      if (info === undefined || info.leader < 0) {
        this.metadata.requestUpdate();
        this.retryLater(() => {
          if (epoch === this.assignmentEpoch) this.resetPositions([tp], epoch);
        });
        continue;
      }
      const body = { partitions: [{ tp, timestamp: policy === "earliest" ? -2 : -1, currentLeaderEpoch: info.leaderEpoch }] };
      this.rpc.call(brokerNode(info.leader), "ListOffsets", body, this.requestTimeoutUs, (resp, err) => {
        if (epoch !== this.assignmentEpoch) return;
        const r = (resp as ListOffsetsResponse | null)?.partitions[0];
        if (err !== null || r === undefined || r.error !== "NONE") {
          this.metadata.requestUpdate();
          this.retryLater(() => {
            if (epoch === this.assignmentEpoch) this.resetPositions([tp], epoch);
          });
          return;
        }
        this.positions.set(tp, r.offset);
        this.ctx.emit("kafka.consumer.reset", { tp, offset: r.offset, policy });
        this.fetchAll();
      });
    }
  }

  // ---- fetching -----------------------------------------------------------------------

  /** Sends a fetch to every leader of positioned partitions that has none outstanding. */
  private fetchAll(): void {
    if (this.phase !== "stable") return;
    const byNode = new Map<number, string[]>();
    for (const tp of this.assigned) {
      if (!this.positions.has(tp)) continue;
      const info = this.metadata.leaderOf(tp);
      if (info === undefined || info.leader < 0) {
        this.metadata.requestUpdate();
        continue;
      }
      let list = byNode.get(info.leader);
      if (list === undefined) byNode.set(info.leader, (list = []));
      list.push(tp);
    }
    for (const [node, tps] of byNode) this.fetchFrom(node, tps);
  }

  private fetchFrom(node: number, tps: string[]): void {
    if (this.fetching.has(node)) return;
    const until = this.nodeBackoffUntil.get(node) ?? 0;
    if (until > this.ctx.now) return;
    this.fetching.add(node);
    const epoch = this.assignmentEpoch;
    const req: FetchRequest = {
      replicaId: -1,
      brokerEpoch: -1,
      maxWaitMs: this.cfg["fetch.max.wait.ms"],
      maxBytes: this.cfg["max.partition.fetch.bytes"],
      partitions: tps.map((tp) => ({ tp, fetchOffset: this.positions.get(tp)!, lastFetchedEpoch: -1, currentLeaderEpoch: this.metadata.leaderOf(tp)?.leaderEpoch ?? -1 })),
    };
    this.rpc.call(brokerNode(node), "Fetch", req, this.requestTimeoutUs + req.maxWaitMs * US_PER_MS, (resp, err) => {
      this.fetching.delete(node);
      if (epoch !== this.assignmentEpoch || this.phase !== "stable") return this.fetchAll();
      if (err !== null) {
        this.metadata.requestUpdate();
        this.backOffNode(node);
        return;
      }
      if (this.onFetchResponse(resp as FetchResponse, epoch)) {
        this.backOffNode(node);
        this.fetchAll();
        return;
      }
      // The usual case: fetch again right away from the same leader, for the partitions it still leads.
      const again: string[] = [];
      for (const tp of this.assigned) {
        if (this.positions.has(tp) && this.metadata.leaderOf(tp)?.leader === node) again.push(tp);
      }
      if (again.length === tps.length) this.fetchFrom(node, again);
      else this.fetchAll();
    });
  }

  private backOffNode(node: number): void {
    const delayUs = backoffUs(this.client, 1, this.ctx.rng.next());
    this.nodeBackoffUntil.set(node, this.ctx.now + delayUs);
    this.ctx.after(delayUs, () => this.fetchAll());
  }

  /** Applies a fetch answer; true if some partition had an error, so that this leader is not asked again at once. */
  private onFetchResponse(resp: FetchResponse, epoch: number): boolean {
    const records: ConsumedRecord[] = [];
    let errors = false;
    for (const p of resp.partitions) {
      const position = this.positions.get(p.tp);
      if (position === undefined) continue;
      switch (p.error) {
        case "NONE": {
          let next = position;
          for (const b of p.batches) {
            for (let i = 0; i < b.values.length; i++) {
              const offset = b.baseOffset + i;
              // A batch may start before the position (whole batches are returned), and nothing at or
              // above the high watermark is ever handed to the application.
              if (offset < next || offset >= p.highWatermark) continue;
              records.push({ key: p.tp, offset, value: b.values[i]! });
              next = offset + 1;
            }
          }
          this.positions.set(p.tp, next);
          break;
        }
        case "OFFSET_OUT_OF_RANGE":
          this.positions.delete(p.tp);
          this.resetPositions([p.tp], epoch);
          break;
        default:
          // Not the leader (any more), or epochs disagree: refresh metadata and back off (Fetcher).
          errors = true;
          this.metadata.requestUpdate();
          break;
      }
    }
    if (records.length > 0) {
      const rebalance = this.pendingRebalance;
      this.pendingRebalance = null;
      this.onPoll({ records, rebalance });
    }
    return errors;
  }
}
