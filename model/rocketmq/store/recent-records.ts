import type { DecodedRecord } from "./codec.js";
import type { TailMirror } from "./mapped-file-queue.js";

/**
 * How many of the newest appends keep their decoded form. The dispatcher
 * reads a record 1 ms after its append and up-to-date consumers right
 * after that, so a few hundred records cover seconds of traffic; a reader
 * further behind decodes the bytes. A larger cache costs more than it
 * saves: records it keeps alive outlive V8's young generation, and every
 * scavenge then copies them.
 */
export const RECENT_RECORDS = 256;

/**
 * A simulator-only cache: the decoded form (DecodedRecord: what the
 * dispatcher and what a reader would get from the bytes) of the last
 * RECENT_RECORDS records this process appended, by CommitLog offset.
 * Without it every record would be parsed again by the dispatcher 1 ms
 * after its append, and once more by each pull that reads it (the broker
 * re-runs held long-poll pulls on every dispatch); decoding is a pure
 * function of the bytes, so decoding once at the append gives the same
 * fields.
 *
 * It answers only for bytes the CommitLog's TailMirror holds, which is
 * exactly where the readers would otherwise decode the mirror's bytes, and
 * it forgets everything when the mirror is reset (truncation, deleted
 * files): between two resets bytes are written once, at increasing offsets,
 * so the bytes at an offset are still the ones decoded when it was
 * appended. It lives in the MessageStore's process, like the mirror: a
 * crash loses it, and after recovery everything is read from the disk.
 *
 * The records are shared by every reader: the dispatch request as is, the
 * message as a copy of its fields whose body and (frozen) properties are
 * shared, so treat both as read-only.
 */
export class RecentRecords {
  /** A ring of the newest records, oldest at `head`; offsets increase along it. */
  private readonly offsets: Float64Array;
  private readonly records: (DecodedRecord | undefined)[];
  private head = 0;
  private count = 0;
  /** mirror.resets when the cache was last known valid. */
  private resets: number;

  constructor(
    private readonly mirror: TailMirror,
    private readonly capacity = RECENT_RECORDS,
  ) {
    this.offsets = new Float64Array(capacity);
    this.records = new Array<DecodedRecord | undefined>(capacity).fill(undefined);
    this.resets = mirror.resets;
  }

  /** Remembers the record the process just appended at `offset`, decoded from (or exactly as) the bytes it wrote. */
  add(offset: number, decoded: DecodedRecord): void {
    this.sync();
    // Appends go forward between resets; anything else would break the ordering lookups rely on, so start over.
    if (this.count > 0 && offset <= this.offsets[this.slot(this.count - 1)]!) this.clear();
    // Every reader shares these properties from now on: freezing makes a stray write fail loudly instead of leaking into other reads.
    Object.freeze(decoded.message.properties);
    let i: number;
    if (this.count < this.capacity) {
      i = this.slot(this.count);
      this.count++;
    } else {
      // Full: the newest record takes the oldest one's slot.
      i = this.head;
      this.head = this.slot(1);
    }
    this.offsets[i] = offset;
    this.records[i] = decoded;
  }

  /** The record appended at `offset`, if it is remembered and the mirror still holds all its bytes. */
  get(offset: number): DecodedRecord | undefined {
    this.sync();
    // Binary search over the ring in offset order.
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const i = this.slot(mid);
      const at = this.offsets[i]!;
      if (at < offset) lo = mid + 1;
      else if (at > offset) hi = mid - 1;
      else {
        const rec = this.records[i]!;
        return this.mirror.indexOf(offset, rec.dispatch.size) >= 0 ? rec : undefined;
      }
    }
    return undefined;
  }

  /** How many records are remembered (for tests). */
  get size(): number {
    this.sync();
    return this.count;
  }

  private slot(n: number): number {
    const i = this.head + n;
    return i >= this.capacity ? i - this.capacity : i;
  }

  /** Forgets everything if the mirror was reset since the last call. */
  private sync(): void {
    if (this.mirror.resets === this.resets) return;
    this.resets = this.mirror.resets;
    this.clear();
  }

  private clear(): void {
    this.records.fill(undefined);
    this.head = 0;
    this.count = 0;
  }
}
