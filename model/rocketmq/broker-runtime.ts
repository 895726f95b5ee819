import type { Connection } from "../../sim/network.js";
import type { NodeContext } from "../../sim/node.js";
import type { RocketMqConfig } from "./config.js";
import type { TopicConfig } from "./protocol.js";
import type { Remoting } from "./remoting.js";
import type { MessageStore } from "./store/message-store.js";
import type { AppendResult, MessageInput, PutMessageStatus } from "./store/types.js";

/** PutMessageStatus plus what only DLedgerCommitLog produces (both map to SYSTEM_ERROR on the wire). */
export type BrokerPutStatus = PutMessageStatus | "OS_PAGECACHE_BUSY" | "UNKNOWN_ERROR";

/**
 * What the broker's side services (ScheduleMessageService, the send-back
 * processor, TransactionalMessageService, RebalanceLockManager) may use of
 * their BrokerController. Each service lives in its own file and is
 * installed once per boot; it registers its own request processors on
 * `remoting` and keeps its own state.
 */
export interface BrokerRuntime {
  readonly ctx: NodeContext;
  readonly cfg: RocketMqConfig;
  readonly brokerName: string;
  readonly remoting: Remoting;
  readonly store: MessageStore;
  /** Accepts writes now: a classic master, or a caught-up DLedger leader serving as brokerId 0. */
  isMaster(): boolean;
  /** Called with the new answer of `isMaster()` whenever it changes (DLedger role changes; a classic role is fixed). */
  onRoleChange(listener: (master: boolean) => void): void;
  /** The topic's config, created (and registered with every NameServer) when missing. */
  ensureTopic(topic: string, queues: number, perm?: number): TopicConfig;
  topicConfig(topic: string): TopicConfig | undefined;
  /**
   * The send path's put: append (or, in DLedger mode, replicate and commit),
   * then wait for the flush and the slave as SYNC_FLUSH / SYNC_MASTER
   * require. `cb` gets the combined status (the replica status winning, as
   * CommitLog.asyncPutMessage combines them) and the append result, which is
   * present whenever the message was stored, whatever the status.
   */
  putMessage(msg: MessageInput, cb: (status: BrokerPutStatus, appendResult: AppendResult | null) => void): void;
  /** Live connections of a producer group's clients (ProducerManager), oldest first. */
  producerChannels(group: string): Connection[];
  /** Client ids of a consumer group's live members (ConsumerManager). */
  consumerIds(group: string): string[];
  /** Runs at an operator's clean shutdown, before the store closes (persist config files). */
  onShutdown(listener: () => void): void;
}
