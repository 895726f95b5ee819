import { z } from "zod";
import type { EventOwner, Simulation } from "./kernel.js";
import type { Rng } from "./rng.js";
import type { Micros } from "./time.js";

export const DiskConfigSchema = z
  .object({
    pageSizeBytes: z.number().int().min(512).default(4096),
    /** A torn page keeps a whole number of sectors. */
    sectorSizeBytes: z.number().int().min(1).default(512),
    /** Linux vm.dirty_expire_centisecs = 3000: writeback takes pages dirty for longer than 30 s. */
    dirtyExpireUs: z.number().int().min(0).default(30_000_000),
    /** Linux vm.dirty_writeback_centisecs = 500: the flusher threads wake every 5 s. */
    writebackIntervalUs: z.number().int().min(1).default(5_000_000),
    /** Time for an fsync to complete on an idle device (a datacenter SSD: well under a millisecond). */
    fsyncLatencyUs: z.number().int().min(0).default(500),
    /** Chance that one fsync takes `fsyncLatencySpikeUs` instead (slow-disk spikes). */
    fsyncLatencySpikeProbability: z.number().min(0).max(1).default(0),
    fsyncLatencySpikeUs: z.number().int().min(0).default(200_000),
    /** At power loss, chance that the last page written is torn: some of its sectors reached the platter. */
    tearProbability: z.number().min(0).max(1).default(0.5),
    /**
     * Chance that an fsync fails. Like Linux after an I/O error, the failed
     * pages are then marked clean without being durable (the "fsyncgate"
     * behaviour), so a later power loss drops them.
     */
    fsyncFailureProbability: z.number().min(0).max(1).default(0),
  })
  .strict();

export type DiskConfig = z.infer<typeof DiskConfigSchema>;

/** Pages per buffer that Disk.newPage carves pages from. */
const PAGES_PER_SLAB = 16;

/**
 * A file's contents, shared by every name that refers to it. Files are
 * sparse, as on a real file system: only pages that were written take
 * memory, so a 1 GiB CommitLog file or an IndexFile whose hash slots are
 * scattered over 20 MB cost what they hold, not what they span.
 */
class Inode {
  /** What the processes see: the page cache, page index → page. */
  pages = new Map<number, Uint8Array>();
  size = 0;
  /** What the platter holds. */
  durablePages = new Map<number, Uint8Array>();
  durableSize = 0;
  /** Dirty page index → time it first became dirty. */
  readonly dirty = new Map<number, Micros>();

  constructor(readonly id: number) {}
}

/** Copies `length` bytes at `offset` out of a sparse page map (holes read as zeros). */
function readPages(pages: Map<number, Uint8Array>, ps: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let pos = 0;
  while (pos < length) {
    const abs = offset + pos;
    const p = Math.floor(abs / ps);
    const inPage = abs - p * ps;
    const n = Math.min(ps - inPage, length - pos);
    const page = pages.get(p);
    if (page !== undefined) out.set(n === ps ? page : page.subarray(inPage, inPage + n), pos);
    pos += n;
  }
  return out;
}

export interface FsyncResult {
  ok: boolean;
}

/**
 * One node's disk, with the operating system between the process and the
 * platter: writes land in the page cache; fsync (or the kernel's own
 * writeback) makes them durable. What survives a fault:
 * - process crash: everything (the page cache belongs to the kernel);
 * - power loss: durable and written-back pages only, plus possibly a torn
 *   prefix of the last page written; names created or renamed since the
 *   last metadata commit vanish;
 * - disk loss: nothing.
 *
 * File names and sizes are metadata. ext4 commits its journal every 5 s and
 * on fsync, so a rename without fsync can be undone by a power loss, and a
 * renamed file whose data was never written back comes back empty.
 */
export class Disk {
  private live = new Map<string, Inode>();
  private durableNames = new Map<string, Inode>();
  private metaDirty = false;
  private nextInode = 1;
  /** Bumped by power loss and disk loss; stale writeback ticks and fsyncs see it and stop. */
  private generation = 0;
  private writebackScheduled = false;
  private lastFsyncDoneUs = 0;
  private lastWriteInode: Inode | null = null;
  private lastWritePage = 0;
  private owner: EventOwner | null = null;
  private extraLatencyUs = 0;
  private slowUntilUs = 0;
  /** Counters for statistics and tests. */
  fsyncs = 0;
  bytesWritten = 0;

  constructor(
    private readonly sim: Simulation,
    private readonly rng: Rng,
    readonly config: DiskConfig,
  ) {}

  /** The buffer new pages are carved from, and how much of it is handed out. */
  private slab: ArrayBuffer | null = null;
  private slabUsed = 0;

  /**
   * A zeroed page of its own, carved from a shared buffer: a separate
   * 4 KiB typed array costs an allocation and a zeroing each, several times
   * more, and a busy disk makes one every few writes. Pages never move or
   * shrink, so sharing a buffer is invisible to every reader and writer.
   */
  private newPage(): Uint8Array {
    const ps = this.config.pageSizeBytes;
    if (this.slab === null || this.slabUsed + ps > this.slab.byteLength) {
      this.slab = new ArrayBuffer(ps * PAGES_PER_SLAB);
      this.slabUsed = 0;
    }
    const page = new Uint8Array(this.slab, this.slabUsed, ps);
    this.slabUsed += ps;
    return page;
  }

  /** Binds fsync callbacks to the process that owns this disk. */
  attach(owner: EventOwner): void {
    this.owner = owner;
  }

  // ---- namespace ------------------------------------------------------------

  exists(name: string): boolean {
    return this.live.has(name);
  }

  /** Names in lexical order, optionally only those starting with `prefix`. */
  list(prefix = ""): string[] {
    const out: string[] = [];
    for (const name of this.live.keys()) if (name.startsWith(prefix)) out.push(name);
    return out.sort();
  }

  size(name: string): number {
    return this.live.get(name)?.size ?? 0;
  }

  /** Creates an empty file if it does not exist. */
  create(name: string): void {
    if (this.live.has(name)) return;
    this.live.set(name, new Inode(this.nextInode++));
    this.touchMeta();
  }

  remove(name: string): void {
    if (this.live.delete(name)) this.touchMeta();
  }

  /** Atomically replaces `to` with `from` (POSIX rename). */
  rename(from: string, to: string): void {
    const inode = this.live.get(from);
    if (inode === undefined) throw new Error(`disk: rename of missing file ${from}`);
    this.live.delete(from);
    this.live.set(to, inode);
    this.touchMeta();
  }

  private touchMeta(): void {
    this.metaDirty = true;
    this.scheduleWriteback();
  }

  // ---- data -------------------------------------------------------------------

  /** Writes into the page cache at `offset`, creating the file if needed; a gap reads as zeros. */
  write(name: string, offset: number, bytes: Uint8Array): void {
    let inode = this.live.get(name);
    if (inode === undefined) {
      this.create(name);
      inode = this.live.get(name)!;
    }
    const end = offset + bytes.length;
    if (end > inode.size) inode.size = end;
    if (bytes.length === 0) return;
    const ps = this.config.pageSizeBytes;
    const first = Math.floor(offset / ps);
    const last = Math.floor((end - 1) / ps);
    const now = this.sim.now;
    let pos = 0;
    for (let p = first; p <= last; p++) {
      let page = inode.pages.get(p);
      if (page === undefined) {
        page = this.newPage();
        inode.pages.set(p, page);
      }
      const inPage = p === first ? offset - p * ps : 0;
      const n = Math.min(ps - inPage, bytes.length - pos);
      page.set(n === bytes.length ? bytes : bytes.subarray(pos, pos + n), inPage);
      pos += n;
      if (!inode.dirty.has(p)) inode.dirty.set(p, now);
    }
    this.lastWriteInode = inode;
    this.lastWritePage = last;
    this.bytesWritten += bytes.length;
    this.scheduleWriteback();
  }

  /** Appends at the end of the file and returns the offset written at. */
  append(name: string, bytes: Uint8Array): number {
    const offset = this.size(name);
    this.write(name, offset, bytes);
    return offset;
  }

  /** A copy of up to `length` bytes at `offset` (fewer at the end of the file). */
  read(name: string, offset: number, length: number): Uint8Array {
    const inode = this.live.get(name);
    if (inode === undefined) throw new Error(`disk: read of missing file ${name}`);
    const end = Math.min(inode.size, offset + length);
    if (end <= offset) return new Uint8Array(0);
    return readPages(inode.pages, this.config.pageSizeBytes, offset, end - offset);
  }

  /** The whole file, as a copy. */
  readAll(name: string): Uint8Array {
    return this.read(name, 0, this.size(name));
  }

  truncate(name: string, size: number): void {
    const inode = this.live.get(name);
    if (inode === undefined) throw new Error(`disk: truncate of missing file ${name}`);
    if (size >= inode.size) return;
    const ps = this.config.pageSizeBytes;
    // Bytes past the new end read as zeros if the file grows again.
    for (const [p, page] of inode.pages) {
      if (p * ps >= size) inode.pages.delete(p);
      else if ((p + 1) * ps > size) page.fill(0, size - p * ps);
    }
    inode.size = size;
    for (const p of [...inode.dirty.keys()]) if (p * ps >= size) inode.dirty.delete(p);
    this.touchMeta();
  }

  // ---- durability ---------------------------------------------------------------

  /**
   * Makes the file's dirty pages durable (all of them, or those overlapping
   * [offset, offset+length)) and commits the namespace, as ext4's fsync
   * commits its journal. Completes after the device latency; fsyncs on one
   * device complete in order. The callback runs only if the process that
   * asked is still the same incarnation.
   */
  fsync(name: string, cb?: (r: FsyncResult) => void, range?: { offset: number; length: number }): void {
    const inode = this.live.get(name);
    const gen = this.generation;
    const pages: number[] = [];
    if (inode !== undefined) {
      const ps = this.config.pageSizeBytes;
      for (const p of inode.dirty.keys()) {
        if (range === undefined || (p * ps < range.offset + range.length && (p + 1) * ps > range.offset)) pages.push(p);
      }
    }
    this.fsyncs++;
    let latency = this.config.fsyncLatencyUs;
    if (this.rng.chance(this.config.fsyncLatencySpikeProbability)) latency = this.config.fsyncLatencySpikeUs;
    if (this.sim.now < this.slowUntilUs) latency += this.extraLatencyUs;
    const done = Math.max(this.sim.now + latency, this.lastFsyncDoneUs);
    this.lastFsyncDoneUs = done;
    const owner = this.owner;
    const incarnation = owner?.incarnation ?? 0;
    this.sim.schedule(done, () => {
      if (gen !== this.generation) return;
      const failed = this.rng.chance(this.config.fsyncFailureProbability);
      if (inode !== undefined) {
        for (const p of pages) {
          if (!inode.dirty.has(p)) continue;
          if (!failed) this.persistPage(inode, p, this.config.pageSizeBytes);
          inode.dirty.delete(p);
        }
        if (!failed && inode.durableSize > inode.size) this.shrinkDurable(inode);
      }
      if (!failed) this.commitMeta();
      if (cb === undefined) return;
      if (owner === null) cb({ ok: !failed });
      else if (owner.incarnation === incarnation) this.sim.schedule(this.sim.now, cb, { ok: !failed }, owner);
    });
  }

  /** Makes every name change durable (fsync of the directory). */
  fsyncDir(): void {
    this.commitMeta();
  }

  /** Copies the first `bytes` bytes of a page from the page cache to the platter. */
  private persistPage(inode: Inode, page: number, bytes: number): void {
    const ps = this.config.pageSizeBytes;
    const start = page * ps;
    const end = Math.min(inode.size, start + bytes);
    if (end <= start) return;
    const src = inode.pages.get(page);
    let dst = inode.durablePages.get(page);
    if (dst === undefined) {
      dst = this.newPage();
      inode.durablePages.set(page, dst);
    }
    if (src === undefined) dst.fill(0, 0, end - start);
    else if (end - start === ps) dst.set(src);
    else dst.set(src.subarray(0, end - start));
    if (end > inode.durableSize) inode.durableSize = end;
  }

  /**
   * A truncation reached the platter: the blocks past the new end are freed,
   * so if the file grows again those bytes read as zeros, never as the old
   * data (ext4 frees truncated blocks in the same journal transaction).
   */
  private shrinkDurable(inode: Inode): void {
    const ps = this.config.pageSizeBytes;
    inode.durableSize = inode.size;
    for (const [p, page] of inode.durablePages) {
      if (p * ps >= inode.size) inode.durablePages.delete(p);
      else if ((p + 1) * ps > inode.size) page.fill(0, inode.size - p * ps);
    }
  }

  private commitMeta(): void {
    if (!this.metaDirty) return;
    this.durableNames = new Map(this.live);
    this.metaDirty = false;
    // Shrinks (truncations) become durable with the metadata.
    for (const inode of this.durableNames.values()) if (inode.durableSize > inode.size) this.shrinkDurable(inode);
  }

  private scheduleWriteback(): void {
    if (this.writebackScheduled) return;
    this.writebackScheduled = true;
    const interval = this.config.writebackIntervalUs;
    // The flusher wakes on a fixed period, not relative to the write.
    const at = (Math.floor(this.sim.now / interval) + 1) * interval;
    const gen = this.generation;
    this.sim.schedule(at, () => {
      if (gen !== this.generation) return;
      this.writebackScheduled = false;
      this.writeback();
    });
  }

  /** One wake of the kernel's flusher: expired dirty pages go to the platter; the journal commits. */
  private writeback(): void {
    const cutoff = this.sim.now - this.config.dirtyExpireUs;
    const ps = this.config.pageSizeBytes;
    let remaining = false;
    const seen = new Set<Inode>();
    for (const inode of this.live.values()) {
      if (seen.has(inode)) continue;
      seen.add(inode);
      for (const [p, since] of inode.dirty) {
        if (since <= cutoff) {
          this.persistPage(inode, p, ps);
          inode.dirty.delete(p);
        } else {
          remaining = true;
        }
      }
    }
    this.commitMeta();
    if (remaining) this.scheduleWriteback();
  }

  // ---- faults -----------------------------------------------------------------

  /**
   * The machine lost power. The page cache is gone; what remains is what
   * fsync or writeback had put on the platter, and maybe a torn prefix of
   * the last page written (whole sectors).
   */
  powerLoss(): void {
    const last = this.lastWriteInode;
    if (last !== null && last.dirty.has(this.lastWritePage) && this.rng.chance(this.config.tearProbability)) {
      const sectors = Math.max(1, Math.floor(this.config.pageSizeBytes / this.config.sectorSizeBytes));
      if (sectors > 1) {
        const kept = this.rng.int(1, sectors - 1);
        this.persistPage(last, this.lastWritePage, kept * this.config.sectorSizeBytes);
      }
    }
    this.live = new Map(this.durableNames);
    const ps = this.config.pageSizeBytes;
    for (const inode of new Set(this.live.values())) {
      // The page cache comes back as exactly what the platter holds, up to the durable size.
      const pages = new Map<number, Uint8Array>();
      for (const [p, page] of inode.durablePages) {
        if (p * ps >= inode.durableSize) {
          inode.durablePages.delete(p);
          continue;
        }
        if ((p + 1) * ps > inode.durableSize) page.fill(0, inode.durableSize - p * ps);
        pages.set(p, page.slice());
      }
      inode.pages = pages;
      inode.size = inode.durableSize;
      inode.dirty.clear();
    }
    this.afterMachineLoss();
  }

  /** The disk was replaced: the node comes back with nothing. */
  wipe(): void {
    this.live = new Map();
    this.durableNames = new Map();
    this.afterMachineLoss();
  }

  private afterMachineLoss(): void {
    this.metaDirty = false;
    this.generation++;
    this.writebackScheduled = false;
    this.lastWriteInode = null;
    this.lastFsyncDoneUs = this.sim.now;
  }

  /** Adds `extraUs` to every fsync issued before `untilUs` (a slow or failing device). */
  slowDown(untilUs: Micros, extraUs: Micros): void {
    this.slowUntilUs = untilUs;
    this.extraLatencyUs = extraUs;
  }

  /** Overwrites `length` bytes at `offset` with garbage in both the cache and on the platter (a bad sector). */
  corrupt(name: string, offset: number, length: number): void {
    const inode = this.live.get(name);
    if (inode === undefined) return;
    const ps = this.config.pageSizeBytes;
    for (let i = offset; i < Math.min(offset + length, inode.size); i++) {
      const b = this.rng.int(0, 255);
      const p = Math.floor(i / ps);
      let page = inode.pages.get(p);
      if (page === undefined) {
        page = this.newPage();
        inode.pages.set(p, page);
      }
      page[i - p * ps] = b;
      const durable = inode.durablePages.get(p);
      if (durable !== undefined) durable[i - p * ps] = b;
    }
  }

  // ---- inspection (tests, observations) ------------------------------------------

  /** A copy of what the platter holds for `name` under its durable name, or null. */
  durableContent(name: string): Uint8Array | null {
    const inode = this.durableNames.get(name);
    if (inode === undefined) return null;
    return readPages(inode.durablePages, this.config.pageSizeBytes, 0, inode.durableSize);
  }

  dirtyPages(name: string): number[] {
    const inode = this.live.get(name);
    return inode === undefined ? [] : [...inode.dirty.keys()].sort((a, b) => a - b);
  }

  /** Total dirty bytes (page granularity) across all files. */
  dirtyBytes(): number {
    let n = 0;
    for (const inode of new Set(this.live.values())) n += inode.dirty.size * this.config.pageSizeBytes;
    return n;
  }
}
