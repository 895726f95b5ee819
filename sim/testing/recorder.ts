import type { Connection } from "../network.js";
import type { CloseReason, NodeContext, ProcessHandlers } from "../node.js";
import { World, type WorldOptions } from "../world.js";

/** What a recording process saw, in order, with simulated times. */
export type Seen =
  | { t: number; node: string; what: "msg"; from: string; payload: unknown; conn: number }
  | { t: number; node: string; what: "accept"; from: string; conn: number }
  | { t: number; node: string; what: "close"; peer: string; reason: CloseReason; conn: number }
  | { t: number; node: string; what: "datagram"; from: string; payload: unknown };

/**
 * A world of processes that only record what reaches them, for tests of the
 * network and of fault injection. `ctx(name)` gives the live context of a
 * node so a test can send from it.
 */
export function recordingWorld(names: readonly string[], opts: Partial<WorldOptions> = {}) {
  const world = new World({ seed: opts.seed ?? 1, ...(opts.network ? { network: opts.network } : {}), ...(opts.disk ? { disk: opts.disk } : {}) });
  const seen: Seen[] = [];
  const factory = (ctx: NodeContext): ProcessHandlers => ({
    onMessage(conn: Connection, payload: unknown) {
      seen.push({ t: ctx.now, node: ctx.name, what: "msg", from: conn.peerOf(ctx.node).name, payload, conn: conn.id });
    },
    onAccept(conn: Connection) {
      seen.push({ t: ctx.now, node: ctx.name, what: "accept", from: conn.peerOf(ctx.node).name, conn: conn.id });
    },
    onClose(conn: Connection, reason: CloseReason) {
      seen.push({ t: ctx.now, node: ctx.name, what: "close", peer: conn.peerOf(ctx.node).name, reason, conn: conn.id });
    },
    onDatagram(from: string, payload: unknown) {
      seen.push({ t: ctx.now, node: ctx.name, what: "datagram", from, payload });
    },
  });
  for (const n of names) world.addNode(n, factory);
  world.startAll();
  const ctx = (name: string): NodeContext => {
    const c = world.node(name).ctx;
    if (c === null) throw new Error(`${name} is down`);
    return c;
  };
  const messages = (node: string) => seen.filter((s) => s.node === node && s.what === "msg").map((s) => (s as { payload: unknown }).payload);
  type Close = Extract<Seen, { what: "close" }>;
  const closes = (node?: string): Close[] => seen.filter((s): s is Close => s.what === "close" && (node === undefined || s.node === node));
  return { world, sim: world.sim, seen, ctx, messages, closes };
}
