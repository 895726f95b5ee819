import type { Timer } from "../../sim/kernel.js";
import type { Connection } from "../../sim/network.js";
import type { NodeContext } from "../../sim/node.js";
import { US_PER_MS } from "../../sim/time.js";
import type { BrokerConfig } from "./config.js";
import type {
  HeartbeatRequest,
  HeartbeatResponse,
  JoinGroupRequest,
  JoinGroupResponse,
  KafkaError,
  OffsetCommitRequest,
  OffsetCommitResponse,
  OffsetFetchRequest,
  OffsetFetchResponse,
  SyncGroupRequest,
  SyncGroupResponse,
} from "./protocol.js";
import type { Batch } from "./records.js";
import type { Rpc } from "./rpc.js";

interface ReplyHandle {
  conn: Connection;
  corr: number;
}

interface Member {
  id: string;
  sessionTimeoutUs: number;
  rebalanceTimeoutUs: number;
  lastHeartbeatUs: number;
  topics: string[];
  join: ReplyHandle | null;
  sync: ReplyHandle | null;
  assignment: string[];
}

type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable";

interface Group {
  id: string;
  state: GroupState;
  generation: number;
  members: Map<string, Member>;
  leaderId: string | null;
  /** Fires when the join phase must end (initial delay, or the rebalance timeout). */
  joinTimer: Timer | null;
  /** True while the first join of an empty group is being held back (InitialDelayedJoin). */
  initialDelay: boolean;
}

/** How the coordinator writes offset commits: append to its `__consumer_offsets` partition and wait for the HW. */
export type OffsetAppender = (values: string[], timeoutUs: number, done: (error: KafkaError) => void) => void;

/** A commit record's value in the offsets partition: group, partition key, next offset to read. */
export function offsetRecord(group: string, tp: string, offset: number): string {
  return `${group}\t${tp}\t${offset}`;
}

/** How often the coordinator looks for members whose session expired. */
const SESSION_CHECK_US = 1_000_000;

/**
 * The classic group coordinator (GroupCoordinator.scala with the eager
 * protocol) for the groups whose offsets live in this broker's
 * `__consumer_offsets` partition, while this broker leads it.
 *
 * Simplified: group membership (generation, members, assignment) is kept in
 * memory only, not written to the offsets log as Kafka does; when the
 * coordinator moves, members learn UNKNOWN_MEMBER_ID and rejoin, which costs
 * a rebalance but loses nothing. Committed offsets are written to the log
 * and reloaded by the next coordinator, as in Kafka.
 */
export class GroupCoordinator {
  private readonly groups = new Map<string, Group>();
  /** group → partition key → committed offset. */
  private readonly offsets = new Map<string, Map<string, number>>();
  private active = false;
  private sessionTimer: Timer | null = null;
  private nextMemberId = 1;

  constructor(
    private readonly ctx: NodeContext,
    private readonly rpc: Rpc,
    private readonly cfg: BrokerConfig,
    private readonly append: OffsetAppender,
  ) {}

  get isActive(): boolean {
    return this.active;
  }

  /** Becomes coordinator: loads committed offsets from the offsets partition's log (GroupMetadataManager.loadGroupsAndOffsets). */
  load(batches: readonly Batch[]): void {
    this.unload();
    for (const b of batches) {
      for (const v of b.values) {
        const [group, tp, offset] = v.split("\t");
        if (group === undefined || tp === undefined || offset === undefined) continue;
        let m = this.offsets.get(group);
        if (m === undefined) {
          m = new Map();
          this.offsets.set(group, m);
        }
        m.set(tp, Number(offset));
      }
    }
    this.active = true;
    this.sessionTimer = this.ctx.after(SESSION_CHECK_US, this.checkSessions);
  }

  /** Stops being coordinator: every waiting member hears NOT_COORDINATOR. */
  unload(): void {
    if (!this.active) return;
    this.active = false;
    this.ctx.cancel(this.sessionTimer);
    for (const g of this.groups.values()) {
      this.ctx.cancel(g.joinTimer);
      for (const m of g.members.values()) {
        if (m.join !== null) this.replyJoin(m.join, { error: "NOT_COORDINATOR", generation: -1, memberId: m.id, leaderId: "", members: [] });
        if (m.sync !== null) this.replySync(m.sync, { error: "NOT_COORDINATOR", tps: [] });
      }
    }
    this.groups.clear();
    this.offsets.clear();
  }

  /** Committed offsets of `group`, for the cluster's drain check. */
  committed(group: string): ReadonlyMap<string, number> | undefined {
    return this.offsets.get(group);
  }

  // ---- membership ---------------------------------------------------------------

  join(req: JoinGroupRequest, conn: Connection, corr: number): void {
    const handle = { conn, corr };
    if (!this.active) return this.replyJoin(handle, { error: "NOT_COORDINATOR", generation: -1, memberId: req.memberId, leaderId: "", members: [] });
    const sessionMs = req.sessionTimeoutMs;
    if (sessionMs < this.cfg["group.min.session.timeout.ms"] || sessionMs > this.cfg["group.max.session.timeout.ms"]) {
      return this.replyJoin(handle, { error: "INVALID_SESSION_TIMEOUT", generation: -1, memberId: req.memberId, leaderId: "", members: [] });
    }
    const group = this.groupOf(req.groupId);
    let member: Member | undefined;
    if (req.memberId === "") {
      member = {
        id: `member-${this.ctx.name}-${this.nextMemberId++}`,
        sessionTimeoutUs: sessionMs * US_PER_MS,
        rebalanceTimeoutUs: req.rebalanceTimeoutMs * US_PER_MS,
        lastHeartbeatUs: this.ctx.now,
        topics: req.topics,
        join: null,
        sync: null,
        assignment: [],
      };
      group.members.set(member.id, member);
    } else {
      member = group.members.get(req.memberId);
      if (member === undefined) return this.replyJoin(handle, { error: "UNKNOWN_MEMBER_ID", generation: -1, memberId: req.memberId, leaderId: "", members: [] });
    }
    member.lastHeartbeatUs = this.ctx.now;
    if (member.join !== null) this.replyJoin(member.join, { error: "REBALANCE_IN_PROGRESS", generation: -1, memberId: member.id, leaderId: "", members: [] });
    member.join = handle;
    if (group.state !== "PreparingRebalance") this.prepareRebalance(group);
    this.maybeCompleteJoin(group);
  }

  sync(req: SyncGroupRequest, conn: Connection, corr: number): void {
    const handle = { conn, corr };
    if (!this.active) return this.replySync(handle, { error: "NOT_COORDINATOR", tps: [] });
    const group = this.groups.get(req.groupId);
    const member = group?.members.get(req.memberId);
    if (group === undefined || member === undefined) return this.replySync(handle, { error: "UNKNOWN_MEMBER_ID", tps: [] });
    if (req.generation !== group.generation) return this.replySync(handle, { error: "ILLEGAL_GENERATION", tps: [] });
    if (group.state === "PreparingRebalance") return this.replySync(handle, { error: "REBALANCE_IN_PROGRESS", tps: [] });
    if (group.state === "Stable") return this.replySync(handle, { error: "NONE", tps: member.assignment });
    member.sync = handle;
    if (req.memberId === group.leaderId) {
      for (const m of group.members.values()) m.assignment = [];
      for (const a of req.assignments) {
        const m = group.members.get(a.memberId);
        if (m !== undefined) m.assignment = a.tps;
      }
      group.state = "Stable";
      this.ctx.emit("kafka.group.stable", { group: group.id, generation: group.generation, members: group.members.size });
      for (const m of group.members.values()) {
        if (m.sync === null) continue;
        this.replySync(m.sync, { error: "NONE", tps: m.assignment });
        m.sync = null;
      }
    }
  }

  heartbeat(req: HeartbeatRequest, conn: Connection, corr: number): void {
    const reply = (error: KafkaError): void => this.rpc.reply(conn, "HeartbeatResponse", corr, { error } satisfies HeartbeatResponse);
    if (!this.active) return reply("NOT_COORDINATOR");
    const group = this.groups.get(req.groupId);
    const member = group?.members.get(req.memberId);
    if (group === undefined || member === undefined) return reply("UNKNOWN_MEMBER_ID");
    if (req.generation !== group.generation) return reply("ILLEGAL_GENERATION");
    member.lastHeartbeatUs = this.ctx.now;
    reply(group.state === "PreparingRebalance" ? "REBALANCE_IN_PROGRESS" : "NONE");
  }

  private groupOf(id: string): Group {
    let g = this.groups.get(id);
    if (g === undefined) {
      g = { id, state: "Empty", generation: 0, members: new Map(), leaderId: null, joinTimer: null, initialDelay: false };
      this.groups.set(id, g);
    }
    return g;
  }

  /**
   * Starts a rebalance. The first join of an empty group waits
   * group.initial.rebalance.delay.ms for others to arrive; otherwise the
   * join phase ends when every member has rejoined or the longest rebalance
   * timeout has passed.
   */
  private prepareRebalance(group: Group): void {
    const wasEmpty = group.state === "Empty";
    if (group.state === "CompletingRebalance") {
      for (const m of group.members.values()) {
        if (m.sync !== null) this.replySync(m.sync, { error: "REBALANCE_IN_PROGRESS", tps: [] });
        m.sync = null;
      }
    }
    group.state = "PreparingRebalance";
    this.ctx.cancel(group.joinTimer);
    let timeoutUs = 0;
    for (const m of group.members.values()) timeoutUs = Math.max(timeoutUs, m.rebalanceTimeoutUs);
    group.initialDelay = wasEmpty && this.cfg["group.initial.rebalance.delay.ms"] > 0;
    const delayUs = group.initialDelay ? this.cfg["group.initial.rebalance.delay.ms"] * US_PER_MS : timeoutUs;
    group.joinTimer = this.ctx.after(delayUs, () => {
      group.joinTimer = null;
      group.initialDelay = false;
      this.completeJoin(group);
    });
  }

  private maybeCompleteJoin(group: Group): void {
    if (group.state !== "PreparingRebalance" || group.initialDelay) return;
    for (const m of group.members.values()) if (m.join === null) return;
    this.completeJoin(group);
  }

  /** Ends the join phase: members that did not rejoin leave; the generation advances. */
  private completeJoin(group: Group): void {
    if (group.state !== "PreparingRebalance") return;
    this.ctx.cancel(group.joinTimer);
    group.joinTimer = null;
    for (const [id, m] of [...group.members]) if (m.join === null) group.members.delete(id);
    group.generation++;
    if (group.members.size === 0) {
      group.state = "Empty";
      group.leaderId = null;
      return;
    }
    if (group.leaderId === null || !group.members.has(group.leaderId)) group.leaderId = group.members.keys().next().value!;
    group.state = "CompletingRebalance";
    this.ctx.emit("kafka.group.join", { group: group.id, generation: group.generation, members: group.members.size });
    const list = [...group.members.values()].map((m) => ({ memberId: m.id, topics: m.topics }));
    for (const m of group.members.values()) {
      this.replyJoin(m.join!, {
        error: "NONE",
        generation: group.generation,
        memberId: m.id,
        leaderId: group.leaderId,
        members: m.id === group.leaderId ? list : [],
      });
      m.join = null;
      m.lastHeartbeatUs = this.ctx.now;
    }
  }

  private readonly checkSessions = (): void => {
    if (!this.active) return;
    const now = this.ctx.now;
    for (const group of this.groups.values()) {
      let removed = false;
      for (const [id, m] of [...group.members]) {
        if (m.join !== null || now - m.lastHeartbeatUs <= m.sessionTimeoutUs) continue;
        group.members.delete(id);
        removed = true;
        this.ctx.emit("kafka.group.expire", { group: group.id, member: id });
      }
      if (!removed) continue;
      if (group.state === "Stable" || group.state === "CompletingRebalance") this.prepareRebalance(group);
      else this.maybeCompleteJoin(group);
    }
    this.sessionTimer = this.ctx.after(SESSION_CHECK_US, this.checkSessions);
  };

  // ---- offsets -----------------------------------------------------------------------

  commit(req: OffsetCommitRequest, conn: Connection, corr: number): void {
    const reply = (error: KafkaError): void => this.rpc.reply(conn, "OffsetCommitResponse", corr, { error } satisfies OffsetCommitResponse);
    if (!this.active) return reply("NOT_COORDINATOR");
    const group = this.groups.get(req.groupId);
    const member = group?.members.get(req.memberId);
    if (group === undefined || member === undefined) return reply("UNKNOWN_MEMBER_ID");
    if (req.generation !== group.generation) return reply("ILLEGAL_GENERATION");
    if (group.state === "CompletingRebalance") return reply("REBALANCE_IN_PROGRESS");
    const values = req.offsets.map((o) => offsetRecord(req.groupId, o.tp, o.offset));
    if (values.length === 0) return reply("NONE");
    this.append(values, this.cfg["offsets.commit.timeout.ms"] * US_PER_MS, (error) => {
      if (error === "NONE" && this.active) {
        let m = this.offsets.get(req.groupId);
        if (m === undefined) {
          m = new Map();
          this.offsets.set(req.groupId, m);
        }
        for (const o of req.offsets) m.set(o.tp, o.offset);
      }
      // GroupMetadataManager maps storage errors to what a consumer can act on.
      const mapped: KafkaError =
        error === "NONE" ? "NONE" : error === "NOT_LEADER_OR_FOLLOWER" ? "NOT_COORDINATOR" : "COORDINATOR_NOT_AVAILABLE";
      reply(mapped);
    });
  }

  fetchOffsets(req: OffsetFetchRequest, conn: Connection, corr: number): void {
    const reply = (body: OffsetFetchResponse): void => this.rpc.reply(conn, "OffsetFetchResponse", corr, body);
    if (!this.active) return reply({ error: "NOT_COORDINATOR", offsets: [] });
    const m = this.offsets.get(req.groupId);
    reply({ error: "NONE", offsets: req.tps.map((tp) => ({ tp, offset: m?.get(tp) ?? -1 })) });
  }

  private replyJoin(h: ReplyHandle, body: JoinGroupResponse): void {
    this.rpc.reply(h.conn, "JoinGroupResponse", h.corr, body);
  }

  private replySync(h: ReplyHandle, body: SyncGroupResponse): void {
    this.rpc.reply(h.conn, "SyncGroupResponse", h.corr, body);
  }
}
