import { HistoryBuilder, partitionKey, type History, type LogEntry, type SendValue } from "../../invariants/index.js";
import type { NodeContext, ProcessHandlers } from "../../sim/node.js";
import type { Phase } from "../../sim/runner.js";
import type { World } from "../../sim/world.js";
import { ConfigError, type ClusterModel } from "../cluster.js";
import type { KafkaScenario } from "../scenario.js";
import { broker, type BrokerObserver, type BrokerProbe } from "./broker.js";
import { ClientMetadata } from "./client-metadata.js";
import { parseKafkaConfig, type KafkaConfig } from "./config.js";
import { KafkaConsumer, type PollResult } from "./consumer.js";
import { controller, type ControllerProbe } from "./controller.js";
import { KafkaProducer, type SendOutcome } from "./producer.js";
import { brokerNode, CONTROLLER_NODE, OFFSETS_TOPIC } from "./protocol.js";
import type { Batch } from "./records.js";
import { Rpc } from "./rpc.js";

/** The cluster id every node's disk is formatted with (kafka-storage format). */
const CLUSTER_ID = "mqsim-kafka";

export interface KafkaTopology {
  brokerIds: number[];
  brokers: string[];
  controller: string;
  producers: string[];
  consumers: string[];
}

/**
 * Builds a Kafka deployment in a world: one KRaft controller, the brokers,
 * the workload topic (`workload.queues` partitions, replicationFactor
 * replicas) and `__consumer_offsets` (one partition here, replication factor
 * min(offsets.topic.replication.factor, brokers)), producer and consumer
 * client processes running the workload, and the history of what the
 * clients saw plus what the replicas did inside (leaders per epoch, high
 * watermarks, truncations, and a snapshot of every replica's committed log
 * at the end).
 */
export class KafkaCluster implements ClusterModel {
  readonly history = new HistoryBuilder();
  readonly config: KafkaConfig;
  readonly topology: KafkaTopology;
  private readonly brokerProbes = new Map<string, BrokerProbe | null>();
  private controllerProbe: ControllerProbe | null = null;
  private readonly producers: KafkaProducer[] = [];
  private readonly consumers: KafkaConsumer[] = [];
  private readonly workloadTps: string[];
  private workloadOver = false;
  private snapshotsTaken = false;

  constructor(
    private readonly world: World,
    private readonly scenario: KafkaScenario,
  ) {
    this.config = parseKafkaConfig(scenario.config);
    const c = scenario.cluster;
    const w = scenario.workload;
    if (c.controllers !== 1) throw new ConfigError("cluster.controllers: only a single KRaft controller is modelled (a quorum of one); use 1");
    if (c.replicationFactor > c.brokers) throw new ConfigError(`cluster.replicationFactor: ${c.replicationFactor} exceeds the ${c.brokers} broker(s)`);
    if (w.sendMode === "oneway") throw new ConfigError("workload.sendMode: oneway is a RocketMQ mode; Kafka's fire-and-forget is acks=0");
    const brokerIds = Array.from({ length: c.brokers }, (_, i) => i + 1);
    this.topology = {
      brokerIds,
      brokers: brokerIds.map(brokerNode),
      controller: CONTROLLER_NODE,
      producers: Array.from({ length: c.producers }, (_, i) => `producer-${i + 1}`),
      consumers: Array.from({ length: c.consumers }, (_, i) => `consumer-${i + 1}`),
    };
    this.workloadTps = Array.from({ length: w.queues }, (_, p) => partitionKey(w.topic, p));
    const topics = [
      { topic: w.topic, partitions: w.queues, replicationFactor: c.replicationFactor, assignmentShift: 0 },
      { topic: OFFSETS_TOPIC, partitions: 1, replicationFactor: Math.min(this.config.broker["offsets.topic.replication.factor"], c.brokers), assignmentShift: w.queues },
    ];
    world.addNode(
      CONTROLLER_NODE,
      controller({ config: this.config, brokerIds, topics, clusterId: CLUSTER_ID, probe: (p) => (this.controllerProbe = p) }),
    );
    const observer = this.observer();
    for (const id of brokerIds) {
      const name = brokerNode(id);
      this.brokerProbes.set(name, null);
      world.addNode(name, broker({ brokerId: id, config: this.config, clusterId: CLUSTER_ID, observer, probe: (p) => this.brokerProbes.set(name, p) }));
    }
    this.topology.producers.forEach((name, i) => world.addNode(name, (ctx) => this.producerProcess(ctx, i), { kind: "client" }));
    this.topology.consumers.forEach((name) => world.addNode(name, (ctx) => this.consumerProcess(ctx), { kind: "client" }));
    world.setRoleResolver((selector, candidates) => this.resolveRole(selector, candidates));
  }

  // ---- observations ----------------------------------------------------------------

  /**
   * Follower high watermarks not yet recorded, per "node\0tp". A leader's HW
   * is recorded the moment it moves (dirty-read compares reads with it). A
   * follower's HW only matters to the checkers as that replica's own commit
   * point when it truncates and when its log is snapshotted at the end
   * (commit points are running maxima), so it is kept here and recorded just
   * before either: the checkers see the same commit point, from a third of
   * the observations.
   */
  private readonly pendingFollowerHw = new Map<string, Map<string, number>>();

  private flushFollowerHw(node: string, tp: string): void {
    const byTp = this.pendingFollowerHw.get(node);
    const hw = byTp?.get(tp);
    if (byTp === undefined || hw === undefined) return;
    byTp.delete(tp);
    this.history.observe({ timeUs: this.world.sim.now, node, kind: "commit", group: tp, key: tp, index: hw });
  }

  private observer(): BrokerObserver {
    const h = this.history;
    const sim = this.world.sim;
    return {
      leader: (tp, epoch, node) => {
        this.flushFollowerHw(node, tp);
        h.observe({ timeUs: sim.now, node, kind: "leader", group: tp, term: epoch, leader: node });
      },
      commit: (tp, node, hw, leader) => {
        if (leader) {
          h.observe({ timeUs: sim.now, node, kind: "commit", group: tp, key: tp, index: hw });
          return;
        }
        let byTp = this.pendingFollowerHw.get(node);
        if (byTp === undefined) this.pendingFollowerHw.set(node, (byTp = new Map()));
        if (hw > (byTp.get(tp) ?? -1)) byTp.set(tp, hw);
      },
      truncate: (tp, node, fromOffset, removed) => {
        this.flushFollowerHw(node, tp);
        h.observe({ timeUs: sim.now, node, kind: "truncate", group: tp, fromIndex: fromOffset, entries: entriesOf(removed, Number.POSITIVE_INFINITY) });
      },
    };
  }

  /**
   * At the end of the run every live replica's log below its own high
   * watermark is recorded, so that log-divergence can compare replicas and
   * committed-truncation can recognise committed entries.
   */
  private snapshotLogs(): void {
    if (this.snapshotsTaken) return;
    this.snapshotsTaken = true;
    for (const [node, byTp] of this.pendingFollowerHw) for (const tp of [...byTp.keys()]) this.flushFollowerHw(node, tp);
    for (const [name, probe] of this.brokerProbes) {
      if (probe === null || !this.world.node(name).up || probe.halted()) continue;
      for (const p of probe.partitions.values()) {
        this.history.observe({ timeUs: this.world.sim.now, node: name, kind: "log", group: p.tp, entries: entriesOf(p.log.batches, p.hw) });
      }
    }
  }

  // ---- ClusterModel -------------------------------------------------------------------

  /** Role selectors: `@leader` (of a random workload partition), `@follower`, `@controller`. */
  resolveRole(selector: string, candidates: readonly string[]): string[] | undefined {
    const rng = this.world.rng.fork(`role/${selector}/${this.world.sim.now}`);
    switch (selector) {
      case "@controller":
        return candidates.includes(CONTROLLER_NODE) ? [CONTROLLER_NODE] : [];
      case "@leader": {
        const tp = rng.pick(this.workloadTps);
        const leader = this.currentLeader(tp);
        return leader !== null && candidates.includes(leader.node) ? [leader.node] : [];
      }
      case "@follower": {
        const tp = rng.pick(this.workloadTps);
        const leader = this.currentLeader(tp);
        const followers = this.replicasOf(tp).filter((n) => n !== leader?.node && candidates.includes(n));
        return followers.length === 0 ? [] : [rng.pick(followers)];
      }
      default:
        return undefined;
    }
  }

  faultTargets(): string[] {
    return [...this.topology.brokers, CONTROLLER_NODE];
  }

  partitionNodes(): string[] {
    return [...this.topology.brokers, CONTROLLER_NODE];
  }

  roles(): string[] {
    return ["@leader", "@follower", "@controller"];
  }

  start(): void {
    this.world.startAll();
  }

  onPhase(phase: Phase): void {
    this.history.phase(phase, this.world.sim.now);
    if (phase === "heal") this.workloadOver = true;
    if (phase === "drained" || phase === "drain-timeout") this.snapshotLogs();
  }

  /**
   * The drain has converged when no send is pending and, for every
   * partition of the workload topic, some live consumer's position has
   * reached the high watermark of the partition's current leader (the live
   * broker claiming leadership in the highest epoch). The replicas must
   * also have settled: every live replica the controller assigns follows
   * that leader in its epoch and has its whole log, so that truncations a
   * rejoining replica still owes happen inside the run and the final log
   * snapshots compare converged replicas.
   */
  isDrained(): boolean {
    for (const p of this.producers) if (p.pendingRecords > 0) return false;
    for (const tp of this.workloadTps) {
      const leader = this.currentLeader(tp);
      if (leader === null) return false;
      if (this.consumers.length > 0) {
        let position = -1;
        for (const c of this.consumers) position = Math.max(position, c.currentPositions().get(tp) ?? -1);
        if (position < leader.hw) return false;
      }
      if (!this.replicasSettled(tp, leader)) return false;
    }
    return true;
  }

  private replicasSettled(tp: string, leader: { node: string; epoch: number; leo: number }): boolean {
    for (const node of this.replicasOf(tp)) {
      if (node === leader.node) continue;
      const probe = this.brokerProbes.get(node);
      if (probe === null || probe === undefined || !this.world.node(node).up || probe.halted()) continue;
      const p = probe.partitions.get(tp);
      if (p === undefined || p.role !== "follower" || p.leaderEpoch !== leader.epoch || p.log.leo !== leader.leo) return false;
    }
    return true;
  }

  buildHistory(): History {
    return this.history.build();
  }

  /** The live broker that leads `tp` in the highest epoch, with its HW and LEO. */
  private currentLeader(tp: string): { node: string; hw: number; epoch: number; leo: number } | null {
    let best: { node: string; hw: number; epoch: number; leo: number } | null = null;
    for (const [name, probe] of this.brokerProbes) {
      if (probe === null || !this.world.node(name).up || probe.halted()) continue;
      const p = probe.partitions.get(tp);
      if (p === undefined || p.role !== "leader") continue;
      if (best === null || p.leaderEpoch > best.epoch) best = { node: name, hw: p.hw, epoch: p.leaderEpoch, leo: p.log.leo };
    }
    return best;
  }

  private replicasOf(tp: string): string[] {
    const ps = this.controllerProbe?.partitions.get(tp);
    if (ps !== undefined) return ps.replicas.map(brokerNode);
    return this.topology.brokers;
  }

  // ---- workload processes ----------------------------------------------------------

  private producerProcess(ctx: NodeContext, index: number): ProcessHandlers {
    const w = this.scenario.workload;
    const rpc = new Rpc(ctx);
    const metadata = new ClientMetadata(ctx, rpc, this.config.client, this.topology.brokerIds, [w.topic]);
    const producer = new KafkaProducer(ctx, rpc, metadata, this.config.producer, this.config.client);
    this.producers.push(producer);
    metadata.requestUpdate();
    // Kafka promises per-partition order to one producer only with idempotence or one request in flight.
    const ordered = this.config.producer.idempotence || this.config.producer["max.in.flight.requests.per.connection"] === 1;
    const free: number[] = [];
    let seq = 0;
    let nextPartition = index;
    const intervalUs = Math.max(1, Math.round(1_000_000 / w.rate));
    const endUs = Math.round(w.durationSeconds * 1_000_000);
    const sync = w.sendMode === "sync";
    const sendOne = (): void => {
      if (this.workloadOver || ctx.now >= endUs) return;
      const value = `${ctx.name}:${++seq}`;
      // The workload picks partitions round-robin, one explicit partition per record.
      const tp = this.workloadTps[nextPartition++ % this.workloadTps.length]!;
      const process = free.pop() ?? this.history.newProcess();
      const startedUs = ctx.now;
      this.history.invoke(process, "send", ordered ? { key: tp, value, ordered } : { key: tp, value }, ctx.now);
      ctx.emit("op.invoke", { process, f: "send", value });
      producer.send(tp, value, (o: SendOutcome) => {
        if (o.type === "ok") {
          const v: SendValue = { key: tp, value };
          if (o.offset !== undefined) v.offset = o.offset;
          if (ordered) v.ordered = true;
          this.history.complete(process, "ok", v, ctx.now);
          ctx.emit("op.ok", o.offset === undefined ? { process, f: "send", value, key: tp } : { process, f: "send", value, key: tp, offset: o.offset });
          free.push(process);
        } else {
          this.history.complete(process, o.type, undefined, ctx.now, o.error);
          ctx.emit(o.type === "fail" ? "op.fail" : "op.info", { process, f: "send", value, error: o.error });
          // Jepsen: a process whose operation ended `info` is never used again.
          if (o.type === "fail") free.push(process);
        }
        if (sync) ctx.at(Math.max(ctx.now, startedUs + intervalUs), sendOne);
      });
      if (!sync) ctx.after(intervalUs, sendOne);
    };
    ctx.at(Math.max(ctx.now, Math.round(w.startDelaySeconds * 1_000_000)), sendOne);
    return rpc.processHandlers();
  }

  private consumerProcess(ctx: NodeContext): ProcessHandlers {
    const w = this.scenario.workload;
    const rpc = new Rpc(ctx);
    const metadata = new ClientMetadata(ctx, rpc, this.config.client, this.topology.brokerIds, [w.topic]);
    const process = this.history.newProcess();
    const group = w.consumerGroup;
    const onPoll = (r: PollResult): void => {
      // The consumer's records already have the history's read shape.
      const reads = r.records;
      this.history.invoke(process, "poll", { group, reads: [] }, ctx.now);
      this.history.complete(process, "ok", r.rebalance === null ? { group, reads } : { group, reads, rebalance: r.rebalance }, ctx.now);
      ctx.emit("op.poll", { process, n: reads.length });
    };
    const consumer = new KafkaConsumer(ctx, rpc, metadata, this.config.consumer, this.config.client, group, w.topic, onPoll);
    this.consumers.push(consumer);
    consumer.start();
    return rpc.processHandlers();
  }
}

/** History log entries for the records of `batches` below `below` (exclusive). */
function entriesOf(batches: readonly Batch[], below: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (const b of batches) {
    if (b.baseOffset >= below) break;
    for (let i = 0; i < b.values.length; i++) {
      const index = b.baseOffset + i;
      if (index >= below) break;
      out.push({ index, term: Math.max(0, b.epoch), value: b.values[i]! });
    }
  }
  return out;
}
