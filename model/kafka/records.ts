import { crc32c } from "./crc32c.js";

/**
 * A record batch as Kafka's log format v2 lays it out (DefaultRecordBatch):
 *
 *   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 |
 *   magic int8 (=2) | crc uint32 | attributes int16 | lastOffsetDelta int32 |
 *   baseTimestamp int64 | maxTimestamp int64 | producerId int64 |
 *   producerEpoch int16 | baseSequence int32 | recordCount int32 | records
 *
 * The CRC covers everything from `attributes` to the end, so the leader can
 * stamp the base offset and its leader epoch into a producer's batch without
 * recomputing it, exactly as the real broker does. A record here is a varint
 * length and the UTF-8 value (the real record also carries a key, headers and
 * deltas, which the workload never uses).
 */
export const BATCH_HEADER_BYTES = 61;
const MAGIC = 2;
const CRC_OFFSET = 17;
const ATTRIBUTES_OFFSET = 21;
const LENGTH_OFFSET = 8;
const EPOCH_OFFSET = 12;
/** batchLength counts the bytes after the length field itself. */
const LOG_OVERHEAD = 12;

/** RecordBatch.NO_PRODUCER_ID / NO_PRODUCER_EPOCH / NO_SEQUENCE. */
export const NO_PRODUCER_ID = -1;
export const NO_PRODUCER_EPOCH = -1;
export const NO_SEQUENCE = -1;

/**
 * A batch held in memory. Immutable once built: the leader's batch object
 * travels in fetch responses and is shared by the followers' in-memory
 * indexes, the way a copy would be, without the copy.
 */
export interface Batch {
  readonly baseOffset: number;
  /** Invariant: lastOffset = baseOffset + values.length - 1. */
  readonly lastOffset: number;
  readonly epoch: number;
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly baseSequence: number;
  readonly timestampMs: number;
  readonly values: readonly string[];
  /** The encoded batch, exactly as written to the segment file. */
  readonly bytes: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Batch bytes are carved out of shared 64 KiB slabs: allocating a small
 * typed array costs several times more than a view into an existing buffer,
 * and every record needs two (the producer's batch and the leader's stamped
 * copy). A slab lives as long as any batch that views it. Only the layout in
 * memory depends on this, never a byte of content.
 */
const SLAB_BYTES = 65536;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

function allocBytes(n: number): Uint8Array {
  if (n > SLAB_BYTES / 4) return new Uint8Array(n);
  if (slabUsed + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += n;
  return out;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n >>>= 7;
    size++;
  }
  return size;
}

function getInt64(view: DataView, at: number): number {
  return view.getInt32(at) * 4294967296 + view.getUint32(at + 4);
}

export interface BatchFields {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  timestampMs: number;
  values: readonly string[];
}

// Big-endian writes straight into the array: a DataView per batch costs more than the batch.
function put32(b: Uint8Array, at: number, n: number): void {
  b[at] = n >>> 24;
  b[at + 1] = n >>> 16;
  b[at + 2] = n >>> 8;
  b[at + 3] = n;
}

function put64(b: Uint8Array, at: number, n: number): void {
  put32(b, at, Math.floor(n / 4294967296));
  put32(b, at + 4, n >>> 0);
}

/** True if every character is 7-bit ASCII, so that its UTF-8 form is one byte per character. */
function isAscii(v: string): boolean {
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * Encodes a batch the way a producer does: base offset 0 and epoch -1, to
 * be stamped by the leader; the CRC is computed here, once.
 */
export function encodeBatch(fields: BatchFields): Uint8Array {
  const values = fields.values;
  let ascii = true;
  let recordsBytes = 0;
  for (const v of values) {
    if (ascii && !isAscii(v)) ascii = false;
  }
  const encoded: Uint8Array[] | null = ascii ? null : values.map((v) => encoder.encode(v));
  for (let i = 0; i < values.length; i++) {
    const len = encoded === null ? values[i]!.length : encoded[i]!.length;
    recordsBytes += varintSize(len) + len;
  }
  const bytes = allocBytes(BATCH_HEADER_BYTES + recordsBytes);
  put64(bytes, 0, 0);
  put32(bytes, LENGTH_OFFSET, bytes.length - LOG_OVERHEAD);
  put32(bytes, EPOCH_OFFSET, -1);
  bytes[16] = MAGIC;
  // attributes: no compression, not transactional, no control batch.
  bytes[21] = 0;
  bytes[22] = 0;
  put32(bytes, 23, values.length - 1);
  put64(bytes, 27, fields.timestampMs);
  put64(bytes, 35, fields.timestampMs);
  put64(bytes, 43, fields.producerId);
  bytes[51] = (fields.producerEpoch >>> 8) & 0xff;
  bytes[52] = fields.producerEpoch & 0xff;
  put32(bytes, 53, fields.baseSequence);
  put32(bytes, 57, values.length);
  let at = BATCH_HEADER_BYTES;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    let n = encoded === null ? v.length : encoded[i]!.length;
    while (n >= 0x80) {
      bytes[at++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    bytes[at++] = n;
    if (encoded === null) {
      for (let c = 0; c < v.length; c++) bytes[at++] = v.charCodeAt(c);
    } else {
      bytes.set(encoded[i]!, at);
      at += encoded[i]!.length;
    }
  }
  put32(bytes, CRC_OFFSET, crc32c(bytes, ATTRIBUTES_OFFSET));
  return bytes;
}

function get32u(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** True if the batch's stored CRC matches its content (DefaultRecordBatch.isValid). */
export function batchCrcValid(bytes: Uint8Array): boolean {
  if (bytes.length < BATCH_HEADER_BYTES) return false;
  return get32u(bytes, CRC_OFFSET) === crc32c(bytes, ATTRIBUTES_OFFSET);
}

/**
 * The leader's copy of a producer batch with its offset and leader epoch
 * stamped in (LogValidator assigns offsets; the epoch sits outside the CRC).
 */
export function stampBatch(producerBytes: Uint8Array, baseOffset: number, epoch: number, fields: BatchFields): Batch {
  const bytes = allocBytes(producerBytes.length);
  bytes.set(producerBytes);
  put64(bytes, 0, baseOffset);
  put32(bytes, EPOCH_OFFSET, epoch);
  return {
    baseOffset,
    lastOffset: baseOffset + fields.values.length - 1,
    epoch,
    producerId: fields.producerId,
    producerEpoch: fields.producerEpoch,
    baseSequence: fields.baseSequence,
    timestampMs: fields.timestampMs,
    values: fields.values,
    bytes,
  };
}

/** Builds an in-memory batch directly (tests, internal topics): encode, then stamp. */
export function makeBatch(baseOffset: number, epoch: number, fields: BatchFields): Batch {
  return stampBatch(encodeBatch(fields), baseOffset, epoch, fields);
}

export type DecodeResult = { batch: Batch; size: number } | { error: "incomplete" | "corrupt" };

/**
 * Reads one batch at `at` from a segment's bytes, checking what the real
 * LogSegment.recover checks: a complete header, a sane length, magic 2 and
 * the CRC. A torn or zeroed tail fails one of these.
 */
export function decodeBatchAt(data: Uint8Array, at: number): DecodeResult {
  if (data.length - at < BATCH_HEADER_BYTES) return { error: "incomplete" };
  const view = new DataView(data.buffer, data.byteOffset + at, data.length - at);
  const size = view.getInt32(LENGTH_OFFSET) + LOG_OVERHEAD;
  if (size < BATCH_HEADER_BYTES) return { error: "corrupt" };
  if (size > data.length - at) return { error: "incomplete" };
  if (view.getInt8(16) !== MAGIC) return { error: "corrupt" };
  const bytes = data.slice(at, at + size);
  if (!batchCrcValid(bytes)) return { error: "corrupt" };
  const bv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = bv.getInt32(57);
  if (count < 1 || bv.getInt32(23) !== count - 1) return { error: "corrupt" };
  const values: string[] = [];
  let pos = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    let len = 0;
    let shift = 0;
    for (;;) {
      if (pos >= size) return { error: "corrupt" };
      const b = bytes[pos++]!;
      len |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
    }
    if (pos + len > size) return { error: "corrupt" };
    values.push(decoder.decode(bytes.subarray(pos, pos + len)));
    pos += len;
  }
  const baseOffset = getInt64(bv, 0);
  return {
    batch: {
      baseOffset,
      lastOffset: baseOffset + count - 1,
      epoch: bv.getInt32(EPOCH_OFFSET),
      producerId: getInt64(bv, 43),
      producerEpoch: bv.getInt16(51),
      baseSequence: bv.getInt32(53),
      timestampMs: getInt64(bv, 27),
      values,
      bytes,
    },
    size,
  };
}

/** The sequence number of the batch's last record (sequences wrap at 2^31 in Kafka; never reached here). */
export function lastSequence(batch: Pick<Batch, "baseSequence" | "values">): number {
  return batch.baseSequence === NO_SEQUENCE ? NO_SEQUENCE : batch.baseSequence + batch.values.length - 1;
}
