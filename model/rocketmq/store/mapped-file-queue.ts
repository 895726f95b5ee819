import type { Disk } from "../../../sim/disk.js";
import { OS_PAGE_SIZE } from "./config.js";

/**
 * One fixed-size file of a MappedFileQueue (MappedFile). The real broker
 * maps it into memory, so writes land in the page cache at once; here every
 * write goes through the simulated disk, which owns the page cache.
 *
 * Invariant: flushedPosition <= readPosition <= wrotePosition <= fileSize.
 */
export class MappedFile {
  /** Where the next append goes; a blank record moves it straight to fileSize. */
  wrotePosition = 0;
  /** How far the transient-pool buffer has been copied to the page cache (equals wrotePosition without the pool). */
  committedPosition = 0;
  /** How far an fsync has completed. */
  flushedPosition = 0;
  /** storeTimestamp of the last message appended by a put (not set by slave appends, as in MappedFile). */
  storeTimestamp = 0;
  /** ConsumeQueue files: this is the first file ever created for its queue (MappedFile.firstCreateInQueue). */
  firstCreateInQueue = false;
  /**
   * With the transient store pool, appended bytes wait in process memory
   * (an off-heap buffer in the real broker) until CommitRealTimeService
   * copies them to the page cache: writeBuffer holds the bytes of
   * [committedPosition, committedPosition + writeBufferLength). A process
   * crash loses them. Null once the file is fully committed (the buffer goes
   * back to the pool) and for files loaded from disk.
   */
  writeBuffer: Uint8Array | null = null;
  writeBufferLength = 0;

  constructor(
    readonly name: string,
    readonly fileFromOffset: number,
    readonly fileSize: number,
  ) {}

  /** MappedFile.getReadPosition: readers see committed bytes only while a write buffer is in use. */
  get readPosition(): number {
    return this.writeBuffer === null ? this.wrotePosition : this.committedPosition;
  }

  isFull(): boolean {
    return this.wrotePosition === this.fileSize;
  }
}

/**
 * The process's view of the newest bytes of a mapped file. The real broker
 * reads its mapped files in place, without copying; reading the simulated
 * disk copies instead, and a copy of more than 64 bytes costs a typed-array
 * allocation (several hundred ns in V8). So the CommitLog keeps, in process
 * memory, the bytes it last wrote to the page cache of its newest file, and
 * the dispatcher and recent reads use them directly; each ConsumeQueue does
 * the same for its newest units, which pulls read.
 *
 * Invariant: buf[0, len) equals the page cache of logical offsets
 * [start, start + len), all within one file. Only this process writes its
 * files, and a crash discards the process with its mirror, so the two
 * cannot drift. (A sector corrupted while the process runs shows only
 * after a restart, like a bad sector hidden behind a cached page.)
 */
export class TailMirror {
  buf: Uint8Array;
  /** Logical offset of buf[0]. */
  start = 0;
  len = 0;
  /** Bumped whenever bytes move or are dropped, so readers holding a window know to look again. */
  generation = 0;
  /**
   * Bumped by reset() only: the files were cut back (truncation, deletion)
   * or a write did not fit. The CommitLog cuts its files back only through
   * a reset, so between two resets its bytes are written once, at increasing
   * offsets, and what was appended at an offset stays there; its cache of
   * decoded records relies on this (see RecentRecords).
   */
  resets = 0;

  constructor(private readonly capacity: number) {
    this.buf = new Uint8Array(Math.min(capacity, 64 * 1024));
  }

  /** Records that `bytes` were written to the page cache at logical `offset`. */
  write(offset: number, bytes: Uint8Array, length: number): void {
    if (length > this.capacity) {
      this.reset();
      return;
    }
    if (offset !== this.start + this.len) {
      // Not contiguous with what we hold (a new file, a rewind): start over here.
      this.start = offset;
      this.len = 0;
      this.generation++;
    }
    if (this.len + length > this.buf.length) {
      if (this.len + length <= this.capacity) {
        let cap = this.buf.length;
        while (cap < this.len + length) cap *= 2;
        const grown = new Uint8Array(Math.min(cap, this.capacity));
        grown.set(this.buf.subarray(0, this.len));
        this.buf = grown;
        this.generation++;
      } else {
        // Full: keep the newest half (or less, to make room).
        const keep = Math.min(this.len, Math.max(0, Math.floor(this.capacity / 2) - length));
        this.buf.copyWithin(0, this.len - keep, this.len);
        this.start += this.len - keep;
        this.len = keep;
        this.generation++;
      }
    }
    this.buf.set(length === bytes.length ? bytes : bytes.subarray(0, length), this.len);
    this.len += length;
  }

  /** Index in buf of logical [offset, offset + length), or -1 if not all of it is held. */
  indexOf(offset: number, length: number): number {
    return offset >= this.start && offset + length <= this.start + this.len ? offset - this.start : -1;
  }

  reset(): void {
    this.start = 0;
    this.len = 0;
    this.generation++;
    this.resets++;
  }
}

/** UtilAll.offset2FileName: the start offset zero-padded to 20 digits. */
export function offset2FileName(offset: number): string {
  return String(offset).padStart(20, "0");
}

/**
 * A directory of equal-size files named by their start offsets
 * (MappedFileQueue), shared by the CommitLog and every ConsumeQueue.
 */
export class MappedFileQueue {
  readonly files: MappedFile[] = [];
  flushedWhere = 0;
  committedWhere = 0;
  /** storeTimestamp of the file flushed by the last flush(0) (MappedFileQueue.storeTimestamp). */
  storeTimestamp = 0;
  /** fsyncs issued by flush() and not yet completed. */
  private flushesInFlight = 0;
  private idleWaiters: Array<() => void> = [];
  /** Bumped by truncation so a flush that completes afterwards does not move positions back up. */
  private epoch = 0;

  constructor(
    private readonly disk: Disk,
    /** Directory, without the trailing slash. */
    readonly dir: string,
    readonly fileSize: number,
    /** New files take a transient-pool write buffer (CommitLog with the pool in effect). */
    private readonly useWriteBuffer: boolean,
    /** The CommitLog and the consume queues mirror what they write to the page cache (see TailMirror). */
    readonly mirror: TailMirror | null = null,
  ) {}

  /**
   * MappedFileQueue.load: every file found, in offset order, counted as full;
   * recovery then rewinds the last ones. (The real load also refuses files
   * whose length is not the configured size; simulated files are sparse, so
   * there is nothing to compare.)
   */
  load(): void {
    const prefix = `${this.dir}/`;
    for (const path of this.disk.list(prefix)) {
      const base = path.slice(prefix.length);
      if (!/^\d{20}$/.test(base)) continue;
      const f = new MappedFile(path, Number(base), this.fileSize);
      f.wrotePosition = f.committedPosition = f.flushedPosition = this.fileSize;
      this.files.push(f);
    }
    this.files.sort((a, b) => a.fileFromOffset - b.fileFromOffset);
  }

  getFirstMappedFile(): MappedFile | null {
    return this.files[0] ?? null;
  }

  getLastMappedFile(): MappedFile | null {
    return this.files.length === 0 ? null : this.files[this.files.length - 1]!;
  }

  /**
   * MappedFileQueue.getLastMappedFile(startOffset, true): the last file, or a
   * new one when there is none (starting at the file boundary at or below
   * startOffset) or the last is full.
   */
  getLastMappedFileOrCreate(startOffset: number): MappedFile {
    const last = this.getLastMappedFile();
    let createOffset = -1;
    if (last === null) createOffset = startOffset - (startOffset % this.fileSize);
    else if (last.isFull()) createOffset = last.fileFromOffset + this.fileSize;
    if (createOffset === -1) return last!;
    const f = new MappedFile(`${this.dir}/${offset2FileName(createOffset)}`, createOffset, this.fileSize);
    if (this.useWriteBuffer) f.writeBuffer = new Uint8Array(Math.min(this.fileSize, 64 * 1024));
    if (this.files.length === 0) f.firstCreateInQueue = true;
    this.disk.create(f.name);
    this.files.push(f);
    return f;
  }

  /** MappedFileQueue.findMappedFileByOffset: O(1) by arithmetic, as the real one. */
  findMappedFileByOffset(offset: number, returnFirstOnNotFound = false): MappedFile | null {
    const first = this.getFirstMappedFile();
    const last = this.getLastMappedFile();
    if (first !== null && last !== null) {
      if (offset >= first.fileFromOffset && offset < last.fileFromOffset + this.fileSize) {
        const index = Math.floor(offset / this.fileSize) - Math.floor(first.fileFromOffset / this.fileSize);
        const f = this.files[index];
        if (f !== undefined && offset >= f.fileFromOffset && offset < f.fileFromOffset + this.fileSize) return f;
        // A hole in the sequence of files: fall back to a scan, as the real one does.
        for (const g of this.files) if (offset >= g.fileFromOffset && offset < g.fileFromOffset + this.fileSize) return g;
      }
      if (returnFirstOnNotFound) return first;
    }
    return null;
  }

  getMinOffset(): number {
    const first = this.getFirstMappedFile();
    return first === null ? -1 : first.fileFromOffset;
  }

  /** MappedFileQueue.getMaxOffset: the end of what readers may see. */
  getMaxOffset(): number {
    const last = this.getLastMappedFile();
    return last === null ? 0 : last.fileFromOffset + last.readPosition;
  }

  /** MappedFileQueue.getMaxWrotePosition: the end of what has been appended. */
  getMaxWrotePosition(): number {
    const last = this.getLastMappedFile();
    return last === null ? 0 : last.fileFromOffset + last.wrotePosition;
  }

  /** Writes bytes at a position of a file: into its write buffer while it has one, else into the page cache. */
  write(f: MappedFile, position: number, bytes: Uint8Array, length = bytes.length): void {
    if (f.writeBuffer !== null) {
      const at = position - f.committedPosition;
      const end = at + length;
      if (at < 0) throw new Error(`store: write below the committed position of ${f.name}`);
      if (end > f.writeBuffer.length) {
        let cap = f.writeBuffer.length;
        while (cap < end) cap *= 2;
        const grown = new Uint8Array(cap);
        grown.set(f.writeBuffer.subarray(0, f.writeBufferLength));
        f.writeBuffer = grown;
      }
      f.writeBuffer.set(length === bytes.length ? bytes : bytes.subarray(0, length), at);
      if (end > f.writeBufferLength) f.writeBufferLength = end;
      return;
    }
    // One view of the bytes for both the page cache and the mirror.
    const view = length === bytes.length ? bytes : bytes.subarray(0, length);
    this.disk.write(f.name, position, view);
    this.mirror?.write(f.fileFromOffset + position, view, length);
  }

  /**
   * MappedFile.selectMappedBuffer(pos, size): `size` bytes at a position,
   * or null beyond what readers may see. Bytes past the file's physical
   * extent read as zeros, as in a preallocated file.
   */
  read(f: MappedFile, position: number, size: number): Uint8Array | null {
    if (position < 0 || size < 0 || position + size > f.readPosition) return null;
    return this.readRaw(f, position, size);
  }

  /**
   * Like read, but the bytes may be a view into the mirror: valid only
   * until the next write, so callers must use them at once.
   */
  view(f: MappedFile, position: number, size: number): Uint8Array | null {
    if (position < 0 || size < 0 || position + size > f.readPosition) return null;
    const m = this.mirror;
    if (m !== null) {
      const i = m.indexOf(f.fileFromOffset + position, size);
      if (i >= 0) return m.buf.subarray(i, i + size);
    }
    return this.readRaw(f, position, size);
  }

  private readRaw(f: MappedFile, position: number, size: number): Uint8Array {
    const got = this.disk.read(f.name, position, size);
    if (got.length === size) return got;
    const out = new Uint8Array(size);
    out.set(got);
    return out;
  }

  // ---- commit (transient store pool) --------------------------------------------------

  /**
   * MappedFileQueue.commit: copies the write buffer of the file at
   * committedWhere to the page cache, if at least `leastPages` pages are
   * pending (or the file is full, or leastPages is 0 and anything is
   * pending). Returns true when nothing was committed, as the real one does.
   */
  commit(leastPages: number): boolean {
    const f = this.findMappedFileByOffset(this.committedWhere, this.committedWhere === 0);
    if (f === null) return true;
    let offset: number;
    if (f.writeBuffer === null) {
      offset = f.wrotePosition;
    } else {
      if (isAbleTo(f.committedPosition, f.wrotePosition, f.isFull(), leastPages)) {
        if (f.writeBufferLength > 0) {
          this.disk.write(f.name, f.committedPosition, f.writeBuffer.subarray(0, f.writeBufferLength));
          this.mirror?.write(f.fileFromOffset + f.committedPosition, f.writeBuffer, f.writeBufferLength);
        }
        f.committedPosition = f.wrotePosition;
        f.writeBufferLength = 0;
      }
      // All dirty data has reached the page cache: the buffer returns to the pool.
      if (f.committedPosition === f.fileSize) f.writeBuffer = null;
      offset = f.committedPosition;
    }
    const where = f.fileFromOffset + offset;
    const result = where === this.committedWhere;
    this.committedWhere = where;
    return result;
  }

  // ---- flush ---------------------------------------------------------------------------

  /**
   * MappedFileQueue.flush: fsyncs the one file holding flushedWhere if at
   * least `leastPages` pages are unflushed (any, for 0; always, if the file
   * is full). Returns false when no fsync was needed (then `cb` is not
   * called); otherwise calls `cb(result, ok, file)` once the fsync
   * completes, with result true when flushedWhere did not move (the real
   * return value) and ok false when the device reported an error.
   *
   * As in MappedFile.flush, the flushed position is the read position taken
   * when the flush starts, and it is recorded even if the device reports an
   * error: RocketMQ logs a failed force() and carries on.
   */
  flush(leastPages: number, cb: (result: boolean, ok: boolean, file: string) => void): boolean {
    const f = this.findMappedFileByOffset(this.flushedWhere, this.flushedWhere === 0);
    if (f === null) return false;
    const value = f.readPosition;
    if (!isAbleTo(f.flushedPosition, value, f.isFull(), leastPages)) {
      // Nothing to force, but the real call still refreshes the store timestamp.
      const where = f.fileFromOffset + f.flushedPosition;
      if (leastPages === 0) this.storeTimestamp = f.storeTimestamp;
      this.flushedWhere = where;
      return false;
    }
    const tmpTimestamp = f.storeTimestamp;
    const epoch = this.epoch;
    this.flushesInFlight++;
    this.disk.fsync(f.name, (r) => {
      this.flushesInFlight--;
      if (epoch !== this.epoch) {
        cb(false, r.ok, f.name);
      } else {
        f.flushedPosition = Math.max(f.flushedPosition, value);
        const where = f.fileFromOffset + f.flushedPosition;
        const result = where === this.flushedWhere;
        this.flushedWhere = where;
        if (leastPages === 0) this.storeTimestamp = tmpTimestamp;
        cb(result, r.ok, f.name);
      }
      // The callback may have started the next flush; waiters run only once none is left.
      if (this.flushesInFlight === 0 && this.idleWaiters.length > 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    });
    return true;
  }

  /** Runs `fn` now if no flush is outstanding, else once the last one completes. */
  whenFlushIdle(fn: () => void): void {
    if (this.flushesInFlight === 0) fn();
    else this.idleWaiters.push(fn);
  }

  /** Unflushed bytes (MappedFileQueue.remainHowManyDataToFlush). */
  remainToFlush(): number {
    return this.getMaxOffset() - this.flushedWhere;
  }

  // ---- truncation --------------------------------------------------------------------

  /**
   * MappedFileQueue.truncateDirtyFiles: files wholly beyond `offset` are
   * deleted; the file holding it is rewound. Like the real one, the rewound
   * file keeps its old bytes past the new end until they are overwritten, so
   * a later recovery may still read them.
   */
  truncateDirtyFiles(offset: number): void {
    this.epoch++;
    this.mirror?.reset();
    const keep: MappedFile[] = [];
    for (const f of this.files) {
      const tail = f.fileFromOffset + this.fileSize;
      if (tail > offset) {
        if (offset >= f.fileFromOffset) {
          const pos = offset % this.fileSize;
          f.wrotePosition = f.committedPosition = f.flushedPosition = pos;
          if (f.writeBuffer !== null) f.writeBufferLength = 0;
          keep.push(f);
        } else {
          this.disk.remove(f.name);
        }
      } else {
        keep.push(f);
      }
    }
    this.files.length = 0;
    this.files.push(...keep);
  }

  /** MappedFileQueue.deleteLastMappedFile */
  deleteLastMappedFile(): void {
    const last = this.files.pop();
    if (last !== undefined) {
      this.epoch++;
      this.mirror?.reset();
      this.disk.remove(last.name);
    }
  }

  /** Deletes every file (MappedFileQueue.destroy). */
  destroy(): void {
    this.epoch++;
    this.mirror?.reset();
    for (const f of this.files) this.disk.remove(f.name);
    this.files.length = 0;
    this.flushedWhere = 0;
    this.committedWhere = 0;
  }
}

/** MappedFile.isAbleToFlush / isAbleToCommit, counting pages as OS_PAGE_SIZE units of position. */
function isAbleTo(done: number, write: number, full: boolean, leastPages: number): boolean {
  if (full) return true;
  if (leastPages > 0) return Math.floor(write / OS_PAGE_SIZE) - Math.floor(done / OS_PAGE_SIZE) >= leastPages;
  return write > done;
}
