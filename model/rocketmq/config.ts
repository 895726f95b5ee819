import { z } from "zod";
import { ConfigError } from "../cluster.js";
import { MessageStoreConfigSchema } from "./store/config.js";
import { RaftConfigSchema, parseRaftConfig, type RaftConfig } from "../raft/config.js";

export { ConfigError };

/**
 * RocketMQ configuration, split as the real code splits it, under the real
 * key names so a user can paste a broker.conf. Every default cites its
 * source field.
 */

export const RocketMqVersionSchema = z.enum(["4.9.8", "5.3.3"]);
export type RocketMqVersion = z.infer<typeof RocketMqVersionSchema>;

export const BrokerConfigSchema = z
  .object({
    /** BrokerConfig.brokerClusterName */
    brokerClusterName: z.string().default("DefaultCluster"),
    /** BrokerConfig.autoCreateTopicEnable */
    autoCreateTopicEnable: z.boolean().default(true),
    /** BrokerConfig.defaultTopicQueueNums (queues of TBW102 and of auto-created topics) */
    defaultTopicQueueNums: z.number().int().min(1).default(8),
    /** BrokerConfig.longPollingEnable */
    longPollingEnable: z.boolean().default(true),
    /** BrokerConfig.shortPollingTimeMills: the hold when long polling is off */
    shortPollingTimeMills: z.number().int().min(0).default(1000),
    /** BrokerConfig.registerNameServerPeriod */
    registerNameServerPeriod: z.number().int().min(10_000).max(60_000).default(30_000),
    /** BrokerConfig.registerBrokerTimeoutMills */
    registerBrokerTimeoutMills: z.number().int().min(1).default(6_000),
    /** BrokerConfig.flushConsumerOffsetInterval: consumerOffset.json written every 5 s */
    flushConsumerOffsetInterval: z.number().int().min(1).default(5_000),
    /** BrokerConfig.slaveReadEnable */
    slaveReadEnable: z.boolean().default(false),
    /** BrokerConfig.brokerPermission: 6 = readable and writable */
    brokerPermission: z.number().int().min(0).max(7).default(6),
    /** ConsumerManager channel expiry (channelExpiredTimeout) */
    channelExpiredTimeout: z.number().int().min(1).default(120_000),
    /** BrokerConfig.transactionTimeOut = 6 s: a half message younger than this is not checked yet. */
    transactionTimeOut: z.number().int().min(0).default(6_000),
    /** BrokerConfig.transactionCheckMax = 15: checks before a half message is given up (TRANS_CHECK_MAX_TIME_TOPIC). */
    transactionCheckMax: z.number().int().min(1).default(15),
    /**
     * BrokerConfig.transactionCheckInterval: 60 s in 4.x–5.1, 30 s from 5.2
     * (semantics §8). Absent: the version's default (see transactionCheckIntervalOf).
     */
    transactionCheckInterval: z.number().int().min(1).optional(),
  })
  .strict();
export type BrokerConfig = z.infer<typeof BrokerConfigSchema>;

/**
 * Master/slave replication (HAService, HAConnection, GroupTransferService).
 * In the real code these keys live in MessageStoreConfig; they have their
 * own section here because the store's schema belongs to the store, and
 * only the broker's HA layer reads them. Defaults read at
 * rocketmq-all-4.9.8 and rocketmq-all-5.3.3 (the same unless said).
 */
export const HaConfigSchema = z
  .object({
    /**
     * MessageStoreConfig.haListenPort = 10912. The simulated network has no
     * ports: HA connections are told apart from remoting ones by the
     * connection itself (see ha.ts); the port only appears in the HA
     * address the broker registers.
     */
    haListenPort: z.number().int().min(1).max(65_535).default(10_912),
    /** MessageStoreConfig.haSendHeartbeatInterval = 1000 * 5: the slave re-reports, the idle master sends an empty frame. */
    haSendHeartbeatInterval: z.number().int().min(1).default(5_000),
    /** MessageStoreConfig.haHousekeepingInterval = 1000 * 20: a connection silent this long is closed. */
    haHousekeepingInterval: z.number().int().min(1).default(20_000),
    /** MessageStoreConfig.haTransferBatchSize = 1024 * 32: the most body bytes in one master frame. */
    haTransferBatchSize: z.number().int().min(1).default(32 * 1024),
    /**
     * MessageStoreConfig.haSlaveFallbehindMax = 1024 * 1024 * 256 (4.9.8;
     * 5.x renamed it haMaxGapNotInSync, accepted here as an alias). A 4.9.8
     * SYNC_MASTER answers SLAVE_NOT_AVAILABLE at once when its write position
     * is this far ahead of push2SlaveMaxOffset. 5.3.3's classic SYNC_MASTER
     * path (CommitLog.handleHA) no longer consults it.
     */
    haSlaveFallbehindMax: z.number().int().min(0).default(256 * 1024 * 1024),
    /** MessageStoreConfig.slaveTimeout = 3000 (4.9.1+ and 5.x): how long a SYNC_MASTER put waits for slave acks. */
    slaveTimeout: z.number().int().min(1).default(3_000),
    /**
     * MessageStoreConfig.inSyncReplicas = 1 (5.x only; 4.9.8 has no such key
     * and always waits for one slave): acks a 5.3.3 SYNC_MASTER put needs,
     * the master included, so the default 1 does not wait at all.
     */
    inSyncReplicas: z.number().int().min(1).default(1),
  })
  .strict();
export type HaConfig = z.infer<typeof HaConfigSchema>;

export const ProducerConfigSchema = z
  .object({
    /** DefaultMQProducer.sendMsgTimeout */
    sendMsgTimeout: z.number().int().min(1).default(3_000),
    /** DefaultMQProducer.retryTimesWhenSendFailed */
    retryTimesWhenSendFailed: z.number().int().min(0).default(2),
    /** DefaultMQProducer.retryTimesWhenSendAsyncFailed */
    retryTimesWhenSendAsyncFailed: z.number().int().min(0).default(2),
    /** DefaultMQProducer.retryAnotherBrokerWhenNotStoreOK */
    retryAnotherBrokerWhenNotStoreOK: z.boolean().default(false),
    /** DefaultMQProducer.sendLatencyFaultEnable (5.x: ClientConfig.sendLatencyEnable) */
    sendLatencyFaultEnable: z.boolean().default(false),
    /** DefaultMQProducer.defaultTopicQueueNums */
    producerDefaultTopicQueueNums: z.number().int().min(1).default(4),
  })
  .strict();
export type ProducerConfig = z.infer<typeof ProducerConfigSchema>;

export const ConsumerConfigSchema = z
  .object({
    /** DefaultMQPushConsumer.consumeFromWhere */
    consumeFromWhere: z.enum(["CONSUME_FROM_LAST_OFFSET", "CONSUME_FROM_FIRST_OFFSET", "CONSUME_FROM_TIMESTAMP"]).default("CONSUME_FROM_LAST_OFFSET"),
    /** DefaultMQPushConsumer.pullBatchSize */
    pullBatchSize: z.number().int().min(1).max(1024).default(32),
    /** DefaultMQPushConsumer.pullInterval */
    pullInterval: z.number().int().min(0).default(0),
    /** DefaultMQPushConsumerImpl.BROKER_SUSPEND_MAX_TIME_MILLIS */
    brokerSuspendMaxTimeMillis: z.number().int().min(0).default(15_000),
    /** DefaultMQPushConsumerImpl.CONSUMER_TIMEOUT_MILLIS_WHEN_SUSPEND */
    consumerTimeoutMillisWhenSuspend: z.number().int().min(1).default(30_000),
    /** DefaultMQPushConsumerImpl.PULL_TIME_DELAY_MILLS_WHEN_EXCEPTION */
    pullTimeDelayMillsWhenException: z.number().int().min(0).default(3_000),
    /** RebalanceService: rocketmq.client.rebalance.waitInterval */
    rebalanceWaitInterval: z.number().int().min(1).default(20_000),
    /**
     * DefaultMQPushConsumer.maxReconsumeTimes = -1: 16 for concurrent
     * consumption (SubscriptionGroupConfig.retryMaxTimes), Integer.MAX_VALUE
     * for orderly consumption.
     */
    maxReconsumeTimes: z.number().int().min(-1).default(-1),
    /** DefaultMQPushConsumer.suspendCurrentQueueTimeMillis = 1000: an orderly queue's pause after SUSPEND_CURRENT_QUEUE_A_MOMENT. */
    suspendCurrentQueueTimeMillis: z.number().int().min(0).default(1_000),
  })
  .strict();
export type ConsumerConfig = z.infer<typeof ConsumerConfigSchema>;

export const ClientConfigSchema = z
  .object({
    /** ClientConfig.pollNameServerInterval */
    pollNameServerInterval: z.number().int().min(1).default(30_000),
    /** ClientConfig.heartbeatBrokerInterval */
    heartbeatBrokerInterval: z.number().int().min(1).default(30_000),
    /** ClientConfig.persistConsumerOffsetInterval */
    persistConsumerOffsetInterval: z.number().int().min(1).default(5_000),
    /** ClientConfig.mqClientApiTimeout */
    mqClientApiTimeout: z.number().int().min(1).default(3_000),
  })
  .strict();
export type ClientConfig = z.infer<typeof ClientConfigSchema>;

/**
 * DLedger mode (MessageStoreConfig.enableDLegerCommitLog and DLedger's own
 * DLedgerConfig, which RocketMQ fills from the same broker.conf). The
 * per-node keys are implied by the cluster, because one flat config serves
 * every broker of a scenario: dLegerGroup is the brokerName, dLegerPeers
 * are the group's nodes (broker-a, broker-a-s1, ...) and dLegerSelfId is
 * "n" + the node's index there (n0 for broker-a, nK for broker-a-sK); each
 * broker traces them at boot (`dledger.start`). The DLedger timing keys and
 * the `dledger.*` variant knobs are model/raft/config.ts's, passed through.
 */
const DLEDGER_RAFT_SHAPE = RaftConfigSchema.shape;
export const DLedgerModeSchema = z
  .object({
    /** MessageStoreConfig.enableDLegerCommitLog = false: a broker group is a DLedger Raft group when true. */
    enableDLegerCommitLog: z.boolean().default(false),
    ...DLEDGER_RAFT_SHAPE,
  })
  .strict();
export interface DLedgerModeConfig {
  enableDLegerCommitLog: boolean;
  /** The group's DLedgerConfig (validated with the Raft schema's own cross-field checks). */
  raft: RaftConfig;
}

/** BrokerConfig.transactionCheckInterval's default per line: 60 s in 4.9.8, 30 s in 5.3.3 (semantics §8). */
export function transactionCheckIntervalOf(cfg: { version: RocketMqVersion; broker: BrokerConfig }): number {
  return cfg.broker.transactionCheckInterval ?? (cfg.version === "4.9.8" ? 60_000 : 30_000);
}

/** Everything a RocketMQ scenario's flat `config` may hold. */
export interface RocketMqConfig {
  version: RocketMqVersion;
  store: z.infer<typeof MessageStoreConfigSchema>;
  broker: BrokerConfig;
  ha: HaConfig;
  producer: ProducerConfig;
  consumer: ConsumerConfig;
  client: ClientConfig;
  dledger: DLedgerModeConfig;
}

const SECTIONS = {
  store: MessageStoreConfigSchema,
  broker: BrokerConfigSchema,
  ha: HaConfigSchema,
  producer: ProducerConfigSchema,
  consumer: ConsumerConfigSchema,
  client: ClientConfigSchema,
  dledger: DLedgerModeSchema,
} as const;

/** Keys a later RocketMQ line renamed: the new name → the key it sets here. */
const KEY_ALIASES: Record<string, string> = {
  // MessageStoreConfig.haMaxGapNotInSync (5.x) is 4.9.8's haSlaveFallbehindMax.
  haMaxGapNotInSync: "haSlaveFallbehindMax",
};

/** Names of every key a flat RocketMQ config accepts. */
export function rocketMqConfigKeys(): string[] {
  const keys = new Set<string>(["version", ...Object.keys(KEY_ALIASES)]);
  for (const schema of Object.values(SECTIONS)) for (const k of Object.keys(schema.shape)) keys.add(k);
  return [...keys].sort();
}


/**
 * Splits a flat `{ key: value }` config into sections and validates each.
 * An unknown key, or a bad value, is a ConfigError naming the key.
 */
export function parseRocketMqConfig(flat: Record<string, unknown>): RocketMqConfig {
  const version = RocketMqVersionSchema.safeParse(flat.version ?? "4.9.8");
  if (!version.success) throw new ConfigError(`config key version: expected "4.9.8" or "5.3.3", got ${JSON.stringify(flat.version)}`);
  const parts: Record<string, Record<string, unknown>> = { store: {}, broker: {}, ha: {}, producer: {}, consumer: {}, client: {}, dledger: {} };
  for (const [rawKey, value] of Object.entries(flat)) {
    if (rawKey === "version") continue;
    const key = KEY_ALIASES[rawKey] ?? rawKey;
    if (key !== rawKey && key in flat) throw new ConfigError(`config keys ${rawKey} and ${key} set the same thing; give one`);
    const section = (Object.keys(SECTIONS) as Array<keyof typeof SECTIONS>).find((s) => key in SECTIONS[s].shape);
    if (section === undefined) throw new ConfigError(`unknown config key ${key}`);
    parts[section]![key] = value;
  }
  // The store needs the version for its dispatch bound.
  parts.store!.version = version.data;
  const out: Partial<Record<keyof typeof SECTIONS, unknown>> = {};
  for (const s of Object.keys(SECTIONS) as Array<keyof typeof SECTIONS>) {
    const r = SECTIONS[s].safeParse(parts[s]);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new ConfigError(`config key ${String(issue.path[0] ?? s)}: ${issue.message}`);
    }
    out[s] = r.data;
  }
  const { enableDLegerCommitLog, ...raftInput } = out.dledger as { enableDLegerCommitLog: boolean } & Record<string, unknown>;
  let raft: RaftConfig;
  try {
    raft = parseRaftConfig(raftInput);
  } catch (err) {
    const issue = (err as z.ZodError).issues?.[0];
    throw new ConfigError(`config key ${String(issue?.path[0] ?? "dledger")}: ${issue?.message ?? String(err)}`);
  }
  return { version: version.data, ...(out as Omit<RocketMqConfig, "version" | "dledger">), dledger: { enableDLegerCommitLog, raft } };
}
