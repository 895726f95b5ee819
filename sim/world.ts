import { Disk, DiskConfigSchema, type DiskConfig } from "./disk.js";
import { Simulation } from "./kernel.js";
import { Network, NetworkConfigSchema, type NetworkConfig } from "./network.js";
import { NodeContext, SimNode, type NodeKind, type ProcessFactory } from "./node.js";
import { Rng } from "./rng.js";

export type CrashMode = "process" | "power" | "disk";

export interface WorldOptions {
  seed: number | string;
  network?: Partial<NetworkConfig>;
  disk?: Partial<DiskConfig>;
}

export interface AddNodeOptions {
  kind?: NodeKind;
  disk?: Partial<DiskConfig>;
}

/**
 * Resolves a role selector such as `@leader` or `@master:broker-a` to node
 * names at the moment a fault fires. Models register one; `@random` and
 * `@all` are built in.
 */
export type RoleResolver = (selector: string, candidates: readonly string[]) => string[] | undefined;

/**
 * The simulated world: the clock, the network, and the nodes with their
 * disks. Everything random comes from forks of one root seed.
 */
export class World {
  readonly sim = new Simulation();
  readonly rng: Rng;
  readonly net: Network;
  private readonly nodeList: SimNode[] = [];
  private readonly byName = new Map<string, SimNode>();
  private readonly diskDefaults: DiskConfig;
  private roleResolver: RoleResolver | null = null;

  constructor(opts: WorldOptions) {
    this.rng = new Rng(opts.seed);
    this.net = new Network(this.sim, this.rng.fork("network"), NetworkConfigSchema.parse(opts.network ?? {}));
    this.diskDefaults = DiskConfigSchema.parse(opts.disk ?? {});
  }

  addNode(name: string, factory: ProcessFactory, opts: AddNodeOptions = {}): SimNode {
    if (this.byName.has(name)) throw new Error(`world: duplicate node ${name}`);
    const diskConfig = opts.disk === undefined ? this.diskDefaults : DiskConfigSchema.parse({ ...this.diskDefaults, ...opts.disk });
    const disk = new Disk(this.sim, this.rng.fork(`disk/${name}`), diskConfig);
    const node = new SimNode(name, this.nodeList.length, opts.kind ?? "server", disk, this.rng.fork(`node/${name}`), factory);
    disk.attach(node);
    this.nodeList.push(node);
    this.byName.set(name, node);
    this.net.addNode(node);
    return node;
  }

  get nodes(): readonly SimNode[] {
    return this.nodeList;
  }

  node(name: string): SimNode {
    const n = this.byName.get(name);
    if (n === undefined) throw new Error(`world: unknown node ${name}`);
    return n;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  serverNames(): string[] {
    return this.nodeList.filter((n) => n.kind === "server").map((n) => n.name);
  }

  setRoleResolver(resolver: RoleResolver): void {
    this.roleResolver = resolver;
  }

  /** Node names for one target: a literal name or an `@role` selector. */
  resolve(selector: string, candidates: readonly string[], rng: Rng): string[] {
    if (!selector.startsWith("@")) {
      if (!this.byName.has(selector)) throw new Error(`fault target: unknown node ${selector}`);
      return [selector];
    }
    if (selector === "@all") return [...candidates];
    if (selector === "@random") return candidates.length === 0 ? [] : [rng.pick(candidates)];
    const r = this.roleResolver?.(selector, candidates);
    if (r === undefined) throw new Error(`fault target: unknown role selector ${selector}`);
    return r;
  }

  // ---- process lifecycle ----------------------------------------------------------

  /** Boots (or reboots) the node's process; it runs recovery against its disk. */
  start(name: string): void {
    const node = this.node(name);
    if (node.state === "up") return;
    node.state = "up";
    node.paused = false;
    node.deferred = [];
    node.boots++;
    const ctx = new NodeContext(node, this.sim, this.net, node.incarnation);
    node.ctx = ctx;
    this.sim.emit(name, "node.start", { boot: node.boots, incarnation: node.incarnation });
    node.handlers = node.factory(ctx);
  }

  startAll(): void {
    for (const n of this.nodeList) this.start(n.name);
  }

  /**
   * Kills the node. `process`: the process dies, the machine (page cache,
   * TCP stack) stays up. `power`: the machine loses power and its page cache.
   * `disk`: the machine dies and comes back with an empty disk.
   */
  crash(name: string, mode: CrashMode): void {
    const node = this.node(name);
    if (node.state !== "up" && mode === "process") return;
    const wasUp = node.state === "up";
    if (wasUp) {
      // Every timer and in-flight handler of this incarnation is now stale.
      node.incarnation++;
      node.handlers = null;
      node.ctx = null;
      node.paused = false;
      node.deferred = [];
    }
    if (mode === "process") {
      node.state = "process-down";
      this.net.onNodeDown(node, true);
    } else {
      node.state = "machine-down";
      if (wasUp) this.net.onNodeDown(node, false);
      if (mode === "power") node.disk.powerLoss();
      else node.disk.wipe();
    }
    this.sim.emit(name, "node.crash", { mode });
  }

  pause(name: string): void {
    const node = this.node(name);
    if (node.state !== "up" || node.paused) return;
    node.paused = true;
    this.sim.emit(name, "node.pause");
  }

  resume(name: string): void {
    const node = this.node(name);
    if (!node.paused) return;
    node.paused = false;
    this.sim.emit(name, "node.resume");
    this.sim.resumeDeferred(node);
  }
}
