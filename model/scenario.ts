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

export const KafkaScenarioSchema = z.object({ ...scenarioBase, system: z.literal("kafka"), cluster: KafkaClusterSchema }).strict();

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
