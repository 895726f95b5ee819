import type { History } from "../invariants/index.js";
import type { PhasedModel } from "../sim/runner.js";

/**
 * What the runner needs from a system model (RocketMQ, Kafka): its phases,
 * the nodes faults may hit, the nodes partitions split, the role selectors
 * it resolves (`@leader`, `@master`, ...), and the history its clients
 * recorded.
 */
export interface ClusterModel extends PhasedModel {
  /** Nodes faults may crash, pause or power off (servers, not clients). */
  faultTargets(): string[];
  /** Nodes partitions split into groups. */
  partitionNodes(): string[];
  /** Role selectors the nemesis may aim at, besides `@random`. */
  roles(): string[];
  buildHistory(): History;
}

/** A configuration problem the user can fix: an unknown key or a bad value. Exit code 2. */
export class ConfigError extends Error {}
