import type { BrokerRuntime } from "./broker-runtime.js";

/** RebalanceLockManager: LOCK_BATCH_MQ / UNLOCK_BATCH_MQ for orderly consumers. */
export function installRebalanceLockManager(rt: BrokerRuntime): void {
  void rt;
}
