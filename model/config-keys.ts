import { kafkaConfigKeys } from "./kafka/config.js";
import { rocketMqConfigKeys } from "./rocketmq/config.js";

/** Every config key a system's scenarios accept, under the real systems' names. */
export function configKeysFor(system: "rocketmq" | "kafka"): string[] {
  switch (system) {
    case "rocketmq":
      return rocketMqConfigKeys();
    case "kafka":
      return kafkaConfigKeys();
  }
}
