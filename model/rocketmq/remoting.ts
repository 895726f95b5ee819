import { SimEvent } from "../../sim/kernel.js";
import type { Connection } from "../../sim/network.js";
import type { CloseReason, NodeContext, ProcessHandlers } from "../../sim/node.js";
import { ResponseCode, type RemotingMessage, type RemotingRequest, type RemotingResponse } from "./protocol.js";

/** Why an invocation produced no response. `send-failed` means the request certainly never left. */
export type RemotingError = "timeout" | "connection-closed" | "connect-failed" | "send-failed";

export type ResponseCallback = (resp: RemotingResponse | null, error: RemotingError | null) => void;

/** Handles one request; returns a response now, or null and answers later with `reply` (or never, for oneway). */
export type RequestProcessor = (req: RemotingRequest, conn: Connection) => RemotingResponse | null;

/** A call waiting for its response. It is also its own timeout event: one object per request instead of three. */
class PendingCall extends SimEvent {
  constructor(
    readonly opaque: number,
    readonly conn: Connection,
    readonly cb: ResponseCallback,
  ) {
    super();
  }
}

/**
 * One process's remoting endpoint, playing both Netty roles: a client with
 * one channel per peer address and a response table keyed by opaque, and a
 * server dispatching requests to processors. A channel that closes fails
 * its pending calls at once (NettyRemotingAbstract.failFast); the next
 * invocation reconnects.
 */
export class Remoting {
  private readonly channels = new Map<string, Connection>();
  private readonly pending = new Map<number, PendingCall>();
  private readonly processors = new Map<number, RequestProcessor>();
  private nextOpaque = 1;
  /** Listeners told when a channel to or from this process closes. */
  private readonly closeListeners: Array<(conn: Connection, peer: string, reason: CloseReason) => void> = [];
  private readonly acceptListeners: Array<(conn: Connection) => void> = [];

  constructor(private readonly ctx: NodeContext) {}

  registerProcessor(code: number, processor: RequestProcessor): void {
    this.processors.set(code, processor);
  }

  onChannelClose(listener: (conn: Connection, peer: string, reason: CloseReason) => void): void {
    this.closeListeners.push(listener);
  }

  onAccept(listener: (conn: Connection) => void): void {
    this.acceptListeners.push(listener);
  }

  /** The process handlers to give the kernel. */
  handlers(): ProcessHandlers {
    return {
      onMessage: (conn, payload) => this.onMessage(conn, payload as RemotingMessage),
      onAccept: (conn) => {
        for (const l of this.acceptListeners) l(conn);
      },
      onClose: (conn, reason) => this.onClose(conn, reason),
    };
  }

  private channel(addr: string): Connection {
    const existing = this.channels.get(addr);
    if (existing !== undefined && existing.isOpenFor(this.ctx.node)) return existing;
    const conn = this.ctx.connect(addr);
    this.channels.set(addr, conn);
    return conn;
  }

  /** Sends a request and calls back with the response, or with an error after `timeoutMs`. */
  invoke(addr: string, code: number, body: unknown, timeoutMs: number, cb: ResponseCallback): void {
    const conn = this.channel(addr);
    const opaque = this.nextOpaque++;
    const req: RemotingRequest = { type: "req", code, opaque, oneway: false, body };
    const call = new PendingCall(opaque, conn, cb);
    this.ctx.afterEvent(call, Math.max(1, Math.round(timeoutMs * 1000)), this.onTimeout, call);
    this.pending.set(opaque, call);
    this.ctx.send(conn, req);
  }

  /** A call's timeout fired: it is still pending, since answering or failing it cancels the timeout. */
  private readonly onTimeout = (call: PendingCall): void => {
    if (this.pending.get(call.opaque) !== call) return;
    this.pending.delete(call.opaque);
    call.cb(null, "timeout");
  };

  invokeOneway(addr: string, code: number, body: unknown): void {
    const conn = this.channel(addr);
    this.ctx.send(conn, { type: "req", code, opaque: this.nextOpaque++, oneway: true, body } satisfies RemotingRequest);
  }

  /** Sends a request on an existing connection (a server pushing to a client), fire and forget. */
  notify(conn: Connection, code: number, body: unknown): void {
    this.ctx.send(conn, { type: "req", code, opaque: this.nextOpaque++, oneway: true, body } satisfies RemotingRequest);
  }

  reply(conn: Connection, req: RemotingRequest, code: number, body: unknown = null, remark?: string): void {
    if (req.oneway) return;
    const resp: RemotingResponse = remark === undefined ? { type: "resp", code, opaque: req.opaque, body } : { type: "resp", code, opaque: req.opaque, body, remark };
    this.ctx.send(conn, resp);
  }

  closeChannel(addr: string): void {
    const conn = this.channels.get(addr);
    if (conn === undefined) return;
    this.channels.delete(addr);
    this.ctx.close(conn);
    this.failPending(conn, "connection-closed");
  }

  private onMessage(conn: Connection, msg: RemotingMessage): void {
    if (msg.type === "resp") {
      const call = this.pending.get(msg.opaque);
      if (call === undefined) return; // Late response after a timeout: dropped, as Netty does.
      this.pending.delete(msg.opaque);
      this.ctx.cancel(call);
      call.cb(msg, null);
      return;
    }
    const processor = this.processors.get(msg.code);
    if (processor === undefined) {
      this.reply(conn, msg, ResponseCode.REQUEST_CODE_NOT_SUPPORTED, null, `request code ${msg.code} not supported`);
      return;
    }
    const resp = processor(msg, conn);
    if (resp !== null && !msg.oneway) this.ctx.send(conn, resp);
  }

  private onClose(conn: Connection, reason: CloseReason): void {
    const peer = conn.peerOf(this.ctx.node).name;
    if (this.channels.get(peer) === conn) this.channels.delete(peer);
    this.failPending(conn, reason === "refused" || reason === "connect-timeout" ? "connect-failed" : "connection-closed");
    for (const l of this.closeListeners) l(conn, peer, reason);
  }

  private failPending(conn: Connection, error: RemotingError): void {
    const failed: Array<[PendingCall, RemotingError]> = [];
    for (const [opaque, call] of this.pending) {
      if (call.conn !== conn) continue;
      this.pending.delete(opaque);
      this.ctx.cancel(call);
      failed.push([call, error]);
    }
    for (const [call, err] of failed) call.cb(null, err);
  }
}

export function response(code: number, body: unknown, req: RemotingRequest, remark?: string): RemotingResponse {
  return remark === undefined ? { type: "resp", code, opaque: req.opaque, body } : { type: "resp", code, opaque: req.opaque, body, remark };
}
