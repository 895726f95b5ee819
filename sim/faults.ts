import { z } from "zod";
import type { Timer } from "./kernel.js";
import type { PartitionHandle } from "./network.js";
import { bridgeEdges, isolateEdges, majoritiesRingEdges, oneWayEdges, splitEdges, type Edge } from "./partition.js";
import type { Rng } from "./rng.js";
import { US_PER_MS } from "./time.js";
import type { World } from "./world.js";

/** The fault classes a user names on the command line. `mixed` expands to four of them. */
export const FAULT_CLASSES = ["none", "process-crash", "power-loss", "power-loss-all", "disk-loss", "partition", "pause", "mixed"] as const;
export const FaultClassSchema = z.enum(FAULT_CLASSES);
export type FaultClass = z.infer<typeof FaultClassSchema>;

export const MIXED_CLASSES: readonly FaultClass[] = ["process-crash", "power-loss", "partition", "pause"];

export const FaultKindSchema = z.enum(["process-crash", "power-loss", "power-loss-all", "disk-loss", "partition", "pause", "clog", "slow-disk"]);
export type FaultKind = z.infer<typeof FaultKindSchema>;

export const PartitionShapeSchema = z.enum(["isolate", "halves", "bridge", "majorities-ring", "one-way"]);
export type PartitionShape = z.infer<typeof PartitionShapeSchema>;

/**
 * One fault: data, so that a plan can be recorded, replayed and shrunk.
 * `targets` are node names or role selectors (`@random`, `@all`, or one the
 * model defines, such as `@leader`), resolved when the fault fires.
 * Partition groups: `halves` [a, b]; `bridge` [left, right, [bridge]];
 * `majorities-ring` [ring order]; `one-way` [from, to]; `isolate` uses the
 * first target.
 */
export const FaultSchema = z
  .object({
    atMs: z.number().int().min(0),
    kind: FaultKindSchema,
    durationMs: z.number().int().min(1),
    targets: z.array(z.string().min(1)).default([]),
    shape: PartitionShapeSchema.optional(),
    groups: z.array(z.array(z.string().min(1))).optional(),
    /** slow-disk only: extra fsync latency. */
    extraLatencyMs: z.number().int().min(0).optional(),
  })
  .strict();

export type Fault = z.infer<typeof FaultSchema>;
export const FaultPlanSchema = z.array(FaultSchema);
export type FaultPlan = Fault[];

export function expandClasses(classes: readonly FaultClass[]): FaultClass[] {
  const out: FaultClass[] = [];
  for (const c of classes) {
    const add = c === "mixed" ? MIXED_CLASSES : c === "none" ? [] : [c];
    for (const a of add) if (!out.includes(a)) out.push(a);
  }
  return out;
}

export interface NemesisOptions {
  classes: readonly FaultClass[];
  /** At most this many faults are active at once. */
  maxConcurrent: number;
  /** Faults start inside [startMs, endMs) and heal by endMs at the latest. */
  startMs: number;
  endMs: number;
  /** Server nodes that partitions split. */
  servers: readonly string[];
  /** Role selectors the model offers (`@leader`, ...), used besides `@random`. */
  roles?: readonly string[];
}

interface ClassSpec {
  kind: FaultKind;
  minMs: number;
  maxMs: number;
}

/** How long each class of fault lasts before it heals (the node restarts, the partition heals). */
const CLASS_SPECS: Record<Exclude<FaultClass, "none" | "mixed">, ClassSpec> = {
  "process-crash": { kind: "process-crash", minMs: 1_000, maxMs: 30_000 },
  "power-loss": { kind: "power-loss", minMs: 1_000, maxMs: 30_000 },
  "power-loss-all": { kind: "power-loss-all", minMs: 1_000, maxMs: 20_000 },
  "disk-loss": { kind: "disk-loss", minMs: 5_000, maxMs: 60_000 },
  partition: { kind: "partition", minMs: 5_000, maxMs: 60_000 },
  pause: { kind: "pause", minMs: 1_000, maxMs: 20_000 },
};

/**
 * Turns a seed into an explicit fault plan. Swarm testing: each seed draws
 * its own mix (a weight per class) and its own rate, so different seeds
 * explore different regions: some barely faulted, some hammered.
 */
export function generateFaultPlan(rng: Rng, opts: NemesisOptions): FaultPlan {
  const classes = expandClasses(opts.classes) as Array<keyof typeof CLASS_SPECS>;
  if (classes.length === 0 || opts.endMs <= opts.startMs || opts.servers.length === 0) return [];
  const weights = classes.map(() => 0.1 + rng.next());
  const meanGapMs = rng.between(3_000, 30_000);
  const maxConcurrent = Math.max(1, opts.maxConcurrent);
  const plan: Fault[] = [];
  const activeEnds: number[] = [];
  let t = opts.startMs + rng.exponential(meanGapMs);
  while (t < opts.endMs) {
    activeEnds.sort((a, b) => a - b);
    while (activeEnds.length > 0 && activeEnds[0]! <= t) activeEnds.shift();
    if (activeEnds.length >= maxConcurrent) {
      // Wait for the earliest active fault to heal.
      t = activeEnds[0]!;
      continue;
    }
    const cls = classes[weightedIndex(rng, weights)]!;
    const spec = CLASS_SPECS[cls];
    const room = opts.endMs - t;
    if (room < spec.minMs) break;
    const durationMs = rng.between(spec.minMs, Math.min(spec.maxMs, room));
    plan.push(makeFault(rng, spec.kind, t, durationMs, opts));
    activeEnds.push(t + durationMs);
    t += 1 + rng.exponential(meanGapMs);
  }
  return plan;
}

function weightedIndex(rng: Rng, weights: readonly number[]): number {
  let total = 0;
  for (const w of weights) total += w;
  let x = rng.next() * total;
  for (let i = 0; i < weights.length; i++) {
    x -= weights[i]!;
    if (x < 0) return i;
  }
  return weights.length - 1;
}

function pickTarget(rng: Rng, roles: readonly string[]): string {
  return roles.length > 0 && rng.chance(0.5) ? rng.pick(roles) : "@random";
}

function makeFault(rng: Rng, kind: FaultKind, atMs: number, durationMs: number, opts: NemesisOptions): Fault {
  const roles = opts.roles ?? [];
  const at = Math.round(atMs);
  switch (kind) {
    case "power-loss-all":
      return { atMs: at, kind, durationMs, targets: ["@all"] };
    case "partition": {
      const servers = rng.shuffle(opts.servers);
      const shapes: Array<z.infer<typeof PartitionShapeSchema>> = ["isolate", "halves", "one-way"];
      if (servers.length >= 3) shapes.push("bridge");
      if (servers.length >= 4) shapes.push("majorities-ring");
      const shape = rng.pick(shapes);
      if (shape === "isolate") return { atMs: at, kind, durationMs, targets: [pickTarget(rng, roles)], shape };
      if (shape === "majorities-ring") return { atMs: at, kind, durationMs, targets: [], shape, groups: [servers] };
      if (shape === "bridge") {
        const mid = Math.floor((servers.length - 1) / 2);
        return { atMs: at, kind, durationMs, targets: [], shape, groups: [servers.slice(0, mid), servers.slice(mid + 1), [servers[mid]!]] };
      }
      const cut = rng.int(1, Math.max(1, servers.length - 1));
      return { atMs: at, kind, durationMs, targets: [], shape, groups: [servers.slice(0, cut), servers.slice(cut)] };
    }
    default:
      return { atMs: at, kind, durationMs, targets: [pickTarget(rng, roles)] };
  }
}

interface ActiveFault {
  fault: Fault;
  index: number;
  nodes: string[];
  partition: PartitionHandle | null;
  healTimer: Timer | null;
}

/**
 * Carries out a fault plan against a world: fires each fault at its time,
 * heals it after its duration, and heals everything at the end of the
 * workload phase. Every step is a trace event.
 */
export class FaultInjector {
  private readonly active: ActiveFault[] = [];
  private readonly rng: Rng;
  /** Nodes currently under a node fault (crashed, paused, powered off). */
  private readonly faulted = new Set<string>();

  constructor(
    private readonly world: World,
    rng: Rng,
    /** Nodes that faults may hit; clients are never crashed. */
    private readonly servers: readonly string[] = world.serverNames(),
  ) {
    this.rng = rng;
  }

  schedule(plan: FaultPlan): void {
    plan.forEach((fault, index) => {
      this.world.sim.schedule(fault.atMs * US_PER_MS, () => this.inject(fault, index));
    });
  }

  get activeCount(): number {
    return this.active.length;
  }

  private candidates(): string[] {
    return this.servers.filter((n) => !this.faulted.has(n) && this.world.node(n).up);
  }

  inject(fault: Fault, index = -1): void {
    const sim = this.world.sim;
    let nodes: string[] = [];
    let partition: PartitionHandle | null = null;
    const resolveAll = (cands: readonly string[]): string[] => {
      const out: string[] = [];
      for (const t of fault.targets) for (const n of this.world.resolve(t, cands, this.rng)) if (!out.includes(n)) out.push(n);
      return out;
    };
    switch (fault.kind) {
      case "process-crash":
      case "power-loss":
      case "disk-loss":
      case "pause":
      case "slow-disk":
        nodes = resolveAll(this.candidates()).filter((n) => !this.faulted.has(n));
        break;
      case "power-loss-all":
        nodes = this.servers.filter((n) => !this.faulted.has(n));
        break;
      case "partition":
      case "clog": {
        const edges = this.partitionEdges(fault);
        nodes = [...new Set(edges.flatMap((e) => [e[0], e[1]]))];
        if (fault.kind === "partition") partition = this.world.net.block(edges);
        else for (const [a, b] of edges) this.world.net.clog(a, b, sim.now + fault.durationMs * US_PER_MS);
        break;
      }
    }
    if (nodes.length === 0) {
      sim.emit("nemesis", "fault.skip", { index, kind: fault.kind, reason: "no eligible target" });
      return;
    }
    for (const n of nodes) {
      switch (fault.kind) {
        case "process-crash":
          this.world.crash(n, "process");
          break;
        case "power-loss":
        case "power-loss-all":
          this.world.crash(n, "power");
          break;
        case "disk-loss":
          this.world.crash(n, "disk");
          break;
        case "pause":
          this.world.pause(n);
          break;
        case "slow-disk":
          this.world.node(n).disk.slowDown(sim.now + fault.durationMs * US_PER_MS, (fault.extraLatencyMs ?? 1000) * US_PER_MS);
          break;
        default:
          break;
      }
    }
    const isNodeFault = fault.kind !== "partition" && fault.kind !== "clog";
    if (isNodeFault) for (const n of nodes) this.faulted.add(n);
    sim.emit("nemesis", "fault.start", { index, kind: fault.kind, nodes, ...(fault.shape ? { shape: fault.shape } : {}), durationMs: fault.durationMs });
    const entry: ActiveFault = { fault, index, nodes, partition, healTimer: null };
    entry.healTimer = sim.after(fault.durationMs * US_PER_MS, () => this.heal(entry));
    this.active.push(entry);
  }

  private partitionEdges(fault: Fault): Edge[] {
    const servers = this.servers;
    const groups = fault.groups ?? [];
    for (const g of groups) for (const n of g) if (!this.world.has(n)) throw new Error(`fault partition: unknown node ${n}`);
    switch (fault.shape ?? "isolate") {
      case "isolate": {
        const target = this.world.resolve(fault.targets[0] ?? "@random", servers, this.rng)[0];
        if (target === undefined) return [];
        // An isolated machine loses every link, clients included.
        return isolateEdges(target, this.world.nodes.map((n) => n.name));
      }
      case "halves":
        return splitEdges(groups[0] ?? [], groups[1] ?? []);
      case "bridge":
        return bridgeEdges(groups[0] ?? [], groups[1] ?? []);
      case "majorities-ring":
        return majoritiesRingEdges(groups[0] ?? servers);
      case "one-way":
        return oneWayEdges(groups[0] ?? [], groups[1] ?? []);
    }
  }

  private heal(entry: ActiveFault): void {
    const i = this.active.indexOf(entry);
    if (i < 0) return;
    this.active.splice(i, 1);
    this.world.sim.cancel(entry.healTimer);
    const { fault, nodes } = entry;
    switch (fault.kind) {
      case "process-crash":
      case "power-loss":
      case "power-loss-all":
      case "disk-loss":
        for (const n of nodes) this.world.start(n);
        break;
      case "pause":
        for (const n of nodes) this.world.resume(n);
        break;
      case "partition":
        if (entry.partition) this.world.net.unblock(entry.partition);
        break;
      case "clog":
      case "slow-disk":
        break;
    }
    if (fault.kind !== "partition" && fault.kind !== "clog") for (const n of nodes) this.faulted.delete(n);
    this.world.sim.emit("nemesis", "fault.end", { index: entry.index, kind: fault.kind, nodes });
  }

  /** Heals every active fault, in the order they started, and clears every path. */
  healAll(): void {
    for (const entry of [...this.active]) this.heal(entry);
    this.world.net.healAll();
    for (const n of this.servers) this.world.node(n).disk.slowDown(0, 0);
  }

  /** The restart hook used by disk-loss recovery procedures: true if the node is under a node fault. */
  isFaulted(name: string): boolean {
    return this.faulted.has(name);
  }
}
