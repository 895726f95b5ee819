import type { Disk } from "../../../sim/disk.js";
import { readInt32, readInt64, writeInt32, writeInt64 } from "./codec.js";
import { MappedFileQueue, TailMirror, type MappedFile } from "./mapped-file-queue.js";

/** ConsumeQueue.CQ_STORE_UNIT_SIZE: commitlog offset 8, size 4, tags code 8. */
export const CQ_STORE_UNIT_SIZE = 20;

/**
 * How much of its newest units a ConsumeQueue keeps at hand in process
 * memory (see TailMirror): a consumer that keeps up reads only those, so
 * its pulls copy nothing from the simulated disk.
 */
const CQ_MIRROR_BYTES = 16 * 1024;

/** What putMessagePositionInfo did with a unit, for tracing and tests. */
export type PutUnitOutcome = "appended" | "duplicate" | "out-of-order";

/**
 * One (topic, queueId) ConsumeQueue: files of 20-byte units under
 * store/consumequeue/<topic>/<queueId>/, unit n at byte 20n.
 */
export class ConsumeQueue {
  readonly queue: MappedFileQueue;
  /** The end (offset + size) of the last message indexed; units ending at or below it are duplicates. */
  maxPhysicOffset = -1;
  /** Byte offset of the first readable unit (raised by fillPreBlank and correctMinOffset). */
  minLogicOffset = 0;
  private readonly unit = new Uint8Array(CQ_STORE_UNIT_SIZE);

  constructor(
    private readonly disk: Disk,
    rootDir: string,
    readonly topic: string,
    readonly queueId: number,
    readonly fileSize: number,
  ) {
    this.queue = new MappedFileQueue(disk, `${rootDir}/consumequeue/${topic}/${queueId}`, fileSize, false, new TailMirror(Math.min(fileSize, CQ_MIRROR_BYTES)));
  }

  load(): void {
    this.queue.load();
  }

  /**
   * ConsumeQueue.recover: scans from the third-to-last file and stops at the
   * first unit with offset < 0 or size <= 0; everything past it is cut.
   */
  recover(): void {
    const files = this.queue.files;
    if (files.length === 0) return;
    let index = Math.max(0, files.length - 3);
    let f = files[index]!;
    let processOffset = f.fileFromOffset;
    let mappedFileOffset = 0;
    for (;;) {
      const data = this.readWhole(f.name);
      mappedFileOffset = 0;
      for (let i = 0; i < this.fileSize; i += CQ_STORE_UNIT_SIZE) {
        const offset = i + CQ_STORE_UNIT_SIZE <= data.length ? readInt64(data, i) : 0;
        const size = i + CQ_STORE_UNIT_SIZE <= data.length ? readInt32(data, i + 8) : 0;
        if (offset >= 0 && size > 0) {
          mappedFileOffset = i + CQ_STORE_UNIT_SIZE;
          this.maxPhysicOffset = offset + size;
        } else {
          break;
        }
      }
      if (mappedFileOffset === this.fileSize && index + 1 < files.length) {
        index++;
        f = files[index]!;
        processOffset = f.fileFromOffset;
        continue;
      }
      break;
    }
    processOffset += mappedFileOffset;
    this.queue.flushedWhere = processOffset;
    this.queue.committedWhere = processOffset;
    this.queue.truncateDirtyFiles(processOffset);
  }

  private readWhole(name: string): Uint8Array {
    return this.disk.read(name, 0, this.fileSize);
  }

  getMinOffsetInQueue(): number {
    return Math.floor(this.minLogicOffset / CQ_STORE_UNIT_SIZE);
  }

  getMaxOffsetInQueue(): number {
    return Math.floor(this.queue.getMaxOffset() / CQ_STORE_UNIT_SIZE);
  }

  /** ConsumeQueue.rollNextFile: the first unit of the next file. */
  rollNextFile(index: number): number {
    const totalUnitsInFile = this.fileSize / CQ_STORE_UNIT_SIZE;
    return index + totalUnitsInFile - (index % totalUnitsInFile);
  }

  /**
   * ConsumeQueue.putMessagePositionInfo. A unit whose message ends at or
   * below maxPhysicOffset, or whose slot is already written, is skipped as a
   * duplicate. A unit beyond the write position is, as in the real code,
   * logged as "[BUG]logic queue order maybe wrong" and appended where the
   * queue currently ends.
   */
  putMessagePositionInfo(offset: number, size: number, tagsCode: number, cqOffset: number): PutUnitOutcome {
    if (offset + size <= this.maxPhysicOffset) return "duplicate";
    const unit = this.unit;
    writeInt64(unit, 0, offset);
    writeInt32(unit, 8, size);
    writeInt64(unit, 12, tagsCode);
    const expectLogicOffset = cqOffset * CQ_STORE_UNIT_SIZE;
    const f = this.queue.getLastMappedFileOrCreate(expectLogicOffset);
    if (f.firstCreateInQueue && cqOffset !== 0 && f.wrotePosition === 0) {
      // The queue starts mid-way (its earlier files are gone): pad with blank units and start reading here.
      this.minLogicOffset = expectLogicOffset;
      this.queue.flushedWhere = expectLogicOffset;
      this.queue.committedWhere = expectLogicOffset;
      this.fillPreBlank(f, expectLogicOffset);
    }
    let outcome: PutUnitOutcome = "appended";
    if (cqOffset !== 0) {
      const currentLogicOffset = f.wrotePosition + f.fileFromOffset;
      if (expectLogicOffset < currentLogicOffset) return "duplicate";
      if (expectLogicOffset !== currentLogicOffset) outcome = "out-of-order";
    }
    this.maxPhysicOffset = offset + size;
    // The file is never full here (a full one makes getLastMappedFileOrCreate roll) and sizes are whole units, so the unit fits.
    this.queue.write(f, f.wrotePosition, unit);
    f.wrotePosition += CQ_STORE_UNIT_SIZE;
    f.committedPosition = f.wrotePosition;
    return outcome;
  }

  /** ConsumeQueue.fillPreBlank: units (0, Integer.MAX_VALUE, 0) up to the first real one. */
  private fillPreBlank(f: MappedFile, untilWhere: number): void {
    const until = untilWhere % this.fileSize;
    if (until === 0) return;
    const blanks = new Uint8Array(until);
    for (let i = 0; i < until; i += CQ_STORE_UNIT_SIZE) writeInt32(blanks, i + 8, 0x7fffffff);
    this.queue.write(f, 0, blanks);
    f.wrotePosition = f.committedPosition = until;
  }

  /**
   * ConsumeQueue.getIndexBuffer, bounded: up to `maxUnits` units from unit
   * `startIndex` to the end of what its file holds, or null when no file
   * holds that unit. Like the real SelectMappedBufferResult, the bytes may be
   * a view of memory the next unit written changes: use them at once.
   */
  getIndexBuffer(startIndex: number, maxUnits: number): Uint8Array | null {
    const offset = startIndex * CQ_STORE_UNIT_SIZE;
    if (offset < this.minLogicOffset) return null;
    const f = this.queue.findMappedFileByOffset(offset);
    if (f === null) return null;
    const pos = offset % this.fileSize;
    if (pos >= f.readPosition) return null;
    const n = Math.min(maxUnits * CQ_STORE_UNIT_SIZE, f.readPosition - pos);
    return this.queue.view(f, pos, n);
  }

  /**
   * ConsumeQueue.truncateDirtyLogicFiles: drops every unit pointing at or
   * beyond `phyOffset`, deleting files that start beyond it.
   */
  truncateDirtyLogicFiles(phyOffset: number): void {
    this.maxPhysicOffset = phyOffset;
    for (;;) {
      const f = this.queue.getLastMappedFile();
      if (f === null) return;
      const data = this.readWhole(f.name);
      f.wrotePosition = f.committedPosition = f.flushedPosition = 0;
      for (let i = 0; i < this.fileSize; i += CQ_STORE_UNIT_SIZE) {
        const has = i + CQ_STORE_UNIT_SIZE <= data.length;
        const offset = has ? readInt64(data, i) : 0;
        const size = has ? readInt32(data, i + 8) : 0;
        if (i === 0) {
          if (offset >= phyOffset) {
            this.queue.deleteLastMappedFile();
            break;
          }
          f.wrotePosition = f.committedPosition = f.flushedPosition = CQ_STORE_UNIT_SIZE;
          this.maxPhysicOffset = offset + size;
        } else {
          if (offset >= 0 && size > 0) {
            if (offset >= phyOffset) return;
            const pos = i + CQ_STORE_UNIT_SIZE;
            f.wrotePosition = f.committedPosition = f.flushedPosition = pos;
            this.maxPhysicOffset = offset + size;
            if (pos === this.fileSize) return;
          } else {
            return;
          }
        }
      }
    }
  }

  /**
   * ConsumeQueue.correctMinOffset: the first unit of the first file that
   * points at or past the CommitLog's first byte becomes the minimum.
   */
  correctMinOffset(phyMinOffset: number): void {
    const f = this.queue.getFirstMappedFile();
    if (f === null) return;
    const data = this.queue.read(f, 0, f.readPosition);
    if (data === null) return;
    for (let i = 0; i + CQ_STORE_UNIT_SIZE <= data.length; i += CQ_STORE_UNIT_SIZE) {
      if (readInt64(data, i) >= phyMinOffset) {
        this.minLogicOffset = f.fileFromOffset + i;
        return;
      }
    }
  }

  getMaxPhysicOffset(): number {
    return this.maxPhysicOffset;
  }

  /**
   * ConsumeQueue.flush: one file per call, as MappedFileQueue.flush. Returns
   * false when no fsync was needed; otherwise `cb(result)` runs when it
   * completes, result true when flushedWhere did not move.
   */
  flush(leastPages: number, cb: (result: boolean) => void): boolean {
    return this.queue.flush(leastPages, (result) => cb(result));
  }

  destroy(): void {
    this.maxPhysicOffset = -1;
    this.minLogicOffset = 0;
    this.queue.destroy();
  }
}
