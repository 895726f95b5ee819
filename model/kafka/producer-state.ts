import { NO_PRODUCER_EPOCH, NO_SEQUENCE, lastSequence, type Batch } from "./records.js";

/** ProducerStateEntry.NUM_BATCHES_TO_RETAIN: the broker remembers a producer's last 5 batches. */
export const NUM_BATCHES_TO_RETAIN = 5;

interface CachedBatch {
  producerEpoch: number;
  firstSeq: number;
  lastSeq: number;
  firstOffset: number;
  lastOffset: number;
}

interface ProducerEntry {
  epoch: number;
  /** Oldest first; at most NUM_BATCHES_TO_RETAIN. */
  batches: CachedBatch[];
}

export type SequenceCheck =
  | { kind: "append" }
  | { kind: "duplicate"; firstOffset: number; lastOffset: number }
  | { kind: "error"; error: "INVALID_PRODUCER_EPOCH" | "OUT_OF_ORDER_SEQUENCE_NUMBER" };

/**
 * ProducerStateManager: per producer id, its epoch and the sequence and
 * offset ranges of its last five batches, rebuilt from the log after a
 * restart or a truncation (so it follows the log, not the process).
 */
export class ProducerStateTable {
  private readonly producers = new Map<number, ProducerEntry>();

  /**
   * What a leader does with an idempotent batch before appending it
   * (UnifiedLog.analyzeAndValidateProducerState, ProducerAppendInfo):
   * a resend of a retained batch is a duplicate and gets the original
   * offsets; a stale epoch is fenced; a sequence that does not follow the
   * last one is out of order. A producer this log knows nothing about may
   * start at any sequence (its records may have been removed).
   */
  check(producerId: number, producerEpoch: number, firstSeq: number, count: number): SequenceCheck {
    const entry = this.producers.get(producerId);
    if (entry === undefined) return { kind: "append" };
    const lastSeq = firstSeq + count - 1;
    for (const b of entry.batches) {
      if (b.producerEpoch === producerEpoch && b.firstSeq === firstSeq && b.lastSeq === lastSeq) {
        return { kind: "duplicate", firstOffset: b.firstOffset, lastOffset: b.lastOffset };
      }
    }
    if (producerEpoch < entry.epoch) return { kind: "error", error: "INVALID_PRODUCER_EPOCH" };
    if (producerEpoch > entry.epoch) {
      return firstSeq === 0 || entry.epoch === NO_PRODUCER_EPOCH ? { kind: "append" } : { kind: "error", error: "OUT_OF_ORDER_SEQUENCE_NUMBER" };
    }
    const last = entry.batches[entry.batches.length - 1];
    const currentLastSeq = last === undefined ? NO_SEQUENCE : last.lastSeq;
    if (currentLastSeq === NO_SEQUENCE || firstSeq === currentLastSeq + 1) return { kind: "append" };
    return { kind: "error", error: "OUT_OF_ORDER_SEQUENCE_NUMBER" };
  }

  /** Records an appended batch (leader or follower). */
  update(batch: Batch): void {
    if (batch.producerId < 0 || batch.baseSequence === NO_SEQUENCE) return;
    let entry = this.producers.get(batch.producerId);
    if (entry === undefined) {
      entry = { epoch: batch.producerEpoch, batches: [] };
      this.producers.set(batch.producerId, entry);
    }
    if (batch.producerEpoch > entry.epoch) {
      entry.epoch = batch.producerEpoch;
      entry.batches = [];
    }
    // Once five are retained, the oldest entry is recycled for the newest (this runs for every batch on every replica).
    const cached = entry.batches.length >= NUM_BATCHES_TO_RETAIN ? entry.batches.shift()! : ({} as CachedBatch);
    cached.producerEpoch = batch.producerEpoch;
    cached.firstSeq = batch.baseSequence;
    cached.lastSeq = lastSequence(batch);
    cached.firstOffset = batch.baseOffset;
    cached.lastOffset = batch.lastOffset;
    entry.batches.push(cached);
  }

  /** Rebuilds the table from the batches a log holds (after recovery or truncation). */
  rebuild(batches: readonly Batch[]): void {
    this.producers.clear();
    for (const b of batches) this.update(b);
  }
}
