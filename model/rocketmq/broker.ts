import type { Connection } from "../../sim/network.js";
import type { NodeContext, ProcessHandlers } from "../../sim/node.js";
import type { RocketMqConfig } from "./config.js";
import { readConfigFile, writeConfigFile } from "./config-file.js";
import {
  PERM_READ,
  PERM_WRITE,
  RequestCode,
  ResponseCode,
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
import { MessageStore, type PutMessageResult } from "./store/message-store.js";
import { javaStringHashCode } from "./store/indexfile.js";

export interface BrokerOptions {
  brokerName: string;
  brokerId: number;
  nameServers: readonly string[];
  config: RocketMqConfig;
  /** Topics created by the operator before the run (mqadmin updateTopic), with their queue counts. */
  topics: ReadonlyArray<{ topic: string; queues: number }>;
}

/** The topic every broker creates for auto-creation (TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC). */
export const TBW102 = "TBW102";

/** PutMessageStatus → (response code, remark), as SendMessageProcessor.handlePutMessageResult maps them. */
function sendResponseCode(r: PutMessageResult): number {
  switch (r.status) {
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

/**
 * A RocketMQ broker process (BrokerController): the message store, the
 * send and pull processors with long polling, consumer offsets and consumer
 * group membership, topic configs, and registration with every NameServer.
 * On every boot it recovers its store from what its disk kept.
 */
export function broker(opts: BrokerOptions) {
  return (ctx: NodeContext): ProcessHandlers => {
    const cfg = opts.config;
    const remoting = new Remoting(ctx);
    const store = new MessageStore(ctx, cfg.store);
    const isSlave = cfg.store.brokerRole === "SLAVE";
    const topicsFile = "config/topics.json";
    const offsetsFile = "config/consumerOffset.json";

    // ---- topic configs (TopicConfigManager), persisted without fsync ----
    const topicConfigs = new Map<string, TopicConfig>();
    const loadedTopics = readConfigFile<TopicConfig[]>(ctx.disk, topicsFile);
    for (const tc of loadedTopics ?? []) topicConfigs.set(tc.topicName, tc);
    const ensureTopic = (topic: string, queues: number): TopicConfig => {
      let tc = topicConfigs.get(topic);
      if (tc === undefined) {
        tc = { topicName: topic, readQueueNums: queues, writeQueueNums: queues, perm: PERM_READ | PERM_WRITE };
        topicConfigs.set(topic, tc);
        writeConfigFile(ctx.disk, topicsFile, [...topicConfigs.values()]);
      }
      return tc;
    };
    if (cfg.broker.autoCreateTopicEnable) ensureTopic(TBW102, cfg.broker.defaultTopicQueueNums);
    for (const t of opts.topics) ensureTopic(t.topic, t.queues);

    // ---- consumer offsets (ConsumerOffsetManager) ----
    /** "group@topic" → queueId → next offset to consume */
    const offsetTable = new Map<string, Map<number, number>>();
    const loadedOffsets = readConfigFile<Record<string, Record<string, number>>>(ctx.disk, offsetsFile);
    for (const [k, qs] of Object.entries(loadedOffsets ?? {})) {
      offsetTable.set(k, new Map(Object.entries(qs).map(([q, o]) => [Number(q), o])));
    }
    const persistOffsets = (): void => {
      const out: Record<string, Record<string, number>> = {};
      for (const [k, qs] of offsetTable) out[k] = Object.fromEntries(qs);
      writeConfigFile(ctx.disk, offsetsFile, out);
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
      ctx.after(10_000_000, scanClients);
    };
    ctx.after(10_000_000, scanClients);

    // ---- NameServer registration ----
    const registerBrokerAll = (): void => {
      const body: RegisterBrokerBody = {
        clusterName: cfg.broker.brokerClusterName,
        brokerName: opts.brokerName,
        brokerId: opts.brokerId,
        brokerAddr: ctx.name,
        haServerAddr: ctx.name,
        topicConfigs: [...topicConfigs.values()].map((tc) => ({ ...tc, perm: tc.perm & cfg.broker.brokerPermission })),
      };
      for (const ns of opts.nameServers) {
        remoting.invoke(ns, RequestCode.REGISTER_BROKER, body, cfg.broker.registerBrokerTimeoutMills, () => {});
      }
    };
    // BrokerController.start: register at once, then every max(10 s, min(registerNameServerPeriod, 60 s)) after 10 s.
    registerBrokerAll();
    const registerLoop = (): void => {
      registerBrokerAll();
      ctx.after(Math.max(10_000, Math.min(cfg.broker.registerNameServerPeriod, 60_000)) * 1000, registerLoop);
    };
    ctx.after(10_000_000, registerLoop);

    // ---- SEND_MESSAGE ----
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
      store.putMessageAndWait(
        {
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
        },
        (r: PutMessageResult) => {
          const code = sendResponseCode(r);
          const ar = r.appendResult;
          const out: SendMessageResponseBody | null = ar ? { msgId: ar.msgId, queueId: body.queueId, queueOffset: ar.queueOffset } : null;
          remoting.reply(conn, req, code, out, r.status);
        },
      );
      return null;
    };
    remoting.registerProcessor(RequestCode.SEND_MESSAGE, onSend);
    remoting.registerProcessor(RequestCode.SEND_MESSAGE_V2, onSend);

    // ---- PULL_MESSAGE with long polling (PullRequestHoldService) ----
    const held = new Map<string, HeldPull[]>();
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
      const r = store.getMessage(body.consumerGroup, body.topic, body.queueId, body.queueOffset, body.maxMsgNums, tagFilter(body.subscription));
      let code: number;
      switch (r.status) {
        case "FOUND":
          code = ResponseCode.SUCCESS;
          break;
        case "NO_MATCHED_MESSAGE":
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
      if (code === ResponseCode.PULL_NOT_FOUND && allowSuspend && body.suspendTimeoutMs > 0) {
        const holdUs = cfg.broker.longPollingEnable ? body.suspendTimeoutMs * 1000 : cfg.broker.shortPollingTimeMills * 1000;
        const key = `${body.topic}@${body.queueId}`;
        let list = held.get(key);
        if (list === undefined) {
          list = [];
          held.set(key, list);
        }
        list.push({ conn, req, body, deadlineUs: ctx.now + holdUs });
        return null;
      }
      const messages: PulledMessage[] = r.messages.map((m) => ({
        topic: m.topic,
        queueId: m.queueId,
        queueOffset: m.queueOffset,
        body: m.body,
        properties: m.properties,
        storeTimestampMs: m.storeTimestamp,
        reconsumeTimes: m.reconsumeTimes,
        physicalOffset: m.physicalOffset,
      }));
      const out: PullMessageResponseBody = { messages, nextBeginOffset: r.nextBeginOffset, minOffset: r.minOffset, maxOffset: r.maxOffset, suggestWhichBrokerId: 0 };
      return response(code, out, req);
    };
    const recheckHeld = (key: string, force: boolean): void => {
      const list = held.get(key);
      if (list === undefined || list.length === 0) return;
      held.delete(key);
      for (const h of list) {
        const [topic, q] = [h.body.topic, h.body.queueId];
        const newData = store.getMaxOffsetInQueue(topic, q) > h.body.queueOffset;
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
    store.onDispatch((topic, queueId) => recheckHeld(`${topic}@${queueId}`, false));
    // PullRequestHoldService wakes every 5 s with long polling, every shortPollingTimeMills without.
    const holdCheckUs = cfg.broker.longPollingEnable ? 5_000_000 : cfg.broker.shortPollingTimeMills * 1000;
    const holdLoop = (): void => {
      for (const key of [...held.keys()]) recheckHeld(key, false);
      ctx.after(holdCheckUs, holdLoop);
    };
    ctx.after(holdCheckUs, holdLoop);
    remoting.registerProcessor(RequestCode.PULL_MESSAGE, (req, conn) => executePull(conn, req, req.body as PullMessageRequestBody, true));

    // ---- offsets ----
    const setOffset = (group: string, topic: string, queueId: number, offset: number): void => {
      const k = `${group}@${topic}`;
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
      for (const g of hb.consumerGroups) {
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

    // The store rides along so the runner's omniscient drain check can read queue ends.
    return Object.assign(remoting.handlers(), { store });
  };
}
