import type { Disk } from "../../../sim/disk.js";
import type { Timer } from "../../../sim/kernel.js";
import type { NodeContext } from "../../../sim/node.js";
import type { StoreCheckpoint } from "./checkpoint.js";
import {
  BORNHOST_V6_FLAG,
  END_FILE_MIN_BLANK_LENGTH,
  MESSAGE_MAGIC_CODE,
  MessageEncoder,
  PHYSICAL_OFFSET_POSITION,
  QUEUE_OFFSET_POSITION,
  SYSFLAG_POSITION,
  TRANSACTION_PREPARED_TYPE,
  TRANSACTION_ROLLBACK_TYPE,
  checkMessageAndReturnSize,
  decodeRecord,
  decodedFromFields,
  encodeBlank,
  readInt32,
  readInt64,
  transactionType,
  writeInt64,
  type CheckResult,
  type DecodedRecord,
  type DeliverTimestampFn,
  type DispatchRequest,
  type EncodeError,
  type EncodeFields,
} from "./codec.js";
import { transientStorePoolEffective, type MessageStoreConfig } from "./config.js";
import { MappedFileQueue, TailMirror, type MappedFile } from "./mapped-file-queue.js";
import { RecentRecords } from "./recent-records.js";
import type { FlushStatus } from "./types.js";

/** What an append wrote (AppendMessageResult with status PUT_OK). */
export interface AppendOutcome {
  wroteOffset: number;
  wroteBytes: number;
  queueOffset: number;
  /** The record's message id, when the append decoded the record (the string createMessageId gives); else null. */
  msgId: string | null;
}

/** How CommitLog recovery ended. */
export interface RecoveryOutcome {
  /** Where the valid CommitLog ends: the new max offset. */
  processOffset: number;
  /** Set when bytes or files past processOffset were discarded. */
  truncatedFrom?: number;
  /** Start of the last valid message (5.x persists it as confirmPhyOffset). */
  lastValidMsgPhyOffset: number;
}

/** What the CommitLog needs from the store around it. */
export interface CommitLogHooks {
  /** New bytes became readable (the max offset moved): the dispatcher may have work. */
  onReadable(): void;
  /** flushedWhere moved. */
  onFlushed(flushedWhere: number): void;
  /** A device error on fsync, which RocketMQ only logs. */
  onFlushError(file: string): void;
}

const CHUNK_BYTES = 1024 * 1024;
const NO_BYTES = new Uint8Array(0);
/** How much of the newest CommitLog bytes the process keeps at hand (see TailMirror). */
const MIRROR_BYTES = 4 * 1024 * 1024;

/**
 * Reads CommitLog records from one file through a window of the page
 * cache, so walking a large file does not copy it whole. Where the
 * CommitLog's mirror holds the bytes, the window is the mirror itself.
 */
export class RecordReader {
  private buf: Uint8Array = NO_BYTES;
  /** File position bufStart is at buf[bufOff]. */
  private bufOff = 0;
  private bufStart = 0;
  private bufLen = 0;
  private mirrorGeneration = -1;

  constructor(
    private readonly disk: Disk,
    private name: string,
    /** Readers see nothing at or past this position. */
    private limit: number,
    private readonly deliverTimestamp: DeliverTimestampFn,
    private readonly mirror: TailMirror | null = null,
    private fileFromOffset = 0,
  ) {}

  /** Points the reader at another file (or a longer limit), dropping its window. */
  reset(name: string, limit: number, fileFromOffset: number): void {
    this.name = name;
    this.limit = limit;
    this.fileFromOffset = fileFromOffset;
    this.buf = NO_BYTES;
    this.bufOff = 0;
    this.bufStart = 0;
    this.bufLen = 0;
    this.mirrorGeneration = -1;
  }

  private ensure(pos: number, n: number): void {
    const want = Math.min(n, this.limit - pos);
    const m = this.mirror;
    if (this.mirrorGeneration !== -1 && (m === null || m.generation !== this.mirrorGeneration)) this.bufLen = 0;
    if (pos >= this.bufStart && pos + want <= this.bufStart + this.bufLen) return;
    if (m !== null) {
      const i = m.indexOf(this.fileFromOffset + pos, Math.max(want, 0));
      if (i >= 0) {
        this.buf = m.buf;
        this.bufOff = i;
        this.bufStart = pos;
        this.bufLen = Math.min(m.len - i, this.limit - pos);
        this.mirrorGeneration = m.generation;
        return;
      }
    }
    const length = Math.min(Math.max(n, CHUNK_BYTES), this.limit - pos);
    this.buf = length > 0 ? this.disk.read(this.name, pos, length) : NO_BYTES;
    this.bufOff = 0;
    this.bufStart = pos;
    this.bufLen = this.buf.length;
    this.mirrorGeneration = -1;
  }

  /** checkMessageAndReturnSize for the record at `pos` of this file. */
  check(pos: number, checkCRC: boolean): CheckResult {
    if (pos >= this.limit) return { kind: "end", size: -1 };
    this.ensure(pos, 8);
    let off = this.bufOff + pos - this.bufStart;
    let avail = Math.min(this.bufStart + this.bufLen - pos, this.limit - pos);
    if (avail >= 8) {
      const total = readInt32(this.buf, off);
      if (readInt32(this.buf, off + 4) === MESSAGE_MAGIC_CODE && total > avail) {
        this.ensure(pos, total);
        off = this.bufOff + pos - this.bufStart;
        avail = Math.min(this.bufStart + this.bufLen - pos, this.limit - pos);
      }
    }
    // Recovery and dispatch need only the properties dispatch uses.
    return checkMessageAndReturnSize(this.buf, off, Math.max(avail, 0), checkCRC, this.deliverTimestamp, false);
  }
}

/**
 * The CommitLog: one log of every message of every topic, in rolling files
 * under store/commitlog/ named by start offset. A record never spans files:
 * when it does not fit, an 8-byte blank record closes the file.
 */
export class CommitLog {
  readonly queue: MappedFileQueue;
  /** topic-queueId → next queue offset (CommitLog.topicQueueTable). */
  topicQueueTable = new Map<string, number>();
  readonly encoder: MessageEncoder;
  readonly fileSize: number;
  readonly mirror: TailMirror;
  /** The decoded form of the newest appends (a simulator-only cache, lost with the process). */
  readonly recent: RecentRecords;
  private readonly transient: boolean;
  readonly flushService: FlushRealTimeService | null;
  readonly groupCommitService: GroupCommitService | null;
  readonly commitService: CommitRealTimeService | null;

  constructor(
    private readonly ctx: NodeContext,
    private readonly cfg: MessageStoreConfig,
    private readonly checkpoint: StoreCheckpoint,
    private readonly hooks: CommitLogHooks,
    private readonly deliverTimestamp: DeliverTimestampFn,
  ) {
    this.fileSize = cfg.mappedFileSizeCommitLog;
    this.transient = transientStorePoolEffective(cfg);
    this.mirror = new TailMirror(Math.min(this.fileSize, MIRROR_BYTES));
    this.recent = new RecentRecords(this.mirror);
    this.queue = new MappedFileQueue(ctx.disk, `${cfg.storePathRootDir}/commitlog`, this.fileSize, this.transient, this.mirror);
    this.encoder = new MessageEncoder(cfg.maxMessageSize);
    if (cfg.flushDiskType === "SYNC_FLUSH") {
      this.groupCommitService = new GroupCommitService(ctx, this, cfg, checkpoint);
      this.flushService = null;
    } else {
      this.flushService = new FlushRealTimeService(ctx, this, cfg, checkpoint);
      this.groupCommitService = null;
    }
    this.commitService = this.transient ? new CommitRealTimeService(ctx, this, cfg) : null;
  }

  load(): void {
    this.queue.load();
  }

  /** Starts the flush (and, with the pool, commit) services. */
  start(): void {
    this.flushService?.start();
    this.commitService?.start();
  }

  getMaxOffset(): number {
    return this.queue.getMaxOffset();
  }

  getMinOffset(): number {
    return this.queue.getMinOffset();
  }

  getFlushedWhere(): number {
    return this.queue.flushedWhere;
  }

  /** CommitLog.rollNextFile: the start of the file after the one holding `offset`. */
  rollNextFile(offset: number): number {
    return offset + this.fileSize - (offset % this.fileSize);
  }

  // ---- append -----------------------------------------------------------------------------------

  /** Interned "topic-queueId" keys, so a put does not build the string each time. */
  private readonly queueKeys = new Map<string, string[]>();

  private queueKey(topic: string, queueId: number): string {
    let keys = this.queueKeys.get(topic);
    if (keys === undefined) {
      keys = [];
      this.queueKeys.set(topic, keys);
    }
    if (queueId >= 0 && queueId < 1024) return (keys[queueId] ??= `${topic}-${queueId}`);
    return `${topic}-${queueId}`;
  }

  /**
   * Encodes and appends one message (asyncPutMessage under the put lock,
   * DefaultAppendMessageCallback.doAppend). Returns the encoder's error
   * status when the message is refused.
   */
  append(fields: EncodeFields): AppendOutcome | EncodeError {
    const err = this.encoder.encode(fields);
    if (err !== null) return err;
    const buf = this.encoder.buffer;
    const msgLen = this.encoder.length;
    const key = this.queueKey(fields.topic, fields.queueId);
    let f = this.queue.getLastMappedFile();
    if (f === null || f.isFull()) f = this.queue.getLastMappedFileOrCreate(0);
    let outcome = this.doAppend(f, buf, msgLen, key, fields);
    if (outcome === null) {
      // END_OF_FILE: the blank closed that file; the message goes at the start of a new one.
      f = this.queue.getLastMappedFileOrCreate(0);
      outcome = this.doAppend(f, buf, msgLen, key, fields);
      if (outcome === null) throw new Error(`store: a ${msgLen}-byte message does not fit a ${this.fileSize}-byte CommitLog file`);
    }
    this.afterAppend();
    return outcome;
  }

  /** DefaultAppendMessageCallback.doAppend; null means END_OF_FILE. */
  private doAppend(f: MappedFile, buf: Uint8Array, msgLen: number, key: string, fields: EncodeFields): AppendOutcome | null {
    const wroteOffset = f.fileFromOffset + f.wrotePosition;
    let queueOffset = this.topicQueueTable.get(key);
    if (queueOffset === undefined) {
      queueOffset = 0;
      this.topicQueueTable.set(key, 0);
    }
    const tranType = transactionType(fields.sysFlag);
    // Prepared and rollback messages are never consumed, so they take no queue offset.
    if (tranType === TRANSACTION_PREPARED_TYPE || tranType === TRANSACTION_ROLLBACK_TYPE) queueOffset = 0;
    const maxBlank = this.fileSize - f.wrotePosition;
    if (msgLen + END_FILE_MIN_BLANK_LENGTH > maxBlank) {
      this.queue.write(f, f.wrotePosition, encodeBlank(maxBlank));
      // The blank "wrote" maxBlank bytes: the write position jumps to the end of the file.
      f.wrotePosition += maxBlank;
      if (f.writeBuffer === null) f.committedPosition = f.wrotePosition;
      f.storeTimestamp = fields.storeTimestamp;
      return null;
    }
    writeInt64(buf, QUEUE_OFFSET_POSITION, queueOffset);
    writeInt64(buf, PHYSICAL_OFFSET_POSITION, wroteOffset);
    this.queue.write(f, f.wrotePosition, buf, msgLen);
    // The record's decoded form, for the dispatcher and the pulls that will read it: built from the fields when
    // they are sure to decode back unchanged, otherwise decoded from the bytes just written.
    const decoded =
      decodedFromFields(fields, msgLen, queueOffset, wroteOffset, this.deliverTimestamp) ?? decodeRecord(buf, 0, msgLen, this.deliverTimestamp);
    if (decoded !== null) this.recent.add(wroteOffset, decoded);
    f.wrotePosition += msgLen;
    if (f.writeBuffer === null) f.committedPosition = f.wrotePosition;
    f.storeTimestamp = fields.storeTimestamp;
    if (tranType !== TRANSACTION_PREPARED_TYPE && tranType !== TRANSACTION_ROLLBACK_TYPE) this.topicQueueTable.set(key, queueOffset + 1);
    return { wroteOffset, wroteBytes: msgLen, queueOffset, msgId: decoded === null ? null : decoded.message.msgId };
  }

  /** submitFlushRequest's wake-ups that do not depend on the message. */
  private afterAppend(): void {
    if (this.commitService !== null) {
      this.commitService.wakeup();
    } else {
      this.flushService?.wakeup();
      this.groupCommitService?.poke();
      this.hooks.onReadable();
    }
  }

  /**
   * CommitLog.appendData, for a slave: raw bytes replicated from the master,
   * written at the current end of the last file (or a new one). False when
   * they do not fit in that file.
   */
  appendData(startOffset: number, data: Uint8Array): boolean {
    const f = this.queue.getLastMappedFileOrCreate(startOffset);
    if (f.wrotePosition + data.length > this.fileSize) return false;
    this.queue.write(f, f.wrotePosition, data);
    f.wrotePosition += data.length;
    if (f.writeBuffer === null) f.committedPosition = f.wrotePosition;
    this.groupCommitService?.poke();
    this.hooks.onReadable();
    return true;
  }

  // ---- reads ------------------------------------------------------------------------------------

  /**
   * CommitLog.getMessage(offset, size): the record's bytes, or null if not
   * (or no longer) readable. Like the real SelectMappedBufferResult, the
   * bytes may be a view of memory the next append changes: use them at once.
   */
  getMessage(offset: number, size: number): Uint8Array | null {
    const f = this.queue.findMappedFileByOffset(offset, offset === 0);
    if (f === null) return null;
    return this.queue.view(f, offset % this.fileSize, size);
  }

  /**
   * The cached decoded record for getMessage(offset, size), when that read
   * would return the mirror's bytes of a record this process appended, of
   * exactly `size` bytes: decoding them would give the cached fields.
   * Undefined otherwise, and then the caller reads the bytes as usual.
   */
  recentRecord(offset: number, size: number): DecodedRecord | undefined {
    // The checks of getMessage and MappedFileQueue.view, in the same order.
    const f = this.queue.findMappedFileByOffset(offset, offset === 0);
    if (f === null) return undefined;
    const pos = offset % this.fileSize;
    if (pos < 0 || size < 0 || pos + size > f.readPosition) return undefined;
    const rec = this.recent.get(f.fileFromOffset + pos);
    return rec !== undefined && rec.dispatch.size === size ? rec : undefined;
  }

  /** A reader over one CommitLog file up to `limit`, using the mirror where it can. */
  reader(f: MappedFile, limit: number): RecordReader {
    return new RecordReader(this.ctx.disk, f.name, limit, this.deliverTimestamp, this.mirror, f.fileFromOffset);
  }

  /**
   * CommitLog.getData: from `offset` to what readers may see of its file,
   * at most `maxBytes`. Null when no file holds the offset or nothing is
   * readable there.
   */
  getData(offset: number, maxBytes: number): { startOffset: number; bytes: Uint8Array } | null {
    const f = this.queue.findMappedFileByOffset(offset, offset === 0);
    if (f === null) return null;
    const pos = offset % this.fileSize;
    const readPosition = f.readPosition;
    if (pos < 0 || pos >= readPosition) return null;
    const bytes = this.queue.read(f, pos, Math.min(readPosition - pos, maxBytes));
    return bytes === null ? null : { startOffset: f.fileFromOffset + pos, bytes };
  }

  // ---- flush & commit -----------------------------------------------------------------------------

  /**
   * One MappedFileQueue.flush(leastPages). Returns false when no fsync was
   * needed; otherwise `cb` runs when it completes.
   */
  flush(leastPages: number, cb: () => void): boolean {
    return this.queue.flush(leastPages, (result, ok, file) => {
      if (!ok) this.hooks.onFlushError(file);
      if (!result) this.hooks.onFlushed(this.queue.flushedWhere);
      cb();
    });
  }

  /** One MappedFileQueue.commit(leastPages); tells the dispatcher when bytes became readable. */
  commit(leastPages: number): boolean {
    const result = this.queue.commit(leastPages);
    if (!result) this.hooks.onReadable();
    return result;
  }

  /**
   * The services' last acts at shutdown (CommitRealTimeService and the flush
   * service after their loops end): commit everything, then flush until a
   * flush moves nothing, at most RETRY_TIMES_OVER = 10 times each.
   */
  shutdown(cb: () => void): void {
    this.commitService?.stop();
    this.flushService?.stop();
    this.groupCommitService?.stop();
    const afterInFlight = () => {
      if (this.commitService !== null) for (let i = 0; i < 10 && !this.commit(0); i++);
      let attempts = 0;
      const step = () => {
        if (attempts++ >= 10) return finish();
        if (!this.flush(0, () => (this.queue.flushedWhere >= this.getMaxOffset() ? finish() : step()))) finish();
      };
      const finish = () => {
        this.groupCommitService?.completeAll();
        cb();
      };
      step();
    };
    this.queue.whenFlushIdle(afterInFlight);
  }

  // ---- truncation & recovery ---------------------------------------------------------------------

  /** CommitLog.truncateDirtyFiles (5.x): rewinds to `offset`, deleting later files. */
  truncateDirtyFiles(offset: number): void {
    if (offset <= this.queue.flushedWhere) this.queue.flushedWhere = offset;
    if (offset <= this.queue.committedWhere) this.queue.committedWhere = offset;
    this.queue.truncateDirtyFiles(offset);
  }

  /**
   * CommitLog.recoverNormally (4.x): after a clean shutdown, walk from the
   * third-to-last file with CRC checks and cut everything after the first
   * invalid record.
   */
  recoverNormally(maxPhyOffsetOfConsumeQueue: number, logics: RecoveryLogics): RecoveryOutcome {
    const files = this.queue.files;
    if (files.length === 0) return this.recoverEmpty(logics);
    return this.walk(Math.max(0, files.length - 3), maxPhyOffsetOfConsumeQueue, logics, null);
  }

  /**
   * CommitLog.recoverAbnormally (4.x): after a crash, start at the newest
   * file whose first message is older than the checkpoint allows
   * (min(physic, logics) - 3 s, or the index time too with
   * messageIndexSafe), re-dispatch every valid message from there, and cut
   * at the first invalid record.
   */
  recoverAbnormally(maxPhyOffsetOfConsumeQueue: number, logics: RecoveryLogics, dispatch: (req: DispatchRequest) => void): RecoveryOutcome {
    const files = this.queue.files;
    if (files.length === 0) return this.recoverEmpty(logics);
    let index = files.length - 1;
    for (; index >= 0; index--) if (this.isMappedFileMatchedRecover(files[index]!)) break;
    if (index < 0) index = 0;
    return this.walk(index, maxPhyOffsetOfConsumeQueue, logics, dispatch);
  }

  private recoverEmpty(logics: RecoveryLogics): RecoveryOutcome {
    // The CommitLog files are gone: the consume queues point at nothing.
    this.queue.flushedWhere = 0;
    this.queue.committedWhere = 0;
    logics.destroyLogics();
    return { processOffset: 0, lastValidMsgPhyOffset: 0 };
  }

  private walk(startIndex: number, maxPhyOffsetOfConsumeQueue: number, logics: RecoveryLogics, dispatch: ((req: DispatchRequest) => void) | null): RecoveryOutcome {
    const files = this.queue.files;
    const checkCRC = this.cfg.checkCRCOnRecover;
    let index = startIndex;
    let f = files[index]!;
    let reader = new RecordReader(this.ctx.disk, f.name, this.fileSize, this.deliverTimestamp);
    let processOffset = f.fileFromOffset;
    let mappedFileOffset = 0;
    let lastValidMsgPhyOffset = 0;
    let stoppedOnBadRecord = false;
    for (;;) {
      const r = reader.check(mappedFileOffset, checkCRC);
      if (r.kind === "ok") {
        lastValidMsgPhyOffset = processOffset + mappedFileOffset;
        mappedFileOffset += r.size;
        if (dispatch !== null) dispatch(r);
      } else if (r.kind === "blank") {
        // The end of a file: its blank is not part of the valid data if nothing follows.
        index++;
        if (index >= files.length) break;
        f = files[index]!;
        reader = new RecordReader(this.ctx.disk, f.name, this.fileSize, this.deliverTimestamp);
        processOffset = f.fileFromOffset;
        mappedFileOffset = 0;
      } else {
        stoppedOnBadRecord = true;
        break;
      }
    }
    processOffset += mappedFileOffset;
    let truncated = index + 1 < files.length;
    if (stoppedOnBadRecord && this.ctx.disk.size(f.name) > mappedFileOffset) truncated = true;
    this.queue.flushedWhere = processOffset;
    this.queue.committedWhere = processOffset;
    this.queue.truncateDirtyFiles(processOffset);
    // Clear ConsumeQueue units that point past the end.
    if (maxPhyOffsetOfConsumeQueue >= processOffset) logics.truncateDirtyLogicFiles(processOffset);
    const out: RecoveryOutcome = { processOffset, lastValidMsgPhyOffset };
    if (truncated) out.truncatedFrom = processOffset;
    return out;
  }

  /** CommitLog.isMappedFileMatchedRecover */
  private isMappedFileMatchedRecover(f: MappedFile): boolean {
    const head = this.ctx.disk.read(f.name, 0, 96);
    if (head.length < 72) return false;
    if (readInt32(head, 4) !== MESSAGE_MAGIC_CODE) return false;
    const sysFlag = readInt32(head, SYSFLAG_POSITION);
    const bornHostLength = (sysFlag & BORNHOST_V6_FLAG) === 0 ? 8 : 20;
    const storeTimestamp = readInt64(head, 48 + bornHostLength);
    if (storeTimestamp === 0) return false;
    const bound = this.cfg.messageIndexEnable && this.cfg.messageIndexSafe ? this.checkpoint.getMinTimestampIndex() : this.checkpoint.getMinTimestamp();
    return storeTimestamp <= bound;
  }
}

/** What CommitLog recovery does to the consume queues. */
export interface RecoveryLogics {
  truncateDirtyLogicFiles(phyOffset: number): void;
  destroyLogics(): void;
}

/**
 * ServiceThread.waitForRunning / wakeup on the virtual clock. A wakeup while
 * the service waits ends the wait at once; a wakeup while it runs makes its
 * next wait return at once. The loop body always runs in its own event, never
 * inside the caller of wakeup.
 */
class ServiceLoop {
  private notified = false;
  private waiting = false;
  private timer: Timer | null = null;
  stopped = false;

  constructor(
    private readonly ctx: NodeContext,
    private readonly body: () => void,
  ) {}

  /** Waits `intervalUs` (or, with null, until woken) and then runs the body. */
  waitForRunning(intervalUs: number | null): void {
    if (this.stopped) return;
    if (this.notified) {
      this.notified = false;
      this.timer = this.ctx.after(0, this.run);
      return;
    }
    this.waiting = true;
    this.timer = intervalUs === null ? null : this.ctx.after(intervalUs, this.run);
  }

  wakeup(): void {
    if (this.stopped) return;
    if (this.waiting) {
      this.ctx.cancel(this.timer);
      this.timer = this.ctx.after(0, this.run);
      this.waiting = false;
    } else {
      this.notified = true;
    }
  }

  /** True while waiting with no timeout: nothing will run until a wakeup. */
  get idle(): boolean {
    return this.waiting && this.timer === null;
  }

  /** While idle, bounds the wait to `intervalUs` from now. */
  arm(intervalUs: number): void {
    if (this.idle && !this.stopped) this.timer = this.ctx.after(intervalUs, this.run);
  }

  stop(): void {
    this.stopped = true;
    this.ctx.cancel(this.timer);
    this.timer = null;
  }

  private readonly run = (): void => {
    this.timer = null;
    this.waiting = false;
    if (this.stopped) return;
    this.body();
  };
}

/**
 * FlushRealTimeService (ASYNC_FLUSH): each round decides whether it is a
 * thorough one (flushCommitLogThoroughInterval elapsed: flush whatever is
 * dirty), sleeps flushIntervalCommitLog, then flushes one file if at least
 * flushCommitLogLeastPages pages are dirty (any, if thorough). Runs on a
 * fixed cadence whether or not there is data, as the real thread does.
 */
export class FlushRealTimeService {
  private lastFlushTimestampMs = Number.NEGATIVE_INFINITY;
  private leastPages = 0;
  private readonly loop: ServiceLoop;

  constructor(
    private readonly ctx: NodeContext,
    private readonly commitLog: CommitLog,
    private readonly cfg: MessageStoreConfig,
    private readonly checkpoint: StoreCheckpoint,
  ) {
    this.loop = new ServiceLoop(ctx, () => this.flushRound());
  }

  start(): void {
    this.roundStart();
  }

  private roundStart(): void {
    let leastPages = this.cfg.flushCommitLogLeastPages;
    const nowMs = Math.floor(this.ctx.now / 1000);
    if (nowMs >= this.lastFlushTimestampMs + this.cfg.flushCommitLogThoroughInterval) {
      this.lastFlushTimestampMs = nowMs;
      leastPages = 0;
    }
    this.leastPages = leastPages;
    // flushCommitLogTimed: Thread.sleep, which puts do not interrupt; otherwise waitForRunning, which they do.
    this.loop.waitForRunning(this.cfg.flushIntervalCommitLog * 1000);
  }

  private flushRound(): void {
    if (!this.commitLog.flush(this.leastPages, () => this.roundEnd())) this.roundEnd();
  }

  private roundEnd(): void {
    const storeTimestamp = this.commitLog.queue.storeTimestamp;
    if (storeTimestamp > 0) this.checkpoint.physicMsgTimestamp = storeTimestamp;
    this.roundStart();
  }

  /** submitFlushRequest's wakeup: only shortens the sleep when flushCommitLogTimed is false. */
  wakeup(): void {
    if (!this.cfg.flushCommitLogTimed) this.loop.wakeup();
  }

  stop(): void {
    this.loop.stop();
  }
}

/**
 * CommitRealTimeService (transient store pool): copies the write buffer to
 * the page cache when at least commitCommitLogLeastPages pages are pending,
 * or whatever is pending once commitCommitLogThoroughInterval has passed
 * since the last commit. Every put wakes it, so it checks after each one.
 */
export class CommitRealTimeService {
  private lastCommitTimestampMs = Number.NEGATIVE_INFINITY;
  private readonly loop: ServiceLoop;

  constructor(
    private readonly ctx: NodeContext,
    private readonly commitLog: CommitLog,
    private readonly cfg: MessageStoreConfig,
  ) {
    this.loop = new ServiceLoop(ctx, () => this.round());
  }

  start(): void {
    this.round();
  }

  private round(): void {
    let leastPages = this.cfg.commitCommitLogLeastPages;
    const beginMs = Math.floor(this.ctx.now / 1000);
    if (beginMs >= this.lastCommitTimestampMs + this.cfg.commitCommitLogThoroughInterval) {
      this.lastCommitTimestampMs = beginMs;
      leastPages = 0;
    }
    if (!this.commitLog.commit(leastPages)) {
      // Something was committed: the flusher may go (it ignores the wakeup when it sleeps on a timer).
      this.lastCommitTimestampMs = Math.floor(this.ctx.now / 1000);
      this.commitLog.flushService?.wakeup();
    }
    this.loop.waitForRunning(this.cfg.commitIntervalCommitLog * 1000);
  }

  wakeup(): void {
    this.loop.wakeup();
  }

  stop(): void {
    this.loop.stop();
  }
}

/** A put waiting for its bytes to be flushed (GroupCommitRequest). */
export class GroupCommitRequest {
  done = false;

  constructor(
    readonly nextOffset: number,
    readonly deadlineUs: number,
    private readonly cb: (status: FlushStatus) => void,
  ) {}

  /** wakeupCustomer: the first completion wins, as with a CompletableFuture. */
  complete(status: FlushStatus): void {
    if (this.done) return;
    this.done = true;
    this.cb(status);
  }
}

/**
 * GroupCommitService (SYNC_FLUSH): puts queue requests; the service waits
 * at most 10 ms (or until a request wakes it), swaps the request lists, and
 * for each request flushes (up to twice, as the message may sit in the next
 * file) until flushedWhere passes the request's end, then completes it
 * PUT_OK, or FLUSH_DISK_TIMEOUT if two flushes were not enough.
 * FlushDiskWatcher independently completes requests whose syncFlushTimeout
 * has passed with FLUSH_DISK_TIMEOUT; the message is stored either way.
 *
 * The real thread polls every 10 ms and flushes whatever is there; here it
 * sleeps while nothing is unflushed, and arms the 10 ms poll when data
 * arrives without a request (a put with WAIT=false, a slave append).
 */
export class GroupCommitService {
  private requestsWrite: GroupCommitRequest[] = [];
  private requestsRead: GroupCommitRequest[] = [];
  private readIndex = 0;
  private attempts = 0;
  private readonly loop: ServiceLoop;
  /** FlushDiskWatcher's queue, in deadline order (every request has the same timeout). */
  private watch: GroupCommitRequest[] = [];
  private watchHead = 0;
  private watchTimer: Timer | null = null;

  constructor(
    private readonly ctx: NodeContext,
    private readonly commitLog: CommitLog,
    private readonly cfg: MessageStoreConfig,
    private readonly checkpoint: StoreCheckpoint,
  ) {
    this.loop = new ServiceLoop(ctx, () => this.doCommit());
    this.loop.waitForRunning(null);
  }

  putRequest(nextOffset: number, cb: (status: FlushStatus) => void): void {
    const req = new GroupCommitRequest(nextOffset, this.ctx.now + this.cfg.syncFlushTimeout * 1000, cb);
    this.addToWatcher(req);
    this.requestsWrite.push(req);
    this.loop.wakeup();
  }

  /** The wakeup a put with WAIT=false gives: flush soon, nobody waits. */
  wakeup(): void {
    this.loop.wakeup();
  }

  /** New unflushed bytes: make sure the 10 ms poll will see them. */
  poke(): void {
    this.loop.arm(10_000);
  }

  private doCommit(): void {
    // onWaitEnd: swap the lists.
    const tmp = this.requestsWrite;
    this.requestsWrite = this.requestsRead;
    this.requestsRead = tmp;
    this.readIndex = 0;
    this.attempts = 0;
    if (this.requestsRead.length === 0) {
      // Messages that did not ask to wait still get flushed.
      if (!this.commitLog.flush(0, () => this.roundEnd())) this.roundEnd();
      return;
    }
    this.processRequests();
  }

  private processRequests(): void {
    const flushedWhere = () => this.commitLog.queue.flushedWhere;
    while (this.readIndex < this.requestsRead.length) {
      const req = this.requestsRead[this.readIndex]!;
      const flushOK = flushedWhere() >= req.nextOffset;
      if (flushOK || this.attempts >= 2) {
        req.complete(flushOK ? "PUT_OK" : "FLUSH_DISK_TIMEOUT");
        this.readIndex++;
        this.attempts = 0;
        continue;
      }
      this.attempts++;
      if (this.commitLog.flush(0, () => this.processRequests())) return;
    }
    const storeTimestamp = this.commitLog.queue.storeTimestamp;
    if (storeTimestamp > 0) this.checkpoint.physicMsgTimestamp = storeTimestamp;
    this.requestsRead = [];
    this.roundEnd();
  }

  private roundEnd(): void {
    // waitForRunning(10): with unflushed bytes left, poll again in 10 ms; otherwise sleep until woken.
    const pending = this.commitLog.queue.remainToFlush() > 0;
    this.loop.waitForRunning(pending ? 10_000 : null);
  }

  // ---- FlushDiskWatcher ----

  private addToWatcher(req: GroupCommitRequest): void {
    this.watch.push(req);
    if (this.watchTimer === null) this.watchTimer = this.ctx.at(req.deadlineUs, this.onWatch);
  }

  private readonly onWatch = (): void => {
    this.watchTimer = null;
    while (this.watchHead < this.watch.length) {
      const req = this.watch[this.watchHead]!;
      if (!req.done && req.deadlineUs > this.ctx.now) {
        this.watchTimer = this.ctx.at(req.deadlineUs, this.onWatch);
        break;
      }
      if (!req.done) req.complete("FLUSH_DISK_TIMEOUT");
      this.watchHead++;
    }
    if (this.watchHead >= this.watch.length) {
      this.watch = [];
      this.watchHead = 0;
    } else if (this.watchHead > 1024) {
      this.watch = this.watch.slice(this.watchHead);
      this.watchHead = 0;
    }
  };

  /** Completes every open request by where the flush got to (the service's last doCommit at shutdown). */
  completeAll(): void {
    for (const req of [...this.requestsRead.slice(this.readIndex), ...this.requestsWrite]) {
      req.complete(this.commitLog.queue.flushedWhere >= req.nextOffset ? "PUT_OK" : "FLUSH_DISK_TIMEOUT");
    }
    this.requestsRead = [];
    this.requestsWrite = [];
  }

  stop(): void {
    this.loop.stop();
  }
}
