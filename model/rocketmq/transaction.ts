import type { Timer } from "../../sim/kernel.js";
import type { Connection } from "../../sim/network.js";
import type { BrokerPutStatus, BrokerRuntime } from "./broker-runtime.js";
import { transactionCheckIntervalOf, type RocketMqVersion } from "./config.js";
import { readConfigFile, writeConfigFile } from "./config-file.js";
import { RequestCode, ResponseCode, type CheckTransactionStateBody, type EndTransactionBody, type PulledMessage, type RemotingRequest } from "./protocol.js";
import {
  PROPERTY_REAL_QUEUE_ID,
  PROPERTY_REAL_TOPIC,
  PROPERTY_TAGS,
  PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX,
  PROPERTY_WAIT_STORE_MSG_OK,
  TRANSACTION_COMMIT_TYPE,
  TRANSACTION_NOT_TYPE,
  TRANSACTION_ROLLBACK_TYPE,
} from "./store/codec.js";
import type { AppendResult, DecodedMessage, GetMessageStatus, MessageInput } from "./store/types.js";

// ---- names (TopicValidator, MixAll, MessageConst, TransactionalMessageUtil) ----

/** TopicValidator.RMQ_SYS_TRANS_HALF_TOPIC: where half messages wait, queue 0, invisible to consumers. */
export const RMQ_SYS_TRANS_HALF_TOPIC = "RMQ_SYS_TRANS_HALF_TOPIC";
/** TopicValidator.RMQ_SYS_TRANS_OP_HALF_TOPIC: one record per ended half message (tag `d`, body = its half queue offset). */
export const RMQ_SYS_TRANS_OP_HALF_TOPIC = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
/** TopicValidator.RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC: where the check loop puts half messages it gave up on. */
export const TRANS_CHECK_MAX_TIME_TOPIC = "TRANS_CHECK_MAX_TIME_TOPIC";
/** MixAll.CID_SYS_RMQ_TRANS: the consumer group under which the check loop keeps its half and op offsets. */
export const CID_RMQ_SYS_TRANS = "CID_RMQ_SYS_TRANS";
/** MessageConst.PROPERTY_TRANSACTION_PREPARED */
export const PROPERTY_TRANSACTION_PREPARED = "TRAN_MSG";
/** MessageConst.PROPERTY_PRODUCER_GROUP */
export const PROPERTY_PRODUCER_GROUP = "PGROUP";
/** MessageConst.PROPERTY_TRANSACTION_CHECK_TIMES */
export const PROPERTY_TRANSACTION_CHECK_TIMES = "TRANSACTION_CHECK_TIMES";
/** MessageConst.PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS */
export const PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/** MessageConst.PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET */
export const PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET = "TRAN_PREPARED_QUEUE_OFFSET";
/** 5.x TransactionalMessageUtil.TRANSACTION_ID: the UNIQ_KEY copied onto the half message. */
const PROPERTY_TRANSACTION_ID = "__transactionId__";
/** TransactionalMessageUtil.REMOVETAG (5.x REMOVE_TAG) */
const REMOVE_TAG = "d";
/** 5.x TransactionalMessageUtil.OFFSET_SEPARATOR: a batched op body is "o1,o2,...,". */
const OFFSET_SEPARATOR = ",";

// ---- limits ----

/** TransactionalMessageServiceImpl.PULL_MSG_RETRY_NUMBER: half messages are read one at a time. */
const PULL_MSG_RETRY_NUMBER = 1;
/** TransactionalMessageServiceImpl.MAX_RETRY_COUNT_WHEN_HALF_NULL */
const MAX_RETRY_COUNT_WHEN_HALF_NULL = 1;
/** TransactionalMessageServiceImpl: op records are read 32 at a time (5.x OP_MSG_PULL_NUMS). */
const OP_MSG_PULL_NUMS = 32;
/** TransactionalMessageServiceImpl.MAX_QUEUE_PROCESS_TIME (5.x MAX_PROCESS_TIME_LIMIT): a round gives up after 60 s. */
const MAX_PROCESS_TIME_LIMIT_MS = 60_000;
/** 5.x TransactionalMessageServiceImpl.SLEEP_WHILE_NO_OP: the round sleeps when it ran out of op records to read. */
const SLEEP_WHILE_NO_OP_MS = 1_000;
/** MessageStoreConfig.fileReservedTime = 72 h: a half message born longer ago is given up (isNeedSkip). */
const FILE_RESERVED_TIME_HOURS = 72;
/** 5.x BrokerConfig.transactionOpMsgMaxSize: an op batch is written early once this many characters wait. */
const TRANSACTION_OP_MSG_MAX_SIZE = 4096;
/** 5.x BrokerConfig.transactionOpBatchInterval: TransactionalOpBatchService's period. */
const TRANSACTION_OP_BATCH_INTERVAL_MS = 3_000;
/** 5.x deletePrepareMessage: MessageQueueOpContext's queue holds 20000 entries. */
const OP_CONTEXT_QUEUE_LENGTH = 20_000;
/** ProducerManager.GET_AVAILABLE_CHANNEL_RETRY_COUNT */
const GET_AVAILABLE_CHANNEL_RETRY_COUNT = 3;
/** 5.x ResponseCode.ILLEGAL_OPERATION: an END_TRANSACTION later than the half's CHECK_IMMUNITY_TIME. */
const ILLEGAL_OPERATION = 604;
/** One scan never takes this many steps without waiting: each step advances a queue offset or stops. */
const SCAN_STEP_BUDGET = 10_000_000;
/**
 * The check loop's offsets. The real broker keeps them in its consumer
 * offset table (consumerOffset.json, group CID_RMQ_SYS_TRANS); this file
 * uses the same keys and shape, written without fsync.
 */
const OFFSET_FILE = "config/transactionOffset.json";
const QUEUE_ID = 0;
/** EndTransactionProcessor.sendFinalMessage: these put statuses count as success (the message is stored). */
const FINAL_PUT_OK = new Set<BrokerPutStatus>(["PUT_OK", "FLUSH_DISK_TIMEOUT", "FLUSH_SLAVE_TIMEOUT", "SLAVE_NOT_AVAILABLE"]);

/** What the cluster's drain check reads of a broker's TransactionalMessageService. */
export interface TransactionServiceHandle {
  /** Half messages with no op record that the check loop has not given up on (0 when it is not a master). */
  pendingHalf(): number;
}

/** MessageSysFlag.resetTransactionValue */
export function resetTransactionValue(flag: number, type: number): number {
  return (flag & ~TRANSACTION_ROLLBACK_TYPE) | type;
}

/**
 * TransactionalMessageBridge.parseHalfMessageInner: what SendMessageProcessor
 * stores instead of a message whose TRAN_MSG property is "true". The real
 * destination moves to REAL_TOPIC / REAL_QID, the transaction type is reset
 * to NOT_TYPE (so the store dispatches it to a ConsumeQueue), and the message
 * goes to RMQ_SYS_TRANS_HALF_TOPIC queue 0. 5.x also copies UNIQ_KEY to
 * `__transactionId__`.
 */
export function prepareHalfMessage(msg: MessageInput, version: RocketMqVersion = "4.9.8"): MessageInput {
  const properties = { ...msg.properties };
  const uniqId = properties[PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX];
  if (version !== "4.9.8" && uniqId !== undefined && uniqId.length > 0) properties[PROPERTY_TRANSACTION_ID] = uniqId;
  properties[PROPERTY_REAL_TOPIC] = msg.topic;
  properties[PROPERTY_REAL_QUEUE_ID] = String(msg.queueId);
  return { ...msg, topic: RMQ_SYS_TRANS_HALF_TOPIC, queueId: QUEUE_ID, properties, sysFlag: resetTransactionValue(msg.sysFlag ?? 0, TRANSACTION_NOT_TYPE) };
}

/** TransactionalMessageService: half messages, END_TRANSACTION, the check loop. */
export function installTransactionService(rt: BrokerRuntime): TransactionServiceHandle {
  const service = new TransactionService(rt);
  service.install();
  return { pendingHalf: () => service.pendingHalf() };
}

// ---- reading the system queues (TransactionalMessageBridge.getMessage) ----

type PullStatus = "FOUND" | "NO_NEW_MSG" | "NO_MATCHED_MSG" | "OFFSET_ILLEGAL";

interface PullResult {
  status: PullStatus;
  nextBeginOffset: number;
  /** Present only when FOUND. */
  msgFoundList: DecodedMessage[] | null;
}

/** TransactionalMessageBridge.getMessage's mapping of GetMessageStatus. */
function pullStatusOf(s: GetMessageStatus): PullStatus {
  switch (s) {
    case "FOUND":
      return "FOUND";
    case "NO_MATCHED_MESSAGE":
      return "NO_MATCHED_MSG";
    case "NO_MESSAGE_IN_QUEUE":
    case "OFFSET_OVERFLOW_ONE":
      return "NO_NEW_MSG";
    default:
      return "OFFSET_ILLEGAL";
  }
}

/** Long.valueOf as the real code wraps it (getLong): -1 when the text is not a number. */
function getLong(s: string): number {
  return /^[+-]?\d+$/.test(s.trim()) ? Number(s.trim()) : -1;
}

function asciiText(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** TransactionalMessageServiceImpl.getImmunityTime: seconds in the property, or the transaction timeout when it is -1. */
function getImmunityTime(text: string, transactionTimeoutMs: number): number {
  const v = getLong(text);
  return v === -1 ? transactionTimeoutMs : v * 1000;
}

/** calculateOpOffset: the op offset moves over the contiguous run of done op records from where it was. */
function calculateOpOffset(doneOffset: number[], oldOffset: number): number {
  const sorted = [...doneOffset].sort((a, b) => a - b);
  let newOffset = oldOffset;
  for (const o of sorted) {
    if (o !== newOffset) break;
    newOffset++;
  }
  return newOffset;
}

/** Half queue offsets an op record names: one decimal (4.x) or a "o1,o2,...," list (5.x). */
function opOffsets(op: DecodedMessage): number[] {
  return asciiText(op.body)
    .split(OFFSET_SEPARATOR)
    .filter((p) => p.length > 0)
    .map(getLong);
}

/** A decoded message with its own properties object: the store's recent-record cache shares the decoded one. */
function ownCopy(m: DecodedMessage): DecodedMessage {
  return { ...m, properties: { ...m.properties } };
}

// ---- the check round's state (TransactionalMessageServiceImpl.check's locals) ----

type Step = "continue" | "break" | "wait";

interface Scan {
  /** The service run this scan belongs to: a role change or shutdown abandons it. */
  readonly epoch: number;
  readonly startMs: number;
  readonly halfOffset: number;
  readonly opOffset: number;
  i: number;
  newOffset: number;
  /** Half offset → the op record's queue offset, for ended halves at or past halfOffset. */
  readonly removeMap: Map<number, number>;
  /** 5.x: op record queue offset → the half offsets it names that are still in removeMap. */
  readonly opMsgMap: Map<number, Set<number>>;
  /** Op records fully accounted for, from which the op offset advances. */
  readonly doneOpOffset: number[];
  pullResult: PullResult;
  /** 5.x: where the next op read starts. */
  nextOpOffset: number;
  getMessageNullCount: number;
}

/** 5.x MessageQueueOpContext: op data waiting for TransactionalOpBatchService. */
interface OpContext {
  entries: string[];
  totalSize: number;
  lastWriteMs: number;
}

/** What pendingHalf() has read of the op queue, so a drain poll reads only new op records. */
interface OpIndex {
  readTo: number;
  /** Half offsets named by op records, at or past `prunedBelow`. */
  halves: Set<number>;
  prunedBelow: number;
}

/**
 * TransactionalMessageServiceImpl with its bridge, its check listener,
 * EndTransactionProcessor and TransactionalMessageCheckService, for one
 * broker boot. Offsets and timers are this boot's; the half and op queues
 * are the store's and survive as the store does.
 */
class TransactionService {
  private readonly v4: boolean;
  private readonly timeoutMs: number;
  private readonly checkMax: number;
  private readonly intervalMs: number;
  /** Bumped whenever the check service starts or stops: callbacks of an older run do nothing. */
  private epoch = 0;
  private running = false;
  private roundTimer: Timer | null = null;
  /** "group@topic" → queue offset, as ConsumerOffsetManager keys them (queue 0 only). */
  private readonly offsets = new Map<string, number>();
  private offsetsDirty = false;
  /** ProducerManager.positiveAtomicCounter: round-robin over a group's channels. */
  private channelCounter = 0;
  private opContext: OpContext | null = null;
  /** 5.x TransactionalOpBatchService.wakeupTimestamp (µs); its thread starts with the broker. */
  private opBatchWakeUs: number;
  private opBatchTimer: Timer | null = null;
  private opIndex: OpIndex | null = null;

  constructor(private readonly rt: BrokerRuntime) {
    this.v4 = rt.cfg.version === "4.9.8";
    this.timeoutMs = rt.cfg.broker.transactionTimeOut;
    this.checkMax = rt.cfg.broker.transactionCheckMax;
    this.intervalMs = transactionCheckIntervalOf(rt.cfg);
    this.opBatchWakeUs = rt.ctx.now + TRANSACTION_OP_BATCH_INTERVAL_MS * 1000;
    const loaded = readConfigFile<Record<string, Record<string, number>>>(rt.ctx.disk, OFFSET_FILE);
    for (const [k, qs] of Object.entries(loaded ?? {})) {
      const o = qs[String(QUEUE_ID)];
      if (typeof o === "number") this.offsets.set(k, o);
    }
  }

  install(): void {
    this.rt.remoting.registerProcessor(RequestCode.END_TRANSACTION, (req, conn) => this.onEndTransaction(req, conn));
    this.rt.onRoleChange((master) => (master ? this.startCheck() : this.stopCheck()));
    this.rt.onShutdown(() => {
      this.stopCheck();
      // 5.x close(): TransactionalOpBatchService's shutdown wakes it for one last pass.
      if (!this.v4) this.runOpBatch(false);
      this.persistOffsets();
    });
    if (this.rt.isMaster()) this.startCheck();
  }

  private nowMs(): number {
    return Math.floor(this.rt.ctx.now / 1000);
  }

  private emit(kind: string, details: Record<string, unknown>): void {
    this.rt.ctx.emit(kind, details);
  }

  // ---- TransactionalMessageCheckService: masters only ----

  /** BrokerController.startProcessorByHa / changeSpecialServiceStatus(true): the first round runs one interval later. */
  private startCheck(): void {
    if (this.running) return;
    this.running = true;
    this.epoch++;
    this.opIndex = null;
    this.scheduleRound();
  }

  private stopCheck(): void {
    if (!this.running) return;
    this.running = false;
    this.epoch++;
    this.rt.ctx.cancel(this.roundTimer);
    this.roundTimer = null;
  }

  /** ServiceThread.waitForRunning(transactionCheckInterval), counted from the end of the last round. */
  private scheduleRound(): void {
    const epoch = this.epoch;
    this.roundTimer = this.rt.ctx.after(this.intervalMs * 1000, () => {
      this.roundTimer = null;
      if (epoch === this.epoch && this.running) this.beginScan();
    });
  }

  // ---- consumer offsets of CID_RMQ_SYS_TRANS (TransactionalMessageBridge) ----

  /** fetchConsumeOffset: the stored offset, or the queue's min offset when there is none. */
  private fetchConsumeOffset(topic: string): number {
    return this.offsets.get(`${CID_RMQ_SYS_TRANS}@${topic}`) ?? this.rt.store.getMinOffsetInQueue(topic, QUEUE_ID);
  }

  private updateConsumeOffset(topic: string, offset: number): void {
    this.offsets.set(`${CID_RMQ_SYS_TRANS}@${topic}`, offset);
    this.offsetsDirty = true;
  }

  private persistOffsets(): void {
    if (!this.offsetsDirty) return;
    this.offsetsDirty = false;
    const out: Record<string, Record<string, number>> = {};
    for (const [k, o] of this.offsets) out[k] = { [String(QUEUE_ID)]: o };
    writeConfigFile(this.rt.ctx.disk, OFFSET_FILE, out);
  }

  private pull(topic: string, offset: number, nums: number): PullResult {
    const r = this.rt.store.getMessage(CID_RMQ_SYS_TRANS, topic, QUEUE_ID, offset, nums);
    const status = pullStatusOf(r.status);
    return { status, nextBeginOffset: r.nextBeginOffset, msgFoundList: status === "FOUND" ? r.messages : null };
  }

  // ---- one round: TransactionalMessageServiceImpl.check ----

  /**
   * The system topics' configs. 4.x creates the half topic's when a round
   * first lists its queues (fetchMessageQueues → createTopicInSendMessageBackMethod)
   * and never the op topic's; 5.x creates both when TopicConfigManager
   * starts. Here 5.x's are also created at the first round, so a boot sends
   * no extra registration; no client reads these topics' routes.
   */
  private ensureSystemTopics(): void {
    this.rt.ensureTopic(RMQ_SYS_TRANS_HALF_TOPIC, 1);
    if (!this.v4) this.rt.ensureTopic(RMQ_SYS_TRANS_OP_HALF_TOPIC, 1);
  }

  private beginScan(): void {
    this.ensureSystemTopics();
    const halfOffset = this.fetchConsumeOffset(RMQ_SYS_TRANS_HALF_TOPIC);
    const opOffset = this.fetchConsumeOffset(RMQ_SYS_TRANS_OP_HALF_TOPIC);
    const s: Scan = {
      epoch: this.epoch,
      startMs: this.nowMs(),
      halfOffset,
      opOffset,
      i: halfOffset,
      newOffset: halfOffset,
      removeMap: new Map(),
      opMsgMap: new Map(),
      doneOpOffset: [],
      pullResult: { status: "NO_NEW_MSG", nextBeginOffset: opOffset, msgFoundList: null },
      nextOpOffset: opOffset,
      getMessageNullCount: 1,
    };
    s.pullResult = this.fillOpRemoveMap(s, opOffset);
    s.nextOpOffset = s.pullResult.nextBeginOffset;
    this.runScan(s);
  }

  /** The scan loop; it returns when the round ends or waits for a put or a sleep, whose callback resumes it. */
  private runScan(s: Scan): void {
    for (let steps = 0; ; steps++) {
      if (s.epoch !== this.epoch) return;
      if (steps > SCAN_STEP_BUDGET) throw new Error(`transaction check scan made no progress at half offset ${s.i}`);
      const step = this.scanStep(s);
      if (step === "continue") continue;
      if (step === "break") this.finishScan(s);
      return;
    }
  }

  private continueWith(s: Scan, step: Step): void {
    if (s.epoch !== this.epoch) return;
    if (step === "continue") this.runScan(s);
    else if (step === "break") this.finishScan(s);
  }

  /** Writes the offsets the round reached and sleeps until the next one. */
  private finishScan(s: Scan): void {
    if (s.newOffset !== s.halfOffset) this.updateConsumeOffset(RMQ_SYS_TRANS_HALF_TOPIC, s.newOffset);
    const newOpOffset = calculateOpOffset(s.doneOpOffset, s.opOffset);
    if (newOpOffset !== s.opOffset) this.updateConsumeOffset(RMQ_SYS_TRANS_OP_HALF_TOPIC, newOpOffset);
    this.persistOffsets();
    if (this.running) this.scheduleRound();
  }

  private advance(s: Scan): Step {
    s.newOffset = s.i + 1;
    s.i++;
    return "continue";
  }

  /** One pass of check's `while (true)` body. */
  private scanStep(s: Scan): Step {
    if (this.nowMs() - s.startMs > MAX_PROCESS_TIME_LIMIT_MS) return "break";
    if (this.takeRemoved(s)) return this.advance(s);
    const got = this.getHalfMsg(s.i);
    if (got.msg === null) return this.onHalfNull(s, got.pull);
    const msg = got.msg;
    if (this.needDiscard(msg) || this.needSkip(msg)) {
      this.resolveDiscardMsg(msg);
      return this.advance(s);
    }
    // Stored since the round began (its own put-backs among them): left for the next round.
    if (msg.storeTimestamp >= s.startMs) return "break";
    return this.checkImmunity(s, msg);
  }

  /** The half at `i` has an op record: it is done. 5.x also marks an op record done once all its halves are. */
  private takeRemoved(s: Scan): boolean {
    const opOffset = s.removeMap.get(s.i);
    if (opOffset === undefined) return false;
    s.removeMap.delete(s.i);
    if (this.v4) return true;
    const halves = s.opMsgMap.get(opOffset);
    halves?.delete(s.i);
    if (halves !== undefined && halves.size === 0) {
      s.opMsgMap.delete(opOffset);
      s.doneOpOffset.push(opOffset);
    }
    return true;
  }

  private getHalfMsg(offset: number): { msg: DecodedMessage | null; pull: PullResult } {
    const pull = this.pull(RMQ_SYS_TRANS_HALF_TOPIC, offset, PULL_MSG_RETRY_NUMBER);
    const first = pull.msgFoundList?.[0];
    return { msg: first === undefined ? null : ownCopy(first), pull };
  }

  /** No half message at `i`: the end of the queue stops the round; a hole is skipped once. */
  private onHalfNull(s: Scan, pull: PullResult): Step {
    if (s.getMessageNullCount++ > MAX_RETRY_COUNT_WHEN_HALF_NULL) return "break";
    if (pull.status === "NO_NEW_MSG") return "break";
    s.i = pull.nextBeginOffset;
    s.newOffset = s.i;
    return "continue";
  }

  /** isNeedDiscard: checked transactionCheckMax times already; otherwise the check count goes up by one on the copy. */
  private needDiscard(msg: DecodedMessage): boolean {
    const text = msg.properties[PROPERTY_TRANSACTION_CHECK_TIMES];
    let checkTime = 1;
    if (text !== undefined) {
      checkTime = getLong(text);
      if (checkTime >= this.checkMax) return true;
      checkTime++;
    }
    msg.properties[PROPERTY_TRANSACTION_CHECK_TIMES] = String(checkTime);
    return false;
  }

  /** isNeedSkip: born longer ago than the store keeps files. */
  private needSkip(msg: DecodedMessage): boolean {
    return this.nowMs() - msg.bornTimestamp > FILE_RESERVED_TIME_HOURS * 3600 * 1000;
  }

  /** The immunity time: transactionTimeOut, or the producer's CHECK_IMMUNITY_TIME_IN_SECONDS. */
  private checkImmunity(s: Scan, msg: DecodedMessage): Step {
    const age = this.nowMs() - msg.bornTimestamp;
    const text = msg.properties[PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS];
    if (text !== undefined) {
      const immunity = getImmunityTime(text, this.timeoutMs);
      return age < immunity ? this.checkPrepareQueueOffset(s, msg, immunity) : this.decideCheck(s, msg, immunity);
    }
    // New arrived: everything after it is younger still, so the round stops here.
    if (age >= 0 && age < this.timeoutMs) return "break";
    return this.decideCheck(s, msg, this.timeoutMs);
  }

  /**
   * checkPrepareQueueOffset, for a half still inside its own immunity time:
   * done if the op record of the half it was copied from is known; otherwise
   * copied to the end of the queue with that half's offset, and skipped.
   */
  private checkPrepareQueueOffset(s: Scan, msg: DecodedMessage, immunity: number): Step {
    const text = msg.properties[PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET];
    if (text !== undefined) {
      const prepared = getLong(text);
      if (prepared === -1) return this.decideCheck(s, msg, immunity);
      const opOffset = s.removeMap.get(prepared);
      if (opOffset !== undefined) {
        s.removeMap.delete(prepared);
        s.doneOpOffset.push(opOffset);
        return this.advance(s);
      }
    }
    const copy = this.renewHalfMessageInner(msg);
    copy.properties[PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET] = text ?? String(msg.queueOffset);
    return this.putThen(s, copy, (ok) => (ok ? this.advance(s) : this.decideCheck(s, msg, immunity)));
  }

  /**
   * isNeedCheck: no op records left to read and older than the immunity time
   * (or born in the future). Otherwise more op records are read first, since
   * one of them may end this half.
   */
  private decideCheck(s: Scan, msg: DecodedMessage, immunity: number): Step {
    const age = this.nowMs() - msg.bornTimestamp;
    const opMsg = s.pullResult.msgFoundList;
    const lastOp = opMsg?.[opMsg.length - 1];
    const needCheck = (opMsg === null && age > immunity) || (lastOp !== undefined && lastOp.bornTimestamp - s.startMs > this.timeoutMs) || age <= -1;
    if (needCheck) return this.putBackAndCheck(s, msg);
    return this.v4 ? this.readMoreOps4(s, msg, immunity) : this.readMoreOps5(s);
  }

  /**
   * 4.x reads on at once. With nothing new to read, the next pass checks
   * the half, unless its age sits exactly at the immunity time: there the
   * real loop spins until the clock moves past it, which here is one wait.
   */
  private readMoreOps4(s: Scan, msg: DecodedMessage, immunity: number): Step {
    s.pullResult = this.fillOpRemoveMap(s, s.pullResult.nextBeginOffset);
    if (s.pullResult.msgFoundList !== null) return "continue";
    const age = this.nowMs() - msg.bornTimestamp;
    if (age > immunity || age <= -1) return "continue";
    const waitMs = Math.max(1, msg.bornTimestamp + immunity + 1 - this.nowMs());
    return this.waitThen(s, waitMs, () => {
      s.pullResult = this.fillOpRemoveMap(s, s.pullResult.nextBeginOffset);
      return "continue";
    });
  }

  /** 5.x reads on, and sleeps SLEEP_WHILE_NO_OP when there was nothing new. */
  private readMoreOps5(s: Scan): Step {
    s.nextOpOffset = s.pullResult.nextBeginOffset;
    s.pullResult = this.fillOpRemoveMap(s, s.nextOpOffset);
    if (s.pullResult.status !== "FOUND") return this.waitThen(s, SLEEP_WHILE_NO_OP_MS, () => "continue");
    return "continue";
  }

  /**
   * putBackHalfMsgQueue, then resolveHalfMsg: the half is appended again
   * with its new check count, and the producer is asked about that copy.
   * Deviation: where the put fails the real loop retries the same half at
   * once until MAX_QUEUE_PROCESS_TIME; here the round ends and the next one
   * retries it.
   */
  private putBackAndCheck(s: Scan, msg: DecodedMessage): Step {
    return this.putThen(s, this.renewHalfMessageInner(msg), (ok, ar) => {
      if (!ok || ar === null) return "break";
      this.sendCheckMessage(msg, ar);
      return this.advance(s);
    });
  }

  /**
   * fillOpRemoveMap: reads up to 32 op records from `pullOffsetOfOp`. An op
   * record for a half before the round's start offset is done; one for a
   * half at or after it goes into removeMap.
   */
  private fillOpRemoveMap(s: Scan, pullOffsetOfOp: number): PullResult {
    const pr = this.pull(RMQ_SYS_TRANS_OP_HALF_TOPIC, pullOffsetOfOp, OP_MSG_PULL_NUMS);
    if (pr.status === "OFFSET_ILLEGAL" || pr.status === "NO_MATCHED_MSG") {
      this.updateConsumeOffset(RMQ_SYS_TRANS_OP_HALF_TOPIC, pr.nextBeginOffset);
      return pr;
    }
    if (pr.msgFoundList === null) return pr;
    for (const op of pr.msgFoundList) {
      if (this.v4) this.addOp4(s, op);
      else this.addOp5(s, op);
    }
    return pr;
  }

  private addOp4(s: Scan, op: DecodedMessage): void {
    if (op.properties[PROPERTY_TAGS] !== REMOVE_TAG) return;
    const halfOffset = getLong(asciiText(op.body));
    if (halfOffset < s.halfOffset) s.doneOpOffset.push(op.queueOffset);
    else s.removeMap.set(halfOffset, op.queueOffset);
  }

  private addOp5(s: Scan, op: DecodedMessage): void {
    const halves = new Set<number>();
    if (op.properties[PROPERTY_TAGS] === REMOVE_TAG) {
      for (const halfOffset of opOffsets(op)) {
        if (halfOffset < s.halfOffset) continue;
        s.removeMap.set(halfOffset, op.queueOffset);
        halves.add(halfOffset);
      }
    }
    if (halves.size > 0) s.opMsgMap.set(op.queueOffset, halves);
    else s.doneOpOffset.push(op.queueOffset);
  }

  // ---- puts and waits inside a round ----

  /**
   * The bridge's own puts: the copy back to the half queue, op records, a
   * discarded half. The real ones set WAIT=false after encoding the
   * properties, so they wait for neither flush nor slave while the stored
   * properties stay as they were. A classic store is written directly for
   * that reason; in DLedger mode the put goes through DLedger, as
   * DLedgerCommitLog.putMessage does for every put.
   */
  private putInternal(msg: MessageInput, cb: (status: BrokerPutStatus, ar: AppendResult | null) => void): void {
    if (this.rt.cfg.dledger.enableDLegerCommitLog) {
      this.rt.putMessage(msg, cb);
      return;
    }
    const r = this.rt.store.putMessage(msg);
    cb(r.status, r.appendResult);
  }

  /** A put inside the scan: its result continues the scan now (classic store) or when DLedger answers. */
  private putThen(s: Scan, msg: MessageInput, then: (ok: boolean, ar: AppendResult | null) => Step): Step {
    let inline = true;
    let result: Step | null = null;
    this.putInternal(msg, (status, ar) => {
      if (s.epoch !== this.epoch) return;
      const step = then(status === "PUT_OK", ar);
      if (inline) result = step;
      else this.continueWith(s, step);
    });
    inline = false;
    return result ?? "wait";
  }

  private waitThen(s: Scan, ms: number, then: () => Step): Step {
    this.rt.ctx.after(ms * 1000, () => {
      if (s.epoch === this.epoch) this.continueWith(s, then());
    });
    return "wait";
  }

  /** TransactionalMessageBridge.renewHalfMessageInner: flag, reconsumeTimes and the prepared offset are not carried over. */
  private renewHalfMessageInner(msg: DecodedMessage): MessageInput {
    return {
      topic: msg.topic,
      queueId: msg.queueId,
      body: msg.body,
      properties: { ...msg.properties },
      sysFlag: msg.sysFlag,
      bornTimestampMs: msg.bornTimestamp,
      bornHost: msg.bornHost,
      storeHost: msg.storeHost,
    };
  }

  // ---- the check listener (AbstractTransactionalMessageCheckListener, DefaultTransactionalMessageCheckListener) ----

  /** sendCheckMessage: asks one producer of the half's group about the copy just stored. */
  private sendCheckMessage(msg: DecodedMessage, copy: AppendResult): void {
    const group = msg.properties[PROPERTY_PRODUCER_GROUP];
    const uniqKey = msg.properties[PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX] ?? "";
    const channel = group === undefined ? null : this.getAvailableChannel(group);
    this.emit("txn.check", {
      checkTimes: Number(msg.properties[PROPERTY_TRANSACTION_CHECK_TIMES]),
      producerGroup: group ?? null,
      producer: channel === null ? null : channel.peerOf(this.rt.ctx.node).name,
      halfQueueOffset: copy.queueOffset,
      uniqKey,
    });
    if (channel === null) return;
    const message: PulledMessage = {
      msgId: copy.msgId,
      topic: msg.properties[PROPERTY_REAL_TOPIC] ?? msg.topic,
      queueId: Number(msg.properties[PROPERTY_REAL_QUEUE_ID] ?? msg.queueId),
      queueOffset: copy.queueOffset,
      body: msg.body,
      properties: { ...msg.properties },
      storeTimestampMs: msg.storeTimestamp,
      reconsumeTimes: msg.reconsumeTimes,
      physicalOffset: copy.wroteOffset,
    };
    const body: CheckTransactionStateBody = { tranStateTableOffset: copy.queueOffset, commitLogOffset: copy.wroteOffset, msgId: uniqKey, transactionId: uniqKey, message };
    this.rt.remoting.notify(channel, RequestCode.CHECK_TRANSACTION_STATE, body);
  }

  /** ProducerManager.getAvailableChannel: round-robin from a counter, skipping channels that are not open. */
  private getAvailableChannel(group: string): Connection | null {
    const channels = this.rt.producerChannels(group);
    if (channels.length === 0) return null;
    let index = ++this.channelCounter % channels.length;
    for (let count = 0; count <= GET_AVAILABLE_CHANNEL_RETRY_COUNT; count++) {
      const channel = channels[index]!;
      if (channel.isOpenFor(this.rt.ctx.node)) return channel;
      index = (index + 1) % channels.length;
    }
    return null;
  }

  /** resolveDiscardMsg: the half goes to TRANS_CHECK_MAX_TIME_TOPIC, where nobody reads it. */
  private resolveDiscardMsg(msg: DecodedMessage): void {
    this.rt.ensureTopic(TRANS_CHECK_MAX_TIME_TOPIC, 1);
    this.emit("txn.discard", {
      checkTimes: Number(msg.properties[PROPERTY_TRANSACTION_CHECK_TIMES] ?? 0),
      halfQueueOffset: msg.queueOffset,
      uniqKey: msg.properties[PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX] ?? "",
    });
    const inner: MessageInput = {
      topic: TRANS_CHECK_MAX_TIME_TOPIC,
      queueId: 0,
      body: msg.body,
      flag: msg.flag,
      properties: { ...msg.properties },
      sysFlag: msg.sysFlag,
      bornHost: msg.bornHost,
      bornTimestampMs: msg.bornTimestamp,
      storeHost: msg.storeHost,
      reconsumeTimes: msg.reconsumeTimes,
    };
    this.putInternal(inner, () => {});
  }

  // ---- END_TRANSACTION (EndTransactionProcessor) ----

  private onEndTransaction(req: RemotingRequest, conn: Connection): null {
    const b = req.body as EndTransactionBody;
    const reply = (code: number, remark?: string): void => this.rt.remoting.reply(conn, req, code, null, remark);
    if (!this.rt.isMaster()) {
      reply(ResponseCode.SLAVE_NOT_AVAILABLE, "Message store is slave mode, so end transaction is forbidden.");
      return null;
    }
    const base = { outcome: b.commitOrRollback, fromTransactionCheck: b.fromTransactionCheck, halfQueueOffset: b.tranStateTableOffset, commitLogOffset: b.commitLogOffset };
    // A pending answer changes nothing and gets no response.
    if (b.commitOrRollback === "UNKNOW") {
      this.emit("txn.end", base);
      return null;
    }
    const half = this.rt.store.lookupMessageByOffset(b.commitLogOffset);
    const error = half === null ? "Find prepared transaction message failed" : this.rejectCommitOrRollback(b, half) ? "ILLEGAL_OPERATION" : this.checkPrepareMessage(half, b);
    if (error !== null || half === null) {
      this.emit("txn.end", { ...base, error });
      reply(error === "ILLEGAL_OPERATION" ? ILLEGAL_OPERATION : ResponseCode.SYSTEM_ERROR, error ?? undefined);
      return null;
    }
    if (b.commitOrRollback === "COMMIT") {
      this.commitMessage(b, half, (status) => {
        this.emit("txn.end", { ...base, status });
        reply(FINAL_PUT_OK.has(status) ? ResponseCode.SUCCESS : ResponseCode.SYSTEM_ERROR, status);
      });
      return null;
    }
    this.deletePrepareMessage(half);
    this.emit("txn.end", base);
    reply(ResponseCode.SUCCESS);
    return null;
  }

  /** 5.x rejectCommitOrRollback: a producer's own END_TRANSACTION later than the half's CHECK_IMMUNITY_TIME is refused. */
  private rejectCommitOrRollback(b: EndTransactionBody, half: DecodedMessage): boolean {
    if (this.v4 || b.fromTransactionCheck) return false;
    const text = half.properties[PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS];
    if (text === undefined || text.length === 0) return false;
    return this.nowMs() - half.bornTimestamp > getImmunityTime(text, this.timeoutMs);
  }

  /** checkPrepareMessage: the record at that CommitLog offset must be this group's half at that queue offset. */
  private checkPrepareMessage(half: DecodedMessage, b: EndTransactionBody): string | null {
    // A record without PGROUP makes the real check throw; the request fails either way.
    if (half.properties[PROPERTY_PRODUCER_GROUP] !== b.producerGroup) return "The producer group wrong";
    if (half.queueOffset !== b.tranStateTableOffset) return "The transaction state table offset wrong";
    if (half.physicalOffset !== b.commitLogOffset) return "The commit log offset wrong";
    return null;
  }

  /**
   * COMMIT: the real message goes to its topic through the send path's put,
   * and only a put that stored it writes the op record.
   */
  private commitMessage(b: EndTransactionBody, half: DecodedMessage, cb: (status: BrokerPutStatus) => void): void {
    const inner = this.endMessageTransaction(half, b);
    if (inner === null) {
      cb("MESSAGE_ILLEGAL");
      return;
    }
    this.rt.putMessage(inner, (status) => {
      if (FINAL_PUT_OK.has(status)) this.deletePrepareMessage(half);
      cb(status);
    });
  }

  /**
   * endMessageTransaction. The real code encodes the properties string
   * before it clears REAL_TOPIC, REAL_QID and TRAN_MSG, and sets WAIT=false
   * before it replaces the property map with the half's, so the committed
   * message is stored with every property of the half and waits for flush
   * and slave as the producer's message asked. Both are kept here.
   */
  private endMessageTransaction(half: DecodedMessage, b: EndTransactionBody): MessageInput | null {
    const topic = half.properties[PROPERTY_REAL_TOPIC];
    const queueId = getLong(half.properties[PROPERTY_REAL_QUEUE_ID] ?? "");
    if (topic === undefined || queueId < 0) return null;
    return {
      topic,
      queueId,
      body: half.body,
      flag: half.flag,
      properties: { ...half.properties },
      bornTimestampMs: half.bornTimestamp,
      bornHost: half.bornHost,
      storeHost: half.storeHost,
      reconsumeTimes: half.reconsumeTimes,
      sysFlag: resetTransactionValue(half.sysFlag, TRANSACTION_COMMIT_TYPE),
      preparedTransactionOffset: b.commitLogOffset,
    };
  }

  /** deletePrepareMessage: 4.x writes the op record now; 5.x hands it to TransactionalOpBatchService. */
  private deletePrepareMessage(half: DecodedMessage): void {
    if (this.v4) this.writeOp(String(half.queueOffset));
    else this.addOpData(`${half.queueOffset}${OFFSET_SEPARATOR}`);
  }

  /** TransactionalMessageBridge.writeOp / makeOpMessageInner: tag `d`, to op queue 0, without waiting. */
  private writeOp(body: string): void {
    const op: MessageInput = {
      topic: RMQ_SYS_TRANS_OP_HALF_TOPIC,
      queueId: QUEUE_ID,
      body: asciiBytes(body),
      // new Message(topic, "d", body) sets WAIT=true; the later WAIT=false reaches only the map.
      properties: { [PROPERTY_TAGS]: REMOVE_TAG, [PROPERTY_WAIT_STORE_MSG_OK]: "true" },
      sysFlag: 0,
      bornTimestampMs: this.nowMs(),
      bornHost: this.rt.ctx.name,
      storeHost: this.rt.ctx.name,
    };
    this.putInternal(op, () => {});
  }

  // ---- 5.x TransactionalOpBatchService ----

  /** 5.x deletePrepareMessage: queue the op data; a full queue forces a write with it at once. */
  private addOpData(data: string): void {
    const c = (this.opContext ??= { entries: [], totalSize: 0, lastWriteMs: this.nowMs() });
    if (c.entries.length < OP_CONTEXT_QUEUE_LENGTH) {
      c.entries.push(data);
      c.totalSize += data.length;
      if (c.totalSize > TRANSACTION_OP_MSG_MAX_SIZE) this.wakeOpBatch();
      else this.armOpBatch();
      return;
    }
    const body = this.getOpMessage(data);
    if (body !== null) this.writeOp(body);
    this.wakeOpBatch();
  }

  /** getOpMessage: `moreData` and queued entries up to transactionOpMsgMaxSize characters. */
  private getOpMessage(moreData: string | null): string | null {
    const c = this.opContext!;
    let sb = moreData ?? "";
    while (c.entries.length > 0 && sb.length < TRANSACTION_OP_MSG_MAX_SIZE) sb += c.entries.shift()!;
    if (sb.length === 0) return null;
    c.totalSize -= sb.length - (moreData?.length ?? 0);
    c.lastWriteMs = this.nowMs();
    return sb;
  }

  /** ServiceThread.wakeup: the batch runs now. */
  private wakeOpBatch(): void {
    this.rt.ctx.cancel(this.opBatchTimer);
    this.opBatchWakeUs = this.rt.ctx.now;
    this.opBatchTimer = this.rt.ctx.after(0, () => this.runOpBatch(true));
  }

  /**
   * The real thread wakes every transactionOpBatchInterval whether or not
   * anything waits; wake-ups with nothing queued change nothing, so a timer
   * is set only while something is queued, on the same grid.
   */
  private armOpBatch(): void {
    if (this.opBatchTimer !== null) return;
    const now = this.rt.ctx.now;
    const intervalUs = TRANSACTION_OP_BATCH_INTERVAL_MS * 1000;
    if (this.opBatchWakeUs < now) this.opBatchWakeUs += Math.ceil((now - this.opBatchWakeUs) / intervalUs) * intervalUs;
    this.opBatchTimer = this.rt.ctx.after(this.opBatchWakeUs - now, () => this.runOpBatch(true));
  }

  /**
   * batchSendOpMessage: writes the queued op data once transactionOpMsgMaxSize
   * characters wait or transactionOpBatchInterval has passed since the last
   * write, then sleeps one interval (none when still over size).
   */
  private runOpBatch(rearm: boolean): void {
    this.opBatchTimer = null;
    const c = this.opContext;
    let overSize = false;
    const startMs = this.nowMs();
    if (c !== null && c.totalSize > 0 && c.entries.length > 0 && !(c.totalSize < TRANSACTION_OP_MSG_MAX_SIZE && startMs - c.lastWriteMs < TRANSACTION_OP_BATCH_INTERVAL_MS)) {
      const body = this.getOpMessage(null);
      if (body !== null) this.writeOp(body);
      overSize = c.totalSize >= TRANSACTION_OP_MSG_MAX_SIZE;
    }
    this.opBatchWakeUs = overSize ? this.rt.ctx.now : this.rt.ctx.now + TRANSACTION_OP_BATCH_INTERVAL_MS * 1000;
    if (!rearm || c === null || c.entries.length === 0) return;
    if (overSize) this.wakeOpBatch();
    else this.armOpBatch();
  }

  // ---- the drain check ----

  /**
   * Half messages past the check offset that no op record names. Entries
   * before the check offset are done: ended, discarded, or superseded by
   * the copy a check appended. Op records are read incrementally.
   */
  pendingHalf(): number {
    if (!this.rt.isMaster()) return 0;
    const half = this.fetchConsumeOffset(RMQ_SYS_TRANS_HALF_TOPIC);
    const max = this.rt.store.getMaxOffsetInQueue(RMQ_SYS_TRANS_HALF_TOPIC, QUEUE_ID);
    if (max <= half) return 0;
    const idx = this.refreshOpIndex(half);
    let ended = 0;
    for (const h of idx.halves) if (h >= half && h < max) ended++;
    return Math.max(0, max - half - ended);
  }

  private refreshOpIndex(half: number): OpIndex {
    let idx = this.opIndex;
    if (idx === null || half < idx.prunedBelow) {
      idx = { readTo: this.fetchConsumeOffset(RMQ_SYS_TRANS_OP_HALF_TOPIC), halves: new Set(), prunedBelow: half };
      this.opIndex = idx;
    }
    if (half > idx.prunedBelow) {
      for (const h of [...idx.halves]) if (h < half) idx.halves.delete(h);
      idx.prunedBelow = half;
    }
    const max = this.rt.store.getMaxOffsetInQueue(RMQ_SYS_TRANS_OP_HALF_TOPIC, QUEUE_ID);
    while (idx.readTo < max) {
      const pr = this.pull(RMQ_SYS_TRANS_OP_HALF_TOPIC, idx.readTo, OP_MSG_PULL_NUMS);
      for (const op of pr.msgFoundList ?? []) {
        if (op.properties[PROPERTY_TAGS] !== REMOVE_TAG) continue;
        for (const h of opOffsets(op)) if (h >= half) idx.halves.add(h);
      }
      if (pr.nextBeginOffset <= idx.readTo) break;
      idx.readTo = pr.nextBeginOffset;
    }
    return idx;
  }
}
