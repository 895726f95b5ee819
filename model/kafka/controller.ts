import type { Connection } from "../../sim/network.js";
import type { NodeContext, ProcessHandlers } from "../../sim/node.js";
import { US_PER_MS } from "../../sim/time.js";
import type { KafkaConfig } from "./config.js";
import { crc32c } from "./crc32c.js";
import type {
  AllocateProducerIdsRequest,
  AllocateProducerIdsResponse,
  AlterPartitionRequest,
  AlterPartitionResponse,
  BrokerHeartbeatRequest,
  BrokerHeartbeatResponse,
  BrokerRegistrationRequest,
  BrokerRegistrationResponse,
  BrokerState,
  MetadataPush,
  PartitionState,
} from "./protocol.js";
import { Rpc } from "./rpc.js";

export interface TopicSpec {
  topic: string;
  partitions: number;
  replicationFactor: number;
  /** Rotates the replica assignment so that topics do not all start on the same broker. */
  assignmentShift: number;
}

export interface ControllerOptions {
  config: KafkaConfig;
  brokerIds: readonly number[];
  topics: readonly TopicSpec[];
  clusterId: string;
  /** Lets the cluster see the controller's state (the `@leader` role, the drain check); never used by the model itself. */
  probe?: (state: ControllerProbe | null) => void;
}

/** A read-only view of the controller's committed metadata. */
export interface ControllerProbe {
  partitions: ReadonlyMap<string, PartitionState>;
}

interface BrokerRegistration {
  id: number;
  incarnation: string;
  epoch: number;
  fenced: boolean;
}

type MetadataRecord =
  | { t: "format"; clusterId: string }
  | { t: "broker"; id: number; incarnation: string; epoch: number; fenced: boolean }
  | { t: "partition"; state: PartitionState }
  | { t: "producerIds"; next: number };

const METADATA_LOG = "__cluster_metadata-0/00000000000000000000.log";
const META_PROPERTIES = "meta.properties";
/** ProducerIdManager: producer ids are handed to brokers in blocks of 1000. */
const PRODUCER_ID_BLOCK = 1000;
/** How often the controller looks for brokers whose session expired. */
const SESSION_CHECK_US = 1_000_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A single KRaft controller (a quorum of one). It keeps the cluster
 * metadata as a log on its disk: broker registrations, fencing, every
 * partition's leader, ISR and epochs, producer id blocks. Like the real
 * QuorumController it applies a change to its in-memory state when it
 * decides it (so later decisions build on it) but tells nobody — no reply,
 * no push to brokers — until the records are fsynced: with one voter the
 * fsync is the commit. A crash before the fsync completes takes the change
 * back, consistently, because nobody acted on it.
 *
 * Brokers heartbeat every broker.heartbeat.interval.ms; one silent for
 * broker.session.timeout.ms is fenced, which removes it from every ISR
 * (the last member stays, leaderless) and moves leadership away from it.
 * Elections keep a valid leader, else take the first unfenced ISR member in
 * assignment order, else — only with unclean.leader.election.enable — the
 * first unfenced replica, whose ISR becomes just itself. Every leader change
 * bumps the leader epoch; every change bumps the partition epoch.
 */
export function controller(opts: ControllerOptions) {
  return (ctx: NodeContext): ProcessHandlers => {
    const cfg = opts.config;
    const current = cfg.version === "3.7";
    const rpc = new Rpc(ctx);
    const disk = ctx.disk;
    const alive = (): boolean => ctx.alive;
    /** Set after a fatal error: the process no longer answers anything. */
    let halted = false;

    // ---- format check: the operator formats every disk before the first start ----
    if (ctx.node.boots === 1 && !disk.exists(META_PROPERTIES)) {
      disk.write(META_PROPERTIES, 0, encoder.encode(`cluster.id=${opts.clusterId}\n`));
      disk.fsync(META_PROPERTIES);
    }
    if (!disk.exists(META_PROPERTIES)) {
      // A replaced disk: `kafka-server-start` fails without meta.properties, and a
      // single-voter metadata log cannot be rebuilt, so the process does nothing.
      ctx.emit("kafka.controller.unformatted");
      opts.probe?.(null);
      rpc.handle("BrokerRegistration", () => undefined);
      rpc.handle("BrokerHeartbeat", () => undefined);
      rpc.handle("AlterPartition", () => undefined);
      rpc.handle("AllocateProducerIds", () => undefined);
      return rpc.processHandlers();
    }

    // ---- state, rebuilt from the metadata log ----
    const brokers = new Map<number, BrokerRegistration>();
    const partitions = new Map<string, PartitionState>();
    let nextProducerId = 1;
    let nextBrokerEpoch = 1;
    let topicsCreated = false;
    const apply = (r: MetadataRecord): void => {
      switch (r.t) {
        case "format":
          break;
        case "broker":
          brokers.set(r.id, { id: r.id, incarnation: r.incarnation, epoch: r.epoch, fenced: r.fenced });
          nextBrokerEpoch = Math.max(nextBrokerEpoch, r.epoch + 1);
          break;
        case "partition":
          partitions.set(r.state.tp, r.state);
          topicsCreated = true;
          break;
        case "producerIds":
          nextProducerId = Math.max(nextProducerId, r.next);
          break;
      }
    };
    let logSize = 0;
    /** Records in the durable metadata log: the offset brokers compare theirs against. */
    let committedOffset = 0;
    if (disk.exists(METADATA_LOG)) {
      const text = decoder.decode(disk.readAll(METADATA_LOG));
      let at = 0;
      for (;;) {
        const nl = text.indexOf("\n", at);
        if (nl < 0) break;
        const line = text.slice(at, nl);
        const space = line.indexOf(" ");
        const body = line.slice(space + 1);
        // A torn or zeroed tail (power loss during a write) ends the log.
        if (space <= 0 || Number.parseInt(line.slice(0, space), 16) !== crc32c(encoder.encode(body))) break;
        apply(JSON.parse(body) as MetadataRecord);
        committedOffset++;
        at = nl + 1;
      }
      logSize = encoder.encode(text.slice(0, at)).length;
      if (logSize < disk.size(METADATA_LOG)) disk.truncate(METADATA_LOG, logSize);
    }
    if (logSize === 0) {
      const line = encodeRecord({ t: "format", clusterId: opts.clusterId });
      disk.write(METADATA_LOG, 0, line);
      logSize = line.length;
      committedOffset = 1;
      disk.fsync(METADATA_LOG);
    }
    ctx.emit("kafka.controller.load", { brokers: brokers.size, partitions: partitions.size });
    opts.probe?.({ partitions });

    // Sessions are in memory: after a restart every registered broker gets a full session to heartbeat again.
    const lastHeartbeatUs = new Map<number, number>();
    for (const id of brokers.keys()) lastHeartbeatUs.set(id, ctx.now);
    const brokerConns = new Map<number, Connection>();
    const sessionUs = cfg.broker["broker.session.timeout.ms"] * US_PER_MS;

    function encodeRecord(r: MetadataRecord): Uint8Array {
      const body = JSON.stringify(r);
      return encoder.encode(`${crc32c(encoder.encode(body)).toString(16)} ${body}\n`);
    }

    /**
     * Appends records, applies them now, and runs `then` once they are
     * durable: that is when replies and metadata pushes may leave.
     */
    const commit = (records: MetadataRecord[], then: () => void): void => {
      if (records.length === 0) {
        then();
        return;
      }
      const parts = records.map(encodeRecord);
      for (const p of parts) {
        disk.write(METADATA_LOG, logSize, p);
        logSize += p.length;
      }
      for (const r of records) apply(r);
      disk.fsync(METADATA_LOG, (res) => {
        if (!alive() || halted) return;
        if (!res.ok) {
          // A failed fsync leaves the metadata log in doubt; the real controller exits (fail-stop)
          // and, being the only voter, takes the cluster's metadata down with it.
          halted = true;
          ctx.emit("kafka.halt", { reason: "metadata log fsync failed" });
          return;
        }
        publish(records);
        then();
      });
    };

    /** Leader epoch last published per partition, to tell elections from ISR changes in the trace. */
    const publishedEpochs = new Map<string, number>();
    for (const ps of partitions.values()) publishedEpochs.set(ps.tp, ps.leaderEpoch);
    /** "tp@epoch" of unclean elections decided and not yet published. */
    const uncleanElections = new Set<string>();

    /** Sends the committed changes to every registered broker; the trace records them as committed. */
    const publish = (records: MetadataRecord[]): void => {
      committedOffset += records.length;
      const push: MetadataPush = { offset: committedOffset, partitions: [], brokers: [] };
      for (const r of records) {
        if (r.t === "partition") {
          const s = r.state;
          committedPartitions.set(s.tp, s);
          push.partitions.push(s);
          if (publishedEpochs.get(s.tp) !== s.leaderEpoch) {
            publishedEpochs.set(s.tp, s.leaderEpoch);
            const id = `${s.tp}@${s.leaderEpoch}`;
            const unclean = uncleanElections.delete(id);
            ctx.emit("kafka.elect", unclean ? { partition: s.tp, leader: s.leader, epoch: s.leaderEpoch, isr: s.isr, unclean } : { partition: s.tp, leader: s.leader, epoch: s.leaderEpoch, isr: s.isr });
          } else {
            ctx.emit("kafka.isr", { partition: s.tp, isr: s.isr });
          }
        } else if (r.t === "broker") {
          const b: BrokerState = { id: r.id, epoch: r.epoch, fenced: r.fenced };
          committedBrokers.set(b.id, b);
          push.brokers.push(b);
        }
      }
      if (push.partitions.length === 0 && push.brokers.length === 0) return;
      for (const conn of brokerConns.values()) rpc.push(conn, "MetadataPush", push);
    };

    // What brokers may see: the committed state only. The in-memory maps above run ahead by
    // the records whose fsync is pending, and a broker must never act on those.
    const committedPartitions = new Map<string, PartitionState>(partitions);
    const committedBrokers = new Map<number, BrokerState>();
    for (const b of brokers.values()) committedBrokers.set(b.id, { id: b.id, epoch: b.epoch, fenced: b.fenced });
    const snapshot = (): MetadataPush => ({
      offset: committedOffset,
      partitions: [...committedPartitions.values()],
      brokers: [...committedBrokers.values()],
    });

    const unfenced = (id: number): boolean => {
      const b = brokers.get(id);
      return b !== undefined && !b.fenced;
    };

    /** PartitionChangeBuilder's leader choice for a partition whose leader may have become invalid. */
    const elect = (ps: PartitionState, isr: number[]): PartitionState | null => {
      let leader = ps.leader;
      let newIsr = isr;
      if (!(leader >= 0 && unfenced(leader) && isr.includes(leader))) {
        leader = -1;
        for (const r of ps.replicas) {
          if (isr.includes(r) && unfenced(r)) {
            leader = r;
            break;
          }
        }
        if (leader < 0 && cfg.broker["unclean.leader.election.enable"]) {
          for (const r of ps.replicas) {
            if (unfenced(r)) {
              leader = r;
              newIsr = [r];
              uncleanElections.add(`${ps.tp}@${ps.leaderEpoch + 1}`);
              break;
            }
          }
        }
      }
      const leaderChanged = leader !== ps.leader;
      if (!leaderChanged && sameMembers(newIsr, ps.isr)) return null;
      const next: PartitionState = {
        ...ps,
        isr: newIsr,
        leader,
        leaderEpoch: leaderChanged ? ps.leaderEpoch + 1 : ps.leaderEpoch,
        partitionEpoch: ps.partitionEpoch + 1,
      };
      return next;
    };

    /** Records that fence broker `id`: out of every ISR it shares (the last member stays), leadership moved. */
    const fenceRecords = (reg: BrokerRegistration, replacement: BrokerRegistration | null): MetadataRecord[] => {
      const out: MetadataRecord[] = [];
      const fencedReg = replacement ?? { ...reg, fenced: true };
      out.push({ t: "broker", id: fencedReg.id, incarnation: fencedReg.incarnation, epoch: fencedReg.epoch, fenced: fencedReg.fenced });
      // Applied first so that elections below see the broker as fenced.
      apply(out[0]!);
      for (const ps of partitions.values()) {
        if (!ps.isr.includes(reg.id) && ps.leader !== reg.id) continue;
        const shrunk = ps.isr.filter((r) => r !== reg.id);
        const next = elect(ps, shrunk.length === 0 ? ps.isr : shrunk);
        if (next !== null) out.push({ t: "partition", state: next });
      }
      return out;
    };

    const electLeaderless = (): MetadataRecord[] => {
      const out: MetadataRecord[] = [];
      for (const ps of partitions.values()) {
        if (ps.leader >= 0) continue;
        const next = elect(ps, ps.isr);
        if (next !== null) out.push({ t: "partition", state: next });
      }
      return out;
    };

    /**
     * Creates the topics once every broker has registered and is unfenced,
     * as an operator would run kafka-topics.sh against a running cluster:
     * the first replica leads, every replica is in the ISR, epoch 0.
     */
    const maybeCreateTopics = (): void => {
      if (topicsCreated) return;
      for (const id of opts.brokerIds) if (!unfenced(id)) return;
      const n = opts.brokerIds.length;
      const records: MetadataRecord[] = [];
      for (const t of opts.topics) {
        for (let p = 0; p < t.partitions; p++) {
          const replicas: number[] = [];
          for (let i = 0; i < t.replicationFactor; i++) replicas.push(opts.brokerIds[(p + t.assignmentShift + i) % n]!);
          const tp = `${t.topic}-${p}`;
          records.push({ t: "partition", state: { tp, topic: t.topic, partition: p, replicas, isr: [...replicas], leader: replicas[0]!, leaderEpoch: 0, partitionEpoch: 0 } });
        }
      }
      topicsCreated = true;
      commit(records, () => undefined);
    };

    // ---- handlers -----------------------------------------------------------------

    rpc.handle("BrokerRegistration", (req: BrokerRegistrationRequest, conn, corr) => {
      const reply = (body: BrokerRegistrationResponse): void => rpc.reply(conn, "BrokerRegistrationResponse", corr, body);
      if (req.clusterId !== opts.clusterId) {
        reply({ error: "INCONSISTENT_CLUSTER_ID", brokerEpoch: -1 });
        return;
      }
      brokerConns.set(req.brokerId, conn);
      lastHeartbeatUs.set(req.brokerId, ctx.now);
      const existing = brokers.get(req.brokerId);
      const sendSnapshot = (): void => rpc.push(conn, "MetadataPush", snapshot());
      if (existing !== undefined && existing.incarnation === req.incarnation) {
        // The same process reconnecting (to a restarted controller, or after a broken connection).
        reply({ error: "NONE", brokerEpoch: existing.epoch });
        sendSnapshot();
        return;
      }
      const reg: BrokerRegistration = { id: req.brokerId, incarnation: req.incarnation, epoch: nextBrokerEpoch++, fenced: true };
      let records: MetadataRecord[];
      if (existing === undefined || existing.fenced) {
        records = [{ t: "broker", id: reg.id, incarnation: reg.incarnation, epoch: reg.epoch, fenced: true }];
      } else if (current) {
        // KRaft: a new incarnation means the old process is gone; its replicas leave the ISRs
        // until they catch up again (the "unclean exclusion" that makes a lossy restart safe).
        records = fenceRecords(existing, reg);
      } else {
        // ZooKeeper era: the old session has not expired yet, so the controller does not notice
        // the restart (the ABA window) and the broker stays in its ISRs.
        reg.fenced = false;
        records = [{ t: "broker", id: reg.id, incarnation: reg.incarnation, epoch: reg.epoch, fenced: false }];
      }
      ctx.emit("kafka.register", { broker: reg.id, epoch: reg.epoch });
      commit(records, () => {
        reply({ error: "NONE", brokerEpoch: reg.epoch });
        sendSnapshot();
      });
    });

    rpc.handle("BrokerHeartbeat", (req: BrokerHeartbeatRequest, conn, corr) => {
      const reg = brokers.get(req.brokerId);
      if (reg === undefined || reg.epoch !== req.brokerEpoch) {
        rpc.reply(conn, "BrokerHeartbeatResponse", corr, { error: "STALE_BROKER_EPOCH", fenced: true } satisfies BrokerHeartbeatResponse);
        return;
      }
      lastHeartbeatUs.set(reg.id, ctx.now);
      brokerConns.set(reg.id, conn);
      // A broker behind the committed metadata missed a push: it gets a snapshot first, on the same connection.
      if (req.metadataOffset < committedOffset) rpc.push(conn, "MetadataPush", snapshot());
      if (!reg.fenced) {
        rpc.reply(conn, "BrokerHeartbeatResponse", corr, { error: "NONE", fenced: false } satisfies BrokerHeartbeatResponse);
        return;
      }
      // The broker has the metadata (the snapshot went out before this heartbeat on the same
      // connection), so it is caught up and may be unfenced; leaderless partitions may now elect it.
      const records: MetadataRecord[] = [{ t: "broker", id: reg.id, incarnation: reg.incarnation, epoch: reg.epoch, fenced: false }];
      apply(records[0]!);
      ctx.emit("kafka.unfence", { broker: reg.id });
      records.push(...electLeaderless());
      commit(records, () => {
        rpc.reply(conn, "BrokerHeartbeatResponse", corr, { error: "NONE", fenced: false } satisfies BrokerHeartbeatResponse);
        maybeCreateTopics();
      });
    });

    rpc.handle("AlterPartition", (req: AlterPartitionRequest, conn, corr) => {
      const reply = (body: AlterPartitionResponse): void => rpc.reply(conn, "AlterPartitionResponse", corr, body);
      const reg = brokers.get(req.brokerId);
      const ps = partitions.get(req.tp);
      if (reg === undefined || reg.epoch !== req.brokerEpoch) return reply({ error: "STALE_BROKER_EPOCH", state: null });
      if (ps === undefined) return reply({ error: "UNKNOWN_TOPIC_OR_PARTITION", state: null });
      if (ps.leader !== req.brokerId) return reply({ error: "NOT_LEADER_OR_FOLLOWER", state: null });
      if (req.leaderEpoch !== ps.leaderEpoch) return reply({ error: "FENCED_LEADER_EPOCH", state: null });
      if (req.partitionEpoch !== ps.partitionEpoch) return reply({ error: "INVALID_UPDATE_VERSION", state: null });
      if (!req.newIsr.includes(req.brokerId)) return reply({ error: "INVALID_UPDATE_VERSION", state: null });
      for (const r of req.newIsr) {
        if (!ps.replicas.includes(r)) return reply({ error: "INELIGIBLE_REPLICA", state: null });
        // KIP-841: a replica joins the ISR only while it is unfenced.
        if (!ps.isr.includes(r) && !unfenced(r)) return reply({ error: "INELIGIBLE_REPLICA", state: null });
      }
      const next: PartitionState = { ...ps, isr: [...req.newIsr], partitionEpoch: ps.partitionEpoch + 1 };
      commit([{ t: "partition", state: next }], () => reply({ error: "NONE", state: next }));
    });

    rpc.handle("AllocateProducerIds", (req: AllocateProducerIdsRequest, conn, corr) => {
      const reg = brokers.get(req.brokerId);
      if (reg === undefined || reg.epoch !== req.brokerEpoch) {
        rpc.reply(conn, "AllocateProducerIdsResponse", corr, { error: "STALE_BROKER_EPOCH", firstId: -1, count: 0 } satisfies AllocateProducerIdsResponse);
        return;
      }
      const first = nextProducerId;
      commit([{ t: "producerIds", next: first + PRODUCER_ID_BLOCK }], () =>
        rpc.reply(conn, "AllocateProducerIdsResponse", corr, { error: "NONE", firstId: first, count: PRODUCER_ID_BLOCK } satisfies AllocateProducerIdsResponse),
      );
    });

    rpc.onClose((_peer, conn) => {
      for (const [id, c] of brokerConns) if (c === conn) brokerConns.delete(id);
    });

    // ---- session expiry ---------------------------------------------------------------
    const checkSessions = (): void => {
      if (halted) return;
      for (const reg of [...brokers.values()]) {
        if (reg.fenced) continue;
        const last = lastHeartbeatUs.get(reg.id) ?? ctx.now;
        if (ctx.now - last < sessionUs) continue;
        ctx.emit("kafka.fence", { broker: reg.id });
        commit(fenceRecords(reg, null), () => undefined);
      }
      ctx.after(SESSION_CHECK_US, checkSessions);
    };
    ctx.after(SESSION_CHECK_US, checkSessions);

    return rpc.haltableHandlers(() => halted);
  };
}

function sameMembers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (const x of a) if (!b.includes(x)) return false;
  return true;
}
