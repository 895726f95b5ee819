import type { Disk } from "../../sim/disk.js";
import { CheckpointFile } from "./checkpoint.js";

/** UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET of OffsetsForLeaderEpoch. */
export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1;

export interface EpochEntry {
  epoch: number;
  startOffset: number;
}

export interface EpochEndOffset {
  epoch: number;
  endOffset: number;
}

/**
 * LeaderEpochFileCache: the start offset of every leader epoch this
 * replica's log holds, kept in `leader-epoch-checkpoint` beside the log and
 * rewritten on every change. Invariant: epochs and start offsets both
 * strictly increase along `entries`.
 */
export class EpochCache {
  private entries: EpochEntry[] = [];
  private readonly file: CheckpointFile;

  constructor(disk: Disk, dir: string, alive: () => boolean) {
    this.file = new CheckpointFile(disk, `${dir}/leader-epoch-checkpoint`, alive);
    for (const line of this.file.read() ?? []) {
      const epoch = Number(line[0]);
      const startOffset = Number(line[1]);
      if (Number.isInteger(epoch) && Number.isInteger(startOffset)) this.entries.push({ epoch, startOffset });
    }
  }

  get all(): readonly EpochEntry[] {
    return this.entries;
  }

  /** The latest epoch, or UNDEFINED_EPOCH when empty. */
  latestEpoch(): number {
    return this.entries.length === 0 ? UNDEFINED_EPOCH : this.entries[this.entries.length - 1]!.epoch;
  }

  /** The start offset of `epoch`, if known. */
  startOffsetOf(epoch: number): number | undefined {
    for (const e of this.entries) if (e.epoch === epoch) return e.startOffset;
    return undefined;
  }

  /**
   * Records that `epoch` starts at `startOffset` (LeaderEpochFileCache.assign):
   * ignored unless it is a newer epoch; entries whose start offset is not
   * below the new one are dropped first, which keeps the invariant.
   */
  assign(epoch: number, startOffset: number): void {
    const latest = this.entries[this.entries.length - 1];
    if (latest !== undefined && epoch <= latest.epoch) return;
    while (this.entries.length > 0 && this.entries[this.entries.length - 1]!.startOffset >= startOffset) this.entries.pop();
    this.entries.push({ epoch, startOffset });
    this.flush();
  }

  /** Drops every epoch that starts at or after `endOffset` (truncation of the log's tail). */
  truncateFromEnd(endOffset: number): void {
    const before = this.entries.length;
    while (this.entries.length > 0 && this.entries[this.entries.length - 1]!.startOffset >= endOffset) this.entries.pop();
    if (this.entries.length !== before) this.flush();
  }

  clear(): void {
    if (this.entries.length === 0) return;
    this.entries = [];
    this.flush();
  }

  /**
   * The current answer to OffsetsForLeaderEpoch (KIP-279, used from IBP 2.0):
   * the largest epoch ≤ `requested` and the start offset of the next epoch,
   * or the log end offset when `requested` is the latest epoch.
   */
  endOffsetFor(requested: number, logEndOffset: number): EpochEndOffset {
    if (requested === UNDEFINED_EPOCH || this.entries.length === 0) return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    const latest = this.entries[this.entries.length - 1]!;
    if (latest.epoch === requested) return { epoch: requested, endOffset: logEndOffset };
    let floor: EpochEntry | undefined;
    let higher: EpochEntry | undefined;
    for (const e of this.entries) {
      if (e.epoch <= requested) floor = e;
      else if (higher === undefined) higher = e;
    }
    if (higher === undefined) return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    if (floor === undefined) return { epoch: requested, endOffset: higher.startOffset };
    return { epoch: floor.epoch, endOffset: higher.startOffset };
  }

  /**
   * The answer before KIP-279 (IBP 0.11 to 1.1, OffsetsForLeaderEpoch v0):
   * an offset only. For an epoch this log never had, the start of the next
   * higher epoch is returned as if it were that epoch's end — the flaw
   * behind KAFKA-6361.
   */
  endOffsetForV0(requested: number, logEndOffset: number): number {
    if (this.entries.length === 0) return UNDEFINED_EPOCH_OFFSET;
    const latest = this.entries[this.entries.length - 1]!;
    if (requested === latest.epoch) return logEndOffset;
    if (requested < this.entries[0]!.epoch) return UNDEFINED_EPOCH_OFFSET;
    for (const e of this.entries) if (e.epoch > requested) return e.startOffset;
    return UNDEFINED_EPOCH_OFFSET;
  }

  private flush(): void {
    this.file.write(() => this.entries.map((e) => `${e.epoch} ${e.startOffset}`));
  }
}
