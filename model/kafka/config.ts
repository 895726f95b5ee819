import { z } from "zod";
import { ConfigError } from "../cluster.js";

/**
 * Kafka configuration under the real key names (server.properties,
 * producer and consumer configs), one flat record as a user would paste it.
 * Every default cites where it comes from. Values are validated once, when
 * the cluster is built; nothing on the message path touches zod.
 */

/** Long.MAX_VALUE stands for "never"; JavaScript numbers stay exact up to 2^53. */
export const NEVER = Number.MAX_SAFE_INTEGER;
const longMax = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

/**
 * The replication protocol variants this model offers, by the
 * inter.broker.protocol.version that selects them:
 * - "0.10.2": before KIP-101: a follower truncates to its own high watermark
 *   when it restarts or becomes a follower;
 * - "1.1": leader epochs (KIP-101) with OffsetsForLeaderEpoch v0, before
 *   KIP-279 and KIP-320;
 * - "3.7": current: diverging-epoch truncation in Fetch, KIP-279, KIP-320
 *   epoch fencing, the maximal-ISR high watermark and the min.insync rule.
 */
export const PROTOCOL_VERSIONS = ["0.10.2", "1.1", "3.7"] as const;
export type ProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];

const protocolVersion = z
  .string()
  .transform((v, ctx) => {
    // "3.7-IV4", "1.1-IV0", "0.10.2-IV0": the IV suffix does not change what is modelled here.
    const base = v.replace(/-IV\d+$/, "");
    const found = PROTOCOL_VERSIONS.find((p) => p === base);
    if (found === undefined) {
      ctx.addIssue({ code: "custom", message: `expected one of ${PROTOCOL_VERSIONS.join(", ")} (optionally with an -IVn suffix), got ${v}` });
      return z.NEVER;
    }
    return found;
  });

export const BrokerConfigSchema = z
  .object({
    /** MetadataVersion.latestProduction() for 3.7 (KafkaConfig.InterBrokerProtocolVersionProp). */
    "inter.broker.protocol.version": protocolVersion.default("3.7"),
    /** ServerLogConfigs.MIN_IN_SYNC_REPLICAS_DEFAULT */
    "min.insync.replicas": z.number().int().min(1).default(1),
    /** ServerLogConfigs / LogConfig: false since 0.11 (KIP-106). */
    "unclean.leader.election.enable": z.boolean().default(false),
    /** ReplicationConfigs.REPLICA_LAG_TIME_MAX_MS_DEFAULT (30 s since 2.5). */
    "replica.lag.time.max.ms": z.number().int().min(1).default(30_000),
    /** ReplicationConfigs.REPLICA_FETCH_WAIT_MAX_MS_DEFAULT */
    "replica.fetch.wait.max.ms": z.number().int().min(0).default(500),
    /** ReplicationConfigs.REPLICA_FETCH_MAX_BYTES_DEFAULT */
    "replica.fetch.max.bytes": z.number().int().min(1).default(1_048_576),
    /** ReplicationConfigs.REPLICA_FETCH_BACKOFF_MS_DEFAULT */
    "replica.fetch.backoff.ms": z.number().int().min(0).default(1_000),
    /** ReplicationConfigs.REPLICA_SOCKET_TIMEOUT_MS_DEFAULT: the replica fetcher's request timeout. */
    "replica.socket.timeout.ms": z.number().int().min(1).default(30_000),
    /** ReplicationConfigs.REPLICA_HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS_DEFAULT */
    "replica.high.watermark.checkpoint.interval.ms": z.number().int().min(1).default(5_000),
    /** ServerLogConfigs.LOG_FLUSH_INTERVAL_MESSAGES_DEFAULT = Long.MAX_VALUE */
    "log.flush.interval.messages": longMax.default(NEVER),
    /** Unset by default: falls back to log.flush.scheduler.interval.ms (KafkaConfig.logFlushIntervalMs). */
    "log.flush.interval.ms": longMax.optional(),
    /** ServerLogConfigs.LOG_FLUSH_SCHEDULER_INTERVAL_MS_DEFAULT = Long.MAX_VALUE: the flusher never runs. */
    "log.flush.scheduler.interval.ms": longMax.default(NEVER),
    /** ServerLogConfigs.LOG_FLUSH_OFFSET_CHECKPOINT_INTERVAL_MS_DEFAULT */
    "log.flush.offset.checkpoint.interval.ms": z.number().int().min(1).default(60_000),
    /** ServerLogConfigs.LOG_SEGMENT_BYTES_DEFAULT (1 GiB) */
    "log.segment.bytes": z.number().int().min(100).default(1_073_741_824),
    /** KRaftConfigs.BROKER_HEARTBEAT_INTERVAL_MS_DEFAULT */
    "broker.heartbeat.interval.ms": z.number().int().min(1).default(2_000),
    /** KRaftConfigs.BROKER_SESSION_TIMEOUT_MS_DEFAULT */
    "broker.session.timeout.ms": z.number().int().min(1).default(9_000),
    /** GroupCoordinatorConfig.OFFSETS_TOPIC_REPLICATION_FACTOR_DEFAULT (capped at the broker count here). */
    "offsets.topic.replication.factor": z.number().int().min(1).default(3),
    /** GroupCoordinatorConfig.OFFSETS_COMMIT_TIMEOUT_MS_DEFAULT */
    "offsets.commit.timeout.ms": z.number().int().min(1).default(5_000),
    /** GroupCoordinatorConfig.GROUP_INITIAL_REBALANCE_DELAY_MS_DEFAULT */
    "group.initial.rebalance.delay.ms": z.number().int().min(0).default(3_000),
    /** GroupCoordinatorConfig.GROUP_MIN_SESSION_TIMEOUT_MS_DEFAULT */
    "group.min.session.timeout.ms": z.number().int().min(1).default(6_000),
    /** GroupCoordinatorConfig.GROUP_MAX_SESSION_TIMEOUT_MS_DEFAULT */
    "group.max.session.timeout.ms": z.number().int().min(1).default(1_800_000),
  })
  .strict();
export type BrokerConfig = z.infer<typeof BrokerConfigSchema>;

const acks = z.union([z.literal("all"), z.literal("-1"), z.literal("0"), z.literal("1"), z.literal(-1), z.literal(0), z.literal(1)]);

export const ProducerConfigSchema = z
  .object({
    /** ProducerConfig: "all" since 3.0 (it was 1 before). */
    acks: acks.default("all"),
    /** ProducerConfig: true since 3.0, but see resolveIdempotence for when it is silently off. */
    "enable.idempotence": z.boolean().optional(),
    /** ProducerConfig: Integer.MAX_VALUE */
    retries: z.number().int().min(0).max(2_147_483_647).default(2_147_483_647),
    /** ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG */
    "delivery.timeout.ms": z.number().int().min(1).default(120_000),
    /** ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION */
    "max.in.flight.requests.per.connection": z.number().int().min(1).default(5),
    /** ProducerConfig: 0 (5 from 4.0, KIP-1030). */
    "linger.ms": z.number().int().min(0).default(0),
    /** ProducerConfig.BATCH_SIZE_CONFIG */
    "batch.size": z.number().int().min(1).default(16_384),
  })
  .strict();

/** CommonClientConfigs: keys producers and consumers share, with the same defaults. */
export const ClientConfigSchema = z
  .object({
    /** CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG: 30000 for producers and consumers. */
    "request.timeout.ms": z.number().int().min(1).default(30_000),
    /** CommonClientConfigs.RETRY_BACKOFF_MS_CONFIG */
    "retry.backoff.ms": z.number().int().min(0).default(100),
    /** CommonClientConfigs.RETRY_BACKOFF_MAX_MS_CONFIG: exponential backoff up to 1 s (KIP-580, 3.7). */
    "retry.backoff.max.ms": z.number().int().min(0).default(1_000),
    /** CommonClientConfigs.METADATA_MAX_AGE_CONFIG */
    "metadata.max.age.ms": z.number().int().min(1).default(300_000),
  })
  .strict();
export type ClientConfig = z.infer<typeof ClientConfigSchema>;
export type ProducerConfigInput = z.infer<typeof ProducerConfigSchema>;

export const ConsumerConfigSchema = z
  .object({
    /** ConsumerConfig: 45000 since 3.0 (10000 before). */
    "session.timeout.ms": z.number().int().min(1).default(45_000),
    /** ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG */
    "heartbeat.interval.ms": z.number().int().min(1).default(3_000),
    /** ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG: the rebalance timeout a member sends. */
    "max.poll.interval.ms": z.number().int().min(1).default(300_000),
    /** ConsumerConfig.AUTO_OFFSET_RESET_CONFIG */
    "auto.offset.reset": z.enum(["latest", "earliest", "none"]).default("latest"),
    /** ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG */
    "enable.auto.commit": z.boolean().default(true),
    /** ConsumerConfig.AUTO_COMMIT_INTERVAL_MS_CONFIG */
    "auto.commit.interval.ms": z.number().int().min(1).default(5_000),
    /** ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG */
    "fetch.max.wait.ms": z.number().int().min(0).default(500),
    /** ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG */
    "max.partition.fetch.bytes": z.number().int().min(1).default(1_048_576),
    /** ConsumerConfig: read_committed needs transactions, which this model does not have. */
    "isolation.level": z.literal("read_uncommitted").default("read_uncommitted"),
  })
  .strict();
export type ConsumerConfig = z.infer<typeof ConsumerConfigSchema>;

export interface ProducerConfig extends Omit<ProducerConfigInput, "acks" | "enable.idempotence"> {
  /** -1 (all), 0 or 1. */
  acks: -1 | 0 | 1;
  /** Whether idempotence is in effect, after resolveIdempotence. */
  idempotence: boolean;
}

export interface KafkaConfig {
  broker: BrokerConfig;
  client: ClientConfig;
  producer: ProducerConfig;
  consumer: ConsumerConfig;
  version: ProtocolVersion;
}

function acksValue(v: ProducerConfigInput["acks"]): -1 | 0 | 1 {
  if (v === "all" || v === "-1" || v === -1) return -1;
  return v === "0" || v === 0 ? 0 : 1;
}

/**
 * ProducerConfig.postProcessAndValidateIdempotenceConfigs (3.x, with the
 * KAFKA-13598 fix): idempotence is on by default, but only if the user did
 * not set it and the other settings allow it (acks=all, retries > 0, at most
 * 5 requests in flight); otherwise it is silently off. Set explicitly to true
 * with a conflicting setting, it is a configuration error.
 */
function resolveIdempotence(p: ProducerConfigInput, acksResolved: -1 | 0 | 1): boolean {
  const compatible = acksResolved === -1 && p.retries > 0 && p["max.in.flight.requests.per.connection"] <= 5;
  const explicit = p["enable.idempotence"];
  if (explicit === undefined) return compatible;
  if (explicit && !compatible) {
    throw new ConfigError("config key enable.idempotence: true requires acks=all, retries > 0 and max.in.flight.requests.per.connection <= 5");
  }
  return explicit;
}

const SECTIONS = { broker: BrokerConfigSchema, client: ClientConfigSchema, producer: ProducerConfigSchema, consumer: ConsumerConfigSchema } as const;

/** Every key a flat Kafka config accepts, sorted. */
export function kafkaConfigKeys(): string[] {
  const keys = new Set<string>();
  for (const schema of Object.values(SECTIONS)) for (const k of Object.keys(schema.shape)) keys.add(k);
  return [...keys].sort();
}

/**
 * Parsed configurations by their canonical JSON. Parsing is a pure function
 * of the flat record, and a sweep builds the same cluster for every seed
 * (twice per run, once to validate the scenario), so zod need not run again.
 * The cached objects are frozen because runs share them.
 */
const parsedConfigs = new Map<string, KafkaConfig>();

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}

/** Splits a flat config into sections and validates each; an unknown key or a bad value is a ConfigError naming the key. */
export function parseKafkaConfig(flat: Record<string, unknown>): KafkaConfig {
  const key = JSON.stringify(Object.keys(flat).sort().map((k) => [k, flat[k]]));
  const cached = parsedConfigs.get(key);
  if (cached !== undefined) return cached;
  const parsed = deepFreeze(parseUncached(flat));
  parsedConfigs.set(key, parsed);
  return parsed;
}

function parseUncached(flat: Record<string, unknown>): KafkaConfig {
  const parts: Record<keyof typeof SECTIONS, Record<string, unknown>> = { broker: {}, client: {}, producer: {}, consumer: {} };
  for (const [key, value] of Object.entries(flat)) {
    const section = (Object.keys(SECTIONS) as Array<keyof typeof SECTIONS>).find((s) => key in SECTIONS[s].shape);
    if (section === undefined) throw new ConfigError(`unknown config key ${key}`);
    parts[section][key] = value;
  }
  const parse = <S extends z.ZodTypeAny>(schema: S, input: Record<string, unknown>): z.infer<S> => {
    const r = schema.safeParse(input);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new ConfigError(`config key ${String(issue.path[0] ?? "")}: ${issue.message}`);
    }
    return r.data;
  };
  const broker = parse(BrokerConfigSchema, parts.broker);
  const client = parse(ClientConfigSchema, parts.client);
  const producerInput = parse(ProducerConfigSchema, parts.producer);
  const consumer = parse(ConsumerConfigSchema, parts.consumer);
  const resolvedAcks = acksValue(producerInput.acks);
  const idempotence = resolveIdempotence(producerInput, resolvedAcks);
  const { acks: _acks, "enable.idempotence": _idem, ...rest } = producerInput;
  if (consumer["heartbeat.interval.ms"] >= consumer["session.timeout.ms"]) {
    throw new ConfigError("config key heartbeat.interval.ms: must be lower than session.timeout.ms");
  }
  if (consumer["session.timeout.ms"] < broker["group.min.session.timeout.ms"] || consumer["session.timeout.ms"] > broker["group.max.session.timeout.ms"]) {
    throw new ConfigError("config key session.timeout.ms: outside [group.min.session.timeout.ms, group.max.session.timeout.ms]");
  }
  return {
    broker,
    client,
    producer: { ...rest, acks: resolvedAcks, idempotence },
    consumer,
    version: broker["inter.broker.protocol.version"],
  };
}
