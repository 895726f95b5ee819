import type { World } from "../sim/world.js";
import type { ClusterModel } from "./cluster.js";
import { KafkaCluster } from "./kafka/cluster.js";
import { RocketMqCluster } from "./rocketmq/cluster.js";
import type { Scenario } from "./scenario.js";

/** Builds the model a scenario names, inside a world. */
export function createCluster(world: World, scenario: Scenario): ClusterModel {
  switch (scenario.system) {
    case "rocketmq":
      return new RocketMqCluster(world, scenario);
    case "kafka":
      return new KafkaCluster(world, scenario);
  }
}
