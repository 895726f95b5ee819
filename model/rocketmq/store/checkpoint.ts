import type { Disk } from "../../../sim/disk.js";
import { readInt64, writeInt64 } from "./codec.js";

/**
 * StoreCheckpoint: three timestamps that bound how far back abnormal
 * recovery must replay (and, in 5.x, two offsets). The fields change in
 * memory as flushes complete; like the real one, which keeps them in a
 * mapped page and writes them there only in flush(), the file is written
 * and fsynced only by flush(): on the ConsumeQueue flush service's thorough
 * rounds (every flushConsumeQueueThoroughInterval), when an index file fills
 * up, and at shutdown.
 *
 * Layout (big-endian longs): physicMsgTimestamp 0, logicsMsgTimestamp 8,
 * indexMsgTimestamp 16; 5.x adds masterFlushedOffset 24, confirmPhyOffset 32.
 */
export class StoreCheckpoint {
  physicMsgTimestamp = 0;
  logicsMsgTimestamp = 0;
  indexMsgTimestamp = 0;
  masterFlushedOffset = 0;
  confirmPhyOffset = 0;

  constructor(
    private readonly disk: Disk,
    readonly path: string,
    /** 5.x writes the two offsets as well. */
    private readonly withOffsets: boolean,
  ) {
    if (disk.exists(path)) {
      // The real file is one mapped page: anything short of it reads as zeros.
      const raw = disk.read(path, 0, 40);
      const b = new Uint8Array(40);
      b.set(raw);
      this.physicMsgTimestamp = readInt64(b, 0);
      this.logicsMsgTimestamp = readInt64(b, 8);
      this.indexMsgTimestamp = readInt64(b, 16);
      if (withOffsets) {
        this.masterFlushedOffset = readInt64(b, 24);
        this.confirmPhyOffset = readInt64(b, 32);
      }
    } else {
      // RandomAccessFile creates it at once, empty, on load.
      disk.create(path);
    }
  }

  /** StoreCheckpoint.flush: writes the fields to the page cache and forces them. */
  flush(cb?: () => void): void {
    const b = new Uint8Array(this.withOffsets ? 40 : 24);
    writeInt64(b, 0, this.physicMsgTimestamp);
    writeInt64(b, 8, this.logicsMsgTimestamp);
    writeInt64(b, 16, this.indexMsgTimestamp);
    if (this.withOffsets) {
      writeInt64(b, 24, this.masterFlushedOffset);
      writeInt64(b, 32, this.confirmPhyOffset);
    }
    this.disk.write(this.path, 0, b);
    this.disk.fsync(this.path, cb === undefined ? undefined : () => cb());
  }

  /** StoreCheckpoint.getMinTimestamp: min(physic, logics) less 3 s, never negative. */
  getMinTimestamp(): number {
    return Math.max(0, Math.min(this.physicMsgTimestamp, this.logicsMsgTimestamp) - 3000);
  }

  /** StoreCheckpoint.getMinTimestampIndex: also no later than the index timestamp (messageIndexSafe). */
  getMinTimestampIndex(): number {
    return Math.min(this.getMinTimestamp(), this.indexMsgTimestamp);
  }
}
