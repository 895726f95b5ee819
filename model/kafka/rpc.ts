import type { Timer } from "../../sim/kernel.js";
import type { Connection } from "../../sim/network.js";
import type { CloseReason, NodeContext, ProcessHandlers } from "../../sim/node.js";

/**
 * Why a call produced no response. `connect-failed`: the connection never
 * opened, so the request certainly never arrived. `disconnected`: the
 * connection broke after the request may have arrived. `timeout`: no answer
 * within the request timeout (the connection is then closed, as Kafka's
 * NetworkClient closes a connection whose request timed out).
 */
export type RpcError = "timeout" | "disconnected" | "connect-failed";

/** A message on a Kafka connection. `corr` 0 marks a one-way push. */
export interface RpcMessage {
  type: string;
  corr: number;
  response: boolean;
  body: unknown;
}

export type ResponseCallback = (body: unknown, error: RpcError | null) => void;
export type RequestHandler = (body: any, conn: Connection, corr: number) => void;

interface PendingCall {
  conn: Connection;
  cb: ResponseCallback;
  deadlineUs: number;
}

/**
 * One process's Kafka network client and server: one connection per peer,
 * requests matched to responses by correlation id, request timeouts, and
 * handlers per request type. A connection that closes fails its pending
 * calls at once; the next call reconnects.
 */
export class Rpc {
  private readonly conns = new Map<string, Connection>();
  private readonly pending = new Map<number, PendingCall>();
  private readonly handlers = new Map<string, RequestHandler>();
  private readonly closeListeners: Array<(peer: string, conn: Connection) => void> = [];
  private nextCorr = 1;
  /**
   * One timer for all request timeouts, due at the earliest deadline of the
   * calls pending when it was set. Almost every call is answered long before
   * its deadline, so a timer per call would mostly be scheduled only to be
   * cancelled (NetworkClient likewise checks timeouts on each poll).
   */
  private sweepTimer: Timer | null = null;
  private sweepAtUs = Number.POSITIVE_INFINITY;

  constructor(readonly ctx: NodeContext) {}

  handle(type: string, handler: RequestHandler): void {
    this.handlers.set(type, handler);
  }

  onClose(listener: (peer: string, conn: Connection) => void): void {
    this.closeListeners.push(listener);
  }

  processHandlers(): ProcessHandlers {
    return {
      onMessage: (conn, payload) => this.onMessage(conn, payload as RpcMessage),
      onClose: (conn, reason) => this.onConnClose(conn, reason),
    };
  }

  /** The process handlers of a process that may halt (Exit.exit after a fatal error): once halted, it answers nothing. */
  haltableHandlers(halted: () => boolean): ProcessHandlers {
    return {
      onMessage: (conn, payload) => {
        if (!halted()) this.onMessage(conn, payload as RpcMessage);
      },
      onClose: (conn, reason) => {
        if (!halted()) this.onConnClose(conn, reason);
      },
    };
  }

  /** The open connection to `peer`, opening one if needed. */
  connection(peer: string): Connection {
    const existing = this.conns.get(peer);
    if (existing !== undefined && existing.isOpenFor(this.ctx.node)) return existing;
    const conn = this.ctx.connect(peer);
    this.conns.set(peer, conn);
    return conn;
  }

  /** Requests in flight to `peer` (Kafka's per-connection in-flight count). */
  inFlightTo(peer: string): number {
    const conn = this.conns.get(peer);
    if (conn === undefined) return 0;
    let n = 0;
    for (const call of this.pending.values()) if (call.conn === conn) n++;
    return n;
  }

  call(peer: string, type: string, body: unknown, timeoutUs: number, cb: ResponseCallback): void {
    const conn = this.connection(peer);
    const corr = this.nextCorr++;
    const deadlineUs = this.ctx.now + Math.max(1, Math.round(timeoutUs));
    this.pending.set(corr, { conn, cb, deadlineUs });
    if (deadlineUs < this.sweepAtUs) this.armSweep(deadlineUs);
    this.ctx.send(conn, { type, corr, response: false, body } satisfies RpcMessage);
  }

  private armSweep(atUs: number): void {
    this.ctx.cancel(this.sweepTimer);
    this.sweepAtUs = atUs;
    this.sweepTimer = this.ctx.at(atUs, this.sweep);
  }

  /** A request that expects no answer (Kafka's acks=0 produce). */
  send(peer: string, type: string, body: unknown): void {
    this.ctx.send(this.connection(peer), { type, corr: 0, response: false, body } satisfies RpcMessage);
  }

  reply(conn: Connection, type: string, corr: number, body: unknown): void {
    if (corr === 0 || !conn.isOpenFor(this.ctx.node)) return;
    this.ctx.send(conn, { type, corr, response: true, body } satisfies RpcMessage);
  }

  /** A one-way message on an existing connection (the controller's metadata push). */
  push(conn: Connection, type: string, body: unknown): void {
    if (!conn.isOpenFor(this.ctx.node)) return;
    this.ctx.send(conn, { type, corr: 0, response: false, body } satisfies RpcMessage);
  }

  /** Closes the connection to `peer`, fails its pending calls as disconnected, and tells the close listeners. */
  disconnect(peer: string): void {
    const conn = this.conns.get(peer);
    if (conn === undefined) return;
    this.conns.delete(peer);
    this.ctx.close(conn);
    this.failPending(conn, "disconnected");
    for (const l of this.closeListeners) l(peer, conn);
  }

  /** Fails the calls whose deadline has passed, then waits for the next earliest deadline. */
  private readonly sweep = (): void => {
    this.sweepTimer = null;
    this.sweepAtUs = Number.POSITIVE_INFINITY;
    const now = this.ctx.now;
    const expired: PendingCall[] = [];
    for (const [corr, call] of this.pending) {
      if (call.deadlineUs > now) continue;
      this.pending.delete(corr);
      expired.push(call);
    }
    for (const call of expired) {
      call.cb(null, "timeout");
      // NetworkClient.handleTimedOutRequests: the connection is closed and its other requests fail too.
      const peer = call.conn.peerOf(this.ctx.node).name;
      if (this.conns.get(peer) === call.conn) this.disconnect(peer);
    }
    let next = Number.POSITIVE_INFINITY;
    for (const call of this.pending.values()) if (call.deadlineUs < next) next = call.deadlineUs;
    if (next < this.sweepAtUs) this.armSweep(next);
  };

  private onMessage(conn: Connection, msg: RpcMessage): void {
    if (msg.response) {
      const call = this.pending.get(msg.corr);
      // A late answer to a call that timed out is dropped, as the real client drops it.
      if (call === undefined) return;
      this.pending.delete(msg.corr);
      call.cb(msg.body, null);
      return;
    }
    const handler = this.handlers.get(msg.type);
    if (handler === undefined) throw new Error(`${this.ctx.name}: no handler for ${msg.type}`);
    handler(msg.body, conn, msg.corr);
  }

  private onConnClose(conn: Connection, reason: CloseReason): void {
    const peer = conn.peerOf(this.ctx.node).name;
    if (this.conns.get(peer) === conn) this.conns.delete(peer);
    this.failPending(conn, reason === "refused" || reason === "connect-timeout" ? "connect-failed" : "disconnected");
    for (const l of this.closeListeners) l(peer, conn);
  }

  private failPending(conn: Connection, error: RpcError): void {
    const failed: PendingCall[] = [];
    for (const [corr, call] of this.pending) {
      if (call.conn !== conn) continue;
      this.pending.delete(corr);
      failed.push(call);
    }
    for (const call of failed) call.cb(null, error);
  }
}
