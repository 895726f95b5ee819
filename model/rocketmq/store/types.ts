/**
 * Data that crosses the store's boundary: what the broker hands in, what it
 * gets back. Plain records, built on hot paths, so no zod here.
 */

/** A message as the broker hands it to the store (MessageExtBrokerInner). */
export interface MessageInput {
  topic: string;
  queueId: number;
  body: Uint8Array;
  /** Message.flag, opaque to the broker. */
  flag?: number;
  /**
   * Message properties (TAGS, KEYS, UNIQ_KEY, DELAY, WAIT, ...). Encoded as
   * RocketMQ does: name \u0001 value \u0002 ..., without the last \u0002.
   */
  properties: Record<string, string>;
  bornTimestampMs: number;
  /** "a.b.c.d:port"; any other string is mapped to a stable IPv4 address (see codec.parseHost). */
  bornHost: string;
  storeHost: string;
  reconsumeTimes?: number;
  /** MessageSysFlag bits: compression, multi-tags, transaction type. */
  sysFlag?: number;
  preparedTransactionOffset?: number;
}

/** One CommitLog record, every stored field decoded (MessageExt as MessageDecoder.decode builds it). */
export interface DecodedMessage {
  topic: string;
  queueId: number;
  flag: number;
  queueOffset: number;
  /** PHYSICALOFFSET as stored: where the record starts in the CommitLog. */
  physicalOffset: number;
  sysFlag: number;
  bornTimestamp: number;
  bornHost: string;
  storeTimestamp: number;
  storeHost: string;
  reconsumeTimes: number;
  preparedTransactionOffset: number;
  body: Uint8Array;
  bodyCRC: number;
  properties: Record<string, string>;
  /** TOTALSIZE: the record's length in the CommitLog. */
  storeSize: number;
  /** What the dispatcher writes in the ConsumeQueue's tag field: the TAGS hash, or the delivery time of a delayed message. */
  tagsCode: number;
  /** The offset message id: store host and physical offset in hex (MessageDecoder.createMessageId). */
  msgId: string;
}

/**
 * PutMessageStatus names. The store itself produces PUT_OK,
 * FLUSH_DISK_TIMEOUT, SERVICE_NOT_AVAILABLE, MESSAGE_ILLEGAL and
 * PROPERTIES_SIZE_EXCEEDED; FLUSH_SLAVE_TIMEOUT and SLAVE_NOT_AVAILABLE come
 * from the broker's HA wait, which combines its status with the flush status
 * (CommitLog.asyncPutMessage: the replica status wins). The real enum's
 * CREATE_MAPEDFILE_FAILED, OS_PAGECACHE_BUSY (put lock held > 1 s),
 * UNKNOWN_ERROR and LMQ_CONSUME_QUEUE_NUM_EXCEEDED cannot arise in this model:
 * file creation cannot fail, a put is instantaneous, and there is no LMQ.
 */
export type PutMessageStatus =
  | "PUT_OK"
  | "FLUSH_DISK_TIMEOUT"
  | "FLUSH_SLAVE_TIMEOUT"
  | "SLAVE_NOT_AVAILABLE"
  | "SERVICE_NOT_AVAILABLE"
  | "MESSAGE_ILLEGAL"
  | "PROPERTIES_SIZE_EXCEEDED";

/** The outcome of a flush wait (GroupCommitRequest). */
export type FlushStatus = "PUT_OK" | "FLUSH_DISK_TIMEOUT";

/** AppendMessageResult, as the broker and producer see it. */
export interface AppendResult {
  /** Where the record starts in the CommitLog. */
  wroteOffset: number;
  wroteBytes: number;
  /** The message's offset in its (topic, queueId) ConsumeQueue. */
  queueOffset: number;
  msgId: string;
  /** ms on the simulated epoch. */
  storeTimestamp: number;
  /** The topic and queue it was stored under: a delayed message goes to SCHEDULE_TOPIC_XXXX. */
  topic: string;
  queueId: number;
}

export interface PutMessageResult {
  status: PutMessageStatus;
  /** Present whenever the message was appended, including FLUSH_DISK_TIMEOUT: the message IS stored. */
  appendResult: AppendResult | null;
}

/**
 * GetMessageStatus names, as DefaultMessageStore.getMessage sets them.
 * NO_MATCHED_LOGIC_QUEUE is absent: in both 4.9.8 and 5.3.3
 * findConsumeQueue creates a missing queue on demand, so that branch is dead
 * code and an unknown queue reads as NO_MESSAGE_IN_QUEUE.
 */
export type GetMessageStatus =
  | "FOUND"
  | "NO_MATCHED_MESSAGE"
  | "MESSAGE_WAS_REMOVING"
  | "OFFSET_FOUND_NULL"
  | "OFFSET_OVERFLOW_BADLY"
  | "OFFSET_OVERFLOW_ONE"
  | "OFFSET_TOO_SMALL"
  | "NO_MESSAGE_IN_QUEUE";

/** `M`: what the reader keeps of each message (see MessageStore.getMessage's `project`). */
export interface GetMessageResult<M = DecodedMessage> {
  status: GetMessageStatus;
  messages: M[];
  nextBeginOffset: number;
  minOffset: number;
  maxOffset: number;
  /** GetMessageResult.suggestPullingFromSlave: the consumer lags by more than accessMessageInMemoryMaxRatio of memory. */
  suggestPullingFromSlave: boolean;
}

/** Called by the dispatcher for every message it adds to a ConsumeQueue (MessageArrivingListener.arriving). */
export type DispatchListener = (topic: string, queueId: number, maxOffset: number) => void;
