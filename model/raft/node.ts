// Binds the Raft core to the simulator: a DLedger server process. It owns
// the node's files (the entry data file, the index file, the term/vote file
// and the checkpoint), the flush service, the RPC connections to the peers,
// and the single timer that wakes the core. Everything durable goes through
// the simulated disk, so what survives a crash is what the disk kept, and
// boot runs DLedger's recovery against it.
import type { Timer } from "../../sim/kernel.js";
import type { Connection } from "../../sim/network.js";
import type { NodeContext, ProcessFactory, ProcessHandlers } from "../../sim/node.js";
import { decodeEntries, decodeIndexUnit, decodeProperties, encodeEntry, encodeIndexUnit, encodeProperties, INDEX_UNIT_BYTES, parseLong } from "./codec.js";
import type { RaftConfig } from "./config.js";
import { RaftCore, entrySize, type AppendResult, type Entry, type HardState, type RaftRequest, type RaftResponse, type Ready, type Role } from "./core.js";

/** The wire form of a DLedger RPC; `code` only labels timelines (the network reads `type` and `code`). */
export type RaftWire =
  | { type: "raft.req"; group: string; from: string; id: number; code: string; req: RaftRequest }
  | { type: "raft.resp"; group: string; from: string; id: number; code: string; resp: RaftResponse };

export function isRaftWire(payload: unknown): payload is RaftWire {
  if (payload === null || typeof payload !== "object") return false;
  const t = (payload as { type?: unknown }).type;
  return t === "raft.req" || t === "raft.resp";
}

export interface RaftNodeOptions {
  /** DLedgerConfig.group. */
  group: string;
  /** Every member's node name, self included; names double as DLedger self ids. */
  peers: readonly string[];
  config: RaftConfig;
  /** Directory of this group's files on the node's disk (DLedgerConfig.storeBaseDir). */
  dir?: string;
  /** Called once per boot, after recovery, with the node's API (the owner keeps it). */
  onStart?: (node: RaftNode) => void;
  /** Messages that are not this group's Raft RPCs (a standalone factory hands them here). */
  onOtherMessage?: (conn: Connection, payload: unknown) => void;
}

export type RoleListener = (role: Role, term: number, leaderId: string | null) => void;
export type CommitListener = (entries: readonly Entry[]) => void;
export type TruncateListener = (fromIndex: number, entries: readonly Entry[]) => void;

/** What the owner process (the harness, later RocketMQ's DLedgerCommitLog) sees of a DLedger server. */
export interface RaftNode {
  readonly name: string;
  readonly group: string;
  readonly isLeader: boolean;
  readonly role: Role;
  readonly term: number;
  readonly leaderId: string | null;
  readonly committedIndex: number;
  readonly ledgerEndIndex: number;
  entry(index: number): Entry | undefined;
  /** DLedgerServer.handleAppend: `cb` gets SUCCESS once committed, or why not (see AppendResult). */
  append(body: Uint8Array, cb: (result: AppendResult) => void): void;
  onCommit(listener: CommitListener): void;
  onRoleChange(listener: RoleListener): void;
  onTruncate(listener: TruncateListener): void;
  /** Routes a message; false if it is not one of this group's RPCs. */
  handleMessage(conn: Connection, payload: unknown): boolean;
  /** Tells the node that a connection closed (fails the RPCs in flight on it). */
  handleClose(conn: Connection): void;
  /** The process handlers for a node that runs nothing else. */
  readonly handlers: ProcessHandlers;
  /** The state machine, for tests and the harness's omniscient drain check. */
  readonly core: RaftCore;
}

interface ReplyToken {
  conn: Connection;
  id: number;
  /** The request's label ("vote", "APPEND", ...), repeated on the reply for timelines. */
  kind: string;
}

const US_PER_MS = 1000;

/** A process factory for `world.addNode(name, raftNode(opts))`. */
export function raftNode(opts: RaftNodeOptions): ProcessFactory {
  return (ctx) => startRaftNode(ctx, opts).handlers;
}

/** Boots a DLedger server on `ctx`: recovers from the disk, then runs. */
export function startRaftNode(ctx: NodeContext, opts: RaftNodeOptions): RaftNode {
  return new RaftProcess(ctx, opts).api;
}

class RaftProcess {
  readonly api: RaftNode;
  private readonly core: RaftCore;
  private readonly config: RaftConfig;
  private readonly group: string;
  private readonly files: { data: string; index: string; term: string; checkpoint: string };
  private readonly bootUs: number;

  // ---- connections ------------------------------------------------------------------
  private readonly outgoing = new Map<string, Connection>();
  /** RPC ids in flight per outgoing connection id, to fail them when it dies. */
  private readonly inFlight = new Map<number, Set<number>>();

  // ---- durability of the term/vote (persistVote = fsync) -------------------------------
  private stateVersion = 0;
  private durableStateVersion = 0;
  private stateWriteInFlight = false;
  private stateToWrite: { version: number; state: HardState } | null = null;
  private readonly gated: Array<{ version: number; send: () => void }> = [];

  // ---- flush service ---------------------------------------------------------------------
  /** Highest index written to the data file (page cache) in its current content. */
  private writtenIndex = -1;
  private flushTimer: Timer | null = null;
  private flushInFlight: { upTo: number } | null = null;
  private flushAgain = false;

  // ---- core driving ------------------------------------------------------------------------
  private timer: Timer | null = null;
  private timerAtUs = Number.POSITIVE_INFINITY;
  private applying = false;
  private readonly commitListeners: CommitListener[] = [];
  private readonly roleListeners: RoleListener[] = [];
  private readonly truncateListeners: TruncateListener[] = [];
  private sameTimeTicks = 0;
  private lastTickUs = -1;

  constructor(
    private readonly ctx: NodeContext,
    private readonly opts: RaftNodeOptions,
  ) {
    this.config = opts.config;
    this.group = opts.group;
    const dir = opts.dir ?? "dledger";
    // MmapFileList names each file by its start offset; one 1 GiB file holds any run here.
    this.files = { data: `${dir}/data/00000000000000000000`, index: `${dir}/index/00000000000000000000`, term: `${dir}/currterm`, checkpoint: `${dir}/checkpoint` };
    this.bootUs = ctx.now;
    const recovered = this.recover();
    this.writtenIndex = recovered.entries.length - 1;
    this.core = new RaftCore({
      selfId: ctx.name,
      peers: opts.peers,
      config: opts.config,
      random: () => ctx.rng.next(),
      nowUs: ctx.now,
      recovered,
    });
    this.api = this.makeApi();
    // Whatever recovery read may still sit in the page cache (a process crash keeps it): force it before counting it durable.
    if (this.writtenIndex >= 0) this.issueFlush();
    this.scheduleCheckpoint();
    opts.onStart?.(this.api);
    this.apply();
  }

  // =====================================================================================
  // API
  // =====================================================================================

  private makeApi(): RaftNode {
    const self = this;
    const core = this.core;
    const handlers: ProcessHandlers = {
      onMessage: (conn, payload) => {
        if (!self.handleMessage(conn, payload)) self.opts.onOtherMessage?.(conn, payload);
      },
      onClose: (conn) => self.handleClose(conn),
    };
    return {
      name: this.ctx.name,
      group: this.group,
      get isLeader() {
        return core.isLeader;
      },
      get role() {
        return core.role;
      },
      get term() {
        return core.term;
      },
      get leaderId() {
        return core.leaderId;
      },
      get committedIndex() {
        return core.committedIndex;
      },
      get ledgerEndIndex() {
        return core.ledgerEndIndex;
      },
      entry: (index) => core.entry(index),
      append: (body, cb) => {
        core.propose(body, cb, self.ctx.now);
        self.apply();
      },
      onCommit: (l) => self.commitListeners.push(l),
      onRoleChange: (l) => self.roleListeners.push(l),
      onTruncate: (l) => self.truncateListeners.push(l),
      handleMessage: (conn, payload) => self.handleMessage(conn, payload),
      handleClose: (conn) => self.handleClose(conn),
      handlers,
      core,
    };
  }

  private handleMessage(conn: Connection, payload: unknown): boolean {
    if (!isRaftWire(payload) || payload.group !== this.group) return false;
    if (payload.type === "raft.req") {
      const token: ReplyToken = { conn, id: payload.id, kind: payload.code };
      this.core.receiveRequest(payload.from, token, payload.req, this.ctx.now);
    } else {
      this.inFlight.get(conn.id)?.delete(payload.id);
      this.core.receiveResponse(payload.id, payload.resp, this.ctx.now);
    }
    this.apply();
    return true;
  }

  private handleClose(conn: Connection): void {
    const peer = [...this.outgoing.entries()].find(([, c]) => c === conn)?.[0];
    if (peer !== undefined) this.outgoing.delete(peer);
    const ids = this.inFlight.get(conn.id);
    this.inFlight.delete(conn.id);
    if (ids === undefined || ids.size === 0) return;
    // Netty fails every pending call on a dead channel; DLedger sees NETWORK_ERROR.
    for (const id of ids) this.core.rpcFailed(id, this.ctx.now);
    this.apply();
  }

  // =====================================================================================
  // Applying the core's effects
  // =====================================================================================

  /** Drains the core's Ready until it is empty; re-entrant calls (a callback appending) just loop. */
  private apply(): void {
    if (this.applying) return;
    this.applying = true;
    try {
      for (let guard = 0; ; guard++) {
        if (guard > 100_000) throw new Error(`raft ${this.ctx.name}: effects never settle`);
        const r = this.core.ready();
        if (isEmpty(r)) break;
        this.applyReady(r);
      }
    } finally {
      this.applying = false;
    }
    this.rescheduleTimer();
  }

  private applyReady(r: Ready): void {
    if (r.hardState !== null) this.persistState(r.hardState);
    for (const op of r.logOps) {
      if (op.op === "append") this.writeEntry(op.entry);
      else this.truncateLog(op.fromIndex);
    }
    if (r.flushNow) this.requestFlushNow();
    else if (r.logOps.length > 0) this.scheduleFlush();
    for (const m of r.messages) {
      const send = m.kind === "request" ? () => this.sendRequest(m.to, m.rpcId, m.request) : () => this.sendResponse(m.token as ReplyToken, m.response);
      // Raft Figure 2: nothing leaves before the term and vote it depends on are on stable storage.
      if (this.stateVersion > this.durableStateVersion) this.gated.push({ version: this.stateVersion, send });
      else send();
    }
    for (const t of r.traces) this.ctx.emit(t.kind, t.details);
    for (const t of r.truncated) for (const l of this.truncateListeners) l(t.fromIndex, t.entries);
    if (r.committed.length > 0) for (const l of this.commitListeners) l(r.committed);
    for (const c of r.roleChanges) for (const l of this.roleListeners) l(c.role, c.term, c.leaderId);
    for (const a of r.appendResults) (a.token as (result: AppendResult) => void)(a.result);
  }

  private rescheduleTimer(): void {
    if (!this.ctx.alive) return;
    const at = Math.max(this.ctx.now, this.core.nextDeadlineUs());
    if (at === this.timerAtUs && this.timer !== null) return;
    this.ctx.cancel(this.timer);
    this.timer = null;
    this.timerAtUs = at;
    if (at === Number.POSITIVE_INFINITY) return;
    this.timer = this.ctx.at(Math.ceil(at), this.onTimer);
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerAtUs = Number.POSITIVE_INFINITY;
    const now = this.ctx.now;
    // A deadline that does not move after its work ran would spin forever at one instant: stop loudly.
    this.sameTimeTicks = now === this.lastTickUs ? this.sameTimeTicks + 1 : 0;
    this.lastTickUs = now;
    if (this.sameTimeTicks > 10_000) throw new Error(`raft ${this.ctx.name}: timer spins at ${now}`);
    this.core.tick(now);
    this.apply();
  };

  // =====================================================================================
  // Network
  // =====================================================================================

  private connectionTo(peer: string): Connection {
    let conn = this.outgoing.get(peer);
    if (conn === undefined || !conn.isOpenFor(this.ctx.node)) {
      if (conn !== undefined) this.handleClose(conn);
      conn = this.ctx.connect(peer);
      this.outgoing.set(peer, conn);
    }
    return conn;
  }

  private sendRequest(to: string, rpcId: number, req: RaftRequest): void {
    const conn = this.connectionTo(to);
    let ids = this.inFlight.get(conn.id);
    if (ids === undefined) {
      ids = new Set();
      this.inFlight.set(conn.id, ids);
    }
    ids.add(rpcId);
    const code = req.type === "push" ? req.pushType : req.type;
    const wire: RaftWire = { type: "raft.req", group: this.group, from: this.ctx.name, id: rpcId, code, req };
    this.ctx.send(conn, wire, req.type === "push" ? req.entries.reduce((n, e) => n + entrySize(e.body), 64) : 64);
  }

  private sendResponse(token: ReplyToken, resp: RaftResponse): void {
    // A reply to a connection that died is lost; the caller's RPC times out or fails on its own.
    if (!token.conn.isOpenFor(this.ctx.node)) return;
    const code = `${token.kind} ${resp.type === "vote" ? resp.result : resp.code}`;
    const wire: RaftWire = { type: "raft.resp", group: this.group, from: this.ctx.name, id: token.id, code, resp };
    this.ctx.send(token.conn, wire, 64);
  }

  // =====================================================================================
  // Term and vote (MemberState.persistTerm / loadTerm)
  // =====================================================================================

  private persistState(state: HardState): void {
    const mode = this.config["dledger.persistVote"];
    if (mode === "none") return;
    const bytes = encodeProperties({ currTerm: String(state.term), voteLeader: state.votedFor ?? "" });
    if (mode === "page-cache") {
      // IOUtils.string2File: tmp, a .bak copy of the old content, delete, rename — and no fsync anywhere.
      this.replaceFile(this.files.term, bytes, true);
      return;
    }
    this.stateVersion++;
    this.stateToWrite = { version: this.stateVersion, state };
    this.writeStateDurably();
  }

  /** Writes one file the way string2File does: a temporary copy renamed over the old one. */
  private replaceFile(path: string, bytes: Uint8Array, backup: boolean): void {
    const disk = this.ctx.disk;
    const tmp = `${path}.tmp`;
    disk.remove(tmp);
    disk.write(tmp, 0, bytes);
    if (backup && disk.exists(path)) {
      const bak = `${path}.bak`;
      const previous = disk.readAll(path);
      disk.remove(bak);
      disk.write(bak, 0, previous);
    }
    disk.remove(path);
    disk.rename(tmp, path);
  }

  /**
   * persistVote = fsync: the temp file is forced before the rename and the
   * directory right after, so the name never points at data the platter
   * lacks. One write at a time; the latest state wins.
   */
  private writeStateDurably(): void {
    if (this.stateWriteInFlight || this.stateToWrite === null) return;
    const { version, state } = this.stateToWrite;
    this.stateToWrite = null;
    this.stateWriteInFlight = true;
    const disk = this.ctx.disk;
    const tmp = `${this.files.term}.tmp`;
    disk.remove(tmp);
    disk.write(tmp, 0, encodeProperties({ currTerm: String(state.term), voteLeader: state.votedFor ?? "" }));
    disk.fsync(tmp, (r) => {
      this.stateWriteInFlight = false;
      if (r.ok) {
        disk.remove(this.files.term);
        disk.rename(tmp, this.files.term);
        disk.fsyncDir();
        this.durableStateVersion = Math.max(this.durableStateVersion, version);
        this.releaseGated();
      } else if (this.stateToWrite === null) {
        // A failed fsync leaves the pages clean but not durable: write the state again.
        this.stateToWrite = { version, state };
      }
      this.writeStateDurably();
    });
  }

  private releaseGated(): void {
    while (this.gated.length > 0 && this.gated[0]!.version <= this.durableStateVersion) this.gated.shift()!.send();
  }

  private loadTerm(): { term: number; votedFor: string | null } {
    const out = { term: 0, votedFor: null as string | null };
    if (this.config["dledger.persistVote"] === "none" || !this.ctx.disk.exists(this.files.term)) return out;
    const props = decodeProperties(this.ctx.disk.readAll(this.files.term));
    // loadTerm stops at the first field Long.valueOf rejects (the exception is logged and swallowed).
    if (props.has("currTerm")) {
      const term = parseLong(props.get("currTerm"));
      if (term === null) return out;
      out.term = term;
    }
    const vote = props.get("voteLeader");
    if (vote !== undefined && vote.length > 0) out.votedFor = vote;
    return out;
  }

  // =====================================================================================
  // The log files
  // =====================================================================================

  private writeEntry(e: Entry): void {
    const disk = this.ctx.disk;
    disk.write(this.files.data, e.pos, encodeEntry(e));
    disk.write(this.files.index, e.index * INDEX_UNIT_BYTES, encodeIndexUnit(e));
    this.writtenIndex = e.index;
  }

  /**
   * MmapFileList.truncateOffset moves the write position back and leaves the
   * old bytes where they are: later appends overwrite them, and recovery
   * stops at the first record that no longer checks out.
   */
  private truncateLog(fromIndex: number): void {
    this.writtenIndex = Math.min(this.writtenIndex, fromIndex - 1);
    if (this.flushInFlight !== null && this.flushInFlight.upTo >= fromIndex) this.flushInFlight.upTo = fromIndex - 1;
  }

  /** DLedgerMmapFileStore.recover, MemberState.loadTerm and the checkpoint, against what the disk kept. */
  private recover(): { term: number; votedFor: string | null; entries: Entry[]; committedIndex: number } {
    const disk = this.ctx.disk;
    const data = disk.exists(this.files.data) ? disk.readAll(this.files.data) : new Uint8Array(0);
    const decoded = decodeEntries(data);
    // The index file is checked against the data and rewritten where it disagrees (or is missing).
    const indexBytes = disk.exists(this.files.index) ? disk.readAll(this.files.index) : new Uint8Array(0);
    let rewritten = 0;
    for (const e of decoded.entries) {
      const u = decodeIndexUnit(indexBytes, e.index * INDEX_UNIT_BYTES);
      if (u === null || u.pos !== e.pos || u.index !== e.index || u.term !== e.term || u.size !== entrySize(e.body)) {
        disk.write(this.files.index, e.index * INDEX_UNIT_BYTES, encodeIndexUnit(e));
        rewritten++;
      }
    }
    let committedIndex = -1;
    if (disk.exists(this.files.checkpoint)) {
      const c = parseLong(decodeProperties(disk.readAll(this.files.checkpoint)).get("committedIndex"));
      if (c !== null) committedIndex = c;
    }
    const { term, votedFor } = this.loadTerm();
    this.ctx.emit("raft.recover", {
      entries: decoded.entries.length,
      lastTerm: decoded.entries[decoded.entries.length - 1]?.term ?? -1,
      droppedBytes: data.length - decoded.validBytes,
      stop: decoded.stop,
      indexRewritten: rewritten,
      term,
      votedFor,
      checkpointCommitted: committedIndex,
    });
    return { term, votedFor, entries: decoded.entries, committedIndex };
  }

  // ---- flush service (DLedgerMmapFileStore.FlushDataService) ------------------------------

  /** The next tick of the 10 ms flush loop, on the loop's own phase. */
  private scheduleFlush(): void {
    if (this.flushTimer !== null || this.flushInFlight !== null) return;
    const interval = this.config.flushFileInterval * US_PER_MS;
    const at = this.bootUs + (Math.floor((this.ctx.now - this.bootUs) / interval) + 1) * interval;
    this.flushTimer = this.ctx.at(at, () => {
      this.flushTimer = null;
      this.issueFlush();
    });
  }

  private requestFlushNow(): void {
    // No tick is scheduled while a flush is in flight; issueFlush then only asks for another.
    this.ctx.cancel(this.flushTimer);
    this.flushTimer = null;
    this.issueFlush();
  }

  /** dataFileList.flush(0) and indexFileList.flush(0): force both files; the data file decides what is durable. */
  private issueFlush(): void {
    if (this.flushInFlight !== null) {
      this.flushAgain = true;
      return;
    }
    const flight = { upTo: this.writtenIndex };
    this.flushInFlight = flight;
    this.flushAgain = false;
    const disk = this.ctx.disk;
    disk.fsync(this.files.index);
    disk.fsync(this.files.data, (r) => {
      this.flushInFlight = null;
      if (r.ok && flight.upTo >= 0) {
        this.core.onFlushed(flight.upTo, this.ctx.now);
        this.apply();
      }
      if (this.writtenIndex > flight.upTo || this.flushAgain) {
        if (this.flushAgain) this.issueFlush();
        else this.scheduleFlush();
      }
    });
  }

  /** FlushDataService also rewrites the checkpoint every checkPointInterval, with string2File (no fsync). */
  private scheduleCheckpoint(): void {
    this.ctx.after(this.config.checkPointInterval * US_PER_MS, () => {
      const bytes = encodeProperties({ endIndex: String(this.core.ledgerEndIndex), committedIndex: String(this.core.committedIndex) });
      this.replaceFile(this.files.checkpoint, bytes, true);
      this.scheduleCheckpoint();
    });
  }
}

function isEmpty(r: Ready): boolean {
  return (
    r.hardState === null &&
    r.logOps.length === 0 &&
    !r.flushNow &&
    r.messages.length === 0 &&
    r.appendResults.length === 0 &&
    r.committed.length === 0 &&
    r.truncated.length === 0 &&
    r.roleChanges.length === 0 &&
    r.traces.length === 0
  );
}
