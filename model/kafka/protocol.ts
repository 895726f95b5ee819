import type { Batch, BatchFields } from "./records.js";

/**
 * The Kafka protocol messages this model exchanges, as plain data. Every
 * message names its partition by key ("TopicTest-0", partitionKey), which is
 * what the history uses too. Error codes keep Kafka's names (Errors.java).
 */
export type KafkaError =
  | "NONE"
  | "OFFSET_OUT_OF_RANGE"
  | "CORRUPT_MESSAGE"
  | "UNKNOWN_TOPIC_OR_PARTITION"
  | "LEADER_NOT_AVAILABLE"
  | "NOT_LEADER_OR_FOLLOWER"
  | "REQUEST_TIMED_OUT"
  | "NETWORK_EXCEPTION"
  | "COORDINATOR_LOAD_IN_PROGRESS"
  | "COORDINATOR_NOT_AVAILABLE"
  | "NOT_COORDINATOR"
  | "NOT_ENOUGH_REPLICAS"
  | "NOT_ENOUGH_REPLICAS_AFTER_APPEND"
  | "ILLEGAL_GENERATION"
  | "UNKNOWN_MEMBER_ID"
  | "REBALANCE_IN_PROGRESS"
  | "OUT_OF_ORDER_SEQUENCE_NUMBER"
  | "INVALID_PRODUCER_EPOCH"
  | "FENCED_LEADER_EPOCH"
  | "UNKNOWN_LEADER_EPOCH"
  | "STALE_BROKER_EPOCH"
  | "INVALID_UPDATE_VERSION"
  | "INELIGIBLE_REPLICA"
  | "INCONSISTENT_CLUSTER_ID"
  | "INVALID_SESSION_TIMEOUT"
  | "BROKER_NOT_AVAILABLE";

/** The controller's committed state of one partition (PartitionRegistration). */
export interface PartitionState {
  tp: string;
  topic: string;
  partition: number;
  /** Assignment order; the first is the preferred leader. */
  replicas: number[];
  /** Invariant: non-empty; the leader, when there is one, is a member. */
  isr: number[];
  /** Broker id, or -1 when the partition has no leader. */
  leader: number;
  leaderEpoch: number;
  /** Bumped on every change; orders updates of one partition. */
  partitionEpoch: number;
}

export interface BrokerState {
  id: number;
  epoch: number;
  fenced: boolean;
}

// ---- broker ↔ controller -------------------------------------------------------

export interface BrokerRegistrationRequest {
  brokerId: number;
  /** Unique per process incarnation; a new one means the broker restarted. */
  incarnation: string;
  clusterId: string;
}
export interface BrokerRegistrationResponse {
  error: KafkaError;
  brokerEpoch: number;
}
export interface BrokerHeartbeatRequest {
  brokerId: number;
  brokerEpoch: number;
  /** The metadata offset up to which this broker has applied the controller's records. */
  metadataOffset: number;
}
export interface BrokerHeartbeatResponse {
  error: KafkaError;
  fenced: boolean;
}
/**
 * Pushed by the controller to every registered broker once a change is
 * durable. KRaft brokers pull the metadata log instead; the offset lets a
 * broker that missed a push (its connection was down) be sent a snapshot
 * when its next heartbeat shows it is behind, which gives the same result.
 */
export interface MetadataPush {
  /** Records committed up to here are reflected (the metadata log's end). */
  offset: number;
  partitions: PartitionState[];
  brokers: BrokerState[];
}
export interface AlterPartitionRequest {
  brokerId: number;
  brokerEpoch: number;
  tp: string;
  leaderEpoch: number;
  partitionEpoch: number;
  newIsr: number[];
}
export interface AlterPartitionResponse {
  error: KafkaError;
  state: PartitionState | null;
}
export interface AllocateProducerIdsRequest {
  brokerId: number;
  brokerEpoch: number;
}
export interface AllocateProducerIdsResponse {
  error: KafkaError;
  firstId: number;
  count: number;
}

// ---- fetch (replicas and consumers) ------------------------------------------------

export interface FetchPartition {
  tp: string;
  fetchOffset: number;
  /** The epoch of the fetcher's last batch (IBP ≥ 2.7), or -1. */
  lastFetchedEpoch: number;
  /** The leader epoch the fetcher believes current (KIP-320), or -1 to skip the check. */
  currentLeaderEpoch: number;
}
export interface FetchRequest {
  /** A broker id for a follower; -1 for a consumer. */
  replicaId: number;
  brokerEpoch: number;
  maxWaitMs: number;
  maxBytes: number;
  partitions: FetchPartition[];
}
export interface FetchPartitionResponse {
  tp: string;
  error: KafkaError;
  highWatermark: number;
  logEndOffset: number;
  batches: readonly Batch[];
  /** Set when the fetcher's log diverged from the leader's (KIP-595 style truncation, IBP ≥ 2.7). */
  divergingEpoch: { epoch: number; endOffset: number } | null;
}
export interface FetchResponse {
  partitions: FetchPartitionResponse[];
}

export interface OffsetsForLeaderEpochRequest {
  replicaId: number;
  partitions: Array<{ tp: string; leaderEpoch: number; currentLeaderEpoch: number }>;
}
export interface OffsetsForLeaderEpochResponse {
  /** `leaderEpoch` is -1 in version 0 answers (before KIP-279). */
  partitions: Array<{ tp: string; error: KafkaError; leaderEpoch: number; endOffset: number }>;
}

// ---- clients ----------------------------------------------------------------------

export interface MetadataRequest {
  topics: string[];
}
export interface MetadataPartition {
  tp: string;
  topic: string;
  partition: number;
  leader: number;
  leaderEpoch: number;
}
export interface MetadataResponse {
  brokers: number[];
  partitions: MetadataPartition[];
}

export interface ProduceBatch {
  /** Encoded by the producer, CRC included; the leader stamps offset and epoch. */
  bytes: Uint8Array;
  fields: BatchFields;
}
export interface ProduceRequest {
  acks: -1 | 0 | 1;
  timeoutMs: number;
  partitions: Array<{ tp: string; batch: ProduceBatch }>;
}
export interface ProducePartitionResponse {
  tp: string;
  error: KafkaError;
  baseOffset: number;
}
export interface ProduceResponse {
  partitions: ProducePartitionResponse[];
}

export interface InitProducerIdResponse {
  error: KafkaError;
  producerId: number;
  producerEpoch: number;
}

export interface ListOffsetsRequest {
  /** -2: earliest, -1: latest (the HW for read_uncommitted consumers). */
  partitions: Array<{ tp: string; timestamp: -1 | -2; currentLeaderEpoch: number }>;
}
export interface ListOffsetsResponse {
  partitions: Array<{ tp: string; error: KafkaError; offset: number }>;
}

export interface FindCoordinatorRequest {
  key: string;
}
export interface FindCoordinatorResponse {
  error: KafkaError;
  nodeId: number;
}

export interface JoinGroupRequest {
  groupId: string;
  memberId: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  topics: string[];
}
export interface JoinGroupResponse {
  error: KafkaError;
  generation: number;
  memberId: string;
  leaderId: string;
  /** Filled for the leader only. */
  members: Array<{ memberId: string; topics: string[] }>;
}
export interface SyncGroupRequest {
  groupId: string;
  generation: number;
  memberId: string;
  /** From the leader only. */
  assignments: Array<{ memberId: string; tps: string[] }>;
}
export interface SyncGroupResponse {
  error: KafkaError;
  tps: string[];
}
export interface HeartbeatRequest {
  groupId: string;
  generation: number;
  memberId: string;
}
export interface HeartbeatResponse {
  error: KafkaError;
}
export interface OffsetCommitRequest {
  groupId: string;
  generation: number;
  memberId: string;
  offsets: Array<{ tp: string; offset: number }>;
}
export interface OffsetCommitResponse {
  error: KafkaError;
}
export interface OffsetFetchRequest {
  groupId: string;
  tps: string[];
}
export interface OffsetFetchResponse {
  error: KafkaError;
  /** -1 where nothing was committed. */
  offsets: Array<{ tp: string; offset: number }>;
}

const BROKER_NODES: string[] = [];

/** Node names: broker ids map to nodes by a fixed rule that every process knows (the advertised listeners). */
export function brokerNode(id: number): string {
  // Asked on every request; the names are built once.
  return (BROKER_NODES[id] ??= `broker-${id}`);
}

export const CONTROLLER_NODE = "controller";

/** The one partition of `__consumer_offsets` this model keeps (see group-coordinator.ts). */
export const OFFSETS_TOPIC = "__consumer_offsets";
