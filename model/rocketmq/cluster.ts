import { HistoryBuilder, type History } from "../../invariants/index.js";
import type { Phase } from "../../sim/runner.js";
import type { NodeContext, ProcessHandlers } from "../../sim/node.js";
import type { World } from "../../sim/world.js";
import type { ClusterModel } from "../cluster.js";
import type { RocketMqScenario } from "../scenario.js";
import { broker, type BrokerHandle } from "./broker.js";
import { ClientInstance, queueKey } from "./client.js";
import { parseRocketMqConfig, type RocketMqConfig } from "./config.js";
import { PushConsumer } from "./consumer.js";
import { nameServer } from "./namesrv.js";
import { Producer, type SendOutcome } from "./producer.js";
import type { MessageStore } from "./store/message-store.js";
import { dledgerEntryValue } from "./broker.js";
import { asciiBytes, asciiString } from "./text.js";
import { featureConsumerProcess, featureProducerProcess, type FeatureHost } from "./features.js";
import type { LocalTransactionState } from "./transaction-producer.js";
import { RETRY_TOPIC_PREFIX, DLQ_TOPIC_PREFIX } from "../../invariants/index.js";
import type { Entry } from "../raft/core.js";
import type { RaftNode } from "../raft/node.js";
import type { LogEntry, PollRead } from "../../invariants/index.js";

/**
 * One broker node, as the operator and the runner see it (never the
 * clients). The brokerIds of a group are the operator's role table: the
 * documented disk-loss recovery swaps them, and every boot of a node reads
 * its current id, so `@master`/`@slave`, the drain check and the slaves'
 * master address follow the promotion.
 */
interface BrokerProbe {
  brokerName: string;
  /** The id the node boots with: 0 master, > 0 slave. Invariant: exactly one probe per group has id 0. */
  brokerId: number;
  node: string;
  /** The store of the node's latest boot; the previous boot's stays here until the next boot replaces it. */
  store: MessageStore | null;
  handle: BrokerHandle | null;
  /** DLedger mode: the group's peer index (dLegerSelfId "nK") and the highest commit point observed. */
  selfIndex: number;
  maxCommitObserved: number;
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
  /** Feature workload: every consumer with the topics it must read to their ends before the drain converges. */
  private readonly featureConsumers: Array<{ consumer: PushConsumer; topics: readonly string[] }> = [];
  /** Promotions per broker group: the operator's epoch, reported as the `leader` observation's term. */
  private readonly epochs = new Map<string, number>();
  private inFlightSends = 0;
  private workloadOver = false;
  private draining = false;
  /** enableDLegerCommitLog: every broker group is a DLedger Raft group. */
  private readonly dledger: boolean;

  constructor(
    private readonly world: World,
    private readonly scenario: RocketMqScenario,
  ) {
    this.config = parseRocketMqConfig(scenario.config);
    this.dledger = this.config.dledger.enableDLegerCommitLog;
    const c = scenario.cluster;
    const nameServers = Array.from({ length: c.nameServers }, (_, i) => `namesrv-${i + 1}`);
    const brokers: BrokerProbe[] = [];
    for (const b of c.brokers) {
      brokers.push({ brokerName: b.name, brokerId: 0, node: b.name, store: null, handle: null, selfIndex: 0, maxCommitObserved: 0 });
      for (let s = 1; s <= b.slaves; s++) brokers.push({ brokerName: b.name, brokerId: s, node: `${b.name}-s${s}`, store: null, handle: null, selfIndex: s, maxCommitObserved: 0 });
      this.epochs.set(b.name, 0);
      // DLedger mode reports its own leaders (by DLedger term) as they are elected.
      if (b.slaves > 0 && !this.dledger) this.history.observe({ timeUs: 0, node: b.name, kind: "leader", group: b.name, term: 0, leader: b.name });
    }
    this.topology = {
      nameServers,
      brokers,
      producers: Array.from({ length: c.producers }, (_, i) => `producer-${i + 1}`),
      consumers: Array.from({ length: c.consumers }, (_, i) => `consumer-${i + 1}`),
    };
    for (const ns of nameServers) world.addNode(ns, nameServer({ version: this.config.version }));
    for (const probe of brokers) world.addNode(probe.node, (ctx) => this.bootBroker(probe, ctx));
    this.topology.producers.forEach((name) => world.addNode(name, (ctx) => this.producerProcess(ctx), { kind: "client" }));
    this.topology.consumers.forEach((name) => world.addNode(name, (ctx) => this.consumerProcess(ctx), { kind: "client" }));
    world.setRoleResolver((selector, candidates) => this.resolveRole(selector, candidates));
  }

  /**
   * Boots a broker node with the id and role the operator's table gives it
   * now. Before that, the documented recovery from a master's lost disk
   * (known-bugs E1: classic mode never fails over by itself, an operator
   * does it) runs when the group's master comes back with an empty disk
   * after having held data:
   * 1. the operator promotes the slave that holds the most: it becomes
   *    brokerId 0 with the configured master role (ASYNC_MASTER or
   *    SYNC_MASTER), by a clean restart of its process (`mqshutdown broker`,
   *    which unregisters it from the NameServers, then a start with the
   *    edited broker.conf), after which it registers as brokerId 0 and
   *    routes follow through the NameServers;
   * 2. the node that lost its disk boots as the slave, under the promoted
   *    slave's old id, and replicates everything from the new master.
   * A real operator would promote first and start the repaired machine
   * afterwards; here both begin when the machine returns, so for a moment
   * the new slave may dial a node that is still finishing its restart (it
   * reconnects, as its HA client always does). A master that restarts
   * with its disk (process crash, power loss) stays master with whatever
   * its disk kept, whatever its slave holds: nothing in classic mode
   * compares the two. The table is operator knowledge, not simulated data.
   */
  private bootBroker(probe: BrokerProbe, ctx: NodeContext): ProcessHandlers {
    if (this.dledger) return this.bootDLedgerBroker(probe, ctx);
    const previous = probe.store;
    if (probe.brokerId === 0 && previous !== null && previous.getMaxPhyOffset() > 0 && ctx.disk.list().length === 0) {
      const slaves = this.topology.brokers.filter((b) => b.brokerName === probe.brokerName && b.brokerId > 0);
      if (slaves.length > 0) {
        // The operator picks the slave that holds the most (mqadmin brokerStatus shows each one's max offset).
        const best = slaves.reduce((a, b) => ((b.store?.getMaxPhyOffset() ?? -1) > (a.store?.getMaxPhyOffset() ?? -1) ? b : a));
        this.promote(probe, best);
      }
    }
    const role = probe.brokerId === 0 ? this.config.store.brokerRole : "SLAVE";
    const config: RocketMqConfig = role === this.config.store.brokerRole ? this.config : { ...this.config, store: { ...this.config.store, brokerRole: role } };
    const handlers = broker({
      brokerName: probe.brokerName,
      brokerId: probe.brokerId,
      nameServers: this.topology.nameServers,
      config,
      topics: this.workloadTopics(),
      masterAddress: () => this.masterNode(probe.brokerName),
    })(ctx);
    probe.store = handlers.store;
    probe.handle = handlers;
    return handlers;
  }

  /**
   * DLedger mode: no operator table. Each node boots as a DLedger peer of
   * its group and registers as a slave until its role change handler makes
   * it master; failover is DLedger's election, not an operator's.
   */
  private bootDLedgerBroker(probe: BrokerProbe, ctx: NodeContext): ProcessHandlers {
    const peers = this.topology.brokers.filter((b) => b.brokerName === probe.brokerName).sort((a, b) => a.selfIndex - b.selfIndex);
    const handlers = broker({
      brokerName: probe.brokerName,
      brokerId: probe.selfIndex + 1,
      nameServers: this.topology.nameServers,
      config: this.config,
      topics: this.workloadTopics(),
      dledger: {
        group: probe.brokerName,
        peers: peers.map((p) => p.node),
        selfIndex: probe.selfIndex,
        config: this.config.dledger.raft,
        onRaft: (node) => this.observeRaft(probe, node),
      },
    })(ctx);
    probe.store = handlers.store;
    probe.handle = handlers;
    return handlers;
  }

  /** Topics the operator creates before the run: the workload's, and the ordered topic of the feature mix. */
  private workloadTopics(): Array<{ topic: string; queues: number }> {
    const w = this.scenario.workload;
    const out = [{ topic: w.topic, queues: w.queues }];
    if (w.features !== undefined) out.push({ topic: w.features.orderedTopic, queues: w.queues });
    return out;
  }

  /** Wires a DLedger peer's listeners to observations (the Raft harness's mapping: DLedger index, exclusive commit point). */
  private observeRaft(probe: BrokerProbe, node: RaftNode): void {
    const h = this.history;
    const group = probe.brokerName;
    const now = (): number => this.world.sim.now;
    node.onRoleChange((role, term) => {
      if (role === "leader") h.observe({ timeUs: now(), node: node.name, kind: "leader", group, term, leader: node.name });
    });
    node.onCommit((entries) => {
      const last = entries[entries.length - 1];
      if (last === undefined) return;
      const point = last.index + 1;
      if (point > probe.maxCommitObserved) {
        probe.maxCommitObserved = point;
        // No `key`: DLedger indices are not the queue offsets clients see.
        h.observe({ timeUs: now(), node: node.name, kind: "commit", group, index: point });
      }
      h.observe({ timeUs: now(), node: node.name, kind: "log", group, entries: entries.map(logEntry) });
    });
    node.onTruncate((fromIndex, entries) => {
      h.observe({ timeUs: now(), node: node.name, kind: "truncate", group, fromIndex, entries: entries.map(logEntry) });
    });
  }

  /** The live DLedger server of a broker node, or null while it is down. */
  raftOf(node: string): RaftNode | null {
    const probe = this.topology.brokers.find((b) => b.node === node);
    const raft = probe?.handle?.raft ?? null;
    return raft !== null && this.world.node(node).up ? raft : null;
  }

  /** Final `log` snapshots: every live peer's committed prefix. */
  private finalLogs(): void {
    const now = this.world.sim.now;
    for (const b of this.topology.brokers) {
      const n = this.raftOf(b.node);
      if (n === null) continue;
      const committed: Entry[] = [];
      for (let i = 0; i <= Math.min(n.committedIndex, n.ledgerEndIndex); i++) committed.push(n.entry(i)!);
      this.history.observe({ timeUs: now, node: b.node, kind: "log", group: b.brokerName, entries: committed.map(logEntry) });
    }
  }

  /** The node that is brokerId 0 of a group in the operator's table. */
  masterNode(brokerName: string): string | undefined {
    return this.topology.brokers.find((b) => b.brokerName === brokerName && b.brokerId === 0)?.node;
  }

  /**
   * Step 1 of the disk-loss recovery: swap the ids in the table, then
   * restart the slave's process cleanly so it boots as master. If the slave
   * is not running, it boots as master whenever it next starts.
   */
  private promote(oldMaster: BrokerProbe, slave: BrokerProbe): void {
    const group = oldMaster.brokerName;
    const epoch = (this.epochs.get(group) ?? 0) + 1;
    this.epochs.set(group, epoch);
    const slaveId = slave.brokerId;
    slave.brokerId = 0;
    oldMaster.brokerId = slaveId;
    const now = this.world.sim.now;
    this.world.sim.emit("operator", "operator.promote", {
      group,
      master: slave.node,
      slave: oldMaster.node,
      epoch,
      // What the lost disk held and what the promoted slave holds: the difference is gone for good.
      lostMaxOffset: oldMaster.store?.getMaxPhyOffset() ?? 0,
      slaveMaxOffset: slave.store?.getMaxPhyOffset() ?? 0,
      slaveUp: this.world.node(slave.node).up,
    });
    this.history.observe({ timeUs: now, node: slave.node, kind: "leader", group, term: epoch, leader: slave.node });
    const node = this.world.node(slave.node);
    const handle = slave.handle;
    const ctx = node.ctx;
    if (!node.up || handle === null || ctx === null) return;
    const incarnation = node.incarnation;
    // The shutdown request is handled by the process itself: a paused (SIGSTOPped) one handles it on resume.
    ctx.after(0, () =>
      handle.shutdown(() => {
        // Exit and start again, outside the exiting process's own event.
        this.world.sim.after(0, () => {
          if (node.incarnation !== incarnation || !node.up) return;
          this.world.sim.emit("operator", "operator.restart", { node: slave.node, brokerId: slave.brokerId });
          this.world.crash(slave.node, "process");
          this.world.start(slave.node);
        });
      }),
    );
  }

  /** Role selectors for fault targets: `@master`, `@slave`, `@broker`, `@namesrv`. */
  resolveRole(selector: string, candidates: readonly string[]): string[] | undefined {
    const pick = (names: string[]): string[] => {
      const live = names.filter((n) => candidates.includes(n));
      return live.length === 0 ? [] : [this.world.rng.fork(`role/${selector}/${this.world.sim.now}`).pick(live)];
    };
    if (this.dledger) {
      switch (selector) {
        case "@leader": {
          // The current DLedger leader of a random group (highest term if a stale one still believes it leads).
          const groups = [...new Set(this.topology.brokers.map((b) => b.brokerName))];
          const rng = this.world.rng.fork(`role/${selector}/${this.world.sim.now}`);
          const group = rng.pick(groups);
          const leaders = this.topology.brokers
            .filter((b) => b.brokerName === group && candidates.includes(b.node))
            .map((b) => this.raftOf(b.node))
            .filter((n): n is RaftNode => n !== null && n.isLeader)
            .sort((a, b) => b.term - a.term);
          return leaders.length === 0 ? [] : [leaders[0]!.name];
        }
        case "@follower":
          return pick(this.topology.brokers.filter((b) => this.raftOf(b.node)?.role === "follower").map((b) => b.node));
        case "@master":
          return pick(this.topology.brokers.filter((b) => b.handle?.isServingMaster() === true && this.world.node(b.node).up).map((b) => b.node));
        case "@slave":
          return pick(this.topology.brokers.filter((b) => b.handle?.isServingMaster() !== true).map((b) => b.node));
      }
    }
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
    if (this.dledger) return ["@leader", "@follower"];
    return this.topology.brokers.some((b) => b.brokerId > 0) ? ["@master", "@slave"] : ["@master"];
  }

  start(): void {
    this.world.startAll();
  }

  onPhase(phase: Phase): void {
    this.history.phase(phase, this.world.sim.now);
    if (phase === "heal") this.workloadOver = true;
    if (phase === "drain") this.draining = true;
    if (this.dledger && (phase === "drained" || phase === "drain-timeout")) this.finalLogs();
  }

  /**
   * The drain has converged when no send is in flight, the master has
   * dispatched everything it appended, and, for every queue of the topic,
   * some consumer has consumed up to the master's current end.
   */
  isDrained(): boolean {
    if (this.inFlightSends > 0) return false;
    if (this.dledger && !this.dledgerConverged()) return false;
    const w = this.scenario.workload;
    // (consumers, topic) pairs: each topic read to its end by at least one of those consumers.
    const reads: Array<{ consumers: readonly PushConsumer[]; topic: string }> = [];
    if (w.features === undefined) reads.push({ consumers: this.consumers, topic: w.topic });
    else {
      const byGroup = new Map<string, { consumers: PushConsumer[]; topics: readonly string[] }>();
      for (const { consumer, topics } of this.featureConsumers) {
        const g = byGroup.get(consumer.group);
        if (g === undefined) byGroup.set(consumer.group, { consumers: [consumer], topics });
        else g.consumers.push(consumer);
      }
      for (const g of byGroup.values()) for (const topic of g.topics) reads.push({ consumers: g.consumers, topic });
    }
    for (const b of this.topology.brokers) {
      if (this.dledger ? b.handle?.isServingMaster() !== true : b.brokerId !== 0) continue;
      const node = this.world.node(b.node);
      if (!node.up || b.store === null || b.handle === null) return false;
      // A message appended but not yet dispatched (the dispatcher runs 1 ms later) is not in the queue ends yet.
      if (b.store.getReputFromOffset() < b.store.getMaxPhyOffset()) return false;
      // Delayed messages and retries still waiting, and transactions not yet resolved, will produce more.
      if (b.handle.schedule.pending() > 0 || b.handle.transactions.pendingHalf() > 0) return false;
      for (const r of reads) {
        const queues = r.topic.startsWith(RETRY_TOPIC_PREFIX) || r.topic.startsWith(DLQ_TOPIC_PREFIX) ? 1 : w.queues;
        for (let q = 0; q < queues; q++) {
          const max = b.store.getMaxOffsetInQueue(r.topic, q);
          if (max === 0) continue;
          const key = queueKey({ topic: r.topic, brokerName: b.brokerName, queueId: q });
          let consumed = -1;
          for (const c of r.consumers) consumed = Math.max(consumed, c.consumedOffsets().get(key) ?? -1);
          if (consumed < max) return false;
        }
      }
    }
    return this.topology.consumers.length > 0 || this.inFlightSends === 0;
  }

  /** DLedger mode: some group's leader holds entries it will not commit until a new one arrives. */
  private needsNudge(): boolean {
    return this.topology.brokers.some((b) => {
      const n = this.raftOf(b.node);
      return n !== null && n.isLeader && n.committedIndex < n.ledgerEndIndex;
    });
  }

  /**
   * DLedger mode: every peer up, one leader per group serving as master,
   * its whole log committed and every peer holding exactly that log as
   * committed, in the leader's term (the final log snapshots then compare
   * like with like).
   */
  private dledgerConverged(): boolean {
    for (const group of new Set(this.topology.brokers.map((b) => b.brokerName))) {
      const members = this.topology.brokers.filter((b) => b.brokerName === group);
      const nodes = members.map((b) => this.raftOf(b.node));
      if (nodes.some((n) => n === null)) return false;
      const leaders = members.filter((b) => b.handle!.isServingMaster() && b.handle!.raft!.isLeader);
      if (leaders.length !== 1) return false;
      const l = leaders[0]!.handle!.raft!;
      if (l.committedIndex !== l.ledgerEndIndex) return false;
      for (const n of nodes) {
        if (n === null || n.term !== l.term || n.leaderId !== l.name) return false;
        if (n.committedIndex !== l.committedIndex || n.ledgerEndIndex !== l.ledgerEndIndex) return false;
      }
    }
    return true;
  }

  buildHistory(): History {
    return this.history.build();
  }

  // ---- processes ----------------------------------------------------------------

  /** The feature workload's application transaction table, shared by the group's producers. */
  private readonly txnDecisions = new Map<string, LocalTransactionState>();

  /** What the feature workload reads and reports back. */
  private featureHost(): FeatureHost {
    const w = this.scenario.workload;
    return {
      history: this.history,
      config: this.config,
      workload: w,
      features: w.features!,
      nameServers: this.topology.nameServers,
      workloadOver: () => this.workloadOver,
      sendStarted: () => void this.inFlightSends++,
      sendFinished: () => void this.inFlightSends--,
      registerConsumer: (consumer, topics) => void this.featureConsumers.push({ consumer, topics }),
      txnDecisions: this.txnDecisions,
    };
  }

  private producerProcess(ctx: NodeContext): ProcessHandlers {
    const w = this.scenario.workload;
    if (w.features !== undefined) return featureProducerProcess(this.featureHost(), ctx);
    const client = new ClientInstance(ctx, this.config.client, this.topology.nameServers, `${ctx.name}@${ctx.incarnation}`);
    const producer = new Producer(client, this.config.producer, this.config.version, w.producerGroup);
    client.start();
    let process = this.history.newProcess();
    let seq = 0;
    const intervalUs = Math.max(1, Math.round(1_000_000 / w.rate));
    const endUs = Math.round(w.durationSeconds * 1_000_000);
    const sendOne = (): void => {
      if (this.workloadOver || ctx.now >= endUs) {
        // DLedger mode's drain: 0.3.1.2 appends no no-op on election, so under the current-term rule
        // entries of earlier terms commit only with a new one. The first producer nudges once a
        // second, only while some leader holds uncommitted entries (the Raft harness does the same).
        if (!this.dledger || ctx.name !== this.topology.producers[0]) return;
        if (!this.draining || !this.needsNudge()) {
          ctx.after(1_000_000, sendOne);
          return;
        }
      }
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
      const msg = { topic: w.topic, body: asciiBytes(value), properties: { KEYS: value, UNIQ_KEY: value } };
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
    if (w.features !== undefined) return featureConsumerProcess(this.featureHost(), ctx);
    const client = new ClientInstance(ctx, this.config.client, this.topology.nameServers, `${ctx.name}@${ctx.incarnation}`);
    const process = this.history.newProcess();
    // What every poll's invoke says: nothing read yet. One shared, frozen value for all of them.
    const pollInvoke = Object.freeze({ group: w.consumerGroup, reads: Object.freeze([]) as unknown as PollRead[] });
    const consumer = new PushConsumer(client, this.config.consumer, w.consumerGroup, {
      consume: (batch) => {
        const key = queueKey(batch.mq);
        const reads = batch.messages.map((m) => ({ key, offset: m.queueOffset, value: asciiString(m.body) }));
        const value = batch.assigned ? { group: w.consumerGroup, reads, rebalance: { assigned: [key], revoked: [] } } : { group: w.consumerGroup, reads };
        this.history.invoke(process, "poll", pollInvoke, ctx.now);
        this.history.complete(process, "ok", value, ctx.now);
        ctx.emit("op.poll", { process, key, offsets: [reads[0]!.offset, reads[reads.length - 1]!.offset], n: reads.length });
      },
    });
    consumer.subscribe(w.topic, "*");
    client.start();
    consumer.start();
    this.consumers.push(consumer);
    return client.remoting.handlers();
  }
}

function logEntry(e: Entry): LogEntry {
  return { index: e.index, term: e.term, value: dledgerEntryValue(e) };
}
