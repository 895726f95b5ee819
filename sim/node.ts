import type { Callback, EventOwner, SimEvent, Simulation, Timer } from "./kernel.js";
import type { Disk } from "./disk.js";
import type { Connection, Network } from "./network.js";
import type { Rng } from "./rng.js";
import type { Micros } from "./time.js";

/**
 * `up`: the process runs. `process-down`: the process died but the machine
 * (its kernel, page cache and TCP stack) is up, so peers get a reset.
 * `machine-down`: the machine is off (power loss, disk replacement): peers
 * hear nothing and must time out.
 */
export type NodeState = "up" | "process-down" | "machine-down";

export type NodeKind = "server" | "client";

/** What a model's process hands the kernel when it boots. */
export interface ProcessHandlers {
  /** A message arrived on a connection (either end may have opened it). */
  onMessage(conn: Connection, payload: unknown): void;
  /** A peer opened a connection to this node. */
  onAccept?(conn: Connection): void;
  /** The connection closed: the peer closed it, reset it, or it timed out. */
  onClose?(conn: Connection, reason: CloseReason): void;
  /** A datagram arrived (datagram mode only). */
  onDatagram?(from: string, payload: unknown): void;
}

export type CloseReason = "closed-by-peer" | "reset" | "timeout" | "refused" | "connect-timeout";

/**
 * Boots a process on a node: runs its recovery against the node's disk and
 * returns its handlers. Called at first start and after every restart.
 */
export type ProcessFactory = (ctx: NodeContext) => ProcessHandlers;

export class SimNode implements EventOwner {
  incarnation = 0;
  paused = false;
  deferred: SimEvent[] = [];
  state: NodeState = "machine-down";
  handlers: ProcessHandlers | null = null;
  ctx: NodeContext | null = null;
  /** How many times this node has booted; 1 after the first start. */
  boots = 0;

  constructor(
    readonly name: string,
    readonly index: number,
    readonly kind: NodeKind,
    readonly disk: Disk,
    readonly rng: Rng,
    readonly factory: ProcessFactory,
  ) {}

  get up(): boolean {
    return this.state === "up";
  }
}

/**
 * A process's view of the world for one incarnation: every timer it sets and
 * every message it receives belongs to that incarnation and dies with it.
 */
export class NodeContext {
  /** Seeded randomness private to this incarnation of this node. */
  readonly rng: Rng;

  constructor(
    readonly node: SimNode,
    readonly sim: Simulation,
    readonly net: Network,
    readonly incarnation: number,
  ) {
    this.rng = node.rng.fork(`boot-${incarnation}`);
  }

  get name(): string {
    return this.node.name;
  }

  get now(): Micros {
    return this.sim.now;
  }

  get disk(): Disk {
    return this.node.disk;
  }

  /** True while this incarnation is the node's live one. */
  get alive(): boolean {
    return this.node.incarnation === this.incarnation && this.node.state === "up";
  }

  after(delayUs: Micros, fn: Callback, arg?: unknown): Timer {
    return this.sim.after(delayUs, fn, arg, this.node);
  }

  /**
   * Like `after`, with a caller-made event object (a subclass of SimEvent
   * that carries the caller's own state), saving allocations on hot paths.
   */
  afterEvent<E extends SimEvent>(ev: E, delayUs: Micros, fn: Callback, arg?: unknown): E {
    return this.sim.scheduleEvent(ev, this.sim.now + Math.max(0, Math.round(delayUs)), fn, arg, this.node);
  }

  at(timeUs: Micros, fn: Callback, arg?: unknown): Timer {
    return this.sim.schedule(timeUs, fn, arg, this.node);
  }

  cancel(timer: Timer | null | undefined): void {
    this.sim.cancel(timer);
  }

  emit(kind: string, details?: Record<string, unknown>): void {
    this.sim.emit(this.node.name, kind, details);
  }

  connect(to: string): Connection {
    return this.net.connect(this.node, to);
  }

  send(conn: Connection, payload: unknown, sizeBytes = 0): void {
    this.net.send(conn, this.node, payload, sizeBytes);
  }

  close(conn: Connection): void {
    this.net.close(conn, this.node);
  }

  sendDatagram(to: string, payload: unknown): void {
    this.net.sendDatagram(this.node, to, payload);
  }
}
