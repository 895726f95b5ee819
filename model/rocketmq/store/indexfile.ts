import type { Disk } from "../../../sim/disk.js";
import type { StoreCheckpoint } from "./checkpoint.js";
import {
  KEY_SEPARATOR,
  readInt32,
  readInt64,
  transactionType,
  TRANSACTION_ROLLBACK_TYPE,
  writeInt32,
  writeInt64,
  javaStringHashCode,
  type DispatchRequest,
} from "./codec.js";

export { javaStringHashCode } from "./codec.js";

/** IndexHeader.INDEX_HEADER_SIZE */
export const INDEX_HEADER_SIZE = 40;
const HASH_SLOT_SIZE = 4;
const INDEX_SIZE = 20;
/** IndexFile.invalidIndex: slot and chain value meaning "none". */
const INVALID_INDEX = 0;

/** IndexFile.indexKeyHashMethod: abs(String.hashCode), with Integer.MIN_VALUE (whose abs is negative) mapped to 0. */
export function indexKeyHash(key: string): number {
  return absHash(javaStringHashCode(key));
}

function absHash(h: number): number {
  return h === -2147483648 ? 0 : Math.abs(h);
}

/** indexKeyHash(`${topic}#${key}`) without building the string: String.hashCode continues over the suffix. */
function indexKeyHashOf(topicHashWithSeparator: number, key: string): number {
  let h = topicHashWithSeparator;
  for (let i = 0; i < key.length; i++) h = (Math.imul(31, h) + key.charCodeAt(i)) | 0;
  return absHash(h);
}

/**
 * One IndexFile: a 40-byte header, `hashSlotNum` 4-byte slots holding the
 * newest entry of their bucket, then up to `indexNum` 20-byte entries
 * (keyHash 4, phyOffset 8, timeDiff 4 in seconds from beginTimestamp,
 * prevIndex 4). Entry numbers start at 1; 0 means none.
 *
 * The real file is mapped, so every put lands in the page cache at once;
 * here each put writes the entry, the slot and the header through the disk.
 * Slots are scattered over the file, so a file costs about 4 x hashSlotNum
 * bytes of simulated page cache as soon as keys spread over the slots.
 */
export class IndexFile {
  beginTimestamp = 0;
  endTimestamp = 0;
  beginPhyOffset = 0;
  endPhyOffset = 0;
  hashSlotCount = 0;
  /** IndexHeader.indexCount starts at 1: entry 0 is never used. */
  indexCount = 1;
  private readonly header = new Uint8Array(INDEX_HEADER_SIZE);
  private readonly entry = new Uint8Array(INDEX_SIZE);
  private readonly slot = new Uint8Array(HASH_SLOT_SIZE);
  /**
   * The slots this process has read or written, so a put does not read its
   * slot back through the disk. Only this process writes the file, so the
   * cache always equals the page cache. For a file created by this process
   * a slot not in the cache is known to be 0.
   */
  private readonly slotCache = new Map<number, number>();
  private slotCacheComplete: boolean;
  /** The header changed since it was last written to the page cache. */
  private headerDirty = false;

  constructor(
    private readonly disk: Disk,
    readonly name: string,
    readonly hashSlotNum: number,
    readonly indexNum: number,
    endPhyOffset: number,
    endTimestamp: number,
  ) {
    this.slotCacheComplete = !disk.exists(name);
    if (this.slotCacheComplete) disk.create(name);
    let touched = false;
    if (endPhyOffset > 0) {
      this.beginPhyOffset = this.endPhyOffset = endPhyOffset;
      touched = true;
    }
    if (endTimestamp > 0) {
      this.beginTimestamp = this.endTimestamp = endTimestamp;
      touched = true;
    }
    // IndexHeader's setters write through to the mapped page.
    if (touched) this.writeHeader();
  }

  /** IndexHeader.load */
  load(): void {
    const raw = this.disk.read(this.name, 0, INDEX_HEADER_SIZE);
    const b = new Uint8Array(INDEX_HEADER_SIZE);
    b.set(raw);
    this.beginTimestamp = readInt64(b, 0);
    this.endTimestamp = readInt64(b, 8);
    this.beginPhyOffset = readInt64(b, 16);
    this.endPhyOffset = readInt64(b, 24);
    this.hashSlotCount = readInt32(b, 32);
    this.indexCount = readInt32(b, 36);
    if (this.indexCount <= 0) this.indexCount = 1;
  }

  private writeHeader(): void {
    this.headerDirty = false;
    const b = this.header;
    writeInt64(b, 0, this.beginTimestamp);
    writeInt64(b, 8, this.endTimestamp);
    writeInt64(b, 16, this.beginPhyOffset);
    writeInt64(b, 24, this.endPhyOffset);
    writeInt32(b, 32, this.hashSlotCount);
    writeInt32(b, 36, this.indexCount);
    this.disk.write(this.name, 0, b);
  }

  isWriteFull(): boolean {
    return this.indexCount >= this.indexNum;
  }

  private readInt(pos: number): number {
    const raw = this.disk.read(this.name, pos, 4);
    return raw.length === 4 ? readInt32(raw, 0) : 0;
  }

  private readSlot(slotPos: number): number {
    const cached = this.slotCache.get(slotPos);
    if (cached !== undefined) return cached;
    const v = this.slotCacheComplete ? 0 : this.readInt(INDEX_HEADER_SIZE + slotPos * HASH_SLOT_SIZE);
    this.slotCache.set(slotPos, v);
    return v;
  }

  /**
   * Writes the header to the page cache if a put changed it. IndexHeader
   * writes through on every change; the service calls this once per
   * message instead, which leaves the same bytes in the page cache at every
   * point another event can observe them.
   */
  syncHeader(): void {
    if (this.headerDirty) this.writeHeader();
  }

  /** IndexFile.putKey: false when the file is full. */
  putKey(key: string, phyOffset: number, storeTimestamp: number): boolean {
    return this.putKeyHash(indexKeyHash(key), phyOffset, storeTimestamp);
  }

  /** putKey for a key whose index hash is already known. */
  putKeyHash(keyHash: number, phyOffset: number, storeTimestamp: number): boolean {
    if (this.indexCount >= this.indexNum) return false;
    const slotPos = keyHash % this.hashSlotNum;
    const absSlotPos = INDEX_HEADER_SIZE + slotPos * HASH_SLOT_SIZE;
    let slotValue = this.readSlot(slotPos);
    if (slotValue <= INVALID_INDEX || slotValue > this.indexCount) slotValue = INVALID_INDEX;
    let timeDiff = Math.floor((storeTimestamp - this.beginTimestamp) / 1000);
    if (this.beginTimestamp <= 0) timeDiff = 0;
    else if (timeDiff > 2147483647) timeDiff = 2147483647;
    else if (timeDiff < 0) timeDiff = 0;
    const absIndexPos = INDEX_HEADER_SIZE + this.hashSlotNum * HASH_SLOT_SIZE + this.indexCount * INDEX_SIZE;
    const e = this.entry;
    writeInt32(e, 0, keyHash);
    writeInt64(e, 4, phyOffset);
    writeInt32(e, 12, timeDiff);
    writeInt32(e, 16, slotValue);
    this.disk.write(this.name, absIndexPos, e);
    writeInt32(this.slot, 0, this.indexCount);
    this.disk.write(this.name, absSlotPos, this.slot);
    this.slotCache.set(slotPos, this.indexCount);
    if (this.indexCount <= 1) {
      this.beginPhyOffset = phyOffset;
      this.beginTimestamp = storeTimestamp;
    }
    if (slotValue === INVALID_INDEX) this.hashSlotCount++;
    this.indexCount++;
    this.endPhyOffset = phyOffset;
    this.endTimestamp = storeTimestamp;
    this.headerDirty = true;
    return true;
  }

  /** IndexFile.isTimeMatched */
  isTimeMatched(begin: number, end: number): boolean {
    return (
      (begin < this.beginTimestamp && end > this.endTimestamp) ||
      (begin >= this.beginTimestamp && begin <= this.endTimestamp) ||
      (end >= this.beginTimestamp && end <= this.endTimestamp)
    );
  }

  /**
   * IndexFile.selectPhyOffset: walks the key's bucket from its newest entry
   * back along prevIndex, collecting offsets whose hash (not key: only the
   * hash is stored) and time match.
   */
  selectPhyOffset(out: number[], key: string, maxNum: number, begin: number, end: number): void {
    const keyHash = indexKeyHash(key);
    const slotPos = keyHash % this.hashSlotNum;
    const slotValue = this.readSlot(slotPos);
    if (slotValue <= INVALID_INDEX || slotValue > this.indexCount || this.indexCount <= 1) return;
    for (let next = slotValue; ; ) {
      if (out.length >= maxNum) break;
      const absIndexPos = INDEX_HEADER_SIZE + this.hashSlotNum * HASH_SLOT_SIZE + next * INDEX_SIZE;
      const raw = this.disk.read(this.name, absIndexPos, INDEX_SIZE);
      const e = new Uint8Array(INDEX_SIZE);
      e.set(raw);
      const keyHashRead = readInt32(e, 0);
      const phyOffsetRead = readInt64(e, 4);
      const timeDiff = readInt32(e, 12);
      const prevIndexRead = readInt32(e, 16);
      if (timeDiff < 0) break;
      const timeRead = this.beginTimestamp + timeDiff * 1000;
      if (keyHash === keyHashRead && timeRead >= begin && timeRead <= end) out.push(phyOffsetRead);
      if (prevIndexRead <= INVALID_INDEX || prevIndexRead > this.indexCount || prevIndexRead === next || timeRead < begin) break;
      next = prevIndexRead;
    }
  }

  /** IndexFile.flush: the header to the page cache, then force. */
  flush(cb?: () => void): void {
    this.writeHeader();
    this.disk.fsync(this.name, cb === undefined ? undefined : () => cb());
  }
}

export interface QueryOffsetResult {
  phyOffsets: number[];
  indexLastUpdateTimestamp: number;
  indexLastUpdatePhyoffset: number;
}

/**
 * IndexService: builds `topic#UNIQ_KEY` and `topic#key` entries for every
 * dispatched message, rolls to a new file when one fills, and answers
 * key queries newest file first. Results are physical offsets of messages
 * whose key HASH matched: callers must re-check the key on the message.
 */
export class IndexService {
  readonly files: IndexFile[] = [];
  private readonly dir: string;

  constructor(
    private readonly disk: Disk,
    rootDir: string,
    private readonly hashSlotNum: number,
    private readonly indexNum: number,
    private readonly checkpoint: StoreCheckpoint,
    /** The clock, in ms, that names new files (UtilAll.timeMillisToHumanString(System.currentTimeMillis())). */
    private readonly nowMs: () => number,
  ) {
    this.dir = `${rootDir}/index`;
  }

  /**
   * IndexService.load: after a crash, files written past the checkpoint's
   * index timestamp cannot be trusted and are deleted; abnormal recovery
   * re-dispatches from an older CommitLog file and rebuilds what it can.
   */
  load(lastExitOK: boolean): void {
    for (const name of this.disk.list(`${this.dir}/`)) {
      const f = new IndexFile(this.disk, name, this.hashSlotNum, this.indexNum, 0, 0);
      f.load();
      if (!lastExitOK && f.endTimestamp > this.checkpoint.indexMsgTimestamp) {
        this.disk.remove(name);
        continue;
      }
      this.files.push(f);
    }
  }

  /** IndexService.buildIndex (CommitLogDispatcherBuildIndex). */
  buildIndex(req: DispatchRequest): void {
    let f = this.getAndCreateLastIndexFile();
    if (req.physicalOffset < f.endPhyOffset) return;
    if (transactionType(req.sysFlag) === TRANSACTION_ROLLBACK_TYPE) return;
    // Keys are `topic#UNIQ_KEY` and `topic#key` for each KEYS entry; hash the topic part once.
    const prefix = this.topicHash(req.topic);
    const uniqKey = req.uniqKey;
    const uniqHash = uniqKey !== undefined ? indexKeyHashOf(prefix, uniqKey) : 0;
    if (uniqKey !== undefined) f = this.putKey(f, req, uniqHash);
    const keys = req.keys;
    if (keys !== undefined && keys.length > 0) {
      if (keys.indexOf(KEY_SEPARATOR) < 0) {
        // One key (often the same string as UNIQ_KEY, whose hash is known): what split would give, without the array.
        f = this.putKey(f, req, keys === uniqKey ? uniqHash : indexKeyHashOf(prefix, keys));
      } else {
        for (const key of keys.split(KEY_SEPARATOR)) {
          if (key.length > 0) f = this.putKey(f, req, indexKeyHashOf(prefix, key));
        }
      }
    }
    f.syncHeader();
  }

  private readonly topicHashes = new Map<string, number>();

  /** String.hashCode of `${topic}#`. */
  private topicHash(topic: string): number {
    let h = this.topicHashes.get(topic);
    if (h === undefined) {
      h = javaStringHashCode(`${topic}#`);
      this.topicHashes.set(topic, h);
    }
    return h;
  }

  private putKey(f: IndexFile, req: DispatchRequest, keyHash: number): IndexFile {
    while (!f.putKeyHash(keyHash, req.physicalOffset, req.storeTimestamp)) f = this.getAndCreateLastIndexFile();
    return f;
  }

  /** IndexService.getAndCreateLastIndexFile: a full file is flushed in the background once its successor exists. */
  getAndCreateLastIndexFile(): IndexFile {
    const last = this.files[this.files.length - 1];
    if (last !== undefined && !last.isWriteFull()) return last;
    const f = new IndexFile(this.disk, this.newFileName(), this.hashSlotNum, this.indexNum, last?.endPhyOffset ?? 0, last?.endTimestamp ?? 0);
    this.files.push(f);
    if (last !== undefined) this.flush(last);
    return f;
  }

  /**
   * A name from the clock, as the real one. Two files in the same
   * millisecond would share a name there and overwrite each other; here the
   * later one moves to the next free millisecond instead.
   */
  private newFileName(): string {
    let ms = this.nowMs();
    for (;;) {
      const name = `${this.dir}/${timeMillisToHumanString(ms)}`;
      if (!this.disk.exists(name)) return name;
      ms++;
    }
  }

  /** IndexService.flush: a full file's end time becomes the checkpoint's index timestamp once it is durable. */
  private flush(f: IndexFile): void {
    const indexMsgTimestamp = f.isWriteFull() ? f.endTimestamp : 0;
    f.flush(() => {
      if (indexMsgTimestamp > 0) {
        this.checkpoint.indexMsgTimestamp = indexMsgTimestamp;
        this.checkpoint.flush();
      }
    });
  }

  /** IndexService.queryOffset: newest file first, stopping at files older than `begin` or once maxNum are found. */
  queryOffset(topic: string, key: string, maxNum: number, begin: number, end: number): QueryOffsetResult {
    const phyOffsets: number[] = [];
    let indexLastUpdateTimestamp = 0;
    let indexLastUpdatePhyoffset = 0;
    for (let i = this.files.length; i > 0; i--) {
      const f = this.files[i - 1]!;
      if (i === this.files.length) {
        indexLastUpdateTimestamp = f.endTimestamp;
        indexLastUpdatePhyoffset = f.endPhyOffset;
      }
      if (f.isTimeMatched(begin, end)) f.selectPhyOffset(phyOffsets, `${topic}#${key}`, maxNum, begin, end);
      if (f.beginTimestamp < begin) break;
      if (phyOffsets.length >= maxNum) break;
    }
    return { phyOffsets, indexLastUpdateTimestamp, indexLastUpdatePhyoffset };
  }
}

/**
 * UtilAll.timeMillisToHumanString: yyyyMMddHHmmssSSS. The real one uses the
 * host's time zone; the simulated epoch has none, so this is UTC.
 */
export function timeMillisToHumanString(t: number): string {
  const msPart = t % 1000;
  const totalSeconds = Math.floor(t / 1000);
  const days = Math.floor(totalSeconds / 86400);
  const secOfDay = totalSeconds - days * 86400;
  // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const p = (n: number, w: number) => String(n).padStart(w, "0");
  return (
    p(year, 4) + p(month, 2) + p(day, 2) + p(Math.floor(secOfDay / 3600), 2) + p(Math.floor((secOfDay % 3600) / 60), 2) + p(secOfDay % 60, 2) + p(msPart, 3)
  );
}
