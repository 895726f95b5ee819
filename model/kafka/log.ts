import type { Disk } from "../../sim/disk.js";
import { EpochCache, type EpochEndOffset } from "./epoch-cache.js";
import { ProducerStateTable } from "./producer-state.js";
import { decodeBatchAt, type Batch } from "./records.js";

/** The log settings a partition's log needs (server.properties names in KafkaConfig). */
export interface LogSettings {
  /** log.segment.bytes */
  segmentBytes: number;
  /** log.flush.interval.messages */
  flushIntervalMessages: number;
}

interface Segment {
  baseOffset: number;
  file: string;
  /** Bytes written to the file. */
  size: number;
}

/** What recovery found, for the `kafka.recover` trace event. */
export interface RecoveryReport {
  recoveryPoint: number;
  logEndOffset: number;
  /** Bytes cut from the tail because they did not hold valid batches. */
  truncatedBytes: number;
  /** Batches past the first bad one whose bytes still checked out; they are dropped too. */
  droppedValid: Batch[];
}

const NO_BATCHES: readonly Batch[] = Object.freeze([]);

export function segmentFileName(dir: string, baseOffset: number): string {
  return `${dir}/${String(baseOffset).padStart(20, "0")}.log`;
}

/**
 * One replica's log of one partition (UnifiedLog over LocalLog): segment
 * files of record batches on the node's simulated disk, plus in memory the
 * batch index, the log end offset (LEO), the high watermark (HW), the
 * recovery point, the leader epoch cache and the producer state.
 *
 * Invariants: hw <= leo; recoveryPoint <= leo; `batches` are contiguous
 * from logStartOffset to leo, in offset order.
 *
 * Nothing is fsynced on append: like Kafka by default the data sits in the
 * page cache until `log.flush.interval.*`, a segment roll, or the kernel's
 * own writeback makes it durable. The recovery point only moves when a flush
 * has completed.
 */
export class PartitionLog {
  batches: Batch[] = [];
  /** Byte position of batches[i] in its segment file. */
  private positions: number[] = [];
  /** Index in `segments` of the segment holding batches[i]. */
  private segmentOf: number[] = [];
  private segments: Segment[] = [];
  readonly logStartOffset = 0;
  leo = 0;
  hw = 0;
  recoveryPoint = 0;
  readonly epochs: EpochCache;
  readonly producers = new ProducerStateTable();
  /** Highest offset a flush in progress will make durable. */
  private flushingTo = 0;
  /** Callbacks waiting for the flushes in progress to complete. */
  private flushWaiters: Array<() => void> = [];

  private constructor(
    private readonly disk: Disk,
    readonly dir: string,
    private readonly settings: LogSettings,
    private readonly alive: () => boolean,
  ) {
    this.epochs = new EpochCache(disk, dir, alive);
  }

  /** A log with nothing on disk yet. */
  static create(disk: Disk, dir: string, settings: LogSettings, alive: () => boolean): PartitionLog {
    return new PartitionLog(disk, dir, settings, alive);
  }

  /**
   * Opens a log after a restart (LogLoader). Every restart in the simulated
   * fault model is unclean (a kill or a power loss; there is no controlled
   * shutdown and so no `.kafka_cleanshutdown` marker), so the log is read
   * batch by batch and cut at the first batch that is incomplete, fails its
   * CRC, or does not continue the offsets; later segments are deleted.
   * Kafka checks only the segments from the recovery point on and trusts
   * the earlier ones; this model must decode those anyway to rebuild its
   * in-memory index, and since they were fsynced the same checks pass on
   * them, so the outcome is the same. The HW comes from the checkpoint,
   * capped at the recovered LEO.
   */
  static load(disk: Disk, dir: string, settings: LogSettings, alive: () => boolean, recoveryPoint: number, checkpointedHw: number): { log: PartitionLog; report: RecoveryReport } {
    const log = new PartitionLog(disk, dir, settings, alive);
    const files = disk.list(`${dir}/`).filter((f) => f.endsWith(".log"));
    let truncatedBytes = 0;
    const droppedValid: Batch[] = [];
    let broken = false;
    for (const file of files) {
      const baseOffset = Number(file.slice(dir.length + 1, -4));
      if (broken) {
        // Everything after the first bad batch goes, valid or not (LogLoader deletes later segments).
        const data = disk.readAll(file);
        truncatedBytes += data.length;
        for (let at = 0; ; ) {
          const r = decodeBatchAt(data, at);
          if ("error" in r) break;
          droppedValid.push(r.batch);
          at += r.size;
        }
        disk.remove(file);
        continue;
      }
      const seg: Segment = { baseOffset, file, size: 0 };
      const segIndex = log.segments.length;
      log.segments.push(seg);
      const data = disk.readAll(file);
      let at = 0;
      while (at < data.length) {
        const r = decodeBatchAt(data, at);
        if ("error" in r || r.batch.baseOffset !== log.leo) {
          broken = true;
          break;
        }
        log.batches.push(r.batch);
        log.positions.push(at);
        log.segmentOf.push(segIndex);
        log.leo = r.batch.lastOffset + 1;
        at += r.size;
      }
      seg.size = at;
      if (at < data.length) {
        truncatedBytes += data.length - at;
        for (let pos = at; ; ) {
          const r = decodeBatchAt(data, pos);
          if ("error" in r) break;
          if (pos !== at || r.batch.baseOffset !== log.leo) droppedValid.push(r.batch);
          pos += r.size;
        }
        disk.truncate(file, at);
      }
    }
    log.recoveryPoint = Math.min(recoveryPoint, log.leo);
    log.flushingTo = log.recoveryPoint;
    log.hw = Math.min(checkpointedHw, log.leo);
    log.epochs.truncateFromEnd(log.leo);
    // LogSegment.recover: epochs the recovered batches carry beyond the checkpointed cache are added.
    for (const b of log.batches) if (b.epoch > log.epochs.latestEpoch()) log.epochs.assign(b.epoch, b.baseOffset);
    log.producers.rebuild(log.batches);
    return { log, report: { recoveryPoint: log.recoveryPoint, logEndOffset: log.leo, truncatedBytes, droppedValid } };
  }

  latestEpoch(): number {
    return this.epochs.latestEpoch();
  }

  endOffsetForEpoch(epoch: number): EpochEndOffset {
    return this.epochs.endOffsetFor(epoch, this.leo);
  }

  /** Appends a batch whose offsets are already assigned; a new epoch starts in the epoch cache. */
  append(batch: Batch): void {
    if (batch.baseOffset !== this.leo) throw new Error(`log ${this.dir}: append at ${batch.baseOffset}, LEO is ${this.leo}`);
    if (batch.epoch >= 0 && batch.epoch > this.epochs.latestEpoch()) this.epochs.assign(batch.epoch, batch.baseOffset);
    let seg = this.segments[this.segments.length - 1];
    if (seg === undefined || (seg.size > 0 && seg.size + batch.bytes.length > this.settings.segmentBytes)) seg = this.roll(batch.baseOffset);
    this.disk.write(seg.file, seg.size, batch.bytes);
    this.batches.push(batch);
    this.positions.push(seg.size);
    this.segmentOf.push(this.segments.length - 1);
    seg.size += batch.bytes.length;
    this.leo = batch.lastOffset + 1;
    this.producers.update(batch);
    if (this.leo - this.flushingTo >= this.settings.flushIntervalMessages) this.flush();
  }

  /**
   * Starts a new active segment. As in LocalLog.roll, the segments before it
   * are flushed asynchronously, and the recovery point moves to the new
   * segment's base offset once they are durable.
   */
  private roll(baseOffset: number): Segment {
    const seg: Segment = { baseOffset, file: segmentFileName(this.dir, baseOffset), size: 0 };
    this.disk.create(seg.file);
    this.segments.push(seg);
    if (this.segments.length > 1) this.flush(baseOffset);
    return seg;
  }

  /**
   * fsyncs every segment holding offsets below `upTo` (default: the LEO)
   * and then advances the recovery point (UnifiedLog.flush).
   */
  flush(upTo = this.leo): void {
    if (upTo <= this.flushingTo) return;
    this.flushingTo = upTo;
    // Only segments holding offsets past the recovery point can have anything unflushed (LocalLog.flush).
    const files: string[] = [];
    for (let i = 0; i < this.segments.length; i++) {
      const s = this.segments[i]!;
      const nextBase = this.segments[i + 1]?.baseOffset ?? Number.POSITIVE_INFINITY;
      if (s.baseOffset < upTo && nextBase > this.recoveryPoint) files.push(s.file);
    }
    let left = files.length;
    let failed = false;
    const done = (r?: { ok: boolean }): void => {
      if (r !== undefined && !r.ok) failed = true;
      if (--left > 0 || !this.alive()) return;
      if (failed) {
        // The data is not known to be durable, so the recovery point stays (Kafka would take the
        // log directory offline); the flush may be asked for again.
        this.flushingTo = this.recoveryPoint;
      } else {
        this.recoveryPoint = Math.max(this.recoveryPoint, Math.min(upTo, this.leo));
      }
      if (!this.flushInFlight()) {
        const waiters = this.flushWaiters;
        this.flushWaiters = [];
        for (const w of waiters) w();
      }
    };
    if (left === 0) {
      this.recoveryPoint = Math.max(this.recoveryPoint, Math.min(upTo, this.leo));
      return;
    }
    for (const f of files) {
      if (this.disk.exists(f)) this.disk.fsync(f, done);
      else done();
    }
  }

  /** True while a flush has been started and not completed. */
  flushInFlight(): boolean {
    return this.flushingTo > this.recoveryPoint;
  }

  /**
   * Runs `fn` once the flushes in progress are durable, or now if there are
   * none. Kafka flushes inside the append that reaches
   * log.flush.interval.messages, so whatever answers that append (an acks=1
   * reply, a follower's next fetch) comes after the fsync.
   */
  whenFlushed(fn: () => void): void {
    if (!this.flushInFlight()) fn();
    else this.flushWaiters.push(fn);
  }

  /**
   * Batches from the one holding `fromOffset`, stopping before any batch
   * that reaches `maxOffset` (exclusive) and once `maxBytes` is passed (at
   * least one batch is returned, as Kafka returns an oversized first batch).
   */
  read(fromOffset: number, maxOffset: number, maxBytes: number): readonly Batch[] {
    // Most long-poll reads find nothing; they share one empty, frozen answer.
    if (fromOffset >= this.leo || fromOffset >= maxOffset) return NO_BATCHES;
    const out: Batch[] = [];
    let i = this.indexOf(fromOffset);
    let bytes = 0;
    for (; i < this.batches.length; i++) {
      const b = this.batches[i]!;
      if (b.lastOffset >= maxOffset) break;
      if (out.length > 0 && bytes + b.bytes.length > maxBytes) break;
      out.push(b);
      bytes += b.bytes.length;
    }
    return out;
  }

  /** Index of the batch holding `offset` (binary search); `batches.length` if none. */
  private indexOf(offset: number): number {
    let lo = 0;
    let hi = this.batches.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.batches[mid]!.lastOffset < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Removes every batch holding an offset ≥ `offset`. A batch that straddles
   * `offset` goes whole, so the LEO may end below `offset`; targets come
   * from LEOs, HWs and epoch boundaries, which fall between batches unless
   * the replicas' logs already diverged. Returns the removed batches.
   */
  truncateTo(offset: number): Batch[] {
    if (offset >= this.leo) {
      // UnifiedLog.truncateTo: the epoch cache is cut at the log end even when no record goes. A
      // replica that led an epoch without appending anything holds that epoch's entry at its LEO,
      // and as a follower it must not keep presenting it as its last fetched epoch.
      this.epochs.truncateFromEnd(this.leo);
      return [];
    }
    const i = this.indexOf(offset);
    const removed = this.batches.slice(i);
    if (removed.length === 0) return removed;
    const seg = this.segmentOf[i]!;
    const pos = this.positions[i]!;
    for (let s = this.segments.length - 1; s > seg; s--) this.disk.remove(this.segments[s]!.file);
    this.segments.length = seg + 1;
    const active = this.segments[seg]!;
    this.disk.truncate(active.file, pos);
    active.size = pos;
    this.batches.length = i;
    this.positions.length = i;
    this.segmentOf.length = i;
    this.leo = i === 0 ? this.logStartOffset : this.batches[i - 1]!.lastOffset + 1;
    if (this.hw > this.leo) this.hw = this.leo;
    if (this.recoveryPoint > this.leo) this.recoveryPoint = this.leo;
    if (this.flushingTo > this.leo) this.flushingTo = this.leo;
    this.epochs.truncateFromEnd(this.leo);
    this.producers.rebuild(this.batches);
    return removed;
  }
}
