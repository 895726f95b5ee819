import { SimEvent, type Simulation, type Timer } from "./kernel.js";
import type { CloseReason, SimNode } from "./node.js";
import type { Rng } from "./rng.js";
import type { Micros } from "./time.js";
import { z } from "zod";

export const NetworkConfigSchema = z
  .object({
    /** One-way latency is latencyUsMin + Exp(latencyUsMean - latencyUsMin), capped at latencyUsMax. */
    latencyUsMin: z.number().int().min(0).default(200),
    latencyUsMean: z.number().int().min(0).default(500),
    latencyUsMax: z.number().int().min(0).default(20_000),
    /**
     * How long a connection may have unacknowledged data (its path blocked,
     * or its peer's machine off) before TCP gives up and both ends see a
     * reset. Linux's own retransmission limit (tcp_retries2) is about 15
     * minutes; servers close silent channels far sooner (RocketMQ's Netty
     * idle handlers, Kafka's request timeouts), so 30 s is the default.
     */
    retransmitGiveUpUs: z.number().int().min(1).default(30_000_000),
    /** NettyClientConfig.connectTimeoutMillis = 3000 in RocketMQ. */
    connectTimeoutUs: z.number().int().min(1).default(3_000_000),
    /** Datagram mode only: chance that a datagram is dropped. */
    datagramLossProbability: z.number().min(0).max(1).default(0),
    /** Datagram mode only: chance that a datagram is delivered twice. */
    datagramDuplicateProbability: z.number().min(0).max(1).default(0),
    /**
     * Emit a trace event for every connection message: `net.msg` on the
     * receiver when it arrives (with the time it was sent), `net.drop` when
     * it is lost with its connection. One event per message keeps traces
     * small while still letting a timeline draw every arrow.
     */
    traceMessages: z.boolean().default(false),
  })
  .strict();

export type NetworkConfig = z.infer<typeof NetworkConfigSchema>;

type PacketKind = "syn" | "data" | "fin" | "rst";

/** A packet is its own delivery event, to save an allocation per message. */
class Packet extends SimEvent {
  /** When the sender handed it to the network; survives being held behind a partition. */
  readonly sentUs: number;
  constructor(
    readonly conn: Connection,
    /** 0: from the initiator `a` to `b`; 1: from `b` to `a`. */
    readonly dir: 0 | 1,
    readonly kind: PacketKind,
    readonly payload: unknown,
    readonly id: number,
    sentUs: number,
  ) {
    super();
    this.sentUs = sentUs;
  }
}

/**
 * A TCP-like connection between two processes: reliable and FIFO per
 * direction while it lives. Each end learns of its close on its own: through
 * the peer's FIN or RST, or through its own timeout when data goes
 * unacknowledged for `retransmitGiveUpUs`.
 */
export class Connection {
  /** Incarnation of `b` that accepted the connection; -1 until the SYN arrives. */
  bIncarnation = -1;
  established = false;
  /** Which ends have seen the connection close: [a, b]. */
  readonly endClosed: [boolean, boolean] = [false, false];
  /** Delivery time of the last packet scheduled in each direction, to keep FIFO. */
  readonly lastDeliverUs: [number, number] = [0, 0];
  /** Packets waiting behind a blocked path, in order. */
  readonly held: [Packet[], Packet[]] = [[], []];
  stallTimer: Timer | null = null;

  constructor(
    readonly id: number,
    readonly a: SimNode,
    readonly b: SimNode,
    readonly aIncarnation: number,
  ) {}

  /** The node at the other end from `node`. */
  peerOf(node: SimNode): SimNode {
    return node === this.a ? this.b : this.a;
  }

  /** True while `node`'s end has not seen the connection close. */
  isOpenFor(node: SimNode): boolean {
    return !this.endClosed[node === this.a ? 0 : 1];
  }

  get closed(): boolean {
    return this.endClosed[0] && this.endClosed[1];
  }
}

export interface PartitionHandle {
  readonly id: number;
  readonly edges: ReadonlyArray<readonly [number, number]>;
}

/**
 * The simulated network. It carries opaque payloads between nodes and knows
 * nothing of protocols. Faults: blocked paths (partitions of any shape,
 * one-way or both), clogged paths (delay without loss), resets, and in
 * datagram mode loss, duplication and reordering.
 */
export class Network {
  private readonly nodes: SimNode[] = [];
  private readonly byName = new Map<string, SimNode>();
  private blocked = new Int32Array(0);
  private clogUntil = new Float64Array(0);
  private readonly conns = new Map<number, Connection>();
  private nextConnId = 1;
  private nextPacketId = 1;
  private nextPartitionId = 1;
  private readonly partitions = new Map<number, PartitionHandle>();
  /** Number of blocked directed edges (with multiplicity); 0 lets the hot path skip lookups. */
  private blockedEdges = 0;
  /** Latest clog end on any path; the hot path skips clog lookups once it has passed. */
  private clogHorizonUs = 0;
  /** Packets sent and delivered, for statistics. */
  packetsSent = 0;
  packetsDelivered = 0;

  constructor(
    private readonly sim: Simulation,
    private readonly rng: Rng,
    readonly config: NetworkConfig,
  ) {}

  addNode(node: SimNode): void {
    if (this.byName.has(node.name)) throw new Error(`network: duplicate node ${node.name}`);
    if (node.index !== this.nodes.length) throw new Error(`network: node ${node.name} has index ${node.index}, expected ${this.nodes.length}`);
    this.nodes.push(node);
    this.byName.set(node.name, node);
    const n = this.nodes.length;
    const blocked = new Int32Array(n * n);
    const clog = new Float64Array(n * n);
    const m = n - 1;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        blocked[i * n + j] = this.blocked[i * m + j] ?? 0;
        clog[i * n + j] = this.clogUntil[i * m + j] ?? 0;
      }
    }
    this.blocked = blocked;
    this.clogUntil = clog;
  }

  node(name: string): SimNode {
    const n = this.byName.get(name);
    if (n === undefined) throw new Error(`network: unknown node ${name}`);
    return n;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** Open connections (either end still open), in creation order. */
  openConnections(): Connection[] {
    return [...this.conns.values()];
  }

  // ---- paths ------------------------------------------------------------

  isBlocked(from: SimNode, to: SimNode): boolean {
    if (this.blockedEdges === 0) return false;
    return (this.blocked[from.index * this.nodes.length + to.index] ?? 0) > 0;
  }

  /** Blocks every listed directed path until `unblock`. Overlapping blocks nest. */
  block(edges: ReadonlyArray<readonly [string, string]>): PartitionHandle {
    const n = this.nodes.length;
    const idx: Array<readonly [number, number]> = [];
    for (const [f, t] of edges) {
      const from = this.node(f).index;
      const to = this.node(t).index;
      if (from === to) continue;
      idx.push([from, to]);
      this.blocked[from * n + to]! += 1;
      this.blockedEdges++;
    }
    const handle: PartitionHandle = { id: this.nextPartitionId++, edges: idx };
    this.partitions.set(handle.id, handle);
    return handle;
  }

  unblock(handle: PartitionHandle): void {
    if (!this.partitions.delete(handle.id)) return;
    const n = this.nodes.length;
    for (const [from, to] of handle.edges) this.blocked[from * n + to]! -= 1;
    this.blockedEdges -= handle.edges.length;
    this.afterPathsChanged();
  }

  /** Removes every partition and clog. */
  healAll(): void {
    this.partitions.clear();
    this.blocked.fill(0);
    this.blockedEdges = 0;
    this.clogUntil.fill(0);
    this.clogHorizonUs = 0;
    this.afterPathsChanged();
  }

  /** Delays every packet on from→to so none arrives before `untilUs` (no loss, FIFO kept). */
  clog(from: string, to: string, untilUs: Micros): void {
    const i = this.node(from).index * this.nodes.length + this.node(to).index;
    this.clogUntil[i] = Math.max(this.clogUntil[i] ?? 0, untilUs);
    this.clogHorizonUs = Math.max(this.clogHorizonUs, untilUs);
  }

  /** After a heal: flush held packets in order and end stalls that no longer have a cause. */
  private afterPathsChanged(): void {
    for (const conn of this.conns.values()) {
      if (conn.stallTimer === null) continue;
      for (const dir of [0, 1] as const) {
        const from = dir === 0 ? conn.a : conn.b;
        const to = dir === 0 ? conn.b : conn.a;
        if (this.isBlocked(from, to)) continue;
        const held = conn.held[dir];
        if (held.length === 0) continue;
        conn.held[dir] = [];
        for (const p of held) this.transmit(p);
      }
      const stillBlocked = this.isBlocked(conn.a, conn.b) || this.isBlocked(conn.b, conn.a);
      const peerGone = conn.a.state === "machine-down" || (conn.established && conn.b.state === "machine-down");
      if (!stillBlocked && !peerGone && conn.held[0].length === 0 && conn.held[1].length === 0) {
        this.sim.cancel(conn.stallTimer);
        conn.stallTimer = null;
      }
    }
  }

  private latency(from: SimNode, to: SimNode): Micros {
    const c = this.config;
    const base = c.latencyUsMin + this.rng.exponential(Math.max(0, c.latencyUsMean - c.latencyUsMin));
    const lat = Math.min(base, Math.max(c.latencyUsMax, c.latencyUsMin));
    if (this.clogHorizonUs <= this.sim.now) return lat;
    const clog = this.clogUntil[from.index * this.nodes.length + to.index] ?? 0;
    return clog > this.sim.now ? clog - this.sim.now + lat : lat;
  }

  // ---- connections --------------------------------------------------------

  connect(from: SimNode, toName: string): Connection {
    const to = this.node(toName);
    const conn = new Connection(this.nextConnId++, from, to, from.incarnation);
    this.conns.set(conn.id, conn);
    this.transmit(new Packet(conn, 0, "syn", null, this.nextPacketId++, this.sim.now));
    return conn;
  }

  /** Sends a message; returns false (and sends nothing) if this end already saw the connection close. */
  send(conn: Connection, from: SimNode, payload: unknown, _sizeBytes = 0): boolean {
    const dir: 0 | 1 = from === conn.a ? 0 : 1;
    if (conn.endClosed[dir]) return false;
    const p = new Packet(conn, dir, "data", payload, this.nextPacketId++, this.sim.now);
    this.packetsSent++;
    this.transmit(p);
    return true;
  }

  /** Closes this end and sends a FIN to the peer. */
  close(conn: Connection, by: SimNode): void {
    const dir: 0 | 1 = by === conn.a ? 0 : 1;
    if (conn.endClosed[dir]) return;
    conn.endClosed[dir] = true;
    this.transmit(new Packet(conn, dir, "fin", null, this.nextPacketId++, this.sim.now));
    this.forgetIfClosed(conn);
  }

  /**
   * The process on `node` died. Its ends close at once. If the machine is
   * still up its kernel resets every connection (peers see a reset after
   * one trip); if the machine went off, peers hear nothing and time out.
   */
  onNodeDown(node: SimNode, machineUp: boolean): void {
    for (const conn of [...this.conns.values()]) {
      for (const dir of [0, 1] as const) {
        const end = dir === 0 ? conn.a : conn.b;
        if (end !== node || conn.endClosed[dir]) continue;
        if (dir === 1 && !conn.established) {
          // The SYN has not arrived yet; it will find the process gone.
          continue;
        }
        conn.endClosed[dir] = true;
        this.dropHeld(conn, dir, "sender-down");
        if (machineUp) this.transmit(new Packet(conn, dir, "rst", null, this.nextPacketId++, this.sim.now));
      }
      this.forgetIfClosed(conn);
    }
  }

  private transmit(p: Packet): void {
    const conn = p.conn;
    const from = p.dir === 0 ? conn.a : conn.b;
    const to = p.dir === 0 ? conn.b : conn.a;
    if (this.isBlocked(from, to)) {
      conn.held[p.dir].push(p);
      this.beginStall(conn);
      return;
    }
    // Data still arrives over a one-way cut, but the acknowledgements do not.
    if (p.kind !== "rst" && this.isBlocked(to, from)) this.beginStall(conn);
    const at = Math.max(this.sim.now + this.latency(from, to), conn.lastDeliverUs[p.dir]);
    conn.lastDeliverUs[p.dir] = at;
    this.sim.scheduleEvent(p, at, this.arriveCallback, p, null);
  }

  private readonly arriveCallback = (p: Packet): void => this.arrive(p);

  private arrive(p: Packet): void {
    const conn = p.conn;
    const toDir: 0 | 1 = p.dir === 0 ? 1 : 0;
    const to = p.dir === 0 ? conn.b : conn.a;
    if (conn.endClosed[toDir]) {
      // Data for a socket that no longer exists: a machine that is off says
      // nothing (the sender retransmits until it times out); a live kernel
      // answers with a reset.
      if (p.kind === "data" && this.config.traceMessages) this.traceMessage(to, p, "net.drop", "socket-closed");
      if (p.kind === "data" && !conn.endClosed[p.dir]) {
        if (to.state === "machine-down") this.beginStall(conn);
        else this.transmit(new Packet(conn, toDir, "rst", null, this.nextPacketId++, this.sim.now));
      }
      return;
    }
    // The common case first: data for a live, running process.
    if (p.kind === "data" && to.state === "up" && !to.paused && to.incarnation === (toDir === 0 ? conn.aIncarnation : conn.bIncarnation)) {
      this.packetsDelivered++;
      if (this.config.traceMessages) this.traceMessage(to, p, "net.msg", null);
      to.handlers!.onMessage(conn, p.payload);
      return;
    }
    if (p.kind === "syn") {
      if (to.state === "machine-down") {
        this.beginStall(conn);
        return;
      }
      if (to.state !== "up" || to.handlers === null) {
        conn.endClosed[1] = true;
        this.transmit(new Packet(conn, 1, "rst", null, this.nextPacketId++, this.sim.now));
        return;
      }
      conn.bIncarnation = to.incarnation;
      conn.established = true;
      this.deliverToProcess(to, conn.bIncarnation, "accept", conn, null);
      return;
    }
    const expectedInc = toDir === 0 ? conn.aIncarnation : conn.bIncarnation;
    if (p.kind === "data" && this.config.traceMessages && (to.state !== "up" || to.incarnation !== expectedInc)) {
      this.traceMessage(to, p, "net.drop", to.state === "machine-down" ? "machine-down" : "process-down");
    }
    if (to.state === "machine-down") {
      // Nobody acknowledges: the sender's TCP retransmits until it gives up.
      if (p.kind === "data") this.beginStall(conn);
      return;
    }
    if (to.state !== "up" || to.incarnation !== expectedInc) {
      // The kernel is up but the socket is gone: it answers with a reset.
      conn.endClosed[toDir] = true;
      if (p.kind === "data") this.transmit(new Packet(conn, toDir, "rst", null, this.nextPacketId++, this.sim.now));
      this.forgetIfClosed(conn);
      return;
    }
    if (p.kind === "data") {
      this.packetsDelivered++;
      if (this.config.traceMessages) this.traceMessage(to, p, "net.msg", null);
      this.deliverToProcess(to, expectedInc, "message", conn, p.payload);
    } else {
      conn.endClosed[toDir] = true;
      const reason: CloseReason = p.kind === "fin" ? "closed-by-peer" : conn.established ? "reset" : "refused";
      this.forgetIfClosed(conn);
      this.deliverToProcess(to, expectedInc, reason, conn, null);
    }
  }

  /**
   * Hands an event to the process. A paused process (SIGSTOP) cannot read
   * its socket: the kernel buffers, and the event waits until it resumes.
   */
  private deliverToProcess(to: SimNode, incarnation: number, what: "accept" | "message" | CloseReason, conn: Connection, payload: unknown): void {
    if (to.incarnation !== incarnation) return;
    if (to.paused) {
      this.sim.schedule(this.sim.now, () => this.dispatch(to, what, conn, payload), undefined, to);
      return;
    }
    this.dispatch(to, what, conn, payload);
  }

  private dispatch(to: SimNode, what: "accept" | "message" | CloseReason, conn: Connection, payload: unknown): void {
    const h = to.handlers;
    if (h === null) return;
    if (what === "message") h.onMessage(conn, payload);
    else if (what === "accept") h.onAccept?.(conn);
    else h.onClose?.(conn, what);
  }

  private dropHeld(conn: Connection, dir: 0 | 1, reason: string): void {
    const held = conn.held[dir];
    conn.held[dir] = [];
    if (!this.config.traceMessages) return;
    const to = dir === 0 ? conn.b : conn.a;
    for (const p of held) if (p.kind === "data") this.traceMessage(to, p, "net.drop", reason);
  }

  /** One trace event per message, on the receiver's lane: arrived (`net.msg`) or lost (`net.drop`). */
  private traceMessage(to: SimNode, p: Packet, kind: "net.msg" | "net.drop", reason: string | null): void {
    if (!this.sim.tracing) return;
    const from = p.dir === 0 ? p.conn.a : p.conn.b;
    this.sim.emitMessage(to.name, kind, from.name, p.conn.id, p.sentUs, this.labels.of(p.payload), reason);
  }

  /** Payload labels repeat endlessly ("req 310"): built once per (type, code). */
  private readonly labels = new PayloadLabels();

  private beginStall(conn: Connection): void {
    if (conn.stallTimer !== null) return;
    const timeout = conn.established ? this.config.retransmitGiveUpUs : this.config.connectTimeoutUs;
    conn.stallTimer = this.sim.after(timeout, this.stallCallback, conn);
  }

  private readonly stallCallback = (conn: Connection): void => {
    conn.stallTimer = null;
    // TCP gave up: each end that is still open sees the connection die.
    const reason: CloseReason = conn.established ? "timeout" : "connect-timeout";
    this.dropHeld(conn, 0, "reset");
    this.dropHeld(conn, 1, "reset");
    for (const dir of [0, 1] as const) {
      if (conn.endClosed[dir]) continue;
      conn.endClosed[dir] = true;
      const node = dir === 0 ? conn.a : conn.b;
      const inc = dir === 0 ? conn.aIncarnation : conn.bIncarnation;
      if (node.state === "up" && node.incarnation === inc) this.deliverToProcess(node, inc, reason, conn, null);
    }
    this.forgetIfClosed(conn);
  };

  private forgetIfClosed(conn: Connection): void {
    if (conn.closed && conn.held[0].length === 0 && conn.held[1].length === 0) {
      this.sim.cancel(conn.stallTimer);
      conn.stallTimer = null;
      this.conns.delete(conn.id);
    }
  }

  // ---- datagrams ----------------------------------------------------------

  /** Unreliable, unordered delivery: subject to loss, duplication and reordering. */
  sendDatagram(from: SimNode, toName: string, payload: unknown): void {
    const to = this.node(toName);
    this.packetsSent++;
    if (this.isBlocked(from, to)) return;
    if (this.rng.chance(this.config.datagramLossProbability)) return;
    const copies = this.rng.chance(this.config.datagramDuplicateProbability) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      // Each copy draws its own latency, so datagrams overtake each other.
      this.sim.after(this.latency(from, to), () => {
        if (to.state !== "up" || to.handlers?.onDatagram === undefined) return;
        this.packetsDelivered++;
        if (to.paused) {
          this.sim.schedule(this.sim.now, () => to.handlers?.onDatagram?.(from.name, payload), undefined, to);
        } else {
          to.handlers.onDatagram(from.name, payload);
        }
      });
    }
  }
}

/** Caches `describe` for payloads whose `type` is a string and `code` a number or absent. */
class PayloadLabels {
  private readonly byType = new Map<string, Map<number | undefined, string>>();

  of(payload: unknown): string {
    if (payload === null || typeof payload !== "object") return describe(payload);
    const o = payload as { type?: unknown; code?: unknown };
    if (typeof o.type !== "string" || (o.code !== undefined && typeof o.code !== "number")) return describe(payload);
    let byCode = this.byType.get(o.type);
    if (byCode === undefined) this.byType.set(o.type, (byCode = new Map()));
    let label = byCode.get(o.code);
    if (label === undefined) byCode.set(o.code, (label = describe(payload)));
    return label;
  }
}

/**
 * A short label for a payload, from generic fields only (the network knows
 * no protocol): `type`, and `code` when present.
 */
function describe(payload: unknown): string {
  if (payload !== null && typeof payload === "object") {
    const o = payload as { type?: unknown; code?: unknown };
    if (o.type !== undefined) return o.code !== undefined ? `${String(o.type)} ${String(o.code)}` : String(o.type);
  }
  return typeof payload;
}
