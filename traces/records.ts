import { writeSync } from "node:fs";

/**
 * The binary records a TraceWriter hands to its formatter, and the
 * formatter that turns them into trace lines. Encoding a record costs the
 * simulation's thread a fraction of writing JSON text (numbers are stored,
 * not printed; keys and names are small ids), and the formatting can then
 * run on another thread.
 *
 * Records are little-endian, one after another in a slot:
 * - LINE: u8 1, f64 t, u32 tail, u16 fields (NO_DETAILS: none), then per
 *   field u32 key, u8 tag and its value: INT f64 | PLAIN u32 n + n latin1
 *   bytes (written between quotes) | JSON u32 n + n UTF-8 bytes |
 *   INTS u16 n + n f64;
 * - MSG: u8 2, f64 t, u32 tail, u32 from, f64 conn, f64 sentUs, u32 type,
 *   i32 reason (-1: none);
 * - RAW: u8 3, u32 n, n UTF-8 bytes, written as they are.
 * Ids name symbols (a `,"n":…,"k":…` tail, a quoted name, a `"key":`),
 * defined in a separate append-only area as u32 id, u32 n, n UTF-8 bytes.
 */
export const REC_LINE = 1;
export const REC_MSG = 2;
export const REC_RAW = 3;
export const TAG_INT = 0;
export const TAG_PLAIN = 1;
export const TAG_JSON = 2;
export const TAG_INTS = 3;
export const NO_DETAILS = 0xffff;

const ascii = (s: string): Uint8Array => Buffer.from(s, "latin1");
const DIGIT_PAIRS = ascii(Array.from({ length: 100 }, (_, i) => String(i).padStart(2, "0")).join(""));
const T_OPEN = ascii('{"t":');
const D_OPEN = ascii(',"d":{');
const CLOSE_DETAILS_LINE = ascii("}}\n");
const CLOSE_LINE = ascii("}\n");
const MSG_FROM = ascii(',"d":{"from":');
const MSG_CONN = ascii(',"conn":');
const MSG_SENT = ascii(',"sentUs":');
const MSG_TYPE = ascii(',"type":');
const MSG_REASON = ascii(',"reason":');

/** Output bytes gathered before one write call. */
const OUT_BYTES = 1 << 20;

/** Turns records into trace text and writes it to a file descriptor. */
export class RecordFormatter {
  private readonly out = Buffer.allocUnsafe(OUT_BYTES);
  private readonly o8 = new Uint8Array(this.out.buffer, this.out.byteOffset, OUT_BYTES);
  private pos = 0;
  private readonly symbols: Uint8Array[] = [];
  private symbolsRead = 0;

  constructor(
    private readonly fd: number,
    private readonly symbolArea: Uint8Array,
  ) {}

  /** Reads symbol definitions appended up to byte `end` of the symbol area. */
  readSymbols(end: number): void {
    const dv = new DataView(this.symbolArea.buffer, this.symbolArea.byteOffset, this.symbolArea.byteLength);
    let p = this.symbolsRead;
    while (p < end) {
      const id = dv.getUint32(p, true);
      const n = dv.getUint32(p + 4, true);
      this.symbols[id] = this.symbolArea.slice(p + 8, p + 8 + n);
      p += 8 + n;
    }
    this.symbolsRead = p;
  }

  /** Formats the records in `data[start, end)`. */
  consume(data: Uint8Array, dv: DataView, start: number, end: number): void {
    let p = start;
    while (p < end) {
      const kind = data[p]!;
      if (kind === REC_LINE) p = this.line(data, dv, p + 1);
      else if (kind === REC_MSG) p = this.msg(dv, p + 1);
      else {
        const n = dv.getUint32(p + 1, true);
        this.raw(data, p + 5, n);
        p += 5 + n;
      }
    }
  }

  private line(data: Uint8Array, dv: DataView, p: number): number {
    const t = dv.getFloat64(p, true);
    const tail = this.symbols[dv.getUint32(p + 8, true)]!;
    const fields = dv.getUint16(p + 12, true);
    p += 14;
    this.room(64 + tail.length);
    this.bytes(T_OPEN);
    this.int(t);
    this.bytes(tail);
    if (fields === NO_DETAILS) {
      this.bytes(CLOSE_LINE);
      return p;
    }
    this.bytes(D_OPEN);
    for (let i = 0; i < fields; i++) {
      const key = this.symbols[dv.getUint32(p, true)]!;
      const tag = data[p + 4]!;
      p += 5;
      this.room(key.length + 32);
      if (i > 0) this.o8[this.pos++] = 0x2c;
      this.bytes(key);
      if (tag === TAG_INT) {
        this.int(dv.getFloat64(p, true));
        p += 8;
      } else if (tag === TAG_PLAIN || tag === TAG_JSON) {
        const n = dv.getUint32(p, true);
        p += 4;
        this.room(n + 2);
        if (tag === TAG_PLAIN) this.o8[this.pos++] = 0x22;
        this.raw(data, p, n);
        if (tag === TAG_PLAIN) this.o8[this.pos++] = 0x22;
        p += n;
      } else {
        const n = dv.getUint16(p, true);
        p += 2;
        this.o8[this.pos++] = 0x5b;
        for (let j = 0; j < n; j++) {
          this.room(24);
          if (j > 0) this.o8[this.pos++] = 0x2c;
          this.int(dv.getFloat64(p, true));
          p += 8;
        }
        this.o8[this.pos++] = 0x5d;
      }
    }
    this.room(3);
    this.bytes(CLOSE_DETAILS_LINE);
    return p;
  }

  private msg(dv: DataView, p: number): number {
    const t = dv.getFloat64(p, true);
    const tail = this.symbols[dv.getUint32(p + 8, true)]!;
    const from = this.symbols[dv.getUint32(p + 12, true)]!;
    const conn = dv.getFloat64(p + 16, true);
    const sentUs = dv.getFloat64(p + 24, true);
    const type = this.symbols[dv.getUint32(p + 32, true)]!;
    const reasonId = dv.getInt32(p + 36, true);
    const reason = reasonId < 0 ? null : this.symbols[reasonId]!;
    this.room(160 + tail.length + from.length + type.length + (reason === null ? 0 : reason.length));
    this.bytes(T_OPEN);
    this.int(t);
    this.bytes(tail);
    this.bytes(MSG_FROM);
    this.bytes(from);
    this.bytes(MSG_CONN);
    this.int(conn);
    this.bytes(MSG_SENT);
    this.int(sentUs);
    this.bytes(MSG_TYPE);
    this.bytes(type);
    if (reason !== null) {
      this.bytes(MSG_REASON);
      this.bytes(reason);
    }
    this.bytes(CLOSE_DETAILS_LINE);
    return p + 40;
  }

  /** Copies `n` bytes from `data[p…]`, in pieces when they exceed the output buffer. */
  private raw(data: Uint8Array, p: number, n: number): void {
    while (n > 0) {
      if (this.pos === OUT_BYTES) this.flush();
      const k = Math.min(n, OUT_BYTES - this.pos);
      this.o8.set(data.subarray(p, p + k), this.pos);
      this.pos += k;
      p += k;
      n -= k;
    }
  }

  private room(bytes: number): void {
    if (this.pos + bytes > OUT_BYTES) this.flush();
  }

  private bytes(b: Uint8Array): void {
    const o8 = this.o8;
    let pos = this.pos;
    for (let i = 0; i < b.length; i++) o8[pos++] = b[i]!;
    this.pos = pos;
  }

  /** A safe non-negative integer (the encoder stores no other), as JSON.stringify prints it. */
  private int(n: number): void {
    if (n < 0x80000000) this.small(n, 1);
    else {
      // Times reach 10^10 µs and more: the high part, then the low nine digits padded.
      const hi = Math.floor(n / 1e9);
      this.int(hi);
      this.small(n - hi * 1e9, 9);
    }
  }

  private small(n: number, width: number): void {
    let digits = n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : n < 1000000 ? 6 : n < 10000000 ? 7 : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10;
    if (digits < width) digits = width;
    const o8 = this.o8;
    const start = this.pos;
    let pos = start + digits;
    this.pos = pos;
    while (pos - start >= 2) {
      const q = (n / 100) | 0;
      const r = (n - q * 100) << 1;
      o8[--pos] = DIGIT_PAIRS[r + 1]!;
      o8[--pos] = DIGIT_PAIRS[r]!;
      n = q;
    }
    if (pos > start) o8[--pos] = 0x30 + n;
  }

  flush(): void {
    let off = 0;
    while (off < this.pos) off += writeSync(this.fd, this.out, off, this.pos - off);
    this.pos = 0;
  }
}
