// The Raft core as DLedger 0.3.1.2 runs it: DLedgerLeaderElector (election,
// heartbeats, leadership transfer), DLedgerEntryPusher (one EntryDispatcher
// per follower with COMPARE → TRUNCATE → APPEND, the QuorumAckChecker, the
// follower's EntryHandler) and the log bookkeeping of DLedgerMmapFileStore.
//
// It is a state machine with no I/O (etcd-raft's habit): each input — a
// request or response from a peer, a client proposal, a flush completion, a
// timer tick — updates the state and queues effects in a `Ready` (what to
// persist, what to write to the log, what to send, which client calls to
// answer, what became committed). The driver (node.ts) carries them out in
// that order. Time is an input: nothing here reads a clock, and randomness
// comes from the injected `random`.
//
// DLedger runs these as threads polling every 1–10 ms; here each "thread"
// runs when an input arrives or when one of its deadlines comes due, which
// is what the polling converges to without spending an event per poll.
//
// Index convention: DLedger's, 0-based, -1 meaning "none" (an empty log has
// ledgerEndIndex -1, nothing committed is committedIndex -1).
import {
  COMMIT_PUSH_INTERVAL_MS,
  DISPATCHER_ERROR_SLEEP_MS,
  FOLLOWER_PUSH_TIMEOUT_MS,
  MAX_PENDING_PUSHES,
  PREFERRED_LEADER_CHECK_MS,
  RPC_TIMEOUT_MS,
  STATE_MAINTAINER_LOOP_MS,
  type RaftConfig,
} from "./config.js";

const US_PER_MS = 1000;
const NEVER = Number.NEGATIVE_INFINITY;

export type Role = "candidate" | "follower" | "leader";

/** DLedgerEntry without magic/channel/CRCs (constant here); `pos` is its byte offset in the data file. */
export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly pos: number;
  readonly body: Uint8Array;
}

/** DLedgerEntry.BODY_OFFSET: magic 4, size 4, index 8, term 8, pos 8, channel 4, chainCrc 4, bodyCrc 4, bodyLen 4. */
export const ENTRY_HEADER_BYTES = 48;

/** DLedgerEntry.computeSizeInBytes. */
export function entrySize(body: Uint8Array): number {
  return ENTRY_HEADER_BYTES + body.length;
}

/** DLedgerEntry.equals: size, index, term, pos and the body bytes. */
export function sameEntry(a: Entry | undefined, b: Entry | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  if (a === b) return true;
  if (a.index !== b.index || a.term !== b.term || a.pos !== b.pos || a.body.length !== b.body.length) return false;
  for (let i = 0; i < a.body.length; i++) if (a.body[i] !== b.body[i]) return false;
  return true;
}

export type PushType = "APPEND" | "COMPARE" | "TRUNCATE" | "COMMIT";

/** The subset of DLedgerResponseCode the modelled paths produce. */
export type ResponseCode =
  | "SUCCESS"
  | "NETWORK_ERROR"
  | "EXPIRED_TERM"
  | "INCONSISTENT_LEADER"
  | "TERM_NOT_READY"
  | "INCONSISTENT_STATE"
  | "REPEATED_PUSH"
  | "NOT_FOLLOWER"
  | "PUSH_REQUEST_IS_FULL"
  | "INCONSISTENT_TERM"
  | "TAKE_LEADERSHIP_FAILED"
  | "INTERNAL_ERROR";

/** VoteResponse.RESULT. */
export type VoteResult =
  | "UNKNOWN"
  | "ACCEPT"
  | "REJECT_EXPIRED_VOTE_TERM"
  | "REJECT_ALREADY_VOTED"
  | "REJECT_ALREADY_HAS_LEADER"
  | "REJECT_TERM_NOT_READY"
  | "REJECT_TERM_SMALL_THAN_LEDGER"
  | "REJECT_EXPIRED_LEDGER_TERM"
  | "REJECT_SMALL_LEDGER_END_INDEX"
  | "REJECT_TAKING_LEADERSHIP";

type ParseResult = "WAIT_TO_REVOTE" | "REVOTE_IMMEDIATELY" | "PASSED" | "WAIT_TO_VOTE_NEXT";

export type RaftRequest =
  | { type: "vote"; term: number; leaderId: string; ledgerEndIndex: number; ledgerEndTerm: number }
  | { type: "heartbeat"; term: number; leaderId: string }
  | { type: "push"; pushType: PushType; term: number; leaderId: string; entries: readonly Entry[]; commitIndex: number }
  | { type: "take-leadership"; term: number; leaderId: string; ledgerIndex: number };

export type RaftResponse =
  | { type: "vote"; term: number; result: VoteResult }
  | { type: "heartbeat"; term: number; code: ResponseCode }
  | { type: "push"; term: number; code: ResponseCode; index: number; count: number; beginIndex: number; endIndex: number }
  | { type: "take-leadership"; term: number; code: ResponseCode };

/** What a client append ends with (DLedgerResponseCode names). */
export type AppendCode = "SUCCESS" | "NOT_LEADER" | "LEADER_TRANSFERRING" | "LEADER_PENDING_FULL" | "WAIT_QUORUM_ACK_TIMEOUT" | "TERM_CHANGED";

export interface AppendResult {
  code: AppendCode;
  /** The entry's index: set on SUCCESS, and on the indeterminate codes once the entry was appended. */
  index: number;
  term: number;
  /** Who this node believes leads (a redirect hint), or null. */
  leaderId: string | null;
}

export type Outgoing =
  | { kind: "request"; to: string; rpcId: number; request: RaftRequest }
  | { kind: "response"; to: string; token: unknown; response: RaftResponse };

export type LogOp = { op: "append"; entry: Entry } | { op: "truncate"; fromIndex: number };

export interface HardState {
  term: number;
  votedFor: string | null;
}

/**
 * Effects of the inputs since the last `ready()`, in the order the driver
 * must apply them: persist the hard state, apply the log operations, then
 * send the messages (a message may depend on the state written before it).
 */
export interface Ready {
  /** The latest term/vote to persist (MemberState.persistTerm), or null if unchanged. */
  hardState: HardState | null;
  logOps: LogOp[];
  /** Something waits on durability (fsyncBeforeAck): flush now rather than on the next 10 ms round. */
  flushNow: boolean;
  messages: Outgoing[];
  appendResults: Array<{ token: unknown; result: AppendResult }>;
  /** Entries that became committed, in index order. */
  committed: Entry[];
  /** Entries a TRUNCATE removed from this node's log. */
  truncated: Array<{ fromIndex: number; entries: Entry[] }>;
  /** Role or term changes, in order. */
  roleChanges: Array<{ role: Role; term: number; leaderId: string | null }>;
  traces: Array<{ kind: string; details: Record<string, unknown> }>;
}

function emptyReady(): Ready {
  return { hardState: null, logOps: [], flushNow: false, messages: [], appendResults: [], committed: [], truncated: [], roleChanges: [], traces: [] };
}

export interface CoreOptions {
  selfId: string;
  /** Every member id, self included (DLedgerConfig.peers). */
  peers: readonly string[];
  config: RaftConfig;
  /** A uniform draw in [0, 1) from the node's seeded stream. */
  random: () => number;
  nowUs: number;
  /** What recovery found on disk; absent for a fresh node. */
  recovered?: { term: number; votedFor: string | null; entries: readonly Entry[]; committedIndex: number };
}

interface Outstanding {
  rpcId: number;
  to: string;
  deadlineUs: number;
  request: RaftRequest;
  /** The vote or heartbeat round it belongs to. */
  roundId: number;
}

interface VoteRound {
  kind: "vote";
  id: number;
  term: number;
  deadlineUs: number;
  all: number;
  valid: number;
  accepted: number;
  notReady: number;
  biggerLedger: number;
  alreadyHasLeader: boolean;
  knownMaxTerm: number;
}

interface HeartbeatRound {
  kind: "heartbeat";
  id: number;
  term: number;
  deadlineUs: number;
  all: number;
  succ: number;
  notReady: number;
  maxTerm: number;
  inconsistentLeader: boolean;
}

/** EntryDispatcher: the leader's pusher for one follower. */
interface Dispatcher {
  peer: string;
  type: "COMPARE" | "TRUNCATE" | "APPEND";
  term: number;
  leaderId: string | null;
  compareIndex: number;
  writeIndex: number;
  /** First index of each APPEND push in flight → when it was sent and how many entries it carries. */
  pending: Map<number, { sentUs: number; count: number }>;
  lastPushCommitUs: number;
  lastCheckLeakUs: number;
  /** The COMPARE or TRUNCATE push the dispatcher is blocked on (DLedger waits for it synchronously). */
  awaiting: number | null;
  truncateIndex: number;
  /** After an error DLedger sleeps 500 ms before the next doWork. */
  sleepUntilUs: number;
}

/** A push queued on the follower (EntryHandler.writeRequestMap / compareOrTruncateRequests). */
interface QueuedPush {
  request: Extract<RaftRequest, { type: "push" }>;
  from: string;
  token: unknown;
  receivedUs: number;
  replied: boolean;
}

interface PendingAppend {
  token: unknown;
  term: number;
  deadlineUs: number;
}

/** compareOrTruncateRequests is an ArrayBlockingQueue of 1024. */
const CONTROL_QUEUE_CAPACITY = 1024;

export class RaftCore {
  readonly selfId: string;
  readonly peers: readonly string[];
  readonly config: RaftConfig;
  private readonly random: () => number;
  private now: number;
  private out: Ready = emptyReady();

  // ---- MemberState -------------------------------------------------------------
  private currTerm = 0;
  private currVoteFor: string | null = null;
  private roleValue: Role = "candidate";
  private leaderIdValue: string | null = null;
  private knownMaxTermInGroup = -1;
  private readonly peersLive = new Map<string, boolean>();
  private transferee: string | null = null;
  private termToTakeLeadership = -1;
  private takeLeadershipToken: { token: unknown; to: string } | null = null;

  // ---- DLedgerMmapFileStore ----------------------------------------------------
  /** Invariant: log[i].index === i and log[i].term is non-decreasing in i. */
  private readonly log: Entry[] = [];
  private endPos = 0;
  private committed = -1;
  /** Highest index durable in its current content (fed by the flush service). Invariant: flushed <= ledgerEnd. */
  private flushed = -1;

  // ---- DLedgerLeaderElector ------------------------------------------------------
  private lastLeaderHeartBeatUs = NEVER;
  private lastSendHeartBeatUs = NEVER;
  private lastSuccHeartBeatUs = NEVER;
  private nextTimeToRequestVoteUs = NEVER;
  private needIncreaseTermImmediately = false;
  private lastParseResult: ParseResult = "WAIT_TO_REVOTE";
  /** The vote or heartbeat round the state maintainer thread is blocked in. */
  private busy: VoteRound | HeartbeatRound | null = null;
  private nextRoundId = 1;
  /** The maintainer sleeps 10 ms after each maintainState(). */
  private maintainerReadyUs = NEVER;
  private preferredCheckDueUs: number;

  // ---- RPCs ---------------------------------------------------------------------
  private nextRpcId = 1;
  private readonly rpcs = new Map<number, Outstanding>();
  /** Same timeout for every RPC, so deadlines are in send order: a FIFO. */
  private readonly rpcQueue: Outstanding[] = [];
  private rpcQueueHead = 0;

  // ---- DLedgerEntryPusher (leader) --------------------------------------------------
  private readonly peerWaterMarksByTerm = new Map<number, Map<string, number>>();
  /** Waiting client appends by index, in index order (appends only ever add higher indices). */
  private readonly pendingAppends = new Map<number, PendingAppend>();
  private readonly dispatchers = new Map<string, Dispatcher>();

  // ---- EntryHandler (follower) --------------------------------------------------------
  private readonly writeRequests = new Map<number, QueuedPush>();
  private readonly controlQueue: QueuedPush[] = [];
  private lastCheckFastForwardUs: number;
  /** Replies held until the entries they vouch for are durable (fsyncBeforeAck). */
  private durableReplies: Array<{ needIndex: number; push: QueuedPush; response: RaftResponse }> = [];

  // ---- reporting ------------------------------------------------------------------------
  private reported: { role: Role; term: number; leaderId: string | null } | null = null;

  constructor(opts: CoreOptions) {
    this.selfId = opts.selfId;
    this.peers = [...opts.peers];
    if (!this.peers.includes(this.selfId)) throw new Error(`raft: ${this.selfId} is not among its peers ${this.peers.join(",")}`);
    this.config = opts.config;
    this.random = opts.random;
    this.now = opts.nowUs;
    this.lastCheckFastForwardUs = opts.nowUs;
    this.preferredCheckDueUs = opts.nowUs + PREFERRED_LEADER_CHECK_MS * US_PER_MS;
    const r = opts.recovered;
    if (r !== undefined) {
      this.currTerm = r.term;
      this.currVoteFor = r.votedFor;
      for (const e of r.entries) this.pushEntry(e);
      // DLedgerMmapFileStore.recover → updateCommittedIndex(currTerm, checkpoint): clamped to the recovered end.
      this.committed = Math.min(r.committedIndex, this.ledgerEndIndex);
    }
    for (const p of this.peers) {
      if (p === this.selfId) continue;
      this.dispatchers.set(p, {
        peer: p,
        type: "COMPARE",
        term: -1,
        leaderId: null,
        compareIndex: -1,
        writeIndex: -1,
        pending: new Map(),
        lastPushCommitUs: NEVER,
        lastCheckLeakUs: opts.nowUs,
        awaiting: null,
        truncateIndex: -1,
        sleepUntilUs: NEVER,
      });
    }
    this.reported = { role: this.roleValue, term: this.currTerm, leaderId: null };
  }

  // =====================================================================================
  // Public API
  // =====================================================================================

  get role(): Role {
    return this.roleValue;
  }
  get isLeader(): boolean {
    return this.roleValue === "leader";
  }
  get term(): number {
    return this.currTerm;
  }
  get votedFor(): string | null {
    return this.currVoteFor;
  }
  get leaderId(): string | null {
    return this.leaderIdValue;
  }
  get committedIndex(): number {
    return this.committed;
  }
  get flushedIndex(): number {
    return this.flushed;
  }
  get ledgerEndIndex(): number {
    return this.log.length - 1;
  }
  get ledgerEndTerm(): number {
    return this.log.length === 0 ? -1 : this.log[this.log.length - 1]!.term;
  }
  get ledgerBeginIndex(): number {
    return this.log.length === 0 ? -1 : 0;
  }
  /** Bytes the data file holds up to the ledger end. */
  get ledgerEndPos(): number {
    return this.endPos;
  }
  get pendingAppendCount(): number {
    return this.pendingAppends.size;
  }
  entry(index: number): Entry | undefined {
    return this.log[index];
  }
  /** The leader's view of a peer's match index in the current term (tests, transfer checks). */
  peerWaterMark(peer: string): number {
    return this.getPeerWaterMark(this.currTerm, peer);
  }

  /** Takes the effects queued since the last call. */
  ready(): Ready {
    const r = this.out;
    this.out = emptyReady();
    return r;
  }

  /** Runs whatever came due by `nowUs` (timers of every DLedger thread). */
  tick(nowUs: number): void {
    this.advance(nowUs);
    while (this.rpcQueueHead < this.rpcQueue.length && this.rpcQueue[this.rpcQueueHead]!.deadlineUs <= this.now) {
      const rpc = this.rpcQueue[this.rpcQueueHead++]!;
      if (this.rpcs.has(rpc.rpcId)) this.finishRpc(rpc, networkError(rpc.request));
    }
    if (this.rpcQueueHead > 1024 && this.rpcQueueHead * 2 > this.rpcQueue.length) {
      this.rpcQueue.splice(0, this.rpcQueueHead);
      this.rpcQueueHead = 0;
    }
    if (this.busy !== null && this.busy.deadlineUs <= this.now) this.finishRound(this.busy);
    this.afterStep();
  }

  /** A request from a peer; `token` is handed back with the response. */
  receiveRequest(from: string, token: unknown, request: RaftRequest, nowUs: number): void {
    this.advance(nowUs);
    switch (request.type) {
      case "vote": {
        const response = this.handleVote(request, false);
        this.out.traces.push({ kind: "raft.vote", details: { to: request.leaderId, term: request.term, granted: response.result === "ACCEPT", result: response.result } });
        this.respond(from, token, response);
        break;
      }
      case "heartbeat":
        this.respond(from, token, this.handleHeartBeat(request));
        break;
      case "push":
        this.handlePush(from, token, request);
        break;
      case "take-leadership":
        this.handleTakeLeadership(from, token, request);
        break;
    }
    this.afterStep();
  }

  /** The response to one of this node's requests. */
  receiveResponse(rpcId: number, response: RaftResponse, nowUs: number): void {
    this.advance(nowUs);
    const rpc = this.rpcs.get(rpcId);
    if (rpc !== undefined) this.finishRpc(rpc, response);
    this.afterStep();
  }

  /** The request could not be delivered or its connection died: DLedger's NETWORK_ERROR. */
  rpcFailed(rpcId: number, nowUs: number): void {
    this.advance(nowUs);
    const rpc = this.rpcs.get(rpcId);
    if (rpc !== undefined) this.finishRpc(rpc, networkError(rpc.request));
    this.afterStep();
  }

  /** The flush service made every entry up to `index` durable. */
  onFlushed(index: number, nowUs: number): void {
    this.advance(nowUs);
    const upTo = Math.min(index, this.ledgerEndIndex);
    if (upTo > this.flushed) this.flushed = upTo;
    this.releaseDurableReplies();
    this.afterStep();
  }

  /**
   * A client append (DLedgerServer.handleAppend). The result arrives through
   * `ready().appendResults` with the same token: at once when refused, on
   * commit, or on timeout.
   */
  propose(body: Uint8Array, token: unknown, nowUs: number): void {
    this.advance(nowUs);
    const refuse = (code: AppendCode): void => {
      this.out.appendResults.push({ token, result: { code, index: -1, term: this.currTerm, leaderId: this.leaderIdValue } });
    };
    if (this.roleValue !== "leader") refuse("NOT_LEADER");
    else if (this.transferee !== null) refuse("LEADER_TRANSFERRING");
    else if (this.pendingAppends.size > this.config.maxPendingRequestsNum) refuse("LEADER_PENDING_FULL");
    else {
      const entry: Entry = { index: this.log.length, term: this.currTerm, pos: this.endPos, body };
      this.appendEntry(entry);
      // DLedgerEntryPusher.waitAck: the leader's own watermark, then a future timing out after maxWaitAckTimeMs.
      this.pendingAppends.set(entry.index, { token, term: this.currTerm, deadlineUs: this.now + this.config.maxWaitAckTimeMs * US_PER_MS });
      if (this.config["dledger.fsyncBeforeAck"]) this.out.flushNow = true;
    }
    this.afterStep();
  }

  /** The earliest time at which `tick` has work; +Infinity if none. */
  nextDeadlineUs(): number {
    let t = Number.POSITIVE_INFINITY;
    if (this.rpcQueueHead < this.rpcQueue.length) t = Math.min(t, this.rpcQueue[this.rpcQueueHead]!.deadlineUs);
    if (this.busy !== null) t = Math.min(t, this.busy.deadlineUs);
    else t = Math.min(t, this.maintainerDueUs());
    if (this.roleValue === "follower" && this.writeRequests.size > 0) t = Math.min(t, this.lastCheckFastForwardUs + FOLLOWER_PUSH_TIMEOUT_MS * US_PER_MS);
    if (this.roleValue === "leader") {
      for (const p of this.pendingAppends.values()) {
        t = Math.min(t, p.deadlineUs);
        break;
      }
      for (const d of this.dispatchers.values()) t = Math.min(t, this.dispatcherDueUs(d));
      if (this.config.preferredLeaderId !== undefined) t = Math.min(t, this.preferredCheckDueUs);
    }
    return t;
  }

  // =====================================================================================
  // Step plumbing
  // =====================================================================================

  private advance(nowUs: number): void {
    if (nowUs < this.now) throw new Error(`raft ${this.selfId}: time went back from ${this.now} to ${nowUs}`);
    this.now = nowUs;
  }

  /** What every DLedger thread would do next, in a fixed order. */
  private afterStep(): void {
    if (this.busy === null && this.maintainerDueUs() <= this.now) this.maintain();
    if (this.roleValue === "follower") this.runEntryHandler();
    else this.drainControlQueue();
    if (this.roleValue === "leader") {
      for (const d of this.dispatchers.values()) this.runDispatcher(d);
      this.checkQuorum();
      if (this.config.preferredLeaderId !== undefined && this.preferredCheckDueUs <= this.now) {
        while (this.preferredCheckDueUs <= this.now) this.preferredCheckDueUs += PREFERRED_LEADER_CHECK_MS * US_PER_MS;
        this.checkPreferredLeader();
      }
    } else if (this.config.preferredLeaderId !== undefined) {
      while (this.preferredCheckDueUs <= this.now) this.preferredCheckDueUs += PREFERRED_LEADER_CHECK_MS * US_PER_MS;
    }
    this.reportRole();
  }

  private reportRole(): void {
    const r = this.reported;
    if (r !== null && r.role === this.roleValue && r.term === this.currTerm && r.leaderId === this.leaderIdValue) return;
    this.reported = { role: this.roleValue, term: this.currTerm, leaderId: this.leaderIdValue };
    this.out.roleChanges.push({ ...this.reported });
    if (r === null || r.role !== this.roleValue || r.term !== this.currTerm) {
      this.out.traces.push({ kind: "raft.role", details: { role: this.roleValue, term: this.currTerm } });
    }
  }

  private isQuorum(n: number): boolean {
    return n >= Math.floor(this.peers.length / 2) + 1;
  }

  private nextInt(bound: number): number {
    return Math.floor(this.random() * bound);
  }

  private persistTerm(): void {
    this.out.hardState = { term: this.currTerm, votedFor: this.currVoteFor };
  }

  private respond(to: string, token: unknown, response: RaftResponse): void {
    this.out.messages.push({ kind: "response", to, token, response });
  }

  private request(to: string, request: RaftRequest, roundId = 0): number {
    const rpcId = this.nextRpcId++;
    const rpc: Outstanding = { rpcId, to, deadlineUs: this.now + RPC_TIMEOUT_MS * US_PER_MS, request, roundId };
    this.rpcs.set(rpcId, rpc);
    this.rpcQueue.push(rpc);
    this.out.messages.push({ kind: "request", to, rpcId, request });
    return rpcId;
  }

  private finishRpc(rpc: Outstanding, response: RaftResponse): void {
    this.rpcs.delete(rpc.rpcId);
    if (rpc.request.type !== response.type) throw new Error(`raft ${this.selfId}: a ${response.type} response to a ${rpc.request.type} request`);
    switch (response.type) {
      case "vote":
        this.onVoteResponse(rpc, response);
        break;
      case "heartbeat":
        this.onHeartbeatResponse(rpc, response);
        break;
      case "push":
        this.onPushResponse(rpc, rpc.request as Extract<RaftRequest, { type: "push" }>, response);
        break;
      case "take-leadership":
        this.onTakeLeadershipResponse(rpc.request as Extract<RaftRequest, { type: "take-leadership" }>, response);
        break;
    }
  }

  // =====================================================================================
  // Log (DLedgerMmapFileStore)
  // =====================================================================================

  private pushEntry(e: Entry): void {
    if (e.index !== this.log.length) throw new Error(`raft ${this.selfId}: entry ${e.index} appended at ${this.log.length}`);
    if (e.pos !== this.endPos) throw new Error(`raft ${this.selfId}: entry ${e.index} at pos ${e.pos}, write position ${this.endPos}`);
    const last = this.log[this.log.length - 1];
    if (last !== undefined && e.term < last.term) throw new Error(`raft ${this.selfId}: entry ${e.index} term ${e.term} below ${last.term}`);
    this.log.push(e);
    this.endPos += entrySize(e.body);
  }

  private appendEntry(e: Entry): void {
    this.pushEntry(e);
    this.out.logOps.push({ op: "append", entry: e });
  }

  /** Removes entries at index ≥ from (the data stays in the file; see node.ts). */
  private truncateFrom(from: number): Entry[] {
    if (from >= this.log.length) return [];
    const removed = this.log.splice(from);
    this.endPos = removed[0]!.pos;
    if (this.flushed >= from) this.flushed = from - 1;
    this.out.logOps.push({ op: "truncate", fromIndex: from });
    // Replies vouching for removed entries can no longer be true.
    this.durableReplies = this.durableReplies.filter((r) => r.needIndex < from);
    return removed;
  }

  /** DLedgerMmapFileStore.updateCommittedIndex as of 0.3.1.2 (clamped to the ledger end, even downwards). */
  private updateCommittedIndex(term: number, newCommittedIndex: number): void {
    const end = this.ledgerEndIndex;
    if (newCommittedIndex === -1 || end === -1 || term < this.currTerm || newCommittedIndex === this.committed) return;
    if (newCommittedIndex < this.committed || newCommittedIndex < this.ledgerBeginIndex) return;
    const target = Math.min(newCommittedIndex, end);
    const previous = this.committed;
    this.committed = target;
    if (target > previous) {
      for (let i = previous + 1; i <= target; i++) this.out.committed.push(this.log[i]!);
      this.out.traces.push({ kind: "raft.commit", details: { index: target } });
    }
  }

  // =====================================================================================
  // Election (DLedgerLeaderElector)
  // =====================================================================================

  /** When maintainState() has something to do next. */
  private maintainerDueUs(): number {
    let due: number;
    switch (this.roleValue) {
      case "leader":
        // maintainAsLeader: elapsed(lastSendHeartBeatTime) > heartBeatTimeIntervalMs.
        due = this.lastSendHeartBeatUs + this.config.heartBeatTimeIntervalMs * US_PER_MS + 1;
        break;
      case "follower":
        // maintainAsFollower: elapsed(lastLeaderHeartBeatTime) > maxHeartBeatLeak * heartBeatTimeIntervalMs.
        due = this.lastLeaderHeartBeatUs + this.config.maxHeartBeatLeak * this.config.heartBeatTimeIntervalMs * US_PER_MS + 1;
        break;
      case "candidate":
        due = this.needIncreaseTermImmediately ? this.now : this.nextTimeToRequestVoteUs;
        break;
    }
    return Math.max(due, this.maintainerReadyUs);
  }

  private maintain(): void {
    switch (this.roleValue) {
      case "leader":
        this.maintainAsLeader();
        break;
      case "follower":
        this.maintainAsFollower();
        break;
      case "candidate":
        this.maintainAsCandidate();
        break;
    }
    if (this.busy === null) this.maintainerReadyUs = this.now + STATE_MAINTAINER_LOOP_MS * US_PER_MS;
  }

  private maintainAsLeader(): void {
    if (this.now - this.lastSendHeartBeatUs <= this.config.heartBeatTimeIntervalMs * US_PER_MS) return;
    this.lastSendHeartBeatUs = this.now;
    this.sendHeartbeats(this.currTerm);
  }

  private maintainAsFollower(): void {
    if (this.now - this.lastLeaderHeartBeatUs > this.config.maxHeartBeatLeak * this.config.heartBeatTimeIntervalMs * US_PER_MS) {
      this.changeRoleToCandidate(this.currTerm);
    }
  }

  private maintainAsCandidate(): void {
    if (this.now < this.nextTimeToRequestVoteUs && !this.needIncreaseTermImmediately) return;
    let term: number;
    if (this.lastParseResult === "WAIT_TO_VOTE_NEXT" || this.needIncreaseTermImmediately) {
      term = this.nextTerm();
      this.lastParseResult = "WAIT_TO_REVOTE";
    } else {
      term = this.currTerm;
    }
    if (this.needIncreaseTermImmediately) {
      // A node pulled into a higher term waits a random interval before its own first vote.
      this.nextTimeToRequestVoteUs = this.getNextTimeToRequestVote();
      this.needIncreaseTermImmediately = false;
      return;
    }
    this.startVoteRound(term);
  }

  /** MemberState.nextTerm: adopt the highest term heard of, or add one; forget the vote; persist. */
  private nextTerm(): number {
    if (this.roleValue !== "candidate") throw new Error(`raft ${this.selfId}: nextTerm as ${this.roleValue}`);
    if (this.knownMaxTermInGroup > this.currTerm) this.currTerm = this.knownMaxTermInGroup;
    else this.currTerm++;
    this.currVoteFor = null;
    this.persistTerm();
    return this.currTerm;
  }

  private getNextTimeToRequestVote(): number {
    const c = this.config;
    if (this.isTakingLeadership()) {
      return this.now + (c.minTakeLeadershipVoteIntervalMs + this.nextInt(c.maxTakeLeadershipVoteIntervalMs - c.minTakeLeadershipVoteIntervalMs)) * US_PER_MS;
    }
    return this.now + (c.minVoteIntervalMs + this.nextInt(c.maxVoteIntervalMs - c.minVoteIntervalMs)) * US_PER_MS;
  }

  private isTakingLeadership(): boolean {
    return this.config.preferredLeaderId === this.selfId && this.termToTakeLeadership === this.currTerm;
  }

  private startVoteRound(term: number): void {
    const round: VoteRound = {
      kind: "vote",
      id: this.nextRoundId++,
      term,
      // voteLatch.await(2000 + random.nextInt(maxVoteIntervalMs)).
      deadlineUs: this.now + (2000 + this.nextInt(this.config.maxVoteIntervalMs)) * US_PER_MS,
      all: 0,
      valid: 0,
      accepted: 0,
      notReady: 0,
      biggerLedger: 0,
      alreadyHasLeader: false,
      knownMaxTerm: term,
    };
    this.busy = round;
    const request: Extract<RaftRequest, { type: "vote" }> = {
      type: "vote",
      term,
      leaderId: this.selfId,
      ledgerEndIndex: this.ledgerEndIndex,
      ledgerEndTerm: this.ledgerEndTerm,
    };
    for (const id of this.peers) {
      if (id === this.selfId) {
        const own = this.handleVote(request, true);
        if (this.countVote(round, own)) return;
      } else {
        this.request(id, request, round.id);
      }
    }
  }

  private onVoteResponse(rpc: Outstanding, response: Extract<RaftResponse, { type: "vote" }>): void {
    const round = this.busy;
    if (round === null || round.kind !== "vote" || round.id !== rpc.roundId) return;
    this.countVote(round, response);
  }

  /** The whenComplete closure of voteForQuorumResponses; returns true once the latch released. */
  private countVote(round: VoteRound, x: Extract<RaftResponse, { type: "vote" }>): boolean {
    if (x.result !== "UNKNOWN") round.valid++;
    switch (x.result) {
      case "ACCEPT":
        round.accepted++;
        break;
      case "REJECT_ALREADY_HAS_LEADER":
        round.alreadyHasLeader = true;
        break;
      case "REJECT_TERM_SMALL_THAN_LEDGER":
      case "REJECT_EXPIRED_VOTE_TERM":
        if (x.term > round.knownMaxTerm) round.knownMaxTerm = x.term;
        break;
      case "REJECT_EXPIRED_LEDGER_TERM":
      case "REJECT_SMALL_LEDGER_END_INDEX":
        round.biggerLedger++;
        break;
      case "REJECT_TERM_NOT_READY":
        round.notReady++;
        break;
      default:
        break;
    }
    round.all++;
    const release = round.alreadyHasLeader || this.isQuorum(round.accepted) || this.isQuorum(round.accepted + round.notReady) || round.all === this.peers.length;
    if (release) this.finishRound(round);
    return release;
  }

  private parseVoteRound(round: VoteRound): void {
    let parse: ParseResult;
    if (round.knownMaxTerm > round.term) {
      parse = "WAIT_TO_VOTE_NEXT";
      this.nextTimeToRequestVoteUs = this.getNextTimeToRequestVote();
      this.changeRoleToCandidate(round.knownMaxTerm);
    } else if (round.alreadyHasLeader) {
      parse = "WAIT_TO_REVOTE";
      this.nextTimeToRequestVoteUs = this.getNextTimeToRequestVote() + this.config.heartBeatTimeIntervalMs * this.config.maxHeartBeatLeak * US_PER_MS;
    } else if (!this.isQuorum(round.valid)) {
      parse = "WAIT_TO_REVOTE";
      this.nextTimeToRequestVoteUs = this.getNextTimeToRequestVote();
    } else if (!this.isQuorum(round.valid - round.biggerLedger)) {
      parse = "WAIT_TO_REVOTE";
      this.nextTimeToRequestVoteUs = this.getNextTimeToRequestVote() + this.config.maxVoteIntervalMs * US_PER_MS;
    } else if (this.isQuorum(round.accepted)) {
      parse = "PASSED";
    } else if (this.isQuorum(round.accepted + round.notReady)) {
      parse = "REVOTE_IMMEDIATELY";
    } else {
      parse = "WAIT_TO_VOTE_NEXT";
      this.nextTimeToRequestVoteUs = this.getNextTimeToRequestVote();
    }
    this.lastParseResult = parse;
    if (parse === "PASSED") this.changeRoleToLeader(round.term);
  }

  private finishRound(round: VoteRound | HeartbeatRound): void {
    if (this.busy !== round) return;
    this.busy = null;
    if (round.kind === "vote") this.parseVoteRound(round);
    else this.parseHeartbeatRound(round);
    this.maintainerReadyUs = this.now + STATE_MAINTAINER_LOOP_MS * US_PER_MS;
  }

  /** DLedgerLeaderElector.handleVote. */
  private handleVote(request: Extract<RaftRequest, { type: "vote" }>, self: boolean): Extract<RaftResponse, { type: "vote" }> {
    const reply = (result: VoteResult, term = this.currTerm): Extract<RaftResponse, { type: "vote" }> => ({ type: "vote", term, result });
    if (!this.peers.includes(request.leaderId)) return reply("UNKNOWN");
    // Log freshness first: (ledgerEndTerm, ledgerEndIndex) compared lexicographically.
    if (request.ledgerEndTerm < this.ledgerEndTerm) return reply("REJECT_EXPIRED_LEDGER_TERM");
    if (request.ledgerEndTerm === this.ledgerEndTerm && request.ledgerEndIndex < this.ledgerEndIndex) return reply("REJECT_SMALL_LEDGER_END_INDEX");
    if (request.term < this.currTerm) return reply("REJECT_EXPIRED_VOTE_TERM");
    if (request.term === this.currTerm) {
      if (this.currVoteFor !== null && this.currVoteFor !== request.leaderId) {
        return reply(this.leaderIdValue !== null ? "REJECT_ALREADY_HAS_LEADER" : "REJECT_ALREADY_VOTED");
      }
    } else {
      // A higher term: step down to candidate and ask the candidate to come back once this node caught up.
      this.changeRoleToCandidate(request.term);
      this.needIncreaseTermImmediately = true;
      return reply("REJECT_TERM_NOT_READY");
    }
    if (request.term < this.ledgerEndTerm) return reply("REJECT_TERM_SMALL_THAN_LEDGER", this.ledgerEndTerm);
    if (!self && this.isTakingLeadership() && request.ledgerEndTerm === this.ledgerEndTerm && this.ledgerEndIndex >= request.ledgerEndIndex) {
      return reply("REJECT_TAKING_LEADERSHIP");
    }
    this.currVoteFor = request.leaderId;
    this.persistTerm();
    return reply("ACCEPT");
  }

  /** DLedgerLeaderElector.sendHeartbeats: one round, awaited for at most a heartbeat interval. */
  private sendHeartbeats(term: number): void {
    const round: HeartbeatRound = {
      kind: "heartbeat",
      id: this.nextRoundId++,
      term,
      deadlineUs: this.now + this.config.heartBeatTimeIntervalMs * US_PER_MS,
      all: 1,
      succ: 1,
      notReady: 0,
      maxTerm: -1,
      inconsistentLeader: false,
    };
    this.busy = round;
    for (const id of this.peers) {
      if (id === this.selfId) continue;
      this.request(id, { type: "heartbeat", term, leaderId: this.selfId }, round.id);
    }
    if (round.all === this.peers.length) this.finishRound(round);
  }

  private onHeartbeatResponse(rpc: Outstanding, x: Extract<RaftResponse, { type: "heartbeat" }>): void {
    // The closure keeps the live table current even after its round ended.
    this.peersLive.set(rpc.to, x.code !== "NETWORK_ERROR");
    const round = this.busy;
    if (round === null || round.kind !== "heartbeat" || round.id !== rpc.roundId) return;
    switch (x.code) {
      case "SUCCESS":
        round.succ++;
        break;
      case "EXPIRED_TERM":
        round.maxTerm = x.term;
        break;
      case "INCONSISTENT_LEADER":
        round.inconsistentLeader = true;
        break;
      case "TERM_NOT_READY":
        round.notReady++;
        break;
      default:
        break;
    }
    round.all++;
    if (this.isQuorum(round.succ) || this.isQuorum(round.succ + round.notReady) || round.all === this.peers.length) this.finishRound(round);
  }

  private parseHeartbeatRound(round: HeartbeatRound): void {
    if (this.isQuorum(round.succ)) {
      this.lastSuccHeartBeatUs = this.now;
      return;
    }
    if (this.isQuorum(round.succ + round.notReady)) {
      this.lastSendHeartBeatUs = NEVER;
    } else if (round.maxTerm > round.term) {
      this.changeRoleToCandidate(round.maxTerm);
    } else if (round.inconsistentLeader) {
      this.changeRoleToCandidate(round.term);
    } else if (this.now - this.lastSuccHeartBeatUs > this.config.maxHeartBeatLeak * this.config.heartBeatTimeIntervalMs * US_PER_MS) {
      this.changeRoleToCandidate(round.term);
    }
  }

  /** DLedgerLeaderElector.handleHeartBeat. */
  private handleHeartBeat(request: Extract<RaftRequest, { type: "heartbeat" }>): Extract<RaftResponse, { type: "heartbeat" }> {
    const reply = (code: ResponseCode, term = -1): Extract<RaftResponse, { type: "heartbeat" }> => ({ type: "heartbeat", term, code });
    if (request.term < this.currTerm) return reply("EXPIRED_TERM", this.currTerm);
    if (request.term === this.currTerm) {
      if (this.leaderIdValue === null) {
        // A candidate (or a leaderless follower) of this term accepts the leader.
        this.changeRoleToFollower(request.term, request.leaderId);
        return reply("SUCCESS");
      }
      if (request.leaderId === this.leaderIdValue) {
        this.lastLeaderHeartBeatUs = this.now;
        return reply("SUCCESS");
      }
      return reply("INCONSISTENT_LEADER");
    }
    // "To make it simple, for larger term, do not change to follower immediately."
    this.changeRoleToCandidate(request.term);
    this.needIncreaseTermImmediately = true;
    return reply("TERM_NOT_READY");
  }

  private changeRoleToLeader(term: number): void {
    if (this.currTerm !== term) return;
    this.roleValue = "leader";
    this.leaderIdValue = this.selfId;
    this.peersLive.clear();
    this.lastSendHeartBeatUs = NEVER;
    this.handleRoleChange(term, "leader");
  }

  private changeRoleToCandidate(term: number): void {
    if (term < this.currTerm) return;
    if (term > this.knownMaxTermInGroup) this.knownMaxTermInGroup = term;
    const wasLeader = this.roleValue === "leader";
    this.roleValue = "candidate";
    this.leaderIdValue = null;
    this.transferee = null;
    if (wasLeader) this.onStepDown();
    this.handleRoleChange(term, "candidate");
  }

  private changeRoleToFollower(term: number, leaderId: string): void {
    if (this.currTerm !== term) throw new Error(`raft ${this.selfId}: follower of term ${term} in term ${this.currTerm}`);
    const wasLeader = this.roleValue === "leader";
    this.lastParseResult = "WAIT_TO_REVOTE";
    this.roleValue = "follower";
    this.leaderIdValue = leaderId;
    this.transferee = null;
    this.lastLeaderHeartBeatUs = this.now;
    if (wasLeader) this.onStepDown();
    this.handleRoleChange(term, "follower");
  }

  /**
   * A leader lost its role. DLedger leaves the append futures of its term
   * waiting until it next leads (and its caller times out); answering them
   * TERM_CHANGED now is as indeterminate and needs no second timer.
   */
  private onStepDown(): void {
    for (const [index, p] of this.pendingAppends) {
      this.out.appendResults.push({ token: p.token, result: { code: "TERM_CHANGED", index, term: p.term, leaderId: null } });
    }
    this.pendingAppends.clear();
  }

  /** DLedgerLeaderElector.handleRoleChange → TakeLeadershipTask.check. */
  private handleRoleChange(term: number, role: Role): void {
    const task = this.takeLeadershipToken;
    if (this.termToTakeLeadership === -1 || task === null) return;
    let code: ResponseCode;
    if (term > this.termToTakeLeadership) code = "EXPIRED_TERM";
    else if (term === this.termToTakeLeadership) {
      if (role === "leader") code = "SUCCESS";
      else if (role === "follower") code = "TAKE_LEADERSHIP_FAILED";
      else return;
    } else code = role === "follower" ? "TAKE_LEADERSHIP_FAILED" : "INTERNAL_ERROR";
    this.respond(task.to, task.token, { type: "take-leadership", term, code });
    this.termToTakeLeadership = -1;
    this.takeLeadershipToken = null;
  }

  // ---- leadership transfer -------------------------------------------------------------

  /** DLedgerServer.checkPreferredLeader (every second) → handleLeadershipTransfer. */
  private checkPreferredLeader(): void {
    const preferred = this.config.preferredLeaderId;
    if (preferred === undefined || this.roleValue !== "leader" || this.transferee !== null) return;
    if (preferred === this.selfId || !this.peers.includes(preferred)) return;
    if (this.peersLive.get(preferred) !== true) return;
    const fallBehind = this.ledgerEndIndex - this.getPeerWaterMark(this.currTerm, preferred);
    if (fallBehind >= this.config.maxLeadershipTransferWaitIndex) return;
    this.transferee = preferred;
    this.out.traces.push({ kind: "raft.transfer", details: { to: preferred, term: this.currTerm } });
    this.request(preferred, { type: "take-leadership", term: this.currTerm, leaderId: this.selfId, ledgerIndex: this.ledgerEndIndex });
  }

  private onTakeLeadershipResponse(request: Extract<RaftRequest, { type: "take-leadership" }>, x: Extract<RaftResponse, { type: "take-leadership" }>): void {
    // setTransferee(null) is only legal on a leader; elsewhere the role change already cleared it.
    if (this.roleValue !== "leader") return;
    if (x.code !== "SUCCESS" || (this.currTerm === request.term && this.transferee !== null)) this.transferee = null;
  }

  /** DLedgerLeaderElector.handleTakeLeadership: campaign for term+1 at once, answer when it is decided. */
  private handleTakeLeadership(from: string, token: unknown, request: Extract<RaftRequest, { type: "take-leadership" }>): void {
    if (this.currTerm !== request.term) {
      this.respond(from, token, { type: "take-leadership", term: this.currTerm, code: "INCONSISTENT_TERM" });
      return;
    }
    const target = request.term + 1;
    this.termToTakeLeadership = target;
    this.takeLeadershipToken = { token, to: from };
    this.changeRoleToCandidate(target);
    this.needIncreaseTermImmediately = true;
  }

  // =====================================================================================
  // Replication, leader side (EntryDispatcher, QuorumAckChecker)
  // =====================================================================================

  private waterMarks(term: number): Map<string, number> {
    let m = this.peerWaterMarksByTerm.get(term);
    if (m === undefined) {
      m = new Map();
      for (const p of this.peers) m.set(p, -1);
      this.peerWaterMarksByTerm.set(term, m);
    }
    return m;
  }

  private updatePeerWaterMark(term: number, peer: string, index: number): void {
    const m = this.waterMarks(term);
    if ((m.get(peer) ?? -1) < index) m.set(peer, index);
  }

  private getPeerWaterMark(term: number, peer: string): number {
    return this.waterMarks(term).get(peer) ?? -1;
  }

  /** QuorumAckChecker.doWork, run after every input while leading. */
  private checkQuorum(): void {
    if (this.roleValue !== "leader") return;
    const term = this.currTerm;
    for (const t of [...this.peerWaterMarksByTerm.keys()]) if (t !== term) this.peerWaterMarksByTerm.delete(t);
    // The leader's own watermark: its ledger end, or (textbook) only what is durable.
    const own = this.config["dledger.fsyncBeforeAck"] ? Math.min(this.flushed, this.ledgerEndIndex) : this.ledgerEndIndex;
    this.updatePeerWaterMark(term, this.selfId, own);
    const sorted = [...this.waterMarks(term).values()].sort((a, b) => b - a);
    const quorumIndex = sorted[Math.floor(sorted.length / 2)]!;
    if (quorumIndex > this.committed) {
      // Raft §5.4.2: only an entry of the leader's own term is committed by counting replicas.
      const allowed = this.config["dledger.commitRule"] === "count-replicas" || this.log[quorumIndex]?.term === term;
      if (allowed) this.updateCommittedIndex(term, quorumIndex);
    }
    for (const [index, p] of this.pendingAppends) {
      if (index > this.committed) break;
      this.pendingAppends.delete(index);
      this.out.appendResults.push({ token: p.token, result: { code: "SUCCESS", index, term: this.log[index]?.term ?? p.term, leaderId: this.selfId } });
    }
    // checkResponseFuturesTimeout: from the first waiting index up, while they are overdue.
    for (const [index, p] of this.pendingAppends) {
      if (p.deadlineUs > this.now) break;
      this.pendingAppends.delete(index);
      this.out.appendResults.push({ token: p.token, result: { code: "WAIT_QUORUM_ACK_TIMEOUT", index, term: p.term, leaderId: this.selfId } });
    }
  }

  /** EntryDispatcher.checkAndFreshState. */
  private checkAndFreshState(d: Dispatcher): boolean {
    if (this.roleValue !== "leader") return false;
    if (d.term !== this.currTerm || d.leaderId !== this.selfId) {
      d.term = this.currTerm;
      d.leaderId = this.selfId;
      d.awaiting = null;
      // 0.3.1.2 keeps a comparison index left over from an earlier term (see config.ts).
      if (this.config["dledger.compareIndexOnNewTerm"] === "reset") d.compareIndex = -1;
      this.changeState(d, -1, "COMPARE");
    }
    return true;
  }

  private changeState(d: Dispatcher, index: number, target: Dispatcher["type"]): void {
    switch (target) {
      case "APPEND":
        d.compareIndex = -1;
        this.updatePeerWaterMark(d.term, d.peer, index);
        d.writeIndex = index + 1;
        break;
      case "COMPARE":
        if (d.type === "APPEND") {
          d.compareIndex = -1;
          d.pending.clear();
        }
        break;
      case "TRUNCATE":
        d.compareIndex = -1;
        break;
    }
    d.type = target;
  }

  private dispatcherDueUs(d: Dispatcher): number {
    if (d.awaiting !== null) return Number.POSITIVE_INFINITY;
    if (d.sleepUntilUs > this.now) return d.sleepUntilUs;
    if (d.type !== "APPEND") return Number.POSITIVE_INFINITY;
    let t = Number.POSITIVE_INFINITY;
    if (d.writeIndex > this.ledgerEndIndex) t = d.lastPushCommitUs + COMMIT_PUSH_INTERVAL_MS * US_PER_MS + 1;
    const p = d.pending.get(this.getPeerWaterMark(d.term, d.peer) + 1);
    if (p !== undefined) t = Math.min(t, p.sentUs + this.config.maxPushTimeOutMs * US_PER_MS + 1);
    return t;
  }

  private runDispatcher(d: Dispatcher): void {
    if (!this.checkAndFreshState(d)) return;
    if (d.awaiting !== null || this.now < d.sleepUntilUs) return;
    if (d.type === "APPEND") this.doAppend(d);
    else this.doCompare(d);
  }

  private sendPush(d: Dispatcher, pushType: PushType, entries: readonly Entry[]): number {
    return this.request(d.peer, { type: "push", pushType, term: d.term, leaderId: this.selfId, entries, commitIndex: this.committed });
  }

  /** One pass of EntryDispatcher.doAppend (or doBatchAppend). */
  private doAppend(d: Dispatcher): void {
    for (;;) {
      if (this.roleValue !== "leader" || d.type !== "APPEND") return;
      if (d.writeIndex > this.ledgerEndIndex) {
        this.doCommit(d);
        this.doCheckAppendResponse(d);
        return;
      }
      if (d.pending.size >= MAX_PENDING_PUSHES || this.now - d.lastCheckLeakUs > COMMIT_PUSH_INTERVAL_MS * US_PER_MS) {
        const wm = this.getPeerWaterMark(d.term, d.peer);
        for (const [first, p] of d.pending) if (first + p.count - 1 <= wm) d.pending.delete(first);
        d.lastCheckLeakUs = this.now;
      }
      if (d.pending.size >= MAX_PENDING_PUSHES) {
        this.doCheckAppendResponse(d);
        return;
      }
      const count = this.pushAppend(d, d.writeIndex);
      d.writeIndex += count;
    }
  }

  /** Sends one APPEND starting at `first`: one entry, or a batch up to maxBatchPushSize bytes. */
  private pushAppend(d: Dispatcher, first: number, count?: number): number {
    const entries: Entry[] = [this.log[first]!];
    if (count !== undefined) {
      for (let i = first + 1; i < first + count && i <= this.ledgerEndIndex; i++) entries.push(this.log[i]!);
    } else if (this.config.isEnableBatchPush) {
      let bytes = entrySize(entries[0]!.body);
      for (let i = first + 1; i <= this.ledgerEndIndex && bytes < this.config.maxBatchPushSize; i++) {
        entries.push(this.log[i]!);
        bytes += entrySize(this.log[i]!.body);
      }
    }
    this.sendPush(d, "APPEND", entries);
    d.pending.set(first, { sentUs: this.now, count: entries.length });
    d.lastPushCommitUs = this.now;
    return entries.length;
  }

  private doCommit(d: Dispatcher): void {
    if (this.now - d.lastPushCommitUs > COMMIT_PUSH_INTERVAL_MS * US_PER_MS) {
      this.sendPush(d, "COMMIT", []);
      d.lastPushCommitUs = this.now;
    }
  }

  /** Pushes again the first unacknowledged APPEND once it is older than maxPushTimeOutMs. */
  private doCheckAppendResponse(d: Dispatcher): void {
    const next = this.getPeerWaterMark(d.term, d.peer) + 1;
    const p = d.pending.get(next);
    if (p !== undefined && this.now - p.sentUs > this.config.maxPushTimeOutMs * US_PER_MS && next <= this.ledgerEndIndex) {
      this.out.traces.push({ kind: "raft.resend", details: { to: d.peer, index: next } });
      this.pushAppend(d, next, p.count);
    }
  }

  /** One iteration of EntryDispatcher.doCompare: send a COMPARE and block on its answer. */
  private doCompare(d: Dispatcher): void {
    // DLedger's loop compares in COMPARE and in TRUNCATE (a truncate that was never answered is redone by comparing).
    if (d.type !== "COMPARE" && d.type !== "TRUNCATE") return;
    if (d.compareIndex === -1 && this.ledgerEndIndex === -1) return;
    if (d.compareIndex === -1 || d.compareIndex > this.ledgerEndIndex || d.compareIndex < this.ledgerBeginIndex) d.compareIndex = this.ledgerEndIndex;
    d.awaiting = this.sendPush(d, "COMPARE", [this.log[d.compareIndex]!]);
  }

  private dispatcherError(d: Dispatcher): void {
    this.changeState(d, -1, "COMPARE");
    d.sleepUntilUs = this.now + DISPATCHER_ERROR_SLEEP_MS * US_PER_MS;
  }

  private onPushResponse(rpc: Outstanding, request: Extract<RaftRequest, { type: "push" }>, x: Extract<RaftResponse, { type: "push" }>): void {
    const d = this.dispatchers.get(rpc.to);
    if (d === undefined) return;
    switch (request.pushType) {
      case "APPEND":
        // The whenComplete closure of doAppendInner, run whatever the dispatcher is doing now.
        if (x.code === "SUCCESS") {
          d.pending.delete(x.index);
          this.updatePeerWaterMark(x.term, d.peer, x.index + Math.max(1, x.count) - 1);
        } else if (x.code === "INCONSISTENT_STATE") {
          this.changeState(d, -1, "COMPARE");
        }
        return;
      case "COMMIT":
        return;
      case "COMPARE":
        if (d.awaiting !== rpc.rpcId) return;
        d.awaiting = null;
        if (d.term !== this.currTerm || this.roleValue !== "leader") return;
        this.onCompareResponse(d, x);
        return;
      case "TRUNCATE":
        if (d.awaiting !== rpc.rpcId) return;
        d.awaiting = null;
        if (d.term !== this.currTerm || this.roleValue !== "leader") return;
        if (x.code !== "SUCCESS") {
          this.dispatcherError(d);
          return;
        }
        d.lastPushCommitUs = this.now;
        this.changeState(d, d.truncateIndex, "APPEND");
        return;
    }
  }

  private onCompareResponse(d: Dispatcher, x: Extract<RaftResponse, { type: "push" }>): void {
    if (x.code !== "SUCCESS" && x.code !== "INCONSISTENT_STATE") {
      this.dispatcherError(d);
      return;
    }
    const begin = this.ledgerBeginIndex;
    let truncateIndex = -1;
    if (x.code === "SUCCESS") {
      if (d.compareIndex === x.endIndex) {
        this.changeState(d, d.compareIndex, "APPEND");
        return;
      }
      truncateIndex = d.compareIndex;
    } else if (x.endIndex < begin || x.beginIndex > this.ledgerEndIndex) {
      // No overlap with the leader's entries: truncate the follower from the leader's beginning.
      truncateIndex = begin;
    } else if (d.compareIndex < x.beginIndex) {
      truncateIndex = begin;
    } else if (d.compareIndex > x.endIndex) {
      // The usual case after an election: the follower is shorter; compare at its end.
      d.compareIndex = x.endIndex;
    } else {
      d.compareIndex--;
    }
    if (d.compareIndex < begin) truncateIndex = begin;
    if (truncateIndex !== -1) {
      this.changeState(d, truncateIndex, "TRUNCATE");
      d.truncateIndex = truncateIndex;
      d.awaiting = this.sendPush(d, "TRUNCATE", [this.log[truncateIndex]!]);
    }
    // Otherwise the next doCompare (run right after this step) sends the next COMPARE.
  }

  // =====================================================================================
  // Replication, follower side (EntryHandler)
  // =====================================================================================

  private handlePush(from: string, token: unknown, request: Extract<RaftRequest, { type: "push" }>): void {
    const push: QueuedPush = { request, from, token, receivedUs: this.now, replied: false };
    switch (request.pushType) {
      case "APPEND": {
        const first = request.entries[0];
        if (first === undefined) {
          this.replyPush(push, "INCONSISTENT_STATE");
          return;
        }
        if (this.writeRequests.has(first.index)) this.replyPush(push, "REPEATED_PUSH");
        else this.writeRequests.set(first.index, push);
        return;
      }
      case "COMMIT":
        this.enqueueControl(push);
        return;
      case "COMPARE":
      case "TRUNCATE":
        // A new comparison voids every queued APPEND; their callers see a timeout.
        this.writeRequests.clear();
        this.enqueueControl(push);
        return;
    }
  }

  private enqueueControl(push: QueuedPush): void {
    if (this.controlQueue.length >= CONTROL_QUEUE_CAPACITY) this.replyPush(push, "PUSH_REQUEST_IS_FULL");
    else this.controlQueue.push(push);
  }

  private pushResponse(push: QueuedPush, code: ResponseCode): Extract<RaftResponse, { type: "push" }> {
    const r = push.request;
    const first = r.entries[0];
    return {
      type: "push",
      term: r.term,
      code,
      index: r.pushType === "COMMIT" || first === undefined ? -1 : first.index,
      count: r.pushType === "COMMIT" ? 0 : r.entries.length,
      beginIndex: this.ledgerBeginIndex,
      endIndex: this.ledgerEndIndex,
    };
  }

  private replyPush(push: QueuedPush, code: ResponseCode): void {
    if (push.replied) return;
    push.replied = true;
    this.respond(push.from, push.token, this.pushResponse(push, code));
  }

  /**
   * A SUCCESS that lets the leader count entries up to `needIndex` on this
   * replica. With fsyncBeforeAck it waits until they are durable.
   */
  private replyPushDurable(push: QueuedPush, needIndex: number): void {
    if (push.replied) return;
    if (!this.config["dledger.fsyncBeforeAck"] || needIndex <= this.flushed) {
      this.replyPush(push, "SUCCESS");
      return;
    }
    push.replied = true;
    this.durableReplies.push({ needIndex, push, response: this.pushResponse(push, "SUCCESS") });
    this.out.flushNow = true;
  }

  private releaseDurableReplies(): void {
    if (this.durableReplies.length === 0) return;
    const keep: typeof this.durableReplies = [];
    for (const r of this.durableReplies) {
      if (r.needIndex <= this.flushed) this.respond(r.push.from, r.push.token, r.response);
      else keep.push(r);
    }
    this.durableReplies = keep;
  }

  private drainControlQueue(): void {
    // clearCompareOrTruncateRequestsIfNeed: a node that does not follow answers NOT_FOLLOWER.
    while (this.controlQueue.length > 0) this.replyPush(this.controlQueue.shift()!, "NOT_FOLLOWER");
  }

  /** EntryHandler.doWork until it has nothing left to do. */
  private runEntryHandler(): void {
    for (;;) {
      if (this.roleValue !== "follower") {
        this.drainControlQueue();
        return;
      }
      const control = this.controlQueue.shift();
      if (control !== undefined) {
        switch (control.request.pushType) {
          case "TRUNCATE":
            this.handleDoTruncate(control);
            break;
          case "COMPARE":
            this.handleDoCompare(control);
            break;
          case "COMMIT":
            this.updateCommittedIndex(control.request.term, control.request.commitIndex);
            this.replyPush(control, "SUCCESS");
            break;
          default:
            break;
        }
        continue;
      }
      const next = this.writeRequests.get(this.ledgerEndIndex + 1);
      if (next !== undefined) {
        this.writeRequests.delete(this.ledgerEndIndex + 1);
        this.handleDoAppend(next);
        continue;
      }
      this.checkAbnormalFuture();
      return;
    }
  }

  /** EntryHandler.handleDoAppend → DLedgerMmapFileStore.appendAsFollower (only the index is checked, not the previous term). */
  private handleDoAppend(push: QueuedPush): void {
    const r = push.request;
    for (const e of r.entries) {
      const ok = this.roleValue === "follower" && e.index === this.ledgerEndIndex + 1 && r.term === this.currTerm && r.leaderId === this.leaderIdValue && e.pos === this.endPos;
      if (!ok) {
        this.replyPush(push, "INCONSISTENT_STATE");
        return;
      }
      this.appendEntry(e);
    }
    this.replyPushDurable(push, r.entries[r.entries.length - 1]!.index);
    this.updateCommittedIndex(r.term, r.commitIndex);
  }

  /** EntryHandler.handleDoCompare: is the leader's entry exactly ours? (No term or leader check in 0.3.1.2.) */
  private handleDoCompare(push: QueuedPush): void {
    const e = push.request.entries[0];
    if (e === undefined || !sameEntry(this.log[e.index], e)) {
      this.replyPush(push, "INCONSISTENT_STATE");
      return;
    }
    this.replyPushDurable(push, e.index);
  }

  /** EntryHandler.handleDoTruncate → DLedgerMmapFileStore.truncate: keep up to the entry, drop the rest. */
  private handleDoTruncate(push: QueuedPush): void {
    const r = push.request;
    const e = r.entries[0];
    if (e === undefined || this.roleValue !== "follower" || r.term !== this.currTerm || r.leaderId !== this.leaderIdValue) {
      this.replyPush(push, "INCONSISTENT_STATE");
      return;
    }
    const existed = sameEntry(this.log[e.index], e);
    const from = existed ? e.index + 1 : e.index;
    if (!existed && e.index > this.log.length) {
      // The entry would leave a hole: DLedger's position check fails (DISK_ERROR).
      this.replyPush(push, "INCONSISTENT_STATE");
      return;
    }
    const removed = this.truncateFrom(from);
    if (!existed) {
      if (e.pos !== this.endPos) {
        this.replyPush(push, "INCONSISTENT_STATE");
        return;
      }
      this.appendEntry(e);
    }
    if (removed.length > 0) {
      this.out.truncated.push({ fromIndex: from, entries: removed });
      this.out.traces.push({ kind: "raft.truncate", details: { from, count: removed.length, term: this.currTerm } });
    }
    this.replyPushDurable(push, e.index);
    this.updateCommittedIndex(r.term, r.commitIndex);
  }

  /** EntryHandler.checkAbnormalFuture: once a second, settle pushes that fell behind or ran ahead. */
  private checkAbnormalFuture(): void {
    if (this.now - this.lastCheckFastForwardUs < FOLLOWER_PUSH_TIMEOUT_MS * US_PER_MS) return;
    this.lastCheckFastForwardUs = this.now;
    if (this.writeRequests.size === 0) return;
    const end = this.ledgerEndIndex;
    let minFastForward = Number.POSITIVE_INFINITY;
    // DLedger iterates a ConcurrentHashMap of Long keys; ascending index order is the deterministic equivalent.
    const firsts = [...this.writeRequests.keys()].sort((a, b) => a - b);
    for (const first of firsts) {
      const push = this.writeRequests.get(first)!;
      const entries = push.request.entries;
      const last = entries[entries.length - 1]!.index;
      if (last <= end) {
        // A push this node already has (the ack was lost): answer by comparing.
        const same = entries.every((e) => sameEntry(this.log[e.index], e));
        if (same) this.replyPushDurable(push, last);
        else this.replyPush(push, "INCONSISTENT_STATE");
        this.writeRequests.delete(first);
        continue;
      }
      if (first === end + 1) return;
      if (this.now - push.receivedUs < FOLLOWER_PUSH_TIMEOUT_MS * US_PER_MS) continue;
      if (first < minFastForward) minFastForward = first;
    }
    if (minFastForward === Number.POSITIVE_INFINITY) return;
    const push = this.writeRequests.get(minFastForward);
    // A push from beyond this node's end: tell the leader to compare again.
    if (push !== undefined) this.replyPush(push, "INCONSISTENT_STATE");
  }
}

/** What DLedgerRpcNettyService completes a timed-out or failed call with. */
function networkError(request: RaftRequest): RaftResponse {
  switch (request.type) {
    case "vote":
      return { type: "vote", term: -1, result: "UNKNOWN" };
    case "heartbeat":
      return { type: "heartbeat", term: -1, code: "NETWORK_ERROR" };
    case "push":
      return { type: "push", term: request.term, code: "NETWORK_ERROR", index: -1, count: 0, beginIndex: -1, endIndex: -1 };
    case "take-leadership":
      return { type: "take-leadership", term: request.term, code: "NETWORK_ERROR" };
  }
}
