import type { Timer } from "../../sim/kernel.js";
import type { Connection } from "../../sim/network.js";
import type { NodeContext, ProcessHandlers } from "../../sim/node.js";
import { US_PER_MS } from "../../sim/time.js";
import { CheckpointFile } from "./checkpoint.js";
import { NEVER, type KafkaConfig } from "./config.js";
import { Fetcher, type FetcherHost } from "./fetcher.js";
import { GroupCoordinator } from "./group-coordinator.js";
import { PartitionLog, type LogSettings } from "./log.js";
import { Partition, type PartitionEnv, type PartitionHooks } from "./partition.js";
import {
  CONTROLLER_NODE,
  OFFSETS_TOPIC,
  type AllocateProducerIdsResponse,
  type AlterPartitionResponse,
  type BrokerHeartbeatResponse,
  type BrokerRegistrationResponse,
  type BrokerState,
  type FetchPartitionResponse,
  type FetchRequest,
  type FetchResponse,
  type FindCoordinatorRequest,
  type InitProducerIdResponse,
  type KafkaError,
  type ListOffsetsRequest,
  type ListOffsetsResponse,
  type MetadataPush,
  type MetadataRequest,
  type MetadataResponse,
  type OffsetsForLeaderEpochRequest,
  type OffsetsForLeaderEpochResponse,
  type PartitionState,
  type ProducePartitionResponse,
  type ProduceRequest,
} from "./protocol.js";
import { batchCrcValid, makeBatch, stampBatch, type Batch } from "./records.js";
import { Rpc } from "./rpc.js";
import type { IsrProposal } from "./partition.js";

/** Where a broker reports what the history's internal observations need. */
export interface BrokerObserver {
  leader(tp: string, epoch: number, node: string): void;
  /** This replica's HW rose; `leader` says whether it leads the partition. */
  commit(tp: string, node: string, hw: number, leader: boolean): void;
  truncate(tp: string, node: string, fromOffset: number, removed: readonly Batch[]): void;
}

/** The cluster's omniscient view of a live broker (drain check, roles, final log snapshots). */
export interface BrokerProbe {
  readonly partitions: ReadonlyMap<string, Partition>;
  readonly coordinator: GroupCoordinator;
  halted(): boolean;
}

export interface BrokerOptions {
  brokerId: number;
  config: KafkaConfig;
  clusterId: string;
  observer: BrokerObserver;
  probe: (probe: BrokerProbe | null) => void;
}

interface DelayedProduce {
  finished: boolean;
  results: ProducePartitionResponse[];
  /** Partitions still waiting for their HW, with the offset the HW must reach. */
  waiting: Array<{ tp: string; required: number; index: number }>;
  deadlineUs: number;
  done: (results: ProducePartitionResponse[]) => void;
}

interface ParkedFetch {
  conn: Connection;
  corr: number;
  req: FetchRequest;
  follower: boolean;
  deadlineUs: number;
}

const HW_CHECKPOINT = "replication-offset-checkpoint";
const RECOVERY_CHECKPOINT = "recovery-point-offset-checkpoint";
/** How long a broker waits for the controller before retrying registration or a heartbeat. */
const CONTROLLER_REQUEST_TIMEOUT_US = 2_000_000;
/** Backoff before an AlterPartition is retried after a transport failure (AlterPartitionManager). */
const ALTER_PARTITION_RETRY_US = 100_000;
/** The leader's kafka.hw trace event is throttled to one per partition per second. */
const HW_TRACE_INTERVAL_US = 1_000_000;

const PARTITION_KEY = /^(.*)-(\d+)$/;

function splitKey(tp: string): { topic: string; partition: number } {
  const m = PARTITION_KEY.exec(tp);
  if (m === null) throw new Error(`bad partition key ${tp}`);
  return { topic: m[1]!, partition: Number(m[2]) };
}

/**
 * A Kafka broker (KafkaServer / BrokerServer with ReplicaManager): partition
 * logs on its disk, the leader and follower sides of replication, delayed
 * produce and fetch, checkpoints, registration and heartbeats with the
 * controller, the replica fetchers, producer id blocks, and the group
 * coordinator while it leads `__consumer_offsets-0`. On every boot it
 * recovers its logs from what its disk kept.
 */
export function broker(opts: BrokerOptions) {
  return (ctx: NodeContext): ProcessHandlers => {
    const cfg = opts.config;
    const bc = cfg.broker;
    const me = opts.brokerId;
    const version = cfg.version;
    const rpc = new Rpc(ctx);
    const disk = ctx.disk;
    const alive = (): boolean => ctx.alive && !halted;
    let halted = false;
    const settings: LogSettings = { segmentBytes: bc["log.segment.bytes"], flushIntervalMessages: bc["log.flush.interval.messages"] };

    // ---- metadata image (what the controller has told this broker) ----
    const imagePartitions = new Map<string, PartitionState>();
    const imageBrokers = new Map<number, BrokerState>();
    let brokerEpoch = -1;
    /** The controller's metadata offset this broker has applied up to. */
    let metadataOffset = 0;
    let registered = false;
    let registering = false;
    let heartbeatInFlight = false;

    // ---- logs and partitions ----
    const hwCheckpoint = new CheckpointFile(disk, HW_CHECKPOINT, alive);
    const recoveryCheckpoint = new CheckpointFile(disk, RECOVERY_CHECKPOINT, alive);
    const readCheckpoint = (file: CheckpointFile): Map<string, number> => {
      const out = new Map<string, number>();
      for (const [topic, partition, offset] of file.read() ?? []) out.set(`${topic}-${partition}`, Number(offset));
      return out;
    };
    const checkpointedHw = readCheckpoint(hwCheckpoint);
    const recoveryPoints = readCheckpoint(recoveryCheckpoint);
    const logs = new Map<string, PartitionLog>();
    const dirs = new Set<string>();
    for (const name of disk.list()) {
      const slash = name.indexOf("/");
      if (slash > 0) dirs.add(name.slice(0, slash));
    }
    for (const tp of dirs) {
      const { log, report } = PartitionLog.load(disk, tp, settings, alive, recoveryPoints.get(tp) ?? 0, checkpointedHw.get(tp) ?? 0);
      logs.set(tp, log);
      ctx.emit("kafka.recover", { partition: tp, recoveryPoint: report.recoveryPoint, logEndOffset: report.logEndOffset, hw: log.hw, truncatedBytes: report.truncatedBytes });
      if (report.droppedValid.length > 0) opts.observer.truncate(tp, ctx.name, report.droppedValid[0]!.baseOffset, report.droppedValid);
    }
    const partitions = new Map<string, Partition>();
    const lastFlushUs = new Map<string, number>();
    const lastHwTraceUs = new Map<string, number>();

    const isrEligible = (id: number, epoch: number): boolean => {
      const b = imageBrokers.get(id);
      return b !== undefined && !b.fenced && b.epoch === epoch;
    };

    const hooks: PartitionHooks = {
      onLeader: (p) => opts.observer.leader(p.tp, p.leaderEpoch, ctx.name),
      onHighWatermark: (p) => {
        opts.observer.commit(p.tp, ctx.name, p.hw, p.role === "leader");
        if (p.role !== "leader") return;
        const last = lastHwTraceUs.get(p.tp);
        if (last === undefined || ctx.now - last >= HW_TRACE_INTERVAL_US) {
          lastHwTraceUs.set(p.tp, ctx.now);
          ctx.emit("kafka.hw", { partition: p.tp, hw: p.hw });
        }
        completeDelayedProduce(p.tp);
        completeParkedFetches(p.tp, false);
      },
      onTruncate: (p, fromOffset, removed, reason) => {
        opts.observer.truncate(p.tp, ctx.name, fromOffset, removed);
        ctx.emit("kafka.truncate", { partition: p.tp, to: fromOffset, removed: removed.length, reason });
      },
      onLeaderAppend: (p, batch) => {
        ctx.emit("kafka.append", { partition: p.tp, baseOffset: batch.baseOffset, count: batch.values.length });
        completeParkedFetches(p.tp, true);
      },
    };
    const env: PartitionEnv = {
      brokerId: me,
      version,
      minIsr: bc["min.insync.replicas"],
      lagTimeUs: bc["replica.lag.time.max.ms"] * US_PER_MS,
      now: () => ctx.now,
      isrEligible,
      hooks,
    };

    const partitionFor = (tp: string): Partition => {
      let p = partitions.get(tp);
      if (p !== undefined) return p;
      let log = logs.get(tp);
      if (log === undefined) {
        log = PartitionLog.create(disk, tp, settings, alive);
        logs.set(tp, log);
      }
      p = new Partition(tp, log, env);
      partitions.set(tp, p);
      return p;
    };

    // ---- group coordinator on __consumer_offsets-0 ----
    const offsetsTp = `${OFFSETS_TOPIC}-0`;
    const coordinator = new GroupCoordinator(ctx, rpc, bc, (values, timeoutUs, done) => {
      const p = partitions.get(offsetsTp);
      const error = p === undefined ? "NOT_LEADER_OR_FOLLOWER" : p.produceError(-1);
      if (p === undefined || error !== null) return done(error ?? "NOT_LEADER_OR_FOLLOWER");
      const batch = makeBatch(p.log.leo, p.leaderEpoch, { producerId: -1, producerEpoch: -1, baseSequence: -1, timestampMs: Math.floor(ctx.now / US_PER_MS), values });
      p.appendAsLeader(batch);
      const results: ProducePartitionResponse[] = [{ tp: offsetsTp, error: "NONE", baseOffset: batch.baseOffset }];
      delay(results, [{ tp: offsetsTp, required: batch.lastOffset + 1, index: 0 }], timeoutUs, (r) => done(r[0]!.error));
    });

    opts.probe({ partitions, coordinator, halted: () => halted });

    // ---- delayed produce (the produce purgatory) ----
    const delayedByTp = new Map<string, DelayedProduce[]>();
    // Every delayed produce in deadline order (all share request.timeout.ms in practice), with one
    // timer at the earliest deadline: nearly all complete on a HW move well before it.
    let delayedAll: DelayedProduce[] = [];
    let produceTimer: Timer | null = null;
    let produceTimerAtUs = Number.POSITIVE_INFINITY;
    const armProduceTimer = (atUs: number): void => {
      if (atUs >= produceTimerAtUs) return;
      ctx.cancel(produceTimer);
      produceTimerAtUs = atUs;
      produceTimer = ctx.at(atUs, expireDelayed);
    };
    const expireDelayed = (): void => {
      produceTimer = null;
      produceTimerAtUs = Number.POSITIVE_INFINITY;
      const now = ctx.now;
      const still: DelayedProduce[] = [];
      let next = Number.POSITIVE_INFINITY;
      for (const dp of delayedAll) {
        if (dp.finished) continue;
        if (dp.deadlineUs > now) {
          still.push(dp);
          if (dp.deadlineUs < next) next = dp.deadlineUs;
          continue;
        }
        for (const w of dp.waiting) dp.results[w.index]!.error = "REQUEST_TIMED_OUT";
        dp.waiting = [];
        finish(dp);
      }
      delayedAll = still;
      if (next < Number.POSITIVE_INFINITY) armProduceTimer(next);
    };
    const delay = (results: ProducePartitionResponse[], waiting: DelayedProduce["waiting"], timeoutUs: number, done: DelayedProduce["done"]): void => {
      const dp: DelayedProduce = { finished: false, results, waiting, deadlineUs: ctx.now + timeoutUs, done };
      if (tryComplete(dp)) return;
      delayedAll.push(dp);
      armProduceTimer(dp.deadlineUs);
      for (const w of waiting) {
        const list = delayedByTp.get(w.tp);
        if (list === undefined) delayedByTp.set(w.tp, [dp]);
        else list.push(dp);
      }
    };
    /** Partition.checkEnoughReplicasReachOffset for each waiting partition; true when nothing waits any more. */
    const tryComplete = (dp: DelayedProduce): boolean => {
      // The common case: one partition, still below its required offset.
      if (dp.waiting.length === 1) {
        const w = dp.waiting[0]!;
        const p = partitions.get(w.tp);
        if (p !== undefined && p.role === "leader" && p.hw < w.required) return false;
      }
      dp.waiting = dp.waiting.filter((w) => {
        const p = partitions.get(w.tp);
        if (p === undefined || p.role !== "leader") {
          dp.results[w.index]!.error = "NOT_LEADER_OR_FOLLOWER";
          return false;
        }
        if (p.hw < w.required) return true;
        dp.results[w.index]!.error = p.isr.length >= bc["min.insync.replicas"] ? "NONE" : "NOT_ENOUGH_REPLICAS_AFTER_APPEND";
        return false;
      });
      if (dp.waiting.length > 0) return false;
      finish(dp);
      return true;
    };
    const finish = (dp: DelayedProduce): void => {
      dp.finished = true;
      dp.done(dp.results);
    };
    const completeDelayedProduce = (tp: string): void => {
      const list = delayedByTp.get(tp);
      if (list === undefined) return;
      delayedByTp.delete(tp);
      let keep: DelayedProduce[] | null = null;
      for (const dp of list) {
        // A request waiting on several partitions sits in several lists; it may have finished elsewhere.
        if (dp.finished) continue;
        if (!tryComplete(dp) && dp.waiting.some((w) => w.tp === tp)) (keep ??= []).push(dp);
      }
      if (keep !== null) delayedByTp.set(tp, keep);
    };

    // ---- fetch (followers and consumers), with long polling ----
    let parked: ParkedFetch[] = [];
    // One timer for the fetch purgatory, due at the earliest deadline: most parked fetches are
    // answered by an append or a HW move long before their fetch.max.wait.ms runs out.
    let parkTimer: Timer | null = null;
    let parkTimerAtUs = Number.POSITIVE_INFINITY;
    const armParkTimer = (atUs: number): void => {
      if (atUs >= parkTimerAtUs) return;
      ctx.cancel(parkTimer);
      parkTimerAtUs = atUs;
      parkTimer = ctx.at(atUs, expireParked);
    };
    const expireParked = (): void => {
      parkTimer = null;
      parkTimerAtUs = Number.POSITIVE_INFINITY;
      const now = ctx.now;
      const still: ParkedFetch[] = [];
      const expired: ParkedFetch[] = [];
      let next = Number.POSITIVE_INFINITY;
      for (const pf of parked) {
        if (pf.deadlineUs <= now) expired.push(pf);
        else {
          still.push(pf);
          if (pf.deadlineUs < next) next = pf.deadlineUs;
        }
      }
      parked = still;
      for (const pf of expired) rpc.reply(pf.conn, "FetchResponse", pf.corr, readFetch(pf.req, pf.follower, false));
      if (next < Number.POSITIVE_INFINITY) armParkTimer(next);
    };
    /** Whether the last readFetch found something to answer with (data, an error or a divergence). */
    let fetchReady = false;
    const readFetch = (req: FetchRequest, follower: boolean, first: boolean): FetchResponse => {
      const out: FetchPartitionResponse[] = [];
      let ready = false;
      for (const fp of req.partitions) {
        const p = partitions.get(fp.tp);
        let r: FetchPartitionResponse;
        if (p === undefined) {
          r = { tp: fp.tp, error: imagePartitions.has(fp.tp) ? "NOT_LEADER_OR_FOLLOWER" : "UNKNOWN_TOPIC_OR_PARTITION", highWatermark: -1, logEndOffset: -1, batches: [], divergingEpoch: null };
        } else if (follower && first) {
          r = p.fetchFromFollower(req.replicaId, req.brokerEpoch, fp, req.maxBytes);
          const proposal = p.takeProposal();
          if (proposal !== null) alterPartition(p, proposal);
        } else {
          const error = p.leaderFetchError(fp);
          if (error !== null) r = p.errorResponse(error);
          else if (fp.fetchOffset > p.log.leo) r = p.errorResponse("OFFSET_OUT_OF_RANGE");
          else r = { tp: fp.tp, error: "NONE", highWatermark: p.hw, logEndOffset: p.log.leo, batches: p.log.read(fp.fetchOffset, follower ? p.log.leo : p.hw, req.maxBytes), divergingEpoch: null };
        }
        // The fetcher needs the leader's log end to know where to cut back to.
        if (r.error === "OFFSET_OUT_OF_RANGE" && p !== undefined) r.logEndOffset = p.log.leo;
        if (r.error !== "NONE" || r.batches.length > 0 || r.divergingEpoch !== null) ready = true;
        out.push(r);
      }
      fetchReady = ready;
      return { partitions: out };
    };
    const waitsOn = (pf: ParkedFetch, tp: string): boolean => {
      const ps = pf.req.partitions;
      for (let i = 0; i < ps.length; i++) if (ps[i]!.tp === tp) return true;
      return false;
    };
    const completeParkedFetches = (tp: string, followerOnly: boolean): void => {
      let any = false;
      for (let i = 0; i < parked.length && !any; i++) any = parked[i]!.follower === followerOnly && waitsOn(parked[i]!, tp);
      if (!any) return;
      const still: ParkedFetch[] = [];
      const done: ParkedFetch[] = [];
      for (const pf of parked) {
        if (pf.follower !== followerOnly || !waitsOn(pf, tp)) still.push(pf);
        else done.push(pf);
      }
      if (done.length === 0) return;
      parked = still;
      for (const pf of done) {
        const resp = readFetch(pf.req, pf.follower, false);
        if (!fetchReady) {
          parked.push(pf);
          continue;
        }
        rpc.reply(pf.conn, "FetchResponse", pf.corr, resp);
      }
    };
    /** A leader lost leadership of `tp`: waiting producers hear NOT_LEADER_OR_FOLLOWER; parked fetches answer now. */
    const onLostLeadership = (tp: string): void => {
      completeDelayedProduce(tp);
      const still: ParkedFetch[] = [];
      for (const pf of parked) {
        if (!pf.req.partitions.some((fp) => fp.tp === tp)) {
          still.push(pf);
          continue;
        }
        rpc.reply(pf.conn, "FetchResponse", pf.corr, readFetch(pf.req, pf.follower, false));
      }
      parked = still;
      if (tp === offsetsTp) coordinator.unload();
    };

    rpc.handle("Fetch", (req: FetchRequest, conn, corr) => {
      const follower = req.replicaId >= 0;
      const resp = readFetch(req, follower, true);
      if (fetchReady || req.maxWaitMs <= 0) {
        rpc.reply(conn, "FetchResponse", corr, resp);
        return;
      }
      const pf: ParkedFetch = { conn, corr, req, follower, deadlineUs: ctx.now + req.maxWaitMs * US_PER_MS };
      parked.push(pf);
      armParkTimer(pf.deadlineUs);
    });

    rpc.handle("OffsetsForLeaderEpoch", (req: OffsetsForLeaderEpochRequest, conn, corr) => {
      const out: OffsetsForLeaderEpochResponse = { partitions: [] };
      for (const q of req.partitions) {
        const p = partitions.get(q.tp);
        if (p === undefined) out.partitions.push({ tp: q.tp, error: "NOT_LEADER_OR_FOLLOWER", leaderEpoch: -1, endOffset: -1 });
        else out.partitions.push({ tp: q.tp, ...p.offsetForLeaderEpochV0(q.leaderEpoch) });
      }
      rpc.reply(conn, "OffsetsForLeaderEpochResponse", corr, out);
    });

    // ---- produce ----
    rpc.handle("Produce", (req: ProduceRequest, conn, corr) => {
      const results: ProducePartitionResponse[] = [];
      const waiting: DelayedProduce["waiting"] = [];
      for (let i = 0; i < req.partitions.length; i++) {
        const { tp, batch } = req.partitions[i]!;
        const p = partitions.get(tp);
        let error: KafkaError | null = p === undefined ? (imagePartitions.has(tp) ? "NOT_LEADER_OR_FOLLOWER" : "UNKNOWN_TOPIC_OR_PARTITION") : p.produceError(req.acks);
        if (error === null && !batchCrcValid(batch.bytes)) error = "CORRUPT_MESSAGE";
        let baseOffset = -1;
        let required = -1;
        if (error === null && p !== undefined) {
          const f = batch.fields;
          if (f.producerId >= 0 && f.baseSequence >= 0) {
            const check = p.log.producers.check(f.producerId, f.producerEpoch, f.baseSequence, f.values.length);
            if (check.kind === "duplicate") {
              // A resend of a retained batch: acknowledged with the original offsets, once those are committed.
              baseOffset = check.firstOffset;
              required = check.lastOffset + 1;
              ctx.emit("kafka.duplicate", { partition: tp, baseOffset });
            } else if (check.kind === "error") {
              error = check.error;
            }
          }
          if (error === null && baseOffset < 0) {
            const b = stampBatch(batch.bytes, p.log.leo, p.leaderEpoch, f);
            p.appendAsLeader(b);
            baseOffset = b.baseOffset;
            required = b.lastOffset + 1;
          }
        }
        results.push({ tp, error: error ?? "NONE", baseOffset });
        if (error === null && req.acks === -1) waiting.push({ tp, required, index: i });
      }
      if (req.acks === 0) return;
      if (req.acks === 1 || waiting.length === 0) {
        // A synchronous flush (log.flush.interval.messages reached) finishes before the append returns.
        whenAllFlushed(req.partitions.map((x) => x.tp), () => rpc.reply(conn, "ProduceResponse", corr, { partitions: results }));
        return;
      }
      delay(results, waiting, req.timeoutMs * US_PER_MS, (r) => rpc.reply(conn, "ProduceResponse", corr, { partitions: r }));
    });

    const whenAllFlushed = (tps: string[], fn: () => void): void => {
      const pending = tps.map((tp) => partitions.get(tp)?.log).filter((l): l is PartitionLog => l !== undefined && l.flushInFlight());
      let left = pending.length;
      if (left === 0) return fn();
      for (const l of pending) l.whenFlushed(() => {
        if (--left === 0) fn();
      });
    };

    // ---- metadata and offsets for clients ----
    rpc.handle("Metadata", (req: MetadataRequest, conn, corr) => {
      const resp: MetadataResponse = { brokers: [], partitions: [] };
      for (const b of imageBrokers.values()) if (!b.fenced) resp.brokers.push(b.id);
      for (const ps of imagePartitions.values()) {
        if (req.topics.includes(ps.topic)) resp.partitions.push({ tp: ps.tp, topic: ps.topic, partition: ps.partition, leader: ps.leader, leaderEpoch: ps.leaderEpoch });
      }
      rpc.reply(conn, "MetadataResponse", corr, resp);
    });

    rpc.handle("ListOffsets", (req: ListOffsetsRequest, conn, corr) => {
      const resp: ListOffsetsResponse = { partitions: [] };
      for (const q of req.partitions) {
        const p = partitions.get(q.tp);
        const error = p === undefined ? "NOT_LEADER_OR_FOLLOWER" : p.leaderFetchError({ tp: q.tp, fetchOffset: 0, lastFetchedEpoch: -1, currentLeaderEpoch: q.currentLeaderEpoch });
        if (p === undefined || error !== null) resp.partitions.push({ tp: q.tp, error: error ?? "NOT_LEADER_OR_FOLLOWER", offset: -1 });
        else resp.partitions.push({ tp: q.tp, error: "NONE", offset: q.timestamp === -2 ? p.log.logStartOffset : p.hw });
      }
      rpc.reply(conn, "ListOffsetsResponse", corr, resp);
    });

    rpc.handle("FindCoordinator", (_req: FindCoordinatorRequest, conn, corr) => {
      const ps = imagePartitions.get(offsetsTp);
      const leader = ps?.leader ?? -1;
      rpc.reply(conn, "FindCoordinatorResponse", corr, { error: leader < 0 ? "COORDINATOR_NOT_AVAILABLE" : "NONE", nodeId: leader });
    });
    rpc.handle("JoinGroup", (req, conn, corr) => coordinator.join(req, conn, corr));
    rpc.handle("SyncGroup", (req, conn, corr) => coordinator.sync(req, conn, corr));
    rpc.handle("Heartbeat", (req, conn, corr) => coordinator.heartbeat(req, conn, corr));
    rpc.handle("OffsetCommit", (req, conn, corr) => coordinator.commit(req, conn, corr));
    rpc.handle("OffsetFetch", (req, conn, corr) => coordinator.fetchOffsets(req, conn, corr));

    // ---- producer ids (ProducerIdManager: blocks from the controller) ----
    let pidNext = 0;
    let pidEnd = 0;
    let pidRequestInFlight = false;
    const pidWaiters: Array<(pid: number) => void> = [];
    const allocatePids = (): void => {
      if (pidRequestInFlight || pidWaiters.length === 0) return;
      pidRequestInFlight = true;
      rpc.call(CONTROLLER_NODE, "AllocateProducerIds", { brokerId: me, brokerEpoch }, CONTROLLER_REQUEST_TIMEOUT_US, (body, err) => {
        pidRequestInFlight = false;
        const r = body as AllocateProducerIdsResponse | null;
        if (err !== null || r === null || r.error !== "NONE") {
          for (const w of pidWaiters.splice(0)) w(-1);
          return;
        }
        pidNext = r.firstId;
        pidEnd = r.firstId + r.count;
        while (pidWaiters.length > 0 && pidNext < pidEnd) pidWaiters.shift()!(pidNext++);
        allocatePids();
      });
    };
    rpc.handle("InitProducerId", (_req, conn, corr) => {
      const answer = (pid: number): void =>
        rpc.reply(conn, "InitProducerIdResponse", corr, { error: pid < 0 ? "COORDINATOR_NOT_AVAILABLE" : "NONE", producerId: pid, producerEpoch: 0 } satisfies InitProducerIdResponse);
      if (pidNext < pidEnd) return answer(pidNext++);
      pidWaiters.push(answer);
      allocatePids();
    });

    // ---- controller channel: registration, heartbeats, metadata ----
    const register = (): void => {
      if (registering) return;
      registering = true;
      rpc.call(CONTROLLER_NODE, "BrokerRegistration", { brokerId: me, incarnation: `${ctx.name}#${ctx.incarnation}`, clusterId: opts.clusterId }, CONTROLLER_REQUEST_TIMEOUT_US, (body, err) => {
        registering = false;
        const r = body as BrokerRegistrationResponse | null;
        if (err !== null || r === null || r.error !== "NONE") return;
        brokerEpoch = r.brokerEpoch;
        registered = true;
        heartbeat();
      });
    };
    const heartbeat = (): void => {
      if (!registered) return register();
      if (heartbeatInFlight) return;
      heartbeatInFlight = true;
      rpc.call(CONTROLLER_NODE, "BrokerHeartbeat", { brokerId: me, brokerEpoch, metadataOffset }, CONTROLLER_REQUEST_TIMEOUT_US, (body, err) => {
        heartbeatInFlight = false;
        const r = body as BrokerHeartbeatResponse | null;
        if (err === null && r !== null && r.error === "STALE_BROKER_EPOCH") registered = false;
      });
    };
    rpc.onClose((peer) => {
      // A new connection to the controller starts with a registration, which brings a full snapshot.
      if (peer === CONTROLLER_NODE) registered = false;
    });
    const heartbeatLoop = (): void => {
      if (halted) return;
      heartbeat();
      ctx.after(bc["broker.heartbeat.interval.ms"] * US_PER_MS, heartbeatLoop);
    };
    heartbeatLoop();

    rpc.handle("MetadataPush", (push: MetadataPush) => {
      metadataOffset = Math.max(metadataOffset, push.offset);
      for (const b of push.brokers) imageBrokers.set(b.id, b);
      for (const ps of push.partitions) applyPartitionState(ps);
    });

    const fetchers = new Map<number, Fetcher>();
    const fetcherHost: FetcherHost = {
      ctx,
      rpc,
      config: cfg,
      brokerId: me,
      brokerEpoch: () => brokerEpoch,
      partition: (tp) => partitions.get(tp),
      halt: (reason) => {
        halted = true;
        ctx.emit("kafka.halt", reason);
      },
      halted: () => halted,
    };
    const follow = (tp: string, leader: number): void => {
      for (const [id, f] of fetchers) if (id !== leader) f.remove(tp);
      let f = fetchers.get(leader);
      if (f === undefined) {
        f = new Fetcher(fetcherHost, leader);
        fetchers.set(leader, f);
      }
      f.add(tp);
    };
    const unfollow = (tp: string): void => {
      for (const f of fetchers.values()) f.remove(tp);
    };

    const applyPartitionState = (ps: PartitionState): void => {
      const known = imagePartitions.get(ps.tp);
      if (known !== undefined && known.partitionEpoch >= ps.partitionEpoch && known.leaderEpoch >= ps.leaderEpoch) return;
      imagePartitions.set(ps.tp, ps);
      if (!ps.replicas.includes(me)) return;
      const p = partitionFor(ps.tp);
      const wasLeader = p.role === "leader";
      const action = p.applyState(ps);
      if (wasLeader && p.role !== "leader") onLostLeadership(ps.tp);
      switch (action) {
        case "lead":
          unfollow(ps.tp);
          if (ps.tp === offsetsTp) coordinator.load(p.log.batches);
          break;
        case "follow":
          follow(ps.tp, p.leader);
          break;
        case "stop":
          unfollow(ps.tp);
          break;
        case "none":
          if (p.role === "follower") follow(ps.tp, p.leader);
          break;
      }
    };

    /** Sends an ISR change to the controller (AlterPartitionManager), retrying transport failures. */
    const alterPartition = (p: Partition, proposal: IsrProposal): void => {
      const send = (): void => {
        if (halted || p.role !== "leader" || p.pendingIsr !== proposal.newIsr) return;
        const body = { brokerId: me, brokerEpoch, tp: p.tp, leaderEpoch: proposal.leaderEpoch, partitionEpoch: proposal.partitionEpoch, newIsr: proposal.newIsr };
        rpc.call(CONTROLLER_NODE, "AlterPartition", body, CONTROLLER_REQUEST_TIMEOUT_US, (resp, err) => {
          if (halted || p.pendingIsr !== proposal.newIsr) return;
          const r = resp as AlterPartitionResponse | null;
          const outcome = p.onAlterPartitionResponse(err !== null || r === null ? "retriable" : r.error, r?.state ?? null);
          if (outcome === "retry") ctx.after(ALTER_PARTITION_RETRY_US, send);
          else if (r !== null && r.state !== null) imagePartitions.set(p.tp, r.state);
        });
      };
      send();
    };

    // ---- periodic tasks ----
    const lagUs = bc["replica.lag.time.max.ms"] * US_PER_MS;
    const isrCheck = (): void => {
      if (halted) return;
      for (const p of partitions.values()) {
        const proposal = p.maybeShrinkIsr();
        if (proposal !== null) alterPartition(p, proposal);
      }
      ctx.after(Math.max(1, Math.floor(lagUs / 2)), isrCheck);
    };
    ctx.after(Math.max(1, Math.floor(lagUs / 2)), isrCheck);

    const offsetLines = (value: (log: PartitionLog) => number): string[] => {
      const lines: string[] = [];
      for (const [tp, log] of logs) {
        const { topic, partition } = splitKey(tp);
        lines.push(`${topic} ${partition} ${value(log)}`);
      }
      return lines;
    };
    const hwCheckpointLoop = (): void => {
      if (halted) return;
      hwCheckpoint.write(() => offsetLines((l) => l.hw));
      ctx.after(bc["replica.high.watermark.checkpoint.interval.ms"] * US_PER_MS, hwCheckpointLoop);
    };
    ctx.after(bc["replica.high.watermark.checkpoint.interval.ms"] * US_PER_MS, hwCheckpointLoop);
    const recoveryCheckpointLoop = (): void => {
      if (halted) return;
      recoveryCheckpoint.write(() => offsetLines((l) => l.recoveryPoint));
      ctx.after(bc["log.flush.offset.checkpoint.interval.ms"] * US_PER_MS, recoveryCheckpointLoop);
    };
    ctx.after(bc["log.flush.offset.checkpoint.interval.ms"] * US_PER_MS, recoveryCheckpointLoop);

    // LogManager's "kafka-log-flusher" runs every log.flush.scheduler.interval.ms (never, by default)
    // and flushes the logs not flushed for log.flush.interval.ms (which defaults to that interval).
    const schedulerMs = bc["log.flush.scheduler.interval.ms"];
    const flushIntervalUs = (bc["log.flush.interval.ms"] ?? schedulerMs) * US_PER_MS;
    if (schedulerMs < NEVER) {
      const flusher = (): void => {
        if (halted) return;
        for (const [tp, log] of logs) {
          if (ctx.now - (lastFlushUs.get(tp) ?? 0) < flushIntervalUs) continue;
          lastFlushUs.set(tp, ctx.now);
          log.flush();
        }
        ctx.after(schedulerMs * US_PER_MS, flusher);
      };
      ctx.after(schedulerMs * US_PER_MS, flusher);
    }

    return rpc.haltableHandlers(() => halted);
  };
}
