import type { FaultPlan } from "../faults.js";
import type { Connection } from "../network.js";
import type { NodeContext, ProcessHandlers } from "../node.js";
import { runPhases, type PhaseResult } from "../runner.js";
import { World } from "../world.js";

/**
 * A protocol-free workload for the kernel's own tests and benchmarks: every
 * node keeps a connection to every other node and bounces pings off them,
 * runs a heartbeat timer, and appends each pong to a journal on its disk
 * (fsynced every `fsyncEvery` records). Faults from a plan hit it like any
 * model; a restarted node reconnects and carries on from what its disk kept.
 */
export interface PingPongOptions {
  seed: number | string;
  nodes?: number;
  /** Pings each node keeps in flight per peer. */
  window?: number;
  workloadUs?: number;
  plan?: FaultPlan;
  /** Emit a trace event for every pong (slow; for determinism tests). */
  traceEvery?: number;
  fsyncEvery?: number;
  heartbeatUs?: number;
  /** Append every pong to a journal on disk (default true). */
  journal?: boolean;
  /** Called with the simulation before it starts, e.g. to attach a trace writer. */
  onTraceStart?: (sim: World["sim"]) => void;
}

export interface PingPongResult {
  phases: PhaseResult;
  traceHash: string;
  events: number;
  pongs: number;
  world: World;
}

interface Ping {
  type: "ping" | "pong";
  n: number;
}

export function runPingPong(opts: PingPongOptions): PingPongResult {
  const nodeCount = opts.nodes ?? 5;
  const window = opts.window ?? 2;
  const traceEvery = opts.traceEvery ?? 0;
  const fsyncEvery = opts.fsyncEvery ?? 64;
  const heartbeatUs = opts.heartbeatUs ?? 10_000;
  const useJournal = opts.journal ?? true;
  const world = new World({ seed: opts.seed });
  const names = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  let pongs = 0;

  const factory = (ctx: NodeContext): ProcessHandlers => {
    const peers = new Map<string, Connection>();
    const record = new Uint8Array(16);
    // Recovery: count whole records that survived on disk.
    const journal = "journal";
    let recovered = 0;
    if (ctx.disk.exists(journal)) {
      const size = ctx.disk.size(journal);
      recovered = Math.floor(size / record.length);
      if (size % record.length !== 0) ctx.disk.truncate(journal, recovered * record.length);
    }
    let written = recovered;
    ctx.emit("recover", { records: recovered });

    const connectTo = (peer: string): void => {
      const conn = ctx.connect(peer);
      peers.set(peer, conn);
      for (let i = 0; i < window; i++) ctx.send(conn, { type: "ping", n: i } satisfies Ping);
    };
    const reconnect = (peer: string): void => {
      if (ctx.alive) connectTo(peer);
    };
    for (const peer of names) if (peer !== ctx.name) connectTo(peer);

    let beats = 0;
    const heartbeat = (): void => {
      beats++;
      ctx.after(heartbeatUs, heartbeat);
    };
    ctx.after(heartbeatUs, heartbeat);

    return {
      onMessage(conn, payload) {
        const msg = payload as Ping;
        if (msg.type === "ping") {
          ctx.send(conn, { type: "pong", n: msg.n } satisfies Ping);
          return;
        }
        pongs++;
        if (useJournal) {
          record[0] = msg.n & 0xff;
          ctx.disk.append(journal, record);
          written++;
          if (written % fsyncEvery === 0) ctx.disk.fsync(journal);
        }
        if (traceEvery > 0 && pongs % traceEvery === 0) ctx.emit("pong", { from: conn.peerOf(ctx.node).name, n: msg.n, beats });
        ctx.send(conn, { type: "ping", n: msg.n + 1 } satisfies Ping);
      },
      onClose(conn, reason) {
        const peer = conn.peerOf(ctx.node).name;
        if (peers.get(peer) !== conn) return;
        peers.delete(peer);
        ctx.emit("conn.closed", { peer, reason });
        // Reconnect after a back-off, as real clients do.
        ctx.after(1_000_000, reconnect, peer);
      },
    };
  };

  for (const name of names) world.addNode(name, factory);
  opts.onTraceStart?.(world.sim);
  const phases = runPhases({
    world,
    model: {
      start: () => world.startAll(),
      isDrained: () => true,
    },
    plan: opts.plan ?? [],
    workloadUs: opts.workloadUs ?? 1_000_000,
    drainTimeoutUs: 1_000_000,
  });
  return { phases, traceHash: world.sim.traceDigest, events: world.sim.eventsRun, pongs, world };
}
