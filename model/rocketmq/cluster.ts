import { HistoryBuilder, type History } from "../../invariants/index.js";
import type { Phase } from "../../sim/runner.js";
import type { NodeContext, ProcessHandlers } from "../../sim/node.js";
import type { World } from "../../sim/world.js";
import type { ClusterModel } from "../cluster.js";
import type { RocketMqScenario } from "../scenario.js";
import { broker } from "./broker.js";
import { ClientInstance, queueKey } from "./client.js";
import { parseRocketMqConfig, type RocketMqConfig } from "./config.js";
import { PushConsumer } from "./consumer.js";
import { nameServer } from "./namesrv.js";
import { Producer, type SendOutcome } from "./producer.js";
import type { MessageStore } from "./store/message-store.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The omniscient view the runner uses to decide that the drain converged; never seen by clients. */
interface BrokerProbe {
  brokerName: string;
  brokerId: number;
  node: string;
  store: MessageStore | null;
}

export interface RocketMqTopology {
  nameServers: string[];
  brokers: BrokerProbe[];
  producers: string[];
  consumers: string[];
}

/**
 * Builds a RocketMQ deployment in a world: NameServers, broker groups
 * (a master and its slaves), producer and consumer client processes running
 * the scenario's workload, and the history of what the clients saw.
 */
export class RocketMqCluster implements ClusterModel {
  readonly history = new HistoryBuilder();
  readonly config: RocketMqConfig;
  readonly topology: RocketMqTopology;
  private readonly consumers: PushConsumer[] = [];
  private inFlightSends = 0;
  private workloadOver = false;

  constructor(
    private readonly world: World,
    private readonly scenario: RocketMqScenario,
  ) {
    this.config = parseRocketMqConfig(scenario.config);
    const c = scenario.cluster;
    const nameServers = Array.from({ length: c.nameServers }, (_, i) => `namesrv-${i + 1}`);
    const brokers: BrokerProbe[] = [];
    for (const b of c.brokers) {
      brokers.push({ brokerName: b.name, brokerId: 0, node: b.name, store: null });
      for (let s = 1; s <= b.slaves; s++) brokers.push({ brokerName: b.name, brokerId: s, node: `${b.name}-s${s}`, store: null });
    }
    this.topology = {
      nameServers,
      brokers,
      producers: Array.from({ length: c.producers }, (_, i) => `producer-${i + 1}`),
      consumers: Array.from({ length: c.consumers }, (_, i) => `consumer-${i + 1}`),
    };
    for (const ns of nameServers) world.addNode(ns, nameServer({ version: this.config.version }));
    for (const probe of brokers) {
      const role = probe.brokerId === 0 ? this.config.store.brokerRole : "SLAVE";
      const config: RocketMqConfig = role === this.config.store.brokerRole ? this.config : { ...this.config, store: { ...this.config.store, brokerRole: role } };
      const make = broker({
        brokerName: probe.brokerName,
        brokerId: probe.brokerId,
        nameServers,
        config,
        topics: [{ topic: scenario.workload.topic, queues: scenario.workload.queues }],
      });
      world.addNode(probe.node, (ctx) => {
        const handlers = make(ctx);
        probe.store = (handlers as ProcessHandlers & { store?: MessageStore }).store ?? null;
        return handlers;
      });
    }
    this.topology.producers.forEach((name) => world.addNode(name, (ctx) => this.producerProcess(ctx), { kind: "client" }));
    this.topology.consumers.forEach((name) => world.addNode(name, (ctx) => this.consumerProcess(ctx), { kind: "client" }));
    world.setRoleResolver((selector, candidates) => this.resolveRole(selector, candidates));
  }

  /** Role selectors for fault targets: `@master`, `@slave`, `@broker`, `@namesrv`. */
  resolveRole(selector: string, candidates: readonly string[]): string[] | undefined {
    const pick = (names: string[]): string[] => {
      const live = names.filter((n) => candidates.includes(n));
      return live.length === 0 ? [] : [this.world.rng.fork(`role/${selector}/${this.world.sim.now}`).pick(live)];
    };
    switch (selector) {
      case "@master":
        return pick(this.topology.brokers.filter((b) => b.brokerId === 0).map((b) => b.node));
      case "@slave":
        return pick(this.topology.brokers.filter((b) => b.brokerId > 0).map((b) => b.node));
      case "@broker":
        return pick(this.topology.brokers.map((b) => b.node));
      case "@namesrv":
        return pick(this.topology.nameServers);
      default:
        return undefined;
    }
  }

  /** Nodes faults may crash, pause or power off: the brokers. */
  faultTargets(): string[] {
    return this.topology.brokers.map((b) => b.node);
  }

  /** Nodes partitions split: brokers and NameServers. */
  partitionNodes(): string[] {
    return [...this.topology.brokers.map((b) => b.node), ...this.topology.nameServers];
  }

  roles(): string[] {
    return this.topology.brokers.some((b) => b.brokerId > 0) ? ["@master", "@slave"] : ["@master"];
  }

  start(): void {
    this.world.startAll();
  }

  onPhase(phase: Phase): void {
    this.history.phase(phase, this.world.sim.now);
    if (phase === "heal") this.workloadOver = true;
  }

  /**
   * The drain has converged when no send is in flight and, for every queue
   * of the topic, some consumer has consumed up to the master's current end.
   */
  isDrained(): boolean {
    if (this.inFlightSends > 0) return false;
    const consumed = new Map<string, number>();
    for (const c of this.consumers) {
      for (const [k, off] of c.consumedOffsets()) consumed.set(k, Math.max(consumed.get(k) ?? 0, off));
    }
    const topic = this.scenario.workload.topic;
    for (const b of this.topology.brokers) {
      if (b.brokerId !== 0) continue;
      const node = this.world.node(b.node);
      if (!node.up || b.store === null) return false;
      for (let q = 0; q < this.scenario.workload.queues; q++) {
        const max = b.store.getMaxOffsetInQueue(topic, q);
        if (max === 0) continue;
        const key = queueKey({ topic, brokerName: b.brokerName, queueId: q });
        if ((consumed.get(key) ?? -1) < max) return false;
      }
    }
    return this.topology.consumers.length > 0 || this.inFlightSends === 0;
  }

  buildHistory(): History {
    return this.history.build();
  }

  // ---- processes ----------------------------------------------------------------

  private producerProcess(ctx: NodeContext): ProcessHandlers {
    const w = this.scenario.workload;
    const client = new ClientInstance(ctx, this.config.client, this.topology.nameServers, `${ctx.name}@${ctx.incarnation}`);
    const producer = new Producer(client, this.config.producer, this.config.version, w.producerGroup);
    client.start();
    let process = this.history.newProcess();
    let seq = 0;
    const intervalUs = Math.max(1, Math.round(1_000_000 / w.rate));
    const endUs = Math.round(w.durationSeconds * 1_000_000);
    const sendOne = (): void => {
      if (this.workloadOver || ctx.now >= endUs) return;
      const value = `${ctx.name}:${++seq}`;
      const startedUs = ctx.now;
      this.history.invoke(process, "send", { key: w.topic, value }, ctx.now);
      ctx.emit("op.invoke", { process, f: "send", value });
      this.inFlightSends++;
      const done = (o: SendOutcome): void => {
        this.inFlightSends--;
        if (o.ok) {
          const key = queueKey(o.result.mq);
          this.history.complete(process, "ok", { key, value, offset: o.result.queueOffset }, ctx.now);
          ctx.emit("op.ok", { process, f: "send", value, key, offset: o.result.queueOffset });
        } else if (o.stored === "no") {
          this.history.complete(process, "fail", { key: w.topic, value }, ctx.now, o.error);
          ctx.emit("op.fail", { process, f: "send", value, error: o.error });
        } else {
          this.history.complete(process, "info", { key: w.topic, value }, ctx.now, o.error);
          ctx.emit("op.info", { process, f: "send", value, error: o.error });
          // Jepsen: after an indeterminate result the client continues as a new process.
          process = this.history.newProcess();
        }
        if (w.sendMode === "sync") ctx.at(Math.max(ctx.now, startedUs + intervalUs), sendOne);
      };
      const msg = { topic: w.topic, body: encoder.encode(value), properties: { KEYS: value, UNIQ_KEY: value } };
      if (w.sendMode === "sync") producer.sendSync(msg, done);
      else if (w.sendMode === "async") producer.sendAsync(msg, done);
      else producer.sendOneway(msg, done);
      if (w.sendMode !== "sync") ctx.after(intervalUs, sendOne);
    };
    ctx.at(Math.max(ctx.now, Math.round(w.startDelaySeconds * 1_000_000)), sendOne);
    return client.remoting.handlers();
  }

  private consumerProcess(ctx: NodeContext): ProcessHandlers {
    const w = this.scenario.workload;
    const client = new ClientInstance(ctx, this.config.client, this.topology.nameServers, `${ctx.name}@${ctx.incarnation}`);
    const process = this.history.newProcess();
    const consumer = new PushConsumer(client, this.config.consumer, w.consumerGroup, "*", {
      consume: (batch) => {
        const key = queueKey(batch.mq);
        const reads = batch.messages.map((m) => ({ key, offset: m.queueOffset, value: decoder.decode(m.body) }));
        const value = batch.assigned ? { group: w.consumerGroup, reads, rebalance: { assigned: [key], revoked: [] } } : { group: w.consumerGroup, reads };
        this.history.invoke(process, "poll", { group: w.consumerGroup, reads: [] }, ctx.now);
        this.history.complete(process, "ok", value, ctx.now);
        ctx.emit("op.poll", { process, key, offsets: [reads[0]!.offset, reads[reads.length - 1]!.offset], n: reads.length });
      },
    });
    consumer.subscribe(w.topic);
    client.start();
    consumer.start();
    this.consumers.push(consumer);
    return client.remoting.handlers();
  }
}
