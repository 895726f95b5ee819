import { z } from "zod";
import { AnomalyTypeSchema } from "../invariants/index.js";
import { FaultClassSchema, FaultPlanSchema } from "../sim/faults.js";
import { DiskConfigSchema } from "../sim/disk.js";
import { NetworkConfigSchema } from "../sim/network.js";

/**
 * A scenario file: which system, its cluster shape, its configuration under
 * the real key names (flat), the workload, the faults, and the guarantees
 * the configuration is expected to keep (`expect`: anomaly types that must
 * not occur; any other anomaly is reported as a finding, not a failure).
 */
export const ConfigValueSchema = z.union([z.string(), z.number(), z.boolean()]);

export const RocketMqClusterSchema = z
  .object({
    nameServers: z.number().int().min(1).max(5).default(2),
    brokers: z
      .array(
        z
          .object({
            name: z.string().regex(/^[A-Za-z0-9_-]+$/),
            slaves: z.number().int().min(0).max(3).default(0),
          })
          .strict(),
      )
      .min(1),
    producers: z.number().int().min(0).max(32).default(2),
    consumers: z.number().int().min(0).max(32).default(2),
  })
  .strict();

const Share = z.number().min(0).max(1);

/**
 * RocketMQ feature workload (scenario rocketmq-features): besides the plain
 * sends, shares of each producer's messages are delayed, transactional,
 * tagged or ordered, and some consumptions fail. Each message's fate (how
 * often its consumption fails, its transaction's outcome) is drawn by the
 * producer from the seed and travels in the message, so every consumer and
 * every redelivery agrees on it.
 */
export const RocketMqFeaturesSchema = z
  .object({
    /** Share of sends with a delay level drawn from 1..maxDelayLevel. */
    delayed: Share.default(0.1),
    maxDelayLevel: z.number().int().min(1).max(18).default(4),
    /** Share of sends that are transactional (half message, local transaction, END_TRANSACTION). */
    transactional: Share.default(0.1),
    /** Weights of the local transaction's outcome: commit, rollback, UNKNOW then a check answers commit / rollback, UNKNOW on every check. */
    txnOutcomes: z
      .object({ commit: z.number().min(0), rollback: z.number().min(0), checkCommit: z.number().min(0), checkRollback: z.number().min(0), neverResolved: z.number().min(0) })
      .strict()
      .default({ commit: 4, rollback: 2, checkCommit: 2, checkRollback: 1, neverResolved: 1 }),
    /** Share of sends that go through a MessageQueueSelector (by order id) to the ordered topic, consumed orderly. */
    ordered: Share.default(0.2),
    orderedTopic: z.string().regex(/^[A-Za-z0-9_-]+$/).default("TopicOrder"),
    /** Distinct order ids (the selector's argument). */
    orderIds: z.number().int().min(1).max(10_000).default(16),
    /** Tags drawn for the plain topic's messages. */
    tags: z.array(z.string().regex(/^[A-Za-z0-9_-]+$/)).min(1).default(["TagA", "TagB", "TagC"]),
    /** The tag-filtering consumer group's subscription ("TagA || TagB"). */
    tagFilter: z.array(z.string().regex(/^[A-Za-z0-9_-]+$/)).min(1).default(["TagA"]),
    /** Share of plain messages whose consumption fails at least once; each redelivery fails again with probability `refail`. */
    consumeFailure: Share.default(0.05),
    refail: Share.default(0.5),
    /** Share of plain messages whose consumption always fails: 16 retries (about 4 h 46 m), then the DLQ. */
    poison: Share.default(0.005),
    /** Share of ordered messages whose first delivery answers SUSPEND_CURRENT_QUEUE_A_MOMENT (up to 3 times). */
    orderlySuspend: Share.default(0.02),
    /** An admin query by key every this many seconds, for the key of a message acknowledged earlier. */
    lookupIntervalSeconds: z.number().min(0.1).max(3600).default(5),
  })
  .strict();
export type RocketMqFeatures = z.infer<typeof RocketMqFeaturesSchema>;

export const WorkloadSchema = z
  .object({
    topic: z.string().regex(/^[A-Za-z0-9_%|-]+$/).default("TopicTest"),
    /** Queues per broker (RocketMQ) or partitions (Kafka). */
    queues: z.number().int().min(1).max(64).default(4),
    /** Messages per second per producer. */
    rate: z.number().min(0.01).max(10_000).default(20),
    /** Length of the workload-under-faults phase. */
    durationSeconds: z.number().min(1).max(86_400).default(60),
    /** Producers start after this long, once brokers have registered. */
    startDelaySeconds: z.number().min(0).max(3600).default(3),
    sendMode: z.enum(["sync", "async", "oneway"]).default("sync"),
    producerGroup: z.string().default("mqsim_producer"),
    consumerGroup: z.string().default("mqsim_consumer"),
    /** How long the final drain may take after healing before it is a liveness failure. */
    drainTimeoutSeconds: z.number().min(1).max(86_400).default(180),
    /** RocketMQ only: the feature mix (ordered, tagged, keyed, delayed, transactional, failing consumption). */
    features: RocketMqFeaturesSchema.optional(),
  })
  .strict();
export type Workload = z.infer<typeof WorkloadSchema>;

export const FaultsSectionSchema = z
  .object({
    classes: z.array(FaultClassSchema).min(1).default(["none"]),
    maxConcurrent: z.number().int().min(1).max(8).default(1),
    /** An explicit plan; when given, the nemesis does not draw one. */
    plan: FaultPlanSchema.optional(),
    network: NetworkConfigSchema.partial().optional(),
    disk: DiskConfigSchema.partial().optional(),
  })
  .strict();

const scenarioBase = {
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "lower-case letters, digits and dashes"),
  description: z.string().default(""),
  config: z.record(z.string(), ConfigValueSchema).default({}),
  workload: WorkloadSchema.default(WorkloadSchema.parse({})),
  faults: FaultsSectionSchema.default(FaultsSectionSchema.parse({})),
  expect: z.array(AnomalyTypeSchema).default([]),
};

export const RocketMqScenarioSchema = z.object({ ...scenarioBase, system: z.literal("rocketmq"), cluster: RocketMqClusterSchema }).strict();

/** Kafka: brokers plus a KRaft controller; `workload.queues` is the partition count. */
export const KafkaClusterSchema = z
  .object({
    brokers: z.number().int().min(1).max(9).default(3),
    controllers: z.number().int().min(1).max(3).default(1),
    replicationFactor: z.number().int().min(1).max(9).default(3),
    producers: z.number().int().min(0).max(32).default(2),
    consumers: z.number().int().min(0).max(32).default(2),
  })
  .strict();

export const KafkaScenarioSchema = z
  .object({ ...scenarioBase, system: z.literal("kafka"), cluster: KafkaClusterSchema })
  .strict()
  .refine((s) => s.workload.features === undefined, { message: "workload.features is RocketMQ's feature mix; Kafka scenarios take none", path: ["workload", "features"] });

export const ScenarioSchema = z.discriminatedUnion("system", [RocketMqScenarioSchema, KafkaScenarioSchema]);

export type RocketMqScenario = z.infer<typeof RocketMqScenarioSchema>;
export type KafkaScenario = z.infer<typeof KafkaScenarioSchema>;
export type Scenario = z.infer<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;

/** One line naming the first problem, for exit-code-2 errors. */
export function describeZodError(err: z.ZodError, prefix = ""): string {
  const issue = err.issues[0];
  if (issue === undefined) return `${prefix}invalid`;
  const path = issue.path.length > 0 ? issue.path.join(".") : "(root)";
  if (issue.code === "unrecognized_keys") return `${prefix}${path === "(root)" ? "" : path + ": "}unknown key ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
  return `${prefix}${path}: ${issue.message}`;
}
