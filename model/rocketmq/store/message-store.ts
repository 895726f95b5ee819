import type { Disk } from "../../../sim/disk.js";
import type { NodeContext } from "../../../sim/node.js";
import { StoreCheckpoint } from "./checkpoint.js";
import {
  KEY_SEPARATOR,
  PROPERTY_DELAY_TIME_LEVEL,
  PROPERTY_KEYS,
  PROPERTY_REAL_QUEUE_ID,
  PROPERTY_REAL_TOPIC,
  PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX,
  PROPERTY_WAIT_STORE_MSG_OK,
  SCHEDULE_TOPIC,
  TRANSACTION_COMMIT_TYPE,
  TRANSACTION_NOT_TYPE,
  createMessageId,
  decodeMessage,
  parseHost,
  readInt32,
  transactionType,
  type DeliverTimestampFn,
  type DispatchRequest,
  type EncodeFields,
  type HostAddress,
} from "./codec.js";
import { CommitLog, RecordReader, type RecoveryOutcome } from "./commitlog.js";
import { consumeQueueFileSize, parseDelayLevels, type MessageStoreConfig } from "./config.js";
import { ConsumeQueue, CQ_STORE_UNIT_SIZE } from "./consumequeue.js";
import { rocketmqBodyCrc } from "./crc32.js";
import { IndexService } from "./indexfile.js";
import type {
  AppendResult,
  DecodedMessage,
  DispatchListener,
  FlushStatus,
  GetMessageResult,
  GetMessageStatus,
  MessageInput,
  PutMessageResult,
} from "./types.js";

export type * from "./types.js";

/** What recovery found at boot, for tests and the trace. */
export interface RecoveryReport {
  mode: "normal" | "abnormal";
  maxOffset: number;
  truncatedFrom?: number;
}

/** DefaultMessageStore.queryMessage's answer: messages at the offsets the index gave, keys NOT re-checked. */
export interface QueryMessageResult {
  messages: DecodedMessage[];
  indexLastUpdateTimestamp: number;
  indexLastUpdatePhyoffset: number;
}

/** The ConsumeQueue flush service's retry count at shutdown (FlushConsumeQueueService.RETRY_TIMES_OVER). */
const CQ_RETRY_TIMES_OVER = 3;

/**
 * DefaultMessageStore on the simulated disk: the CommitLog, the consume
 * queues built from it by the dispatcher, the index, the checkpoint, their
 * flush services, and crash recovery.
 *
 * Constructing it IS the broker's boot: it recovers from whatever
 * `ctx.disk` kept (abnormally if the abort file is there), then starts its
 * services and creates the abort file. `shutdown()` is the clean stop that
 * removes it. Every service runs on `ctx` timers, so a crash of the process
 * stops them all with it.
 *
 * The broker composes the put result: `putMessage` appends and answers at
 * once; `waitFlush` is the flush half of CommitLog.asyncPutMessage's
 * thenCombine, so an HA layer (SYNC_MASTER) can run its own wait next to it
 * and combine the two statuses, the replica one winning;
 * `putMessageAndWait` does the flush half alone.
 */
export class MessageStore {
  readonly cfg: MessageStoreConfig;
  readonly checkpoint: StoreCheckpoint;
  readonly commitLog: CommitLog;
  readonly indexService: IndexService;
  readonly recovery: RecoveryReport;
  private readonly ctx: NodeContext;
  private readonly disk: Disk;
  private readonly root: string;
  private readonly abortPath: string;
  private readonly consumeQueueTable = new Map<string, Map<number, ConsumeQueue>>();
  private readonly cqFileSize: number;
  private readonly isSlave: boolean;
  private readonly syncFlush: boolean;
  /** 5.3.2+: the dispatcher stops at confirmOffset. */
  private readonly dispatchToConfirmOffset: boolean;
  private readonly delayLevelTable: number[];
  readonly deliverTimestamp: DeliverTimestampFn;
  private readonly listeners: DispatchListener[] = [];
  /** ReputMessageService.reputFromOffset. Invariant: reputFromOffset <= the CommitLog's max offset. */
  private reputFromOffset = 0;
  private reputScheduled = false;
  /** DefaultMessageStore.shutdown: set when shutdown starts; puts are refused from then on. */
  private shutdownStarted = false;
  /** Services have stopped (shutdown finished). */
  private stopped = false;
  private cqFlushLastTimestampMs = Number.NEGATIVE_INFINITY;
  private readonly reputReader: RecordReader;

  constructor(ctx: NodeContext, cfg: MessageStoreConfig) {
    this.ctx = ctx;
    this.cfg = cfg;
    this.disk = ctx.disk;
    this.root = cfg.storePathRootDir;
    this.abortPath = `${this.root}/abort`;
    this.cqFileSize = consumeQueueFileSize(cfg);
    this.isSlave = cfg.brokerRole === "SLAVE";
    this.syncFlush = cfg.flushDiskType === "SYNC_FLUSH";
    this.dispatchToConfirmOffset = cfg.version !== "4.9.8";
    this.delayLevelTable = parseDelayLevels(cfg.messageDelayLevel);
    const maxLevel = this.delayLevelTable.length;
    this.deliverTimestamp = (level, storeTimestamp) => {
      // ScheduleMessageService.computeDeliverTimestamp, with the level capped as the dispatcher caps it.
      const delay = this.delayLevelTable[Math.min(level, maxLevel) - 1];
      return delay !== undefined ? storeTimestamp + delay : storeTimestamp + 1000;
    };
    // ---- DefaultMessageStore.load ----
    const lastExitOK = !this.disk.exists(this.abortPath);
    this.checkpoint = new StoreCheckpoint(this.disk, `${this.root}/checkpoint`, cfg.version !== "4.9.8");
    this.commitLog = new CommitLog(
      ctx,
      cfg,
      this.checkpoint,
      {
        onReadable: () => this.scheduleReput(),
        onFlushed: (flushedWhere) => {
          ctx.emit("store.flush", { flushedWhere });
          if (this.dispatchToConfirmOffset && this.syncFlush) this.scheduleReput();
        },
        onFlushError: (file) => ctx.emit("store.flushError", { file }),
      },
      this.deliverTimestamp,
    );
    this.commitLog.load();
    this.reputReader = new RecordReader(this.disk, "", 0, this.deliverTimestamp, this.commitLog.mirror);
    this.loadConsumeQueue();
    this.indexService = new IndexService(this.disk, this.root, cfg.maxHashSlotNum, cfg.maxIndexNum, this.checkpoint, () => Math.floor(ctx.now / 1000));
    this.indexService.load(lastExitOK);
    this.recovery = this.recover(lastExitOK);

    // ---- DefaultMessageStore.start ----
    this.start();
  }

  // ---- boot ------------------------------------------------------------------------------------

  private loadConsumeQueue(): void {
    const prefix = `${this.root}/consumequeue/`;
    const seen = new Set<string>();
    for (const path of this.disk.list(prefix)) {
      const rest = path.slice(prefix.length);
      const parts = rest.split("/");
      if (parts.length !== 3) continue;
      const [topic, qid] = parts as [string, string, string];
      if (!/^-?\d+$/.test(qid)) continue;
      const key = `${topic}/${qid}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const cq = this.createConsumeQueue(topic, Number(qid));
      cq.load();
    }
  }

  private recover(lastExitOK: boolean): RecoveryReport {
    // The consume queues recover first; the furthest CommitLog byte they reference decides whether they need trimming.
    let maxPhyOffsetOfConsumeQueue = -1;
    for (const cq of this.allConsumeQueues()) {
      cq.recover();
      if (cq.getMaxPhysicOffset() > maxPhyOffsetOfConsumeQueue) maxPhyOffsetOfConsumeQueue = cq.getMaxPhysicOffset();
    }
    const logics = {
      truncateDirtyLogicFiles: (phyOffset: number) => this.truncateDirtyLogicFiles(phyOffset),
      destroyLogics: () => {
        for (const cq of this.allConsumeQueues()) cq.destroy();
      },
    };
    let outcome: RecoveryOutcome;
    if (lastExitOK) outcome = this.commitLog.recoverNormally(maxPhyOffsetOfConsumeQueue, logics);
    else outcome = this.commitLog.recoverAbnormally(maxPhyOffsetOfConsumeQueue, logics, (req) => this.doDispatch(req));
    this.checkpoint.confirmPhyOffset = outcome.lastValidMsgPhyOffset;
    this.recoverTopicQueueTable();
    const report: RecoveryReport = { mode: lastExitOK ? "normal" : "abnormal", maxOffset: this.commitLog.getMaxOffset() };
    if (outcome.truncatedFrom !== undefined) report.truncatedFrom = outcome.truncatedFrom;
    this.ctx.emit("store.recover", { ...report });
    return report;
  }

  /** DefaultMessageStore.recoverTopicQueueTable: queue offsets continue from the consume queues' ends. */
  private recoverTopicQueueTable(): void {
    const table = new Map<string, number>();
    const minPhyOffset = this.commitLog.getMinOffset();
    for (const cq of this.allConsumeQueues()) {
      table.set(`${cq.topic}-${cq.queueId}`, cq.getMaxOffsetInQueue());
      cq.correctMinOffset(minPhyOffset);
    }
    this.commitLog.topicQueueTable = table;
  }

  private start(): void {
    // Dispatch resumes after the furthest byte any consume queue references.
    let maxPhysicalPosInLogicQueue = this.commitLog.getMinOffset();
    for (const cq of this.allConsumeQueues()) {
      if (cq.getMaxPhysicOffset() > maxPhysicalPosInLogicQueue) maxPhysicalPosInLogicQueue = cq.getMaxPhysicOffset();
    }
    if (maxPhysicalPosInLogicQueue < 0) maxPhysicalPosInLogicQueue = 0;
    if (maxPhysicalPosInLogicQueue < this.commitLog.getMinOffset()) maxPhysicalPosInLogicQueue = this.commitLog.getMinOffset();
    this.reputFromOffset = maxPhysicalPosInLogicQueue;
    // The real start() waits for the dispatcher to catch up before going on.
    for (let behind = this.dispatchBehindBytes(); behind > 0; ) {
      this.doReput();
      const now = this.dispatchBehindBytes();
      if (now >= behind) break;
      behind = now;
    }
    this.recoverTopicQueueTable();
    this.commitLog.start();
    this.ctx.after(this.cfg.flushIntervalConsumeQueue * 1000, () => this.cqFlushLoop());
    // createTempFile: the abort file says "running"; a clean shutdown deletes it.
    if (!this.disk.exists(this.abortPath)) this.disk.create(this.abortPath);
  }

  // ---- consume queue table ----------------------------------------------------------------------

  private createConsumeQueue(topic: string, queueId: number): ConsumeQueue {
    let m = this.consumeQueueTable.get(topic);
    if (m === undefined) {
      m = new Map();
      this.consumeQueueTable.set(topic, m);
    }
    const cq = new ConsumeQueue(this.disk, this.root, topic, queueId, this.cqFileSize);
    m.set(queueId, cq);
    return cq;
  }

  /** The queue if it exists. The real findConsumeQueue creates empty ones on reads too; an empty queue and no queue read alike. */
  private getConsumeQueue(topic: string, queueId: number): ConsumeQueue | undefined {
    return this.consumeQueueTable.get(topic)?.get(queueId);
  }

  private findOrCreateConsumeQueue(topic: string, queueId: number): ConsumeQueue {
    return this.getConsumeQueue(topic, queueId) ?? this.createConsumeQueue(topic, queueId);
  }

  /** Every queue, in creation order (deterministic, unlike the real ConcurrentHashMap). */
  private allConsumeQueues(): ConsumeQueue[] {
    const out: ConsumeQueue[] = [];
    for (const m of this.consumeQueueTable.values()) for (const cq of m.values()) out.push(cq);
    return out;
  }

  private truncateDirtyLogicFiles(phyOffset: number): void {
    for (const cq of this.allConsumeQueues()) cq.truncateDirtyLogicFiles(phyOffset);
  }

  // ---- put ---------------------------------------------------------------------------------------

  /**
   * DefaultMessageStore.asyncPutMessage up to the append: refuses puts on a
   * slave or a store shutting down (SERVICE_NOT_AVAILABLE) and illegal
   * messages, rewrites delayed messages to SCHEDULE_TOPIC_XXXX, appends.
   * PUT_OK here means appended, not yet flushed: see waitFlush.
   */
  putMessage(msg: MessageInput): PutMessageResult {
    if (this.shutdownStarted || this.isSlave) return { status: "SERVICE_NOT_AVAILABLE", appendResult: null };
    // checkMessage counts UTF-16 characters, as Java's String.length().
    if (msg.topic.length > 127) return { status: "MESSAGE_ILLEGAL", appendResult: null };
    let propChars = -1;
    for (const k in msg.properties) {
      const v = msg.properties[k];
      if (v !== undefined && v !== null) propChars += k.length + v.length + 2;
    }
    if (propChars > 32767) return { status: "MESSAGE_ILLEGAL", appendResult: null };

    const storeTimestamp = Math.floor(this.ctx.now / 1000);
    let topic = msg.topic;
    let queueId = msg.queueId;
    let properties = msg.properties;
    const sysFlag = msg.sysFlag ?? 0;
    const tranType = transactionType(sysFlag);
    if (tranType === TRANSACTION_NOT_TYPE || tranType === TRANSACTION_COMMIT_TYPE) {
      const delayText = properties[PROPERTY_DELAY_TIME_LEVEL];
      let delayLevel = delayText === undefined ? 0 : Number.parseInt(delayText, 10) || 0;
      if (delayLevel > 0) {
        // A delayed message waits in SCHEDULE_TOPIC_XXXX, queue level-1, with its real destination in properties.
        if (delayLevel > this.delayLevelTable.length) delayLevel = this.delayLevelTable.length;
        properties = { ...properties, [PROPERTY_DELAY_TIME_LEVEL]: String(delayLevel), [PROPERTY_REAL_TOPIC]: topic, [PROPERTY_REAL_QUEUE_ID]: String(queueId) };
        topic = SCHEDULE_TOPIC;
        queueId = delayLevel - 1;
      }
    }
    const storeHost = parseHost(msg.storeHost);
    const fields: EncodeFields = {
      topic,
      queueId,
      flag: msg.flag ?? 0,
      sysFlag,
      bornTimestamp: msg.bornTimestampMs,
      bornHost: parseHost(msg.bornHost),
      storeTimestamp,
      storeHost,
      reconsumeTimes: msg.reconsumeTimes ?? 0,
      preparedTransactionOffset: msg.preparedTransactionOffset ?? 0,
      body: msg.body,
      bodyCrc: rocketmqBodyCrc(msg.body),
      properties,
    };
    const r = this.commitLog.append(fields);
    if (typeof r === "string") return { status: r, appendResult: null };
    const appendResult = new StoredAppendResult(r.wroteOffset, r.wroteBytes, r.queueOffset, storeTimestamp, topic, queueId, storeHost, r.msgId);
    this.ctx.emit("store.append", { topic, queueId, queueOffset: r.queueOffset, offset: r.wroteOffset, size: r.wroteBytes });
    // SYNC_FLUSH without WAIT: nobody waits, but the group commit is woken to flush soon.
    if (this.syncFlush && !waitStoreMsgOK(msg)) this.commitLog.groupCommitService!.wakeup();
    return { status: "PUT_OK", appendResult };
  }

  /**
   * The flush half of the put result (submitFlushRequest): under SYNC_FLUSH,
   * `cb` runs with PUT_OK once the GroupCommitService has flushed past
   * `nextOffset` (wroteOffset + wroteBytes), or with FLUSH_DISK_TIMEOUT
   * after syncFlushTimeout; under ASYNC_FLUSH it runs at once with PUT_OK.
   */
  waitFlush(nextOffset: number, cb: (status: FlushStatus) => void): void {
    const gcs = this.commitLog.groupCommitService;
    if (gcs === null) {
      cb("PUT_OK");
      return;
    }
    gcs.putRequest(nextOffset, cb);
  }

  /**
   * putMessage then, for a message that waits (WAIT property absent or
   * "true") under SYNC_FLUSH, waitFlush; `cb` gets the combined result. A
   * FLUSH_DISK_TIMEOUT message is stored all the same.
   */
  putMessageAndWait(msg: MessageInput, cb: (r: PutMessageResult) => void): void {
    const r = this.putMessage(msg);
    const ar = r.appendResult;
    if (r.status !== "PUT_OK" || ar === null || !this.syncFlush || !waitStoreMsgOK(msg)) {
      cb(r);
      return;
    }
    this.waitFlush(ar.wroteOffset + ar.wroteBytes, (status) => cb({ status, appendResult: ar }));
  }

  // ---- dispatch (ReputMessageService) ----------------------------------------------------------

  /** Registers a MessageArrivingListener-style callback, run for each message dispatched on a non-slave. */
  onDispatch(listener: DispatchListener): void {
    this.listeners.push(listener);
  }

  /** How far the dispatcher may go: the write position in 4.x; confirmOffset from 5.3.2 (CommitLog.getConfirmOffset). */
  getDispatchBound(): number {
    if (this.dispatchToConfirmOffset && this.syncFlush) return this.commitLog.getFlushedWhere();
    return this.commitLog.getMaxOffset();
  }

  /** ReputMessageService.behind. */
  dispatchBehindBytes(): number {
    return this.getDispatchBound() - this.reputFromOffset;
  }

  getReputFromOffset(): number {
    return this.reputFromOffset;
  }

  /**
   * The real dispatcher polls every 1 ms; here a dispatch is scheduled 1 ms
   * after new data arrives, when none is pending, so idle time is free.
   */
  private scheduleReput(): void {
    if (this.reputScheduled || this.stopped || this.reputFromOffset >= this.getDispatchBound()) return;
    this.reputScheduled = true;
    this.ctx.after(1000, this.reputTick);
  }

  private readonly reputTick = (): void => {
    this.reputScheduled = false;
    if (this.stopped) return;
    this.doReput();
  };

  /** ReputMessageService.doReput */
  private doReput(): void {
    const cl = this.commitLog;
    if (this.reputFromOffset < cl.getMinOffset()) this.reputFromOffset = cl.getMinOffset();
    const bound = () => this.getDispatchBound();
    for (let doNext = true; this.reputFromOffset < bound() && doNext; ) {
      const f = cl.queue.findMappedFileByOffset(this.reputFromOffset, this.reputFromOffset === 0);
      if (f === null) break;
      const pos = this.reputFromOffset % cl.fileSize;
      const readPosition = f.readPosition;
      if (pos >= readPosition) break;
      this.reputFromOffset = f.fileFromOffset + pos;
      const size = readPosition - pos;
      const reader = this.reputReader;
      reader.reset(f.name, readPosition, f.fileFromOffset);
      for (let readSize = 0; readSize < size && this.reputFromOffset < bound() && doNext; ) {
        // A record this process appended is already decoded: the check would read the mirror's copy of the same bytes.
        const rec = cl.recent.get(f.fileFromOffset + pos + readSize);
        const r = rec !== undefined && pos + readSize + rec.dispatch.size <= readPosition ? rec.dispatch : reader.check(pos + readSize, false);
        const msgSize = r.kind === "blank" ? 0 : r.size;
        if (this.dispatchToConfirmOffset && this.reputFromOffset + msgSize > bound()) {
          doNext = false;
          break;
        }
        if (r.kind === "ok") {
          this.doDispatch(r);
          if (!this.isSlave) for (const l of this.listeners) l(r.topic, r.queueId, r.queueOffset + 1);
          this.reputFromOffset += r.size;
          readSize += r.size;
        } else if (r.kind === "blank") {
          this.reputFromOffset = cl.rollNextFile(this.reputFromOffset);
          readSize = size;
        } else if (r.size > 0) {
          // "[BUG]read total count not equals msg total size": skip the record.
          this.reputFromOffset += r.size;
          readSize += r.size;
        } else {
          doNext = false;
          // A master skips what it cannot parse; a slave waits for the rest of a partly replicated record.
          if (!this.isSlave) {
            this.ctx.emit("store.dispatchError", { offset: this.reputFromOffset });
            this.reputFromOffset += size - readSize;
          }
        }
      }
    }
  }

  /** DefaultMessageStore.doDispatch: the ConsumeQueue builder, then the index builder. */
  private doDispatch(req: DispatchRequest): void {
    const tranType = transactionType(req.sysFlag);
    if (tranType === TRANSACTION_NOT_TYPE || tranType === TRANSACTION_COMMIT_TYPE) {
      const cq = this.findOrCreateConsumeQueue(req.topic, req.queueId);
      const outcome = cq.putMessagePositionInfo(req.physicalOffset, req.size, req.tagsCode, req.queueOffset);
      if (outcome === "out-of-order") {
        this.ctx.emit("store.cqOutOfOrder", { topic: req.topic, queueId: req.queueId, queueOffset: req.queueOffset });
      }
      if (this.isSlave) this.checkpoint.physicMsgTimestamp = req.storeTimestamp;
      this.checkpoint.logicsMsgTimestamp = req.storeTimestamp;
    }
    if (this.cfg.messageIndexEnable) this.indexService.buildIndex(req);
  }

  // ---- ConsumeQueue flush service -------------------------------------------------------------------

  private cqFlushLoop(): void {
    if (this.stopped) return;
    this.doFlushConsumeQueues(1, () => {
      if (!this.stopped) this.ctx.after(this.cfg.flushIntervalConsumeQueue * 1000, () => this.cqFlushLoop());
    });
  }

  /**
   * FlushConsumeQueueService.doFlush: flush every queue with at least
   * flushConsumeQueueLeastPages dirty pages (all of them on a thorough round,
   * every flushConsumeQueueThoroughInterval, or at shutdown); after a
   * thorough round, record the logics timestamp taken before it and flush
   * the checkpoint.
   */
  private doFlushConsumeQueues(retryTimes: number, done: () => void): void {
    let leastPages = retryTimes === CQ_RETRY_TIMES_OVER ? 0 : this.cfg.flushConsumeQueueLeastPages;
    let logicsMsgTimestamp = 0;
    const nowMs = Math.floor(this.ctx.now / 1000);
    if (nowMs >= this.cqFlushLastTimestampMs + this.cfg.flushConsumeQueueThoroughInterval) {
      this.cqFlushLastTimestampMs = nowMs;
      leastPages = 0;
      logicsMsgTimestamp = this.checkpoint.logicsMsgTimestamp;
    }
    const queues = this.allConsumeQueues();
    let i = 0;
    let attempt = 0;
    const finish = () => {
      if (leastPages !== 0) return done();
      if (logicsMsgTimestamp > 0) this.checkpoint.logicsMsgTimestamp = logicsMsgTimestamp;
      this.checkpoint.flush(done);
    };
    const next = (result: boolean): void => {
      for (;;) {
        if (result || attempt >= retryTimes) {
          i++;
          attempt = 0;
          result = false;
        }
        if (i >= queues.length) return finish();
        attempt++;
        if (queues[i]!.flush(leastPages, next)) return;
        result = true;
      }
    };
    next(false);
  }

  // ---- reads --------------------------------------------------------------------------------------

  /**
   * DefaultMessageStore.getMessage (4.x): reads the consume queue from
   * `offset` (within one of its files), then each message from the
   * CommitLog, until maxMsgNums or the transfer limits for in-memory or
   * on-disk reads. `filter` is the tag check on the ConsumeQueue's tags code
   * (MessageFilter.isMatchedByConsumeQueue).
   *
   * The real store returns null once shutdown has begun; this one keeps
   * serving reads until the process stops.
   *
   * `project`, when given, builds what the caller keeps of each message
   * (say, its wire form) in place of the message itself. The message it is
   * handed may be shared with other readers (see RecentRecords): it must
   * not change it or keep it. Without `project` every message returned is
   * the caller's own object.
   */
  getMessage(group: string, topic: string, queueId: number, offset: number, maxMsgNums: number, filter?: (tagsCode: number) => boolean): GetMessageResult;
  getMessage<M>(
    group: string,
    topic: string,
    queueId: number,
    offset: number,
    maxMsgNums: number,
    filter: ((tagsCode: number) => boolean) | undefined,
    project: (m: Readonly<DecodedMessage>) => M,
  ): GetMessageResult<M>;
  getMessage(
    group: string,
    topic: string,
    queueId: number,
    offset: number,
    maxMsgNums: number,
    filter?: (tagsCode: number) => boolean,
    project?: (m: Readonly<DecodedMessage>) => unknown,
  ): GetMessageResult<unknown> {
    void group;
    let status: GetMessageStatus = "NO_MESSAGE_IN_QUEUE";
    let nextBeginOffset = offset;
    let minOffset = 0;
    let maxOffset = 0;
    let suggestPullingFromSlave = false;
    const messages: unknown[] = [];
    const maxOffsetPy = this.commitLog.getMaxOffset();
    const cq = this.getConsumeQueue(topic, queueId);
    if (cq !== undefined) {
      minOffset = cq.getMinOffsetInQueue();
      maxOffset = cq.getMaxOffsetInQueue();
    }
    if (maxOffset === 0) {
      status = "NO_MESSAGE_IN_QUEUE";
      nextBeginOffset = this.nextOffsetCorrection(offset, 0);
    } else if (offset < minOffset) {
      status = "OFFSET_TOO_SMALL";
      nextBeginOffset = this.nextOffsetCorrection(offset, minOffset);
    } else if (offset === maxOffset) {
      status = "OFFSET_OVERFLOW_ONE";
      nextBeginOffset = this.nextOffsetCorrection(offset, offset);
    } else if (offset > maxOffset) {
      status = "OFFSET_OVERFLOW_BADLY";
      nextBeginOffset = this.nextOffsetCorrection(offset, maxOffset);
    } else {
      const maxFilterMessageCount = Math.max(16000, maxMsgNums * CQ_STORE_UNIT_SIZE);
      const units = cq!.getIndexBuffer(offset, maxFilterMessageCount / CQ_STORE_UNIT_SIZE);
      if (units === null) {
        status = "OFFSET_FOUND_NULL";
        nextBeginOffset = this.nextOffsetCorrection(offset, cq!.rollNextFile(offset));
      } else {
        status = "NO_MATCHED_MESSAGE";
        let nextPhyFileStartOffset = Number.NEGATIVE_INFINITY;
        let maxPhyOffsetPulling = 0;
        let bufferTotal = 0;
        const memory = Math.floor(this.cfg.totalPhysicalMemorySizeBytes * (this.cfg.accessMessageInMemoryMaxRatio / 100));
        let i = 0;
        for (; i < units.length && i < maxFilterMessageCount; i += CQ_STORE_UNIT_SIZE) {
          const offsetPy = readInt32(units, i) * 4294967296 + (readInt32(units, i + 4) >>> 0);
          const sizePy = readInt32(units, i + 8);
          const tagsCode = readInt32(units, i + 12) * 4294967296 + (readInt32(units, i + 16) >>> 0);
          maxPhyOffsetPulling = offsetPy;
          if (offsetPy < nextPhyFileStartOffset) continue;
          const isInDisk = maxOffsetPy - offsetPy > memory;
          if (this.isTheBatchFull(sizePy, maxMsgNums, bufferTotal, messages.length, isInDisk)) break;
          if (filter !== undefined && !filter(tagsCode)) {
            if (bufferTotal === 0) status = "NO_MATCHED_MESSAGE";
            continue;
          }
          const rec = this.commitLog.recentRecord(offsetPy, sizePy);
          if (rec !== undefined) {
            // What decoding the bytes would give (see RecentRecords); without a projection, a fresh object per read, as decoding makes.
            messages.push(project === undefined ? { ...rec.message } : project(rec.message));
          } else {
            const bytes = this.commitLog.getMessage(offsetPy, sizePy);
            if (bytes === null) {
              if (bufferTotal === 0) status = "MESSAGE_WAS_REMOVING";
              nextPhyFileStartOffset = this.commitLog.rollNextFile(offsetPy);
              continue;
            }
            const m = decodeMessage(bytes, 0, bytes.length, this.deliverTimestamp);
            // The real broker ships the raw bytes and the client's decoder drops a record it cannot parse.
            if (m !== null) messages.push(project === undefined ? m : project(m));
          }
          bufferTotal += sizePy;
          status = "FOUND";
          nextPhyFileStartOffset = Number.NEGATIVE_INFINITY;
        }
        nextBeginOffset = offset + i / CQ_STORE_UNIT_SIZE;
        suggestPullingFromSlave = maxOffsetPy - maxPhyOffsetPulling > memory;
      }
    }
    return { status, messages, nextBeginOffset, minOffset, maxOffset, suggestPullingFromSlave };
  }

  /** DefaultMessageStore.nextOffsetCorrection: a slave leaves a bad offset alone unless offsetCheckInSlave. */
  private nextOffsetCorrection(oldOffset: number, newOffset: number): number {
    return !this.isSlave || this.cfg.offsetCheckInSlave ? newOffset : oldOffset;
  }

  /** DefaultMessageStore.isTheBatchFull (4.x) */
  private isTheBatchFull(sizePy: number, maxMsgNums: number, bufferTotal: number, messageTotal: number, isInDisk: boolean): boolean {
    if (bufferTotal === 0 || messageTotal === 0) return false;
    if (maxMsgNums <= messageTotal) return true;
    if (isInDisk) {
      if (bufferTotal + sizePy > this.cfg.maxTransferBytesOnMessageInDisk) return true;
      if (messageTotal > this.cfg.maxTransferCountOnMessageInDisk - 1) return true;
    } else {
      if (bufferTotal + sizePy > this.cfg.maxTransferBytesOnMessageInMemory) return true;
      if (messageTotal > this.cfg.maxTransferCountOnMessageInMemory - 1) return true;
    }
    return false;
  }

  /** The next queue offset to be written (ConsumeQueue.getMaxOffsetInQueue); 0 for an unknown queue. */
  getMaxOffsetInQueue(topic: string, queueId: number): number {
    return this.getConsumeQueue(topic, queueId)?.getMaxOffsetInQueue() ?? 0;
  }

  /** The first readable queue offset; 0 for an unknown queue (the real store creates it empty). */
  getMinOffsetInQueue(topic: string, queueId: number): number {
    return this.getConsumeQueue(topic, queueId)?.getMinOffsetInQueue() ?? 0;
  }

  /** CommitLog.getMaxOffset: the end of what readers (and the HA master) may see. */
  getMaxPhyOffset(): number {
    return this.commitLog.getMaxOffset();
  }

  getMinPhyOffset(): number {
    return this.commitLog.getMinOffset();
  }

  getFlushedWhere(): number {
    return this.commitLog.getFlushedWhere();
  }

  /** DefaultMessageStore.lookMessageByOffset: the message starting at a CommitLog offset, or null. */
  lookupMessageByOffset(phyOffset: number): DecodedMessage | null {
    const head = this.commitLog.getMessage(phyOffset, 4);
    if (head === null) return null;
    const size = readInt32(head, 0);
    if (size <= 0) return null;
    const bytes = this.commitLog.getMessage(phyOffset, size);
    if (bytes === null) return null;
    return decodeMessage(bytes, 0, bytes.length, this.deliverTimestamp);
  }

  /**
   * DefaultMessageStore.queryMessage: messages at the offsets the index
   * returns for `topic#key` stored within [beginMs, endMs]. The index only
   * stores key hashes, so these may include messages with other keys.
   */
  queryMessage(topic: string, key: string, maxNum: number, beginMs: number, endMs: number): QueryMessageResult {
    const out: QueryMessageResult = { messages: [], indexLastUpdateTimestamp: 0, indexLastUpdatePhyoffset: 0 };
    const limit = Math.min(maxNum, this.cfg.maxMsgsNumBatch);
    let lastQueryMsgTime = endMs;
    for (let pass = 0; pass < 3; pass++) {
      const q = this.indexService.queryOffset(topic, key, limit, beginMs, lastQueryMsgTime);
      if (q.phyOffsets.length === 0) break;
      q.phyOffsets.sort((a, b) => a - b);
      out.indexLastUpdateTimestamp = q.indexLastUpdateTimestamp;
      out.indexLastUpdatePhyoffset = q.indexLastUpdatePhyoffset;
      for (let m = 0; m < q.phyOffsets.length; m++) {
        const msg = this.lookupMessageByOffset(q.phyOffsets[m]!);
        if (msg === null) continue;
        if (m === 0) lastQueryMsgTime = msg.storeTimestamp;
        out.messages.push(msg);
      }
      if (out.messages.length > 0) break;
      if (lastQueryMsgTime < beginMs) break;
    }
    return out;
  }

  /**
   * A key query as a client runs it (MQAdminImpl.queryMessage): the store's
   * answer, keeping only messages of `topic` whose UNIQ_KEY or one of whose
   * KEYS really is `key`, since index hashes collide.
   */
  queryMessageByKey(topic: string, key: string, maxNum: number): DecodedMessage[] {
    const r = this.queryMessage(topic, key, maxNum, 0, Number.MAX_SAFE_INTEGER);
    return r.messages.filter((m) => {
      if (m.topic !== topic) return false;
      if (m.properties[PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX] === key) return true;
      const keys = m.properties[PROPERTY_KEYS];
      return keys !== undefined && keys.split(KEY_SEPARATOR).includes(key);
    });
  }

  // ---- replication hooks (HA) ------------------------------------------------------------------------

  /**
   * DefaultMessageStore.getCommitLogData for an HA master: bytes from
   * `fromOffset` to what readers may see of its file (unflushed included),
   * at most `maxBytes`; a read never crosses a file, so the slave's files
   * line up with the master's. Null when nothing is there.
   */
  readCommitLogBytes(fromOffset: number, maxBytes: number): Uint8Array | null {
    if (this.shutdownStarted) return null;
    const f = this.commitLog.queue.findMappedFileByOffset(fromOffset);
    if (f === null) return null;
    return this.commitLog.getData(fromOffset, maxBytes)?.bytes ?? null;
  }

  /**
   * DefaultMessageStore.appendToCommitLog with the HAClient's continuity
   * check: a slave accepts bytes only at its own max offset. An empty store
   * accepts any file-aligned start (the master sends "from the start of my
   * last file" to a new slave); the real one would also take an unaligned
   * start and write it at the wrong place, which the master never sends.
   * Accepted bytes are dispatched like local writes.
   */
  appendCommitLogBytes(startOffset: number, bytes: Uint8Array): boolean {
    if (this.shutdownStarted) return false;
    const maxPhy = this.getMaxPhyOffset();
    if (maxPhy !== 0) {
      if (startOffset !== maxPhy) return false;
    } else if (startOffset % this.commitLog.fileSize !== 0 || (this.commitLog.queue.files.length > 0 && startOffset !== 0)) {
      return false;
    }
    return this.commitLog.appendData(startOffset, bytes);
  }

  /**
   * DefaultMessageStore.truncateFiles (5.x): cuts the CommitLog back to
   * `offset`, which must be a record boundary, trims the consume queues,
   * and dispatches again from there. False when `offset` is not aligned.
   */
  truncateCommitLog(offset: number): boolean {
    if (offset >= this.getMaxPhyOffset()) return true;
    if (!this.isOffsetAligned(offset)) return false;
    const oldReputFromOffset = this.reputFromOffset;
    this.truncateDirtyLogicFiles(offset);
    this.commitLog.truncateDirtyFiles(offset);
    this.recoverTopicQueueTable();
    this.reputFromOffset = Math.min(oldReputFromOffset, offset);
    this.ctx.emit("store.truncate", { offset });
    return true;
  }

  /** DefaultMessageStore.isOffsetAligned: a valid record (or blank) starts at `offset`, or nothing is readable there. */
  isOffsetAligned(offset: number): boolean {
    const f = this.commitLog.queue.findMappedFileByOffset(offset, offset === 0);
    if (f === null) return true;
    const pos = offset % this.commitLog.fileSize;
    if (pos >= f.readPosition) return true;
    const r = this.commitLog.reader(f, f.readPosition).check(pos, true);
    return r.kind === "ok" || r.kind === "blank";
  }

  // ---- shutdown ---------------------------------------------------------------------------------------

  get isShutdown(): boolean {
    return this.shutdownStarted;
  }

  /**
   * DefaultMessageStore.shutdown: refuse puts at once, sleep 1 s (as the
   * real one does), then the CommitLog services' final commit and flush,
   * the dispatcher's last catch-up, a final flush of every consume queue
   * and of the checkpoint; if nothing is left undispatched, delete the
   * abort file so the next boot recovers normally. `cb(clean)` follows.
   */
  shutdown(cb?: (clean: boolean) => void): void {
    if (this.shutdownStarted) return;
    this.shutdownStarted = true;
    this.ctx.after(1_000_000, () => {
      this.commitLog.shutdown(() => {
        for (let behind = this.dispatchBehindBytes(); behind > 0; ) {
          this.doReput();
          const now = this.dispatchBehindBytes();
          if (now >= behind) break;
          behind = now;
        }
        this.stopped = true;
        this.doFlushConsumeQueues(CQ_RETRY_TIMES_OVER, () => {
          this.checkpoint.flush(() => {
            const clean = this.dispatchBehindBytes() === 0;
            if (clean) this.disk.remove(this.abortPath);
            this.ctx.emit("store.shutdown", { clean });
            cb?.(clean);
          });
        });
      });
    });
  }
}

/** AppendMessageResult: the message id is built only when asked for, as the real msgIdSupplier does. */
class StoredAppendResult implements AppendResult {
  constructor(
    readonly wroteOffset: number,
    readonly wroteBytes: number,
    readonly queueOffset: number,
    readonly storeTimestamp: number,
    readonly topic: string,
    readonly queueId: number,
    private readonly storeHost: HostAddress,
    /** The id, if the append already built it (decoding the record it wrote). */
    private id: string | null,
  ) {}

  get msgId(): string {
    if (this.id === null) this.id = createMessageId(this.storeHost, this.wroteOffset);
    return this.id;
  }
}

/** Message.isWaitStoreMsgOK: true unless the WAIT property says otherwise. */
function waitStoreMsgOK(msg: MessageInput): boolean {
  const v = msg.properties[PROPERTY_WAIT_STORE_MSG_OK];
  return v === undefined || v.toLowerCase() === "true";
}
