/**
 * RocketMQ remoting: request codes, response codes and the payloads mqsim's
 * processes exchange. Names and numbers follow the real RequestCode and
 * ResponseCode classes so a trace reads like a packet capture of the real
 * protocol.
 */

export const RequestCode = {
  SEND_MESSAGE: 10,
  PULL_MESSAGE: 11,
  QUERY_MESSAGE: 12,
  GET_ALL_TOPIC_CONFIG: 21,
  QUERY_CONSUMER_OFFSET: 14,
  UPDATE_CONSUMER_OFFSET: 15,
  GET_MAX_OFFSET: 30,
  GET_MIN_OFFSET: 31,
  HEART_BEAT: 34,
  UNREGISTER_CLIENT: 35,
  CONSUMER_SEND_MSG_BACK: 36,
  END_TRANSACTION: 37,
  GET_CONSUMER_LIST_BY_GROUP: 38,
  CHECK_TRANSACTION_STATE: 39,
  NOTIFY_CONSUMER_IDS_CHANGED: 40,
  GET_ALL_CONSUMER_OFFSET: 43,
  GET_ALL_DELAY_OFFSET: 45,
  LOCK_BATCH_MQ: 41,
  UNLOCK_BATCH_MQ: 42,
  REGISTER_BROKER: 103,
  UNREGISTER_BROKER: 104,
  GET_ROUTEINFO_BY_TOPIC: 105,
  SEND_MESSAGE_V2: 310,
} as const;
export type RequestCodeValue = (typeof RequestCode)[keyof typeof RequestCode];

export const ResponseCode = {
  SUCCESS: 0,
  SYSTEM_ERROR: 1,
  SYSTEM_BUSY: 2,
  REQUEST_CODE_NOT_SUPPORTED: 3,
  FLUSH_DISK_TIMEOUT: 10,
  SLAVE_NOT_AVAILABLE: 11,
  FLUSH_SLAVE_TIMEOUT: 12,
  MESSAGE_ILLEGAL: 13,
  SERVICE_NOT_AVAILABLE: 14,
  NO_PERMISSION: 16,
  TOPIC_NOT_EXIST: 17,
  PULL_NOT_FOUND: 19,
  PULL_RETRY_IMMEDIATELY: 20,
  PULL_OFFSET_MOVED: 21,
  QUERY_NOT_FOUND: 22,
  CONSUMER_NOT_ONLINE: 206,
} as const;

export function responseCodeName(code: number): string {
  for (const [k, v] of Object.entries(ResponseCode)) if (v === code) return k;
  return `CODE_${code}`;
}

export interface RemotingRequest {
  type: "req";
  code: number;
  opaque: number;
  oneway: boolean;
  body: unknown;
}

export interface RemotingResponse {
  type: "resp";
  code: number;
  opaque: number;
  remark?: string;
  body: unknown;
}

export type RemotingMessage = RemotingRequest | RemotingResponse;

// ---- NameServer ----------------------------------------------------------------

export interface QueueData {
  brokerName: string;
  readQueueNums: number;
  writeQueueNums: number;
  /** PermName: 4 readable | 2 writable. */
  perm: number;
}

export interface BrokerData {
  cluster: string;
  brokerName: string;
  /** brokerId → address (node name); 0 is the master. */
  brokerAddrs: Record<number, string>;
}

export interface TopicRouteData {
  queueDatas: QueueData[];
  brokerDatas: BrokerData[];
}

export interface TopicConfig {
  topicName: string;
  readQueueNums: number;
  writeQueueNums: number;
  perm: number;
}

export interface RegisterBrokerBody {
  clusterName: string;
  brokerName: string;
  brokerId: number;
  brokerAddr: string;
  haServerAddr: string;
  topicConfigs: TopicConfig[];
}

export const PERM_READ = 4;
export const PERM_WRITE = 2;

// ---- Broker ------------------------------------------------------------------

export interface SendMessageRequestBody {
  producerGroup: string;
  topic: string;
  queueId: number;
  /** Queues the producer wants an auto-created topic to have (DefaultMQProducer.defaultTopicQueueNums). */
  defaultTopicQueueNums: number;
  body: Uint8Array;
  properties: Record<string, string>;
  bornTimestampMs: number;
  bornHost: string;
  flag: number;
  reconsumeTimes: number;
  sysFlag: number;
}

export interface SendMessageResponseBody {
  msgId: string;
  queueId: number;
  queueOffset: number;
}

export interface PullMessageRequestBody {
  consumerGroup: string;
  topic: string;
  queueId: number;
  queueOffset: number;
  maxMsgNums: number;
  /** Broker-side hold when nothing is new (BROKER_SUSPEND_MAX_TIME_MILLIS = 15000). */
  suspendTimeoutMs: number;
  /** Subscription tags ("*" or tag names), filtered broker-side by hash code. */
  subscription: string[] | "*";
  commitOffset?: number;
}

export interface PulledMessage {
  /** The offset message id (store host + CommitLog offset), as MessageExt.getMsgId on the broker side. */
  msgId: string;
  topic: string;
  queueId: number;
  queueOffset: number;
  body: Uint8Array;
  properties: Record<string, string>;
  storeTimestampMs: number;
  reconsumeTimes: number;
  physicalOffset: number;
}

export interface PullMessageResponseBody {
  messages: PulledMessage[];
  nextBeginOffset: number;
  minOffset: number;
  maxOffset: number;
  /** The broker id the consumer should pull from next (0: master). */
  suggestWhichBrokerId: number;
}

/** A queue as the wire names it (MessageQueue). */
export interface WireMessageQueue {
  topic: string;
  brokerName: string;
  queueId: number;
}

/**
 * CONSUMER_SEND_MSG_BACK (ConsumerSendMsgBackRequestHeader), client → the
 * queue's master: "consumption failed, redeliver later".
 */
export interface ConsumerSendMsgBackBody {
  group: string;
  /** The message's CommitLog offset on the receiving broker (MessageExt.commitLogOffset). */
  offset: number;
  /** 0: the broker uses 3 + reconsumeTimes; < 0: straight to the DLQ. */
  delayLevel: number;
  originMsgId: string;
  originTopic: string;
  /** The client's effective maxReconsumeTimes (16 unless the consumer overrides it). */
  maxReconsumeTimes: number;
}

/** END_TRANSACTION (EndTransactionRequestHeader), producer → master, oneway. */
export interface EndTransactionBody {
  producerGroup: string;
  /** The half message's ConsumeQueue offset in RMQ_SYS_TRANS_HALF_TOPIC. */
  tranStateTableOffset: number;
  /** The half message's CommitLog offset. */
  commitLogOffset: number;
  commitOrRollback: "COMMIT" | "ROLLBACK" | "UNKNOW";
  fromTransactionCheck: boolean;
  msgId: string;
  transactionId: string;
}

/** CHECK_TRANSACTION_STATE (CheckTransactionStateRequestHeader + the half message), broker → producer, oneway. */
export interface CheckTransactionStateBody {
  tranStateTableOffset: number;
  commitLogOffset: number;
  msgId: string;
  transactionId: string;
  /** The half message as stored, properties included (REAL_TOPIC, TRANSACTION_CHECK_TIMES, ...). */
  message: PulledMessage;
}

/** LOCK_BATCH_MQ / UNLOCK_BATCH_MQ (LockBatchRequestBody / UnlockBatchRequestBody). */
export interface LockBatchBody {
  consumerGroup: string;
  clientId: string;
  mqSet: WireMessageQueue[];
}

/** LOCK_BATCH_MQ's answer (LockBatchResponseBody): the queues this client now holds. */
export interface LockBatchResponseBody {
  lockOKMQSet: WireMessageQueue[];
}

/** GET_ALL_TOPIC_CONFIG's answer (TopicConfigSerializeWrapper), read by a slave's SlaveSynchronize. */
export interface AllTopicConfigBody {
  topicConfigs: TopicConfig[];
}

/** GET_ALL_CONSUMER_OFFSET's answer (ConsumerOffsetSerializeWrapper): "group@topic" → queueId → offset. */
export interface AllConsumerOffsetBody {
  offsetTable: Record<string, Record<string, number>>;
}

export interface HeartbeatBody {
  clientId: string;
  producerGroups: string[];
  consumerGroups: Array<{ group: string; topics: string[] }>;
}

// ---- HA port (HAService / HAConnection) ------------------------------------------
// The HA protocol is not remoting: a raw socket on haListenPort carrying
// two frame kinds. They travel on their own connections (ha.ts tells them
// apart), so they need no request code.

/** Slave → master: the slave's CommitLog max offset (8 bytes). The first one is the request offset, later ones are acks. */
export interface HaReportFrame {
  type: "ha.report";
  offset: number;
}

/**
 * Master → slave: a 12-byte header (the CommitLog offset of the body, its
 * size) and the CommitLog bytes from there, at most haTransferBatchSize. An
 * empty body is the idle heartbeat.
 */
export interface HaTransferFrame {
  type: "ha.transfer";
  offset: number;
  body: Uint8Array;
}

export type HaFrame = HaReportFrame | HaTransferFrame;
