// A standalone workload for the Raft core, without RocketMQ: a group of
// DLedger replicas, client processes that append unique values to whichever
// replica they believe leads, and a final read of every replica's committed
// log. It records a Jepsen-shaped history plus the replica-level
// observations (leader per term, commit points, truncations, committed log
// snapshots) that the checkers need.
//
// History mapping (index convention of invariants/history.ts):
// - one key, "raft-log": a send's `offset` is the DLedger entry index, which
//   is already 0-based; a `commit` observation carries committedIndex + 1
//   (DLedger's committedIndex is inclusive, the history's commit point is
//   exclusive), with key "raft-log" so dirty reads are checked too.
// - `log` observations hold committed entries only: each time a replica's
//   commit point advances, the newly committed entries (so a committed entry
//   later overwritten still shows in the history), and at the end the whole
//   committed prefix of every replica.
// - The final read is one `poll` per live replica, reading its committed
//   entries in index order (not only the leader's): a value lost on one
//   replica but present on another is not lost, while two replicas that
//   disagree show as inconsistent offsets.
import { checkAll, HistoryBuilder, type Anomaly, type History, type LogEntry } from "../../invariants/index.js";
import type { DiskConfig } from "../../sim/disk.js";
import { generateFaultPlan, type Fault, type FaultClass, type FaultPlan } from "../../sim/faults.js";
import type { TraceListener } from "../../sim/kernel.js";
import type { Connection, NetworkConfig, PartitionHandle } from "../../sim/network.js";
import type { NodeContext, ProcessHandlers } from "../../sim/node.js";
import { splitEdges } from "../../sim/partition.js";
import { runPhases, type Phase, type PhaseResult } from "../../sim/runner.js";
import { World } from "../../sim/world.js";
import type { ClusterModel } from "../cluster.js";
import { parseRaftConfig, RPC_TIMEOUT_MS, type RaftConfig, type RaftConfigInput } from "./config.js";
import type { AppendCode, Entry } from "./core.js";
import { startRaftNode, type RaftNode } from "./node.js";

export const RAFT_GROUP = "raft";
export const RAFT_KEY = "raft-log";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const US_PER_MS = 1000;
const US_PER_SECOND = 1_000_000;

export interface RaftHarnessOptions {
  config?: RaftConfigInput;
  /** Replicas in the group (DLedger ids n0, n1, ...). */
  replicas?: number;
  /** Client processes (c1, c2, ...). */
  clients?: number;
  /** Appends per second per client (each client has one append in flight at a time). */
  rate?: number;
  /** Clients start after this long, once a leader had time to emerge. */
  startDelaySeconds?: number;
  /** Length of the workload-under-faults phase. */
  durationSeconds: number;
  /** The final drain may take this long after healing before it is a liveness failure. */
  drainTimeoutSeconds?: number;
  /** A client gives up on an append after this long (DLedgerClient's RPC timeout is 3 s): `info`. */
  clientTimeoutMs?: number;
}

/**
 * One step of an adaptive fault script: fires once, the first time `when`
 * holds after the previous step fired (checked every simulated millisecond).
 * Scripts reach states a timed plan cannot aim at reliably ("the moment a
 * new leader appears", "right after a client got an ok"); every fault they
 * start is recorded, with its realized start and duration, as a plain plan.
 */
export interface ScriptStep {
  /** A label for the trace. */
  name: string;
  when: (h: RaftHarness) => boolean;
  run: (faults: ScriptFaults, h: RaftHarness) => void;
}

/** Faults a script starts and ends by label. */
export interface ScriptFaults {
  /** Blocks both directions between every member of `a` and every member of `b` (clients may be named). */
  partition(label: string, a: readonly string[], b: readonly string[]): void;
  /** Kills a node's process (`process`) or its machine (`power`) until `end(label)`. */
  crash(label: string, node: string, mode: "process" | "power"): void;
  /** Every replica loses power at once. */
  powerLossAll(label: string): void;
  pause(label: string, node: string): void;
  /** Heals a fault: restarts, resumes or reconnects. */
  end(label: string): void;
}

interface ActiveScriptFault {
  fault: Omit<Fault, "durationMs">;
  startUs: number;
  nodes: string[];
  partition: PartitionHandle | null;
}

type ClientMessage = { type: "client.append"; id: number; value: string };
type ClientReply = { type: "client.result"; id: number; code: AppendCode; index: number; leaderId: string | null };

interface ClientOp {
  id: number;
  value: string;
  target: string;
  startedUs: number;
  timer: ReturnType<NodeContext["after"]>;
}

/** The pieces of a replica the omniscient parts of the harness (drain, role selectors, observations) look at. */
interface Replica {
  name: string;
  node: RaftNode | null;
  /** Highest commit point (exclusive) observed for this replica, over all its incarnations. */
  maxCommitObserved: number;
}

/**
 * A DLedger group plus clients, as a ClusterModel the runner drives through
 * its phases (workload under faults, heal, drain, checks).
 */
export class RaftHarness implements ClusterModel {
  readonly history = new HistoryBuilder();
  readonly config: RaftConfig;
  readonly servers: string[];
  readonly clients: string[];
  /** Faults injected by a script, with the times they fired. */
  readonly realizedPlan: Fault[] = [];
  private readonly replicas = new Map<string, Replica>();
  private readonly opts: Required<Omit<RaftHarnessOptions, "config">>;
  private workloadOver = false;
  private draining = false;
  private finished = false;
  private opsInFlight = 0;
  private script: ScriptStep[] = [];
  private readonly scriptFaults = new Map<string, ActiveScriptFault>();
  /** When a client last received an `ok` (scripts aim at the moment after an acknowledgement). */
  lastOkUs = -1;

  constructor(
    readonly world: World,
    opts: RaftHarnessOptions,
  ) {
    this.config = parseRaftConfig(opts.config ?? {});
    this.opts = {
      replicas: opts.replicas ?? 3,
      clients: opts.clients ?? 2,
      rate: opts.rate ?? 20,
      startDelaySeconds: opts.startDelaySeconds ?? 2,
      durationSeconds: opts.durationSeconds,
      drainTimeoutSeconds: opts.drainTimeoutSeconds ?? 120,
      clientTimeoutMs: opts.clientTimeoutMs ?? RPC_TIMEOUT_MS,
    };
    this.servers = Array.from({ length: this.opts.replicas }, (_, i) => `n${i}`);
    this.clients = Array.from({ length: this.opts.clients }, (_, i) => `c${i + 1}`);
    for (const name of this.servers) {
      this.replicas.set(name, { name, node: null, maxCommitObserved: 0 });
      world.addNode(name, (ctx) => this.serverProcess(ctx));
    }
    this.clients.forEach((name, i) => world.addNode(name, (ctx) => this.clientProcess(ctx, i), { kind: "client" }));
    world.setRoleResolver((selector, candidates) => this.resolveRole(selector, candidates));
  }

  // =====================================================================================
  // ClusterModel
  // =====================================================================================

  faultTargets(): string[] {
    return [...this.servers];
  }

  partitionNodes(): string[] {
    return [...this.servers];
  }

  roles(): string[] {
    return ["@leader", "@follower"];
  }

  start(): void {
    this.world.startAll();
    if (this.script.length > 0) this.pollScript();
  }

  onPhase(phase: Phase): void {
    const now = this.world.sim.now;
    this.history.phase(phase, now);
    if (phase === "heal") {
      this.workloadOver = true;
      for (const label of [...this.scriptFaults.keys()]) this.endScriptFault(label);
    }
    if (phase === "drain") this.draining = true;
    if (phase === "drained" || phase === "drain-timeout") this.finalReads();
  }

  /**
   * Converged: no append in flight, every replica up, one leader whose whole
   * log is committed, and every replica holding exactly that log as
   * committed in the same term.
   */
  isDrained(): boolean {
    if (!this.workloadOver || this.opsInFlight > 0) return false;
    return this.converged();
  }

  buildHistory(): History {
    return this.history.build();
  }

  // =====================================================================================
  // Omniscient views (tests, drain, role selectors)
  // =====================================================================================

  /** The live API of a replica, or null while it is down. */
  node(name: string): RaftNode | null {
    const r = this.replicas.get(name);
    if (r === undefined) throw new Error(`raft harness: unknown replica ${name}`);
    return r.node !== null && this.world.node(name).up ? r.node : null;
  }

  /** Live replicas that believe they lead, highest term first. */
  leaders(): RaftNode[] {
    const out: RaftNode[] = [];
    for (const name of this.servers) {
      const n = this.node(name);
      if (n !== null && n.isLeader) out.push(n);
    }
    return out.sort((a, b) => b.term - a.term || (a.name < b.name ? -1 : 1));
  }

  converged(): boolean {
    const live = this.servers.map((s) => this.node(s));
    if (live.some((n) => n === null)) return false;
    const leaders = this.leaders();
    if (leaders.length !== 1) return false;
    const l = leaders[0]!;
    if (l.committedIndex !== l.ledgerEndIndex) return false;
    for (const n of live) {
      if (n === null || n.term !== l.term || n.leaderId !== l.name) return false;
      if (n.committedIndex !== l.committedIndex || n.ledgerEndIndex !== l.ledgerEndIndex) return false;
    }
    return true;
  }

  /**
   * The drain needs a client write when the leader holds entries it will not
   * commit on its own: entries of an earlier term wait, under the
   * current-term rule, for an entry of the leader's term.
   */
  needsNudge(): boolean {
    const leaders = this.leaders();
    if (leaders.length !== 1) return false;
    const l = leaders[0]!;
    return l.committedIndex < l.ledgerEndIndex;
  }

  private resolveRole(selector: string, candidates: readonly string[]): string[] | undefined {
    switch (selector) {
      case "@leader": {
        const l = this.leaders().find((n) => candidates.includes(n.name));
        return l === undefined ? [] : [l.name];
      }
      case "@follower": {
        const f = this.servers.filter((s) => candidates.includes(s) && this.node(s)?.role === "follower");
        return f.length === 0 ? [] : [this.world.rng.fork(`role/${selector}/${this.world.sim.now}`).pick(f)];
      }
      default:
        return undefined;
    }
  }

  // =====================================================================================
  // Scripts
  // =====================================================================================

  /** Installs an adaptive fault script (before `start`). */
  setScript(steps: ScriptStep[]): void {
    this.script = [...steps];
  }

  private pollScript(): void {
    const actions: ScriptFaults = {
      partition: (label, a, b) => this.startScriptFault(label, { kind: "partition", shape: "halves", targets: [], groups: [[...a], [...b]] }),
      crash: (label, node, mode) => this.startScriptFault(label, { kind: mode === "process" ? "process-crash" : "power-loss", targets: [node] }),
      powerLossAll: (label) => this.startScriptFault(label, { kind: "power-loss-all", targets: ["@all"] }),
      pause: (label, node) => this.startScriptFault(label, { kind: "pause", targets: [node] }),
      end: (label) => this.endScriptFault(label),
    };
    const check = (): void => {
      if (this.workloadOver) return;
      const step = this.script[0];
      if (step === undefined) return;
      if (step.when(this)) {
        this.script.shift();
        this.world.sim.emit("runner", "script.step", { name: step.name });
        step.run(actions, this);
      }
      // A simulated 1 ms poll: scripts react to states that last milliseconds (an entry acked but not yet flushed).
      this.world.sim.after(US_PER_MS, check);
    };
    this.world.sim.after(0, check);
  }

  private startScriptFault(label: string, f: Omit<Fault, "atMs" | "durationMs">): void {
    if (this.scriptFaults.has(label)) throw new Error(`raft script: fault ${label} is already active`);
    const sim = this.world.sim;
    const fault = { ...f, atMs: Math.floor(sim.now / US_PER_MS) };
    let nodes: string[] = [];
    let partition: PartitionHandle | null = null;
    switch (f.kind) {
      case "partition": {
        const [a, b] = [f.groups?.[0] ?? [], f.groups?.[1] ?? []];
        partition = this.world.net.block(splitEdges(a, b));
        nodes = [...a, ...b];
        break;
      }
      case "process-crash":
      case "power-loss":
        nodes = f.targets.filter((n) => this.world.node(n).up);
        for (const n of nodes) this.world.crash(n, f.kind === "process-crash" ? "process" : "power");
        break;
      case "power-loss-all":
        nodes = this.servers.filter((n) => this.world.node(n).up);
        for (const n of nodes) this.world.crash(n, "power");
        break;
      case "pause":
        nodes = f.targets.filter((n) => this.world.node(n).up);
        for (const n of nodes) this.world.pause(n);
        break;
      default:
        throw new Error(`raft script: unsupported fault ${f.kind}`);
    }
    sim.emit("nemesis", "fault.start", { label, kind: f.kind, nodes, ...(f.shape ? { shape: f.shape } : {}) });
    this.scriptFaults.set(label, { fault, startUs: sim.now, nodes, partition });
  }

  private endScriptFault(label: string): void {
    const active = this.scriptFaults.get(label);
    if (active === undefined) throw new Error(`raft script: no active fault ${label}`);
    this.scriptFaults.delete(label);
    const sim = this.world.sim;
    switch (active.fault.kind) {
      case "partition":
        if (active.partition !== null) this.world.net.unblock(active.partition);
        break;
      case "pause":
        for (const n of active.nodes) this.world.resume(n);
        break;
      default:
        for (const n of active.nodes) this.world.start(n);
        break;
    }
    sim.emit("nemesis", "fault.end", { label, kind: active.fault.kind, nodes: active.nodes });
    const durationMs = Math.max(1, Math.floor(sim.now / US_PER_MS) - active.fault.atMs);
    this.realizedPlan.push({ ...active.fault, durationMs } as Fault);
  }

  // =====================================================================================
  // Processes
  // =====================================================================================

  private serverProcess(ctx: NodeContext): ProcessHandlers {
    const replica = this.replicas.get(ctx.name)!;
    const raft = startRaftNode(ctx, {
      group: RAFT_GROUP,
      peers: this.servers,
      config: this.config,
      onStart: (node) => {
        replica.node = node;
        this.observe(replica, node);
      },
    });
    return {
      onMessage: (conn, payload) => {
        if (raft.handleMessage(conn, payload)) return;
        const m = payload as ClientMessage;
        if (m.type !== "client.append") return;
        raft.append(encoder.encode(m.value), (r) => {
          if (!conn.isOpenFor(ctx.node)) return;
          const reply: ClientReply = { type: "client.result", id: m.id, code: r.code, index: r.index, leaderId: r.leaderId };
          ctx.send(conn, reply);
        });
      },
      onClose: (conn) => raft.handleClose(conn),
    };
  }

  /** Wires a replica's listeners to observations. */
  private observe(replica: Replica, node: RaftNode): void {
    const h = this.history;
    const now = (): number => this.world.sim.now;
    node.onRoleChange((role, term) => {
      if (role === "leader") h.observe({ timeUs: now(), node: node.name, kind: "leader", group: RAFT_GROUP, term, leader: node.name });
    });
    node.onCommit((entries) => {
      const last = entries[entries.length - 1];
      if (last === undefined) return;
      const point = last.index + 1;
      if (point > replica.maxCommitObserved) {
        replica.maxCommitObserved = point;
        h.observe({ timeUs: now(), node: node.name, kind: "commit", group: RAFT_GROUP, key: RAFT_KEY, index: point });
      }
      h.observe({ timeUs: now(), node: node.name, kind: "log", group: RAFT_GROUP, entries: entries.map(logEntry) });
    });
    node.onTruncate((fromIndex, entries) => {
      h.observe({ timeUs: now(), node: node.name, kind: "truncate", group: RAFT_GROUP, fromIndex, entries: entries.map(logEntry) });
    });
  }

  private clientProcess(ctx: NodeContext, clientIndex: number): ProcessHandlers {
    const h = this.history;
    const o = this.opts;
    let process = h.newProcess();
    let seq = 0;
    let nextId = 1;
    let target = this.servers[clientIndex % this.servers.length]!;
    let conn: Connection | null = null;
    let op: ClientOp | null = null;
    const intervalUs = Math.max(1, Math.round(US_PER_SECOND / o.rate));
    const endUs = Math.round(o.durationSeconds * US_PER_SECOND);

    const nextServer = (): void => {
      const i = this.servers.indexOf(target);
      target = this.servers[(i + 1) % this.servers.length]!;
    };
    const finish = (type: "ok" | "fail" | "info", extra: { offset?: number; error?: string }): void => {
      const cur = op!;
      op = null;
      this.opsInFlight--;
      ctx.cancel(cur.timer);
      const value = extra.offset === undefined ? { key: RAFT_KEY, value: cur.value } : { key: RAFT_KEY, value: cur.value, offset: extra.offset };
      h.complete(process, type, value, ctx.now, extra.error);
      if (type === "ok") this.lastOkUs = ctx.now;
      ctx.emit(`op.${type}`, { process, f: "send", value: cur.value, ...(extra.offset !== undefined ? { offset: extra.offset } : {}), ...(extra.error !== undefined ? { error: extra.error } : {}) });
      // Jepsen: after an indeterminate outcome the client continues as a new process.
      if (type === "info") process = h.newProcess();
      ctx.at(Math.max(ctx.now, cur.startedUs + (this.draining ? US_PER_SECOND : intervalUs)), sendOne);
    };
    const dropConnection = (): void => {
      if (conn !== null) ctx.close(conn);
      conn = null;
    };
    const sendOne = (): void => {
      if (op !== null || this.finished) return;
      if (this.workloadOver || ctx.now >= endUs) {
        // The drain: 0.3.1.2 appends no no-op on election, so entries of earlier terms commit only
        // when a new entry does. One client keeps a once-a-second loop and nudges until the group converged.
        if (clientIndex !== 0) return;
        if (!this.draining || !this.needsNudge()) {
          ctx.after(US_PER_SECOND, sendOne);
          return;
        }
      }
      const value = `${ctx.name}:${++seq}`;
      h.invoke(process, "send", { key: RAFT_KEY, value }, ctx.now);
      ctx.emit("op.invoke", { process, f: "send", value, to: target });
      this.opsInFlight++;
      if (conn === null || !conn.isOpenFor(ctx.node) || conn.b.name !== target) {
        dropConnection();
        conn = ctx.connect(target);
      }
      const id = nextId++;
      const timer = ctx.after(o.clientTimeoutMs * US_PER_MS, () => {
        if (op?.id !== id) return;
        nextServer();
        dropConnection();
        finish("info", { error: "timeout" });
      });
      op = { id, value, target, startedUs: ctx.now, timer };
      ctx.send(conn, { type: "client.append", id, value } satisfies ClientMessage);
    };

    ctx.at(Math.max(ctx.now, Math.round(o.startDelaySeconds * US_PER_SECOND) + clientIndex * Math.floor(intervalUs / 2)), sendOne);
    return {
      onMessage: (c, payload) => {
        const r = payload as ClientReply;
        if (r.type !== "client.result" || op === null || r.id !== op.id || c !== conn) return;
        switch (r.code) {
          case "SUCCESS":
            finish("ok", { offset: r.index });
            return;
          case "NOT_LEADER":
          case "LEADER_TRANSFERRING":
          case "LEADER_PENDING_FULL":
            // Refused before anything was appended: certainly not written. Follow the hint if there is one.
            if (r.leaderId !== null && r.leaderId !== target && this.servers.includes(r.leaderId)) target = r.leaderId;
            else nextServer();
            finish("fail", { error: r.code });
            return;
          case "WAIT_QUORUM_ACK_TIMEOUT":
          case "TERM_CHANGED":
            // The entry stays in the log and may still commit: indeterminate.
            if (r.code === "TERM_CHANGED") nextServer();
            finish("info", { error: r.code });
            return;
        }
      },
      onClose: (c, reason) => {
        if (c !== conn) return;
        conn = null;
        if (op === null) return;
        nextServer();
        // A refused connection never delivered the request; any other close leaves it unknown.
        if (reason === "refused") finish("fail", { error: "connection refused" });
        else finish("info", { error: `connection ${reason}` });
      },
    };
  }

  /** The final read: every live replica's committed prefix, as a poll and as a log snapshot. */
  private finalReads(): void {
    this.finished = true;
    const now = this.world.sim.now;
    for (const name of this.servers) {
      const n = this.node(name);
      if (n === null) continue;
      const committed: Entry[] = [];
      for (let i = 0; i <= Math.min(n.committedIndex, n.ledgerEndIndex); i++) committed.push(n.entry(i)!);
      const process = this.history.newProcess();
      this.history.invoke(process, "poll", { group: name, reads: [] }, now);
      this.history.complete(process, "ok", { group: name, reads: committed.map((e) => ({ key: RAFT_KEY, offset: e.index, value: decoder.decode(e.body) })) }, now);
      this.history.observe({ timeUs: now, node: name, kind: "log", group: RAFT_GROUP, entries: committed.map(logEntry) });
    }
  }
}

function logEntry(e: Entry): LogEntry {
  return { index: e.index, term: e.term, value: decoder.decode(e.body) };
}

// =====================================================================================
// runRaft: one run, for tests and sweeps
// =====================================================================================

export interface RunRaftOptions {
  seed: number;
  /** An explicit fault plan; replaces the nemesis. */
  plan?: FaultPlan;
  /** Fault classes for the seeded nemesis (ignored when `plan` is given). */
  faults?: FaultClass[];
  maxConcurrentFaults?: number;
  durationSeconds: number;
  config?: RaftConfigInput;
  /** Workload shape (clients, rate, ...). */
  workload?: Omit<RaftHarnessOptions, "config" | "durationSeconds">;
  /** An adaptive fault script, in addition to the plan. */
  script?: ScriptStep[];
  network?: Partial<NetworkConfig>;
  disk?: Partial<DiskConfig>;
  onTrace?: TraceListener;
  /** Called with the harness before the run starts (tests watch replicas through it). */
  onHarness?: (h: RaftHarness) => void;
  maxEvents?: number;
}

export interface RunRaftResult {
  anomalies: Anomaly[];
  traceHash: string;
  /** The plan that ran: the given or generated one, plus the faults a script started (with their realized times). */
  plan: FaultPlan;
  history: History;
  outcome: PhaseResult["outcome"];
  events: number;
  simTimeMs: number;
  harness: RaftHarness;
}

/**
 * Runs the Raft harness once: a pure function of its options. Faults come
 * from `plan`, or from the seeded nemesis over `faults` (what `mqsim sweep`
 * does), plus an optional adaptive script.
 */
export function runRaft(opts: RunRaftOptions): RunRaftResult {
  const world = new World({ seed: opts.seed, ...(opts.network ? { network: opts.network } : {}), ...(opts.disk ? { disk: opts.disk } : {}) });
  if (opts.onTrace) world.sim.onTrace(opts.onTrace);
  const harness = new RaftHarness(world, { ...(opts.workload ?? {}), durationSeconds: opts.durationSeconds, ...(opts.config ? { config: opts.config } : {}) });
  if (opts.script !== undefined) harness.setScript(opts.script);
  opts.onHarness?.(harness);
  const startDelaySeconds = opts.workload?.startDelaySeconds ?? 2;
  let plan: FaultPlan = opts.plan ?? [];
  if (opts.plan === undefined && opts.faults !== undefined) {
    plan = generateFaultPlan(world.rng.fork("nemesis"), {
      classes: opts.faults,
      maxConcurrent: opts.maxConcurrentFaults ?? 1,
      startMs: Math.round(startDelaySeconds * 1000) + 2000,
      endMs: Math.round(opts.durationSeconds * 1000),
      servers: harness.partitionNodes(),
      roles: harness.roles(),
    });
  }
  world.sim.emit("runner", "start", { system: "raft", seed: opts.seed, faults: plan.length });
  const phases = runPhases({
    world,
    model: harness,
    plan,
    workloadUs: Math.round(opts.durationSeconds * US_PER_SECOND),
    drainTimeoutUs: Math.round((opts.workload?.drainTimeoutSeconds ?? 120) * US_PER_SECOND),
    faultTargets: harness.faultTargets(),
    maxEvents: opts.maxEvents ?? 50_000_000,
  });
  const history = harness.buildHistory();
  const anomalies = checkAll(history);
  world.sim.emit("runner", "verdict", { anomalies: anomalies.map((a) => ({ type: a.type, count: a.count })) });
  const fullPlan = [...plan, ...harness.realizedPlan].sort((a, b) => a.atMs - b.atMs);
  return {
    anomalies,
    traceHash: world.sim.traceDigest,
    plan: fullPlan,
    history,
    outcome: phases.outcome,
    events: world.sim.eventsRun,
    simTimeMs: Math.round(world.sim.now / US_PER_MS),
    harness,
  };
}
