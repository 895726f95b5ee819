import type { Connection } from "../../sim/network.js";
import type { NodeContext, ProcessHandlers } from "../../sim/node.js";
import type { RocketMqConfig } from "./config.js";
import { readConfigFile, writeConfigFile } from "./config-file.js";
import { HaClient, HaService, isHaConnection, type HaSettings, type ReplicaStatus } from "./ha.js";
import {
  PERM_READ,
  PERM_WRITE,
  RequestCode,
  ResponseCode,
  type AllConsumerOffsetBody,
  type AllTopicConfigBody,
  type HaFrame,
  type HeartbeatBody,
  type PullMessageRequestBody,
  type PullMessageResponseBody,
  type PulledMessage,
  type RegisterBrokerBody,
  type RemotingRequest,
  type SendMessageRequestBody,
  type SendMessageResponseBody,
  type TopicConfig,
} from "./protocol.js";
import { Remoting, response } from "./remoting.js";
import { MessageStore, type FlushStatus, type PutMessageStatus } from "./store/message-store.js";
import { javaStringHashCode } from "./store/indexfile.js";
import { PROPERTY_WAIT_STORE_MSG_OK } from "./store/codec.js";
import type { AppendResult, DecodedMessage, MessageInput } from "./store/types.js";
import type { BrokerPutStatus, BrokerRuntime } from "./broker-runtime.js";
import type { RaftConfig } from "../raft/config.js";
import type { AppendCode, Entry } from "../raft/core.js";
import { startRaftNode, type RaftNode } from "../raft/node.js";
import { DELAY_OFFSET_FILE, installScheduleService, type ScheduleServiceHandle } from "./schedule.js";
import { SCHEDULE_TOPIC } from "./store/codec.js";
import { installSendBackProcessor, retryTopicOf } from "./sendback.js";
import { installTransactionService, prepareHalfMessage, PROPERTY_TRANSACTION_PREPARED, type TransactionServiceHandle } from "./transaction.js";
import { installRebalanceLockManager } from "./lock-manager.js";

export interface BrokerOptions {
  brokerName: string;
  brokerId: number;
  nameServers: readonly string[];
  config: RocketMqConfig;
  /** Topics created by the operator before the run (mqadmin updateTopic), with their queue counts. */
  topics: ReadonlyArray<{ topic: string; queues: number }>;
  /**
   * A slave's master (the group's brokerId 0), for its HA client and its
   * SlaveSynchronize. The real slave learns it from the NameServer's answer
   * to every registration (RegisterBrokerResult.haServerAddr / masterAddr,
   * or a fixed haMasterAddress); our NameServer model answers registrations
   * with no body, so the cluster's operator table stands in for that
   * answer. Read at every HA (re)connect and every sync round.
   */
  masterAddress?: () => string | undefined;
  /** DLedger mode (enableDLegerCommitLog): this broker is one peer of its group's DLedger Raft group. */
  dledger?: DLedgerBrokerOptions;
}

export interface DLedgerBrokerOptions {
  /** dLegerGroup: the brokerName. */
  group: string;
  /** dLegerPeers: every peer's node name, in dLegerSelfId order (n0, n1, ...). */
  peers: readonly string[];
  /** K of dLegerSelfId "nK": this node's position in `peers`. */
  selfIndex: number;
  config: RaftConfig;
  /** Called once per boot with the embedded DLedger server, before anything commits (the cluster observes it). */
  onRaft?: (node: RaftNode) => void;
}

/** What a broker process offers the cluster besides its handlers. */
export interface BrokerHandle {
  store: MessageStore;
  ha: HaService;
  haClient: HaClient | null;
  /** DLedger mode: the embedded DLedger server of this boot. */
  raft: RaftNode | null;
  schedule: ScheduleServiceHandle;
  transactions: TransactionServiceHandle;
  /** Whether the broker accepts sends now: a classic master, or a caught-up DLedger leader serving as brokerId 0. */
  isServingMaster(): boolean;
  /**
   * BrokerController.shutdown as an operator's `mqshutdown broker` runs it:
   * unregister from every NameServer, stop HA, shut the store down cleanly;
   * `cb` runs when the store is closed and the process may exit.
   */
  shutdown(cb: () => void): void;
}

/** SubscriptionGroupConfig.brokerId (MixAll.MASTER_ID): where a group reads when it keeps up. */
const SUBSCRIPTION_GROUP_BROKER_ID = 0;
/** SubscriptionGroupConfig.whichBrokerWhenConsumeSlowly = 1: where a lagging group is sent when slaveReadEnable. */
const WHICH_BROKER_WHEN_CONSUME_SLOWLY = 1;
/** BrokerController.handleSlaveSynchronize: first syncAll after 3 s, then every 10 s. */
const SLAVE_SYNC_FIRST_DELAY_US = 3_000_000;
const SLAVE_SYNC_PERIOD_US = 10_000_000;
/** BrokerOuterAPI.getAllTopicConfig / getAllConsumerOffset call timeout. */
const SLAVE_SYNC_TIMEOUT_MS = 3_000;

/** The topic every broker creates for auto-creation (TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC). */
export const TBW102 = "TBW102";

/** PutMessageStatus → (response code, remark), as SendMessageProcessor.handlePutMessageResult maps them. */
/** PutMessageStatus values only DLedgerCommitLog produces here (the classic store never returns them). */
type DLedgerPutStatus = BrokerPutStatus;

function sendResponseCode(status: DLedgerPutStatus): number {
  switch (status) {
    case "PUT_OK":
      return ResponseCode.SUCCESS;
    case "FLUSH_DISK_TIMEOUT":
      return ResponseCode.FLUSH_DISK_TIMEOUT;
    case "FLUSH_SLAVE_TIMEOUT":
      return ResponseCode.FLUSH_SLAVE_TIMEOUT;
    case "SLAVE_NOT_AVAILABLE":
      return ResponseCode.SLAVE_NOT_AVAILABLE;
    case "SERVICE_NOT_AVAILABLE":
      return ResponseCode.SERVICE_NOT_AVAILABLE;
    case "MESSAGE_ILLEGAL":
    case "PROPERTIES_SIZE_EXCEEDED":
      return ResponseCode.MESSAGE_ILLEGAL;
    default:
      // CREATE_MAPEDFILE_FAILED, OS_PAGECACHE_BUSY, UNKNOWN_ERROR: SYSTEM_ERROR, which producers retry.
      return ResponseCode.SYSTEM_ERROR;
  }
}

interface HeldPull {
  conn: Connection;
  req: RemotingRequest;
  body: PullMessageRequestBody;
  deadlineUs: number;
}

interface ClientChannel {
  clientId: string;
  conn: Connection;
  lastUpdateUs: number;
}

/** DLedgerRoleChangeHandler.handle: the new leader's catch-up loop sleeps 100 ms between checks. */
const DLEDGER_CATCH_UP_POLL_US = 100_000;
/** The DLedger data and index files live apart from the store's own files (DLedgerConfig.storeBaseDir). */
const DLEDGER_DIR = "dledger";

/**
 * DLedgerCommitLog's result mapping (semantics §10): an append the leader
 * refused before appending is SERVICE_NOT_AVAILABLE (the producer retries
 * elsewhere and nothing was written); a quorum wait that timed out, a full
 * pending queue, or a term change while waiting is OS_PAGECACHE_BUSY, i.e.
 * SYSTEM_ERROR on the wire: indeterminate, retried, duplicates possible.
 */
function dledgerAppendStatus(code: AppendCode): DLedgerPutStatus {
  switch (code) {
    case "SUCCESS":
      return "PUT_OK";
    case "NOT_LEADER":
    case "LEADER_TRANSFERRING":
      return "SERVICE_NOT_AVAILABLE";
    case "WAIT_QUORUM_ACK_TIMEOUT":
    case "LEADER_PENDING_FULL":
    case "TERM_CHANGED":
      return "OS_PAGECACHE_BUSY";
  }
}

/**
 * The entry body: the message as the leader received it. JSON keeps it
 * readable in traces; the body bytes travel as a latin1 string. (Real
 * DLedgerCommitLog stores the encoded CommitLog record; what matters here is
 * that every peer rebuilds the identical message from the entry.)
 */
function encodeDLedgerMessage(m: MessageInput): Uint8Array {
  let body = "";
  for (let i = 0; i < m.body.length; i++) body += String.fromCharCode(m.body[i]!);
  return new TextEncoder().encode(JSON.stringify({ ...m, body }));
}

function decodeDLedgerMessage(bytes: Uint8Array): MessageInput {
  const o = JSON.parse(new TextDecoder().decode(bytes)) as Omit<MessageInput, "body"> & { body: string };
  const body = new Uint8Array(o.body.length);
  for (let i = 0; i < o.body.length; i++) body[i] = o.body.charCodeAt(i);
  return { ...o, body };
}

/** The workload value an entry carries (its message body), for `log` observations. */
export function dledgerEntryValue(e: Entry): string {
  try {
    const m = decodeDLedgerMessage(e.body);
    let s = "";
    for (let i = 0; i < m.body.length; i++) s += String.fromCharCode(m.body[i]!);
    return s;
  } catch {
    return `#${e.index}`;
  }
}

/** A stored message as a pull response carries it. */
function pulledMessage(m: Readonly<DecodedMessage>): PulledMessage {
  return {
    msgId: m.msgId,
    topic: m.topic,
    queueId: m.queueId,
    queueOffset: m.queueOffset,
    body: m.body,
    properties: m.properties,
    storeTimestampMs: m.storeTimestamp,
    reconsumeTimes: m.reconsumeTimes,
    physicalOffset: m.physicalOffset,
  };
}

/** Message.isWaitStoreMsgOK: true unless the WAIT property says otherwise. */
function waitStoreMsgOK(properties: Record<string, string>): boolean {
  const v = properties[PROPERTY_WAIT_STORE_MSG_OK];
  return v === undefined || v.toLowerCase() === "true";
}

/**
 * A RocketMQ broker process (BrokerController): the message store, the
 * send and pull processors with long polling, consumer offsets and consumer
 * group membership, topic configs, and registration with every NameServer.
 * On every boot it recovers its store from what its disk kept. Every broker
 * runs the HA service (slaves connect to it); a slave also runs the HA
 * client and SlaveSynchronize against its master.
 */
export function broker(opts: BrokerOptions) {
  return (ctx: NodeContext): ProcessHandlers & BrokerHandle => {
    const cfg = opts.config;
    const dl = opts.dledger;
    const remoting = new Remoting(ctx);
    if (dl !== undefined) {
      // DLedger mode: the store holds only what DLedger committed, so it is derived data. Every boot
      // wipes it and replays the recovered committed prefix (below), so a ConsumeQueue never holds
      // an entry that was not committed, whatever the crash left in the store's own files.
      for (const f of ctx.disk.list(`${cfg.store.storePathRootDir}/`)) ctx.disk.remove(f);
    }
    // In DLedger mode every peer writes its store itself (committed entries, in order): the store is
    // never a SLAVE store, which would refuse puts; the broker's role decides who accepts sends.
    const store = new MessageStore(ctx, dl !== undefined ? { ...cfg.store, brokerRole: "SYNC_MASTER" } : cfg.store);
    /** Classic mode: fixed by broker.conf. DLedger mode: follows the role change handler. */
    let isSlave = dl !== undefined ? true : cfg.store.brokerRole === "SLAVE";
    /** Classic mode: fixed. DLedger mode: 0 while serving as master, selfIndex + 1 otherwise. */
    let brokerId = dl !== undefined ? dl.selfIndex + 1 : opts.brokerId;
    const syncMaster = cfg.store.brokerRole === "SYNC_MASTER";
    const syncFlush = cfg.store.flushDiskType === "SYNC_FLUSH";
    const haSettings: HaSettings = { version: cfg.version, ha: cfg.ha, mappedFileSizeCommitLog: cfg.store.mappedFileSizeCommitLog };
    const haService = new HaService(ctx, store, haSettings);
    const haClient = dl === undefined && isSlave && opts.masterAddress !== undefined ? new HaClient(ctx, store, haSettings, opts.masterAddress) : null;
    /** Set once an operator's shutdown began: periodic registration and slave sync stop. */
    let shuttingDown = false;
    const topicsFile = "config/topics.json";
    const offsetsFile = "config/consumerOffset.json";

    // ---- topic configs (TopicConfigManager), persisted without fsync ----
    const topicConfigs = new Map<string, TopicConfig>();
    const loadedTopics = readConfigFile<TopicConfig[]>(ctx.disk, topicsFile);
    for (const tc of loadedTopics ?? []) topicConfigs.set(tc.topicName, tc);
    const ensureTopic = (topic: string, queues: number, perm = PERM_READ | PERM_WRITE): TopicConfig => {
      let tc = topicConfigs.get(topic);
      if (tc === undefined) {
        tc = { topicName: topic, readQueueNums: queues, writeQueueNums: queues, perm };
        topicConfigs.set(topic, tc);
        writeConfigFile(ctx.disk, topicsFile, [...topicConfigs.values()]);
      }
      return tc;
    };
    if (cfg.broker.autoCreateTopicEnable) ensureTopic(TBW102, cfg.broker.defaultTopicQueueNums);
    // TopicConfigManager creates SCHEDULE_TOPIC_XXXX (SCHEDULE_TOPIC_QUEUE_NUM = 18 queues) with the system topics.
    ensureTopic(SCHEDULE_TOPIC, 18);
    for (const t of opts.topics) ensureTopic(t.topic, t.queues);

    // ---- consumer offsets (ConsumerOffsetManager) ----
    /** "group@topic" → queueId → next offset to consume */
    const offsetTable = new Map<string, Map<number, number>>();
    const loadedOffsets = readConfigFile<Record<string, Record<string, number>>>(ctx.disk, offsetsFile);
    for (const [k, qs] of Object.entries(loadedOffsets ?? {})) {
      offsetTable.set(k, new Map(Object.entries(qs).map(([q, o]) => [Number(q), o])));
    }
    /** A fresh plain copy of the offset table, as consumerOffset.json and GET_ALL_CONSUMER_OFFSET carry it. */
    const offsetTableSnapshot = (): Record<string, Record<string, number>> => {
      const out: Record<string, Record<string, number>> = {};
      for (const [k, qs] of offsetTable) out[k] = Object.fromEntries(qs);
      return out;
    };
    const persistOffsets = (): void => {
      writeConfigFile(ctx.disk, offsetsFile, offsetTableSnapshot());
    };
    const persistOffsetsLoop = (): void => {
      persistOffsets();
      ctx.after(cfg.broker.flushConsumerOffsetInterval * 1000, persistOffsetsLoop);
    };
    ctx.after(10_000_000, persistOffsetsLoop);

    // ---- consumer groups (ConsumerManager) ----
    const groups = new Map<string, Map<string, ClientChannel>>();
    const notifyGroupChanged = (group: string): void => {
      const members = groups.get(group);
      if (members === undefined) return;
      for (const ch of members.values()) remoting.notify(ch.conn, RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, { group });
    };
    const removeClient = (pred: (ch: ClientChannel) => boolean): void => {
      for (const [group, members] of groups) {
        let changed = false;
        for (const [id, ch] of [...members]) {
          if (pred(ch)) {
            members.delete(id);
            changed = true;
          }
        }
        if (changed) notifyGroupChanged(group);
      }
    };
    remoting.onChannelClose((conn) => removeClient((ch) => ch.conn === conn));
    const scanClients = (): void => {
      const expiry = cfg.broker.channelExpiredTimeout * 1000;
      removeClient((ch) => ch.lastUpdateUs + expiry < ctx.now);
      for (const members of producerGroups.values()) for (const [id, ch] of [...members]) if (ch.lastUpdateUs + expiry < ctx.now) members.delete(id);
      ctx.after(10_000_000, scanClients);
    };
    ctx.after(10_000_000, scanClients);

    // ---- producer groups (ProducerManager): who can answer a transaction check ----
    const producerGroups = new Map<string, Map<string, ClientChannel>>();
    remoting.onChannelClose((conn) => {
      for (const members of producerGroups.values()) for (const [id, ch] of [...members]) if (ch.conn === conn) members.delete(id);
    });
    /** Service hooks: role changes (DLedger) and an operator's shutdown. */
    const roleListeners: Array<(master: boolean) => void> = [];
    const shutdownListeners: Array<() => void> = [];

    // ---- NameServer registration ----
    const registerBrokerAll = (): void => {
      const body: RegisterBrokerBody = {
        clusterName: cfg.broker.brokerClusterName,
        brokerName: opts.brokerName,
        brokerId,
        brokerAddr: ctx.name,
        haServerAddr: `${ctx.name}:${cfg.ha.haListenPort}`,
        topicConfigs: [...topicConfigs.values()].map((tc) => ({ ...tc, perm: tc.perm & cfg.broker.brokerPermission })),
      };
      for (const ns of opts.nameServers) {
        remoting.invoke(ns, RequestCode.REGISTER_BROKER, body, cfg.broker.registerBrokerTimeoutMills, () => {});
      }
    };
    // BrokerController.start: register at once, then every max(10 s, min(registerNameServerPeriod, 60 s)) after 10 s.
    registerBrokerAll();
    const registerLoop = (): void => {
      if (shuttingDown) return;
      registerBrokerAll();
      ctx.after(Math.max(10_000, Math.min(cfg.broker.registerNameServerPeriod, 60_000)) * 1000, registerLoop);
    };
    ctx.after(10_000_000, registerLoop);

    // ---- SEND_MESSAGE ----
    // ---- DLedger mode (DLedgerCommitLog + DLedgerRoleChangeHandler) ----
    let raft: RaftNode | null = null;
    /** Highest DLedger index put into the store (-1: none). Invariant: <= the node's committedIndex. */
    let dispatchedIndex = -1;
    /** Put results of entries committed while leading, for the append callbacks that follow in the same step. */
    const putResults = new Map<number, ReturnType<MessageStore["putMessage"]>>();
    /** Bumped on every role change: a catch-up loop of an older change stops. */
    let roleEpoch = 0;
    const dispatchCommitted = (upTo: number): void => {
      const node = raft!;
      for (let i = dispatchedIndex + 1; i <= upTo; i++) {
        const e = node.entry(i);
        if (e === undefined) break;
        const r = store.putMessage({ ...decodeDLedgerMessage(e.body), storeHost: ctx.name });
        if (node.isLeader) putResults.set(i, r);
        dispatchedIndex = i;
      }
    };
    const dledgerPut = (msg: MessageInput, cb: (status: DLedgerPutStatus, ar: AppendResult | null, remark?: string) => void): void => {
      raft!.append(encodeDLedgerMessage(msg), (ar) => {
        const put = ar.code === "SUCCESS" ? putResults.get(ar.index) : undefined;
        if (ar.code === "SUCCESS") putResults.delete(ar.index);
        let status: DLedgerPutStatus = dledgerAppendStatus(ar.code);
        // Committed but the local put failed (an illegal message): the put's own status, as CommitLog reports it.
        if (status === "PUT_OK" && (put === undefined || put.status !== "PUT_OK" || put.appendResult === null)) status = put?.status ?? "UNKNOWN_ERROR";
        cb(status, status === "PUT_OK" ? put!.appendResult : null, status === "PUT_OK" ? undefined : `${status} (DLedger ${ar.code})`);
      });
    };
    const changeToSlave = (): void => {
      const id = dl!.selfIndex + 1;
      if (isSlave && brokerId === id) return;
      const wasMaster = !isSlave && brokerId === 0;
      isSlave = true;
      brokerId = id;
      ctx.emit("dledger.changeToSlave", { group: dl!.group, brokerId });
      registerBrokerAll();
      if (wasMaster) for (const l of roleListeners) l(false);
    };
    /**
     * DLedgerRoleChangeHandler, LEADER: wait (100 ms sleeps) until the ledger
     * end equals the committed index and the store has dispatched it all,
     * then become master (brokerId 0) and register. One deviation, for
     * liveness: DLedger 0.3.1.2 appends no no-op on election, so under the
     * model's default current-term commit rule entries of earlier terms
     * commit only together with a new entry, and a literal wait would never
     * end (0.3.1.2 itself commits them by counting replicas). Uncommitted
     * entries that are all of earlier terms therefore count as caught up
     * under that rule; the first send commits them, in log order, before its
     * own message.
     */
    const awaitCatchUp = (epoch: number): void => {
      const node = raft!;
      if (epoch !== roleEpoch || !node.isLeader || !ctx.alive) return;
      let caughtUp = node.ledgerEndIndex === node.committedIndex;
      if (!caughtUp && dl!.config["dledger.commitRule"] === "current-term") {
        caughtUp = true;
        for (let i = node.committedIndex + 1; i <= node.ledgerEndIndex; i++) if ((node.entry(i)?.term ?? node.term) >= node.term) caughtUp = false;
      }
      // A checkpoint can name a committedIndex beyond what the log kept after a crash: the log caps it.
      if (caughtUp && dispatchedIndex >= Math.min(node.committedIndex, node.ledgerEndIndex) && store.dispatchBehindBytes() === 0) {
        isSlave = false;
        brokerId = 0;
        ctx.emit("dledger.changeToMaster", { group: dl!.group, term: node.term, committedIndex: node.committedIndex });
        registerBrokerAll();
        for (const l of roleListeners) l(true);
        return;
      }
      ctx.after(DLEDGER_CATCH_UP_POLL_US, () => awaitCatchUp(epoch));
    };

    /**
     * The send path's put (SendMessageProcessor → CommitLog.asyncPutMessage):
     * in DLedger mode an append that answers when committed; otherwise an
     * append, then the flush wait and the replica wait side by side,
     * combined with thenCombine: a failed flush sets the status, a failed
     * replica wait then overwrites it, so the replica status wins. The
     * message is stored whatever they say (`ar` is then non-null).
     */
    const putAndWait = (msg: MessageInput, cb: (status: DLedgerPutStatus, ar: AppendResult | null, remark?: string) => void): void => {
      if (raft !== null) {
        dledgerPut(msg, cb);
        return;
      }
      const r = store.putMessage(msg);
      const ar = r.appendResult;
      if (r.status !== "PUT_OK" || ar === null) {
        cb(r.status, null);
        return;
      }
      const wait = waitStoreMsgOK(msg.properties);
      if (!wait || (!syncFlush && !syncMaster)) {
        // Neither a flush nor a replica wait: both halves are PUT_OK at once, as below, without their bookkeeping.
        cb("PUT_OK", ar);
        return;
      }
      const nextOffset = ar.wroteOffset + ar.wroteBytes;
      let flushStatus: FlushStatus | null = null;
      let replicaStatus: ReplicaStatus | null = null;
      let replied = false;
      const maybeReply = (): void => {
        if (replied || flushStatus === null || replicaStatus === null) return;
        replied = true;
        let status: PutMessageStatus = "PUT_OK";
        if (flushStatus !== "PUT_OK") status = flushStatus;
        if (replicaStatus !== "PUT_OK") status = replicaStatus;
        cb(status, ar);
      };
      if (syncFlush && wait) {
        store.waitFlush(nextOffset, (st) => {
          flushStatus = st;
          maybeReply();
        });
      } else {
        flushStatus = "PUT_OK";
      }
      if (syncMaster && wait) {
        haService.handleHA(nextOffset, (st) => {
          replicaStatus = st;
          maybeReply();
        });
      } else {
        replicaStatus = "PUT_OK";
      }
      maybeReply();
    };

    const onSend = (req: RemotingRequest, conn: Connection) => {
      const body = req.body as SendMessageRequestBody;
      if (isSlave) return response(ResponseCode.SERVICE_NOT_AVAILABLE, null, req, `the broker[${ctx.name}] sending message is forbidden`);
      if ((cfg.broker.brokerPermission & PERM_WRITE) === 0) return response(ResponseCode.NO_PERMISSION, null, req, "the broker is not writable");
      let tc = topicConfigs.get(body.topic);
      if (tc === undefined) {
        if (!cfg.broker.autoCreateTopicEnable || !topicConfigs.has(TBW102)) {
          return response(ResponseCode.TOPIC_NOT_EXIST, null, req, `topic[${body.topic}] not exist, apply first please!`);
        }
        // TopicConfigManager.createTopicInSendMessageMethod: queues = min(requested, TBW102's).
        tc = ensureTopic(body.topic, Math.min(body.defaultTopicQueueNums, topicConfigs.get(TBW102)!.writeQueueNums));
        registerBrokerAll();
      }
      if (body.queueId < 0 || body.queueId >= tc.writeQueueNums) {
        return response(ResponseCode.SYSTEM_ERROR, null, req, `request queueId[${body.queueId}] is illegal`);
      }
      const msg = {
        topic: body.topic,
        queueId: body.queueId,
        body: body.body,
        flag: body.flag,
        properties: body.properties,
        bornTimestampMs: body.bornTimestampMs,
        bornHost: body.bornHost,
        storeHost: ctx.name,
        reconsumeTimes: body.reconsumeTimes,
        sysFlag: body.sysFlag,
      };
      // SendMessageProcessor: a message whose TRAN_MSG parses as true is stored as a half message instead.
      const tranMsg = body.properties[PROPERTY_TRANSACTION_PREPARED];
      const toStore = tranMsg !== undefined && tranMsg.toLowerCase() === "true" ? prepareHalfMessage(msg, cfg.version) : msg;
      putAndWait(toStore, (status, ar, remark) => {
        // Stored (whatever the waits said): the answer carries where; otherwise no body.
        const out: SendMessageResponseBody | null = ar === null ? null : { msgId: ar.msgId, queueId: body.queueId, queueOffset: ar.queueOffset };
        remoting.reply(conn, req, sendResponseCode(status), out, remark ?? status);
      });
      return null;
    };
    remoting.registerProcessor(RequestCode.SEND_MESSAGE, onSend);
    remoting.registerProcessor(RequestCode.SEND_MESSAGE_V2, onSend);

    // ---- PULL_MESSAGE with long polling (PullRequestHoldService) ----
    const held = new Map<string, HeldPull[]>();
    /** topic → queue id → "topic@queueId", the key of `held`: every dispatch looks one up. */
    const heldKeys = new Map<string, string[]>();
    const heldKey = (topic: string, queueId: number): string => {
      let byId = heldKeys.get(topic);
      if (byId === undefined) heldKeys.set(topic, (byId = []));
      if (queueId >= 0 && queueId < 1024 && Number.isInteger(queueId)) return (byId[queueId] ??= `${topic}@${queueId}`);
      return `${topic}@${queueId}`;
    };
    const tagFilter = (subscription: string[] | "*"): ((tagsCode: number) => boolean) | undefined => {
      if (subscription === "*") return undefined;
      const codes = new Set(subscription.map(javaStringHashCode));
      return (code) => codes.has(code);
    };
    /** Runs a pull; returns the response, or null when it was held for later. */
    const executePull = (conn: Connection, req: RemotingRequest, body: PullMessageRequestBody, allowSuspend: boolean) => {
      if (body.commitOffset !== undefined && body.commitOffset >= 0 && !isSlave) {
        setOffset(body.consumerGroup, body.topic, body.queueId, body.commitOffset);
      }
      const r = store.getMessage(body.consumerGroup, body.topic, body.queueId, body.queueOffset, body.maxMsgNums, tagFilter(body.subscription), pulledMessage);
      // PullMessageProcessor: with slaveReadEnable a lagging consumer is sent to a slave, one that keeps
      // up to the subscription group's broker; without it, always to the master. A slave's own
      // "PULL_RETRY_IMMEDIATELY unless slaveReadEnable" is overwritten by the status switch below,
      // so a slave answers pulls like a master (which is how a consumer reads it once the master
      // left the route).
      let suggestWhichBrokerId = cfg.broker.slaveReadEnable ? (r.suggestPullingFromSlave ? WHICH_BROKER_WHEN_CONSUME_SLOWLY : SUBSCRIPTION_GROUP_BROKER_ID) : 0;
      let code: number;
      switch (r.status) {
        case "FOUND":
          code = ResponseCode.SUCCESS;
          break;
        case "NO_MATCHED_MESSAGE":
        case "MESSAGE_WAS_REMOVING":
          code = ResponseCode.PULL_RETRY_IMMEDIATELY;
          break;
        case "NO_MESSAGE_IN_QUEUE":
          code = body.queueOffset !== 0 ? ResponseCode.PULL_OFFSET_MOVED : ResponseCode.PULL_NOT_FOUND;
          break;
        case "OFFSET_FOUND_NULL":
        case "OFFSET_OVERFLOW_ONE":
          code = ResponseCode.PULL_NOT_FOUND;
          break;
        default:
          // OFFSET_OVERFLOW_BADLY, OFFSET_TOO_SMALL, NO_MATCHED_LOGIC_QUEUE: the consumer must move.
          code = ResponseCode.PULL_OFFSET_MOVED;
          break;
      }
      if (code === ResponseCode.PULL_OFFSET_MOVED && isSlave && !cfg.store.offsetCheckInSlave) {
        // A slave does not correct offsets (it may just be behind): "none correction", retry, back to the group's broker.
        code = ResponseCode.PULL_RETRY_IMMEDIATELY;
        suggestWhichBrokerId = SUBSCRIPTION_GROUP_BROKER_ID;
      }
      if (code === ResponseCode.PULL_NOT_FOUND && allowSuspend && body.suspendTimeoutMs > 0) {
        const holdUs = cfg.broker.longPollingEnable ? body.suspendTimeoutMs * 1000 : cfg.broker.shortPollingTimeMills * 1000;
        const key = heldKey(body.topic, body.queueId);
        let list = held.get(key);
        if (list === undefined) {
          list = [];
          held.set(key, list);
        }
        list.push({ conn, req, body, deadlineUs: ctx.now + holdUs });
        return null;
      }
      const out: PullMessageResponseBody = { messages: r.messages, nextBeginOffset: r.nextBeginOffset, minOffset: r.minOffset, maxOffset: r.maxOffset, suggestWhichBrokerId };
      return response(code, out, req);
    };
    const recheckHeld = (key: string, force: boolean): void => {
      const list = held.get(key);
      if (list === undefined || list.length === 0) return;
      held.delete(key);
      for (const h of list) {
        const newData = store.getMaxOffsetInQueue(h.body.topic, h.body.queueId) > h.body.queueOffset;
        if (newData || force || ctx.now >= h.deadlineUs) {
          const resp = executePull(h.conn, h.req, h.body, false);
          if (resp !== null) ctx.send(h.conn, resp);
        } else {
          let l = held.get(key);
          if (l === undefined) {
            l = [];
            held.set(key, l);
          }
          l.push(h);
        }
      }
    };
    store.onDispatch((topic, queueId) => recheckHeld(heldKey(topic, queueId), false));
    // PullRequestHoldService wakes every 5 s with long polling, every shortPollingTimeMills without.
    const holdCheckUs = cfg.broker.longPollingEnable ? 5_000_000 : cfg.broker.shortPollingTimeMills * 1000;
    const holdLoop = (): void => {
      for (const key of [...held.keys()]) recheckHeld(key, false);
      ctx.after(holdCheckUs, holdLoop);
    };
    ctx.after(holdCheckUs, holdLoop);
    remoting.registerProcessor(RequestCode.PULL_MESSAGE, (req, conn) => executePull(conn, req, req.body as PullMessageRequestBody, true));

    // ---- offsets ----
    /** group → topic → "group@topic"; a pull commits an offset on every call. */
    const offsetKeys = new Map<string, Map<string, string>>();
    const offsetKey = (group: string, topic: string): string => {
      let byTopic = offsetKeys.get(group);
      if (byTopic === undefined) offsetKeys.set(group, (byTopic = new Map()));
      let k = byTopic.get(topic);
      if (k === undefined) byTopic.set(topic, (k = `${group}@${topic}`));
      return k;
    };
    const setOffset = (group: string, topic: string, queueId: number, offset: number): void => {
      const k = offsetKey(group, topic);
      let qs = offsetTable.get(k);
      if (qs === undefined) {
        qs = new Map();
        offsetTable.set(k, qs);
      }
      qs.set(queueId, offset);
    };
    remoting.registerProcessor(RequestCode.QUERY_CONSUMER_OFFSET, (req) => {
      const b = req.body as { consumerGroup: string; topic: string; queueId: number };
      const off = offsetTable.get(`${b.consumerGroup}@${b.topic}`)?.get(b.queueId);
      if (off !== undefined && off >= 0) return response(ResponseCode.SUCCESS, { offset: off }, req);
      // ConsumerManageProcessor: a queue whose messages all still sit in memory starts a new group at 0.
      if (store.getMinOffsetInQueue(b.topic, b.queueId) <= 0) return response(ResponseCode.SUCCESS, { offset: 0 }, req);
      return response(ResponseCode.QUERY_NOT_FOUND, null, req, "Not found, do not set to zero, maybe this group boot first");
    });
    remoting.registerProcessor(RequestCode.UPDATE_CONSUMER_OFFSET, (req) => {
      const b = req.body as { consumerGroup: string; topic: string; queueId: number; commitOffset: number };
      if (!isSlave) setOffset(b.consumerGroup, b.topic, b.queueId, b.commitOffset);
      return response(ResponseCode.SUCCESS, null, req);
    });
    remoting.registerProcessor(RequestCode.GET_MAX_OFFSET, (req) => {
      const b = req.body as { topic: string; queueId: number };
      return response(ResponseCode.SUCCESS, { offset: store.getMaxOffsetInQueue(b.topic, b.queueId) }, req);
    });
    remoting.registerProcessor(RequestCode.GET_MIN_OFFSET, (req) => {
      const b = req.body as { topic: string; queueId: number };
      return response(ResponseCode.SUCCESS, { offset: store.getMinOffsetInQueue(b.topic, b.queueId) }, req);
    });

    // ---- heartbeats and consumer lists ----
    remoting.registerProcessor(RequestCode.HEART_BEAT, (req, conn) => {
      const hb = req.body as HeartbeatBody;
      for (const g of hb.producerGroups) {
        let members = producerGroups.get(g);
        if (members === undefined) producerGroups.set(g, (members = new Map()));
        members.set(hb.clientId, { clientId: hb.clientId, conn, lastUpdateUs: ctx.now });
      }
      for (const g of hb.consumerGroups) {
        // ClientManageProcessor.heartBeat → createTopicInSendMessageBackMethod(%RETRY%group, 1 queue, read | write).
        const retry = retryTopicOf(g.group);
        if (!isSlave && !topicConfigs.has(retry)) {
          ensureTopic(retry, 1, PERM_READ | PERM_WRITE);
          registerBrokerAll();
        }
        let members = groups.get(g.group);
        if (members === undefined) {
          members = new Map();
          groups.set(g.group, members);
        }
        const existing = members.get(hb.clientId);
        members.set(hb.clientId, { clientId: hb.clientId, conn, lastUpdateUs: ctx.now });
        if (existing === undefined || existing.conn !== conn) notifyGroupChanged(g.group);
      }
      return response(ResponseCode.SUCCESS, null, req);
    });
    remoting.registerProcessor(RequestCode.UNREGISTER_CLIENT, (req) => {
      const b = req.body as { clientId: string };
      removeClient((ch) => ch.clientId === b.clientId);
      for (const members of producerGroups.values()) members.delete(b.clientId);
      return response(ResponseCode.SUCCESS, null, req);
    });
    remoting.registerProcessor(RequestCode.GET_CONSUMER_LIST_BY_GROUP, (req) => {
      const b = req.body as { consumerGroup: string };
      const members = groups.get(b.consumerGroup);
      if (members === undefined || members.size === 0) return response(ResponseCode.SYSTEM_ERROR, null, req, `no consumer for this group, ${b.consumerGroup}`);
      return response(ResponseCode.SUCCESS, { consumerIdList: [...members.keys()] }, req);
    });
    remoting.registerProcessor(RequestCode.QUERY_MESSAGE, (req) => {
      const b = req.body as { topic: string; key: string; maxNum: number };
      const found = store.queryMessageByKey(b.topic, b.key, b.maxNum);
      if (found.length === 0) return response(ResponseCode.QUERY_NOT_FOUND, { messages: [] }, req);
      return response(ResponseCode.SUCCESS, { messages: found.map((m) => ({ body: m.body, properties: m.properties, topic: m.topic, queueId: m.queueId, queueOffset: m.queueOffset })) }, req);
    });

    // ---- what a slave copies from its master (SlaveSynchronize) ----
    remoting.registerProcessor(RequestCode.GET_ALL_TOPIC_CONFIG, (req) => {
      const out: AllTopicConfigBody = { topicConfigs: [...topicConfigs.values()].map((tc) => ({ ...tc })) };
      return response(ResponseCode.SUCCESS, out, req);
    });
    remoting.registerProcessor(RequestCode.GET_ALL_DELAY_OFFSET, (req) => {
      const table = readConfigFile<unknown>(ctx.disk, DELAY_OFFSET_FILE);
      return table === null || table === undefined ? response(ResponseCode.SYSTEM_ERROR, null, req, "no delay offset file") : response(ResponseCode.SUCCESS, table, req);
    });
    remoting.registerProcessor(RequestCode.GET_ALL_CONSUMER_OFFSET, (req) => {
      const out: AllConsumerOffsetBody = { offsetTable: offsetTableSnapshot() };
      return response(ResponseCode.SUCCESS, out, req);
    });
    // DLedger followers copy topic configs and offsets from their leader, as a classic slave from its master.
    const syncSource = (): string | undefined => (raft !== null ? (isSlave ? (raft.leaderId ?? undefined) : undefined) : opts.masterAddress?.());
    if (haClient !== null || dl !== undefined) {
      /**
       * SlaveSynchronize.syncAll: topic configs (replaced when they differ,
       * which stands for the real dataVersion check) and consumer offsets
       * (putAll: the master's entry for each group@topic replaces ours), each
       * persisted. A slave promoted later boots with these, so its consumers
       * resume from at most one period back. Delay offsets and subscription
       * groups are not modelled (no delayed messages or group configs here).
       */
      const syncAll = (): void => {
        if (shuttingDown) return;
        const master = syncSource();
        if (master !== undefined && master !== ctx.name) {
          remoting.invoke(master, RequestCode.GET_ALL_TOPIC_CONFIG, {}, SLAVE_SYNC_TIMEOUT_MS, (resp, err) => {
            if (err !== null || resp!.code !== ResponseCode.SUCCESS) return;
            const incoming = (resp!.body as AllTopicConfigBody).topicConfigs;
            const current = [...topicConfigs.values()];
            if (JSON.stringify(incoming) === JSON.stringify(current)) return;
            topicConfigs.clear();
            for (const tc of incoming) topicConfigs.set(tc.topicName, { ...tc });
            writeConfigFile(ctx.disk, topicsFile, [...topicConfigs.values()]);
          });
          remoting.invoke(master, RequestCode.GET_ALL_CONSUMER_OFFSET, {}, SLAVE_SYNC_TIMEOUT_MS, (resp, err) => {
            if (err !== null || resp!.code !== ResponseCode.SUCCESS) return;
            const table = (resp!.body as AllConsumerOffsetBody).offsetTable;
            for (const [k, qs] of Object.entries(table)) offsetTable.set(k, new Map(Object.entries(qs).map(([q, o]) => [Number(q), o])));
            persistOffsets();
          });
          // syncDelayOffset: the master's delayOffset.json, read by the schedule service when this node is promoted.
          remoting.invoke(master, RequestCode.GET_ALL_DELAY_OFFSET, {}, SLAVE_SYNC_TIMEOUT_MS, (resp, err) => {
            if (err !== null || resp!.code !== ResponseCode.SUCCESS || resp!.body === null) return;
            writeConfigFile(ctx.disk, DELAY_OFFSET_FILE, resp!.body);
          });
        }
        ctx.after(SLAVE_SYNC_PERIOD_US, syncAll);
      };
      ctx.after(SLAVE_SYNC_FIRST_DELAY_US, syncAll);
      haClient?.start();
    }

    // ---- operator shutdown (mqshutdown broker) ----
    const shutdown = (cb: () => void): void => {
      if (shuttingDown) return;
      shuttingDown = true;
      ctx.emit("broker.shutdown", { brokerName: opts.brokerName, brokerId: opts.brokerId });
      const body = { clusterName: cfg.broker.brokerClusterName, brokerName: opts.brokerName, brokerId, brokerAddr: ctx.name };
      for (const ns of opts.nameServers) remoting.invoke(ns, RequestCode.UNREGISTER_BROKER, body, cfg.broker.registerBrokerTimeoutMills, () => {});
      for (const l of shutdownListeners) l();
      haClient?.shutdown();
      haService.shutdown();
      store.shutdown(() => cb());
    };

    // ---- side services: delays, send-back (retry/DLQ), transactions, queue locks ----
    const runtime: BrokerRuntime = {
      ctx,
      cfg,
      brokerName: opts.brokerName,
      remoting,
      store,
      isMaster: () => !isSlave && brokerId === 0,
      onRoleChange: (l) => roleListeners.push(l),
      ensureTopic: (topic, queues, perm) => {
        const existed = topicConfigs.has(topic);
        const tc = ensureTopic(topic, queues, perm);
        if (!existed) registerBrokerAll();
        return tc;
      },
      topicConfig: (topic) => topicConfigs.get(topic),
      putMessage: (msg, cb) => putAndWait(msg, (status, ar) => cb(status, ar)),
      producerChannels: (group) => [...(producerGroups.get(group)?.values() ?? [])].map((ch) => ch.conn),
      consumerIds: (group) => [...(groups.get(group)?.keys() ?? [])],
      onShutdown: (l) => shutdownListeners.push(l),
    };
    const schedule = installScheduleService(runtime);
    installSendBackProcessor(runtime);
    const transactions = installTransactionService(runtime);
    installRebalanceLockManager(runtime);

    // One process, two listening ports: HA connections go to the HA service (or, for the one this
    // slave dialled, its HA client), everything else to remoting.
    if (dl !== undefined) {
      ctx.emit("dledger.start", { dLegerGroup: dl.group, dLegerPeers: dl.peers.map((p, i) => `n${i}-${p}`).join(";"), dLegerSelfId: `n${dl.selfIndex}` });
      const node = startRaftNode(ctx, { group: dl.group, peers: dl.peers, config: dl.config, dir: DLEDGER_DIR });
      raft = node;
      dl.onRaft?.(node);
      // Rebuild the store from the recovered committed prefix (the checkpoint's committedIndex, capped
      // by what the log kept); later commits are dispatched as they come, in index order, on every peer.
      dispatchCommitted(Math.min(node.committedIndex, node.ledgerEndIndex));
      node.onCommit((entries) => {
        const last = entries[entries.length - 1];
        if (last !== undefined) dispatchCommitted(last.index);
      });
      node.onRoleChange((role) => {
        roleEpoch++;
        putResults.clear();
        if (role === "leader") awaitCatchUp(roleEpoch);
        else changeToSlave();
      });
      if (node.isLeader) awaitCatchUp(roleEpoch);
    }

    const rh = remoting.handlers();
    const handlers: ProcessHandlers = {
      onMessage: (conn, payload) => {
        if (raft?.handleMessage(conn, payload)) return;
        if (!isHaConnection(conn)) rh.onMessage(conn, payload);
        else if (haClient?.owns(conn)) haClient.onMessage(conn, payload as HaFrame);
        else haService.onMessage(conn, payload as HaFrame);
      },
      onAccept: (conn) => {
        if (isHaConnection(conn)) haService.onAccept(conn);
        else rh.onAccept?.(conn);
      },
      onClose: (conn, reason) => {
        raft?.handleClose(conn);
        if (!isHaConnection(conn)) rh.onClose?.(conn, reason);
        else if (haClient?.owns(conn)) haClient.onClose(conn, reason);
        else haService.onClose(conn, reason);
      },
    };
    // The store rides along so the runner's omniscient drain check can read queue ends.
    const handle: BrokerHandle = { store, ha: haService, haClient, shutdown, raft, schedule, transactions, isServingMaster: () => !isSlave && brokerId === 0 };
    return Object.assign(handlers, handle);
  };
}
