import { closeSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import type { TraceSink } from "../sim/kernel.js";
import type { TraceFooter, TraceHeader } from "./format.js";

/** Details keys last seen for one event kind, with their encoded `"key":` bytes. */
interface Shape {
  keys: string[];
  bytes: Uint8Array[];
}

/** Bytes gathered before one write call. */
const CHUNK_BYTES = 1 << 20;

const ascii = (s: string): Uint8Array => Buffer.from(s, "latin1");

/** "00" "01" … "99" as bytes: digit pairs for integer formatting. */
const DIGIT_PAIRS = ascii(Array.from({ length: 100 }, (_, i) => String(i).padStart(2, "0")).join(""));

const T_OPEN = ascii('{"t":');
const D_OPEN = ascii(',"d":');
const CLOSE_LINE = ascii("}\n");
const MSG_FROM = ascii(',"d":{"from":');
const MSG_CONN = ascii(',"conn":');
const MSG_SENT = ascii(',"sentUs":');
const MSG_TYPE = ascii(',"type":');
const MSG_REASON = ascii(',"reason":');
const CLOSE_MSG_LINE = ascii("}}\n");

/**
 * Streams a trace to disk: each line is encoded into a byte buffer as soon
 * as it arrives, and full buffers are written to `<path>.tmp`; `finish`
 * writes the footer, fsyncs and renames. An interrupted run leaves only the
 * temporary file, never one that looks complete.
 *
 * As a TraceSink it also takes lines in parts and encodes them directly,
 * so most lines are never built as strings at all.
 *
 * Why bytes at once: a line is a short-lived string built from pieces. Kept
 * as text until a large chunk is written, thousands of them would stay
 * alive across the simulation's own allocations, be promoted to the old
 * generation and flattened late; encoded at once, each dies young.
 */
export class TraceWriter implements TraceSink {
  private readonly fd: number;
  private readonly tmp: string;
  private readonly buf = Buffer.allocUnsafe(CHUNK_BYTES);
  /** The same bytes as a plain Uint8Array, for single-byte stores (monomorphic, unlike Buffer). */
  private readonly u8 = new Uint8Array(this.buf.buffer, this.buf.byteOffset, CHUNK_BYTES);
  private pos = 0;
  private done = false;

  constructor(
    private readonly path: string,
    header: TraceHeader,
  ) {
    this.tmp = `${path}.tmp`;
    this.fd = openSync(this.tmp, "w");
    this.push(JSON.stringify(header));
  }

  /** Appends one canonical event line (as the simulation emitted it). */
  event(line: string): void {
    this.push(line);
  }

  /** TraceSink: `{"t":<t><tail>[,"d":<details as JSON>]}`. */
  line(t: number, tail: string, details: Record<string, unknown> | undefined): void {
    this.reserve(16 + tail.length * 3);
    this.ascii(T_OPEN);
    this.int(t);
    this.text(tail);
    if (details !== undefined) {
      this.ascii(D_OPEN);
      this.object(details, this.shapeOf(tail));
    }
    this.reserve(2);
    this.ascii(CLOSE_LINE);
  }

  /**
   * JSON.stringify(o), written straight into the buffer for the common flat
   * case (keys and values that need no escaping, non-negative integers);
   * any other value goes through JSON.stringify itself.
   */
  private object(o: Record<string, unknown>, shape: Shape): void {
    this.reserve(1);
    this.u8[this.pos++] = 0x7b; // {
    let first = true;
    let i = 0;
    for (const k in o) {
      const v = o[k];
      // JSON.stringify leaves out undefined, functions and symbols.
      if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
      // Events of one kind nearly always carry the same keys in the same order.
      let key: Uint8Array;
      if (shape.keys[i] === k) key = shape.bytes[i]!;
      else {
        key = this.keyBytes(k);
        shape.keys[i] = k;
        shape.bytes[i] = key;
      }
      i++;
      this.reserve(key.length + 1);
      if (!first) this.u8[this.pos++] = 0x2c; // ,
      first = false;
      this.ascii(key);
      if (typeof v === "number" && v >= 0 && Number.isSafeInteger(v)) this.int(v);
      else if (typeof v === "string") {
        if (!this.plainString(v)) this.json(JSON.stringify(v));
      } else if (!(Array.isArray(v) && this.intArray(v))) this.json(JSON.stringify(v));
    }
    this.reserve(1);
    this.u8[this.pos++] = 0x7d; // }
  }

  /** Writes `[a,b,…]` for a short array of non-negative integers; otherwise writes nothing and returns false. */
  private intArray(a: unknown[]): boolean {
    if (a.length > 16) return false;
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      if (typeof x !== "number" || !(x >= 0) || !Number.isSafeInteger(x)) return false;
    }
    this.reserve(1);
    this.u8[this.pos++] = 0x5b; // [
    for (let i = 0; i < a.length; i++) {
      if (i > 0) {
        this.reserve(1);
        this.u8[this.pos++] = 0x2c;
      }
      this.int(a[i] as number);
    }
    this.reserve(1);
    this.u8[this.pos++] = 0x5d; // ]
    return true;
  }

  /** The last key list seen for a (node, kind) tail. */
  private shapeOf(tail: string): Shape {
    let shape = this.shapes.get(tail);
    if (shape === undefined) this.shapes.set(tail, (shape = { keys: [], bytes: [] }));
    return shape;
  }

  private readonly shapes = new Map<string, Shape>();

  /**
   * Writes `"s"` when JSON would write `s` unchanged between quotes
   * (printable ASCII without `"` or `\\`); otherwise writes nothing and
   * returns false.
   */
  private plainString(s: string): boolean {
    const n = s.length;
    if (n > 512) return false;
    this.reserve(n + 2);
    const u8 = this.u8;
    const start = this.pos;
    let pos = start;
    u8[pos++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
      u8[pos++] = c;
    }
    u8[pos++] = 0x22;
    this.pos = pos;
    return true;
  }

  /** Text that is JSON already (UTF-8 encoded); a very long one is written on its own. */
  private json(text: string): void {
    if (text.length * 3 > CHUNK_BYTES / 2) {
      this.flush();
      writeSync(this.fd, text, null, "utf8");
      return;
    }
    this.reserve(text.length * 3);
    this.pos += this.buf.write(text, this.pos, "utf8");
  }

  /** `"key":` for a details key: keys repeat endlessly, so each is encoded once. */
  private keyBytes(k: string): Uint8Array {
    let bytes = this.keys.get(k);
    if (bytes === undefined) this.keys.set(k, (bytes = Buffer.from(`${JSON.stringify(k)}:`, "utf8")));
    return bytes;
  }

  private readonly keys = new Map<string, Uint8Array>();

  /** TraceSink: a network message's line, from its parts. */
  message(t: number, tail: string, from: string, conn: number, sentUs: number, type: string, reason: string | null): void {
    this.reserve(128 + (tail.length + from.length + type.length + (reason === null ? 0 : reason.length)) * 3);
    this.ascii(T_OPEN);
    this.int(t);
    this.text(tail);
    this.ascii(MSG_FROM);
    this.text(from);
    this.ascii(MSG_CONN);
    this.int(conn);
    this.ascii(MSG_SENT);
    this.int(sentUs);
    this.ascii(MSG_TYPE);
    this.text(type);
    if (reason !== null) {
      this.ascii(MSG_REASON);
      this.text(reason);
    }
    this.ascii(CLOSE_MSG_LINE);
  }

  /** Makes room for `bytes` more bytes (a line never exceeds a chunk: details are small). */
  private reserve(bytes: number): void {
    if (this.pos + bytes > CHUNK_BYTES) this.flush();
  }

  private ascii(bytes: Uint8Array): void {
    const u8 = this.u8;
    let pos = this.pos;
    for (let i = 0; i < bytes.length; i++) u8[pos++] = bytes[i]!;
    this.pos = pos;
  }

  /** A non-negative integer's decimal digits, as JSON.stringify writes them; anything else via String(). */
  private int(n: number): void {
    this.reserve(24);
    if (n >= 0 && n < 0x80000000 && n === (n | 0)) {
      this.small(n);
    } else if (n >= 0 && Number.isSafeInteger(n)) {
      // Times reach 10^10 µs and more: the high part, then the low nine digits padded.
      const hi = Math.floor(n / 1e9);
      this.int(hi);
      this.small(n - hi * 1e9, 9);
    } else {
      this.pos += this.buf.write(String(n), this.pos, "latin1");
    }
  }

  /** An integer in [0, 2^31) in decimal, left-padded with zeros to `width` digits. */
  private small(n: number, width = 1): void {
    let digits = n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : n < 1000000 ? 6 : n < 10000000 ? 7 : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10;
    if (digits < width) digits = width;
    const u8 = this.u8;
    const start = this.pos;
    let pos = start + digits;
    this.pos = pos;
    // Two digits per division, from a table of "00".."99".
    while (pos - start >= 2) {
      const q = (n / 100) | 0;
      const r = (n - q * 100) << 1;
      u8[--pos] = DIGIT_PAIRS[r + 1]!;
      u8[--pos] = DIGIT_PAIRS[r]!;
      n = q;
    }
    if (pos > start) u8[--pos] = 0x30 + n;
  }

  /** A string that repeats (a tail, a quoted name): its bytes are encoded once. */
  private text(s: string): void {
    let bytes = this.encoded.get(s);
    if (bytes === undefined) {
      bytes = Buffer.from(s, "utf8");
      this.encoded.set(s, bytes);
    }
    if (bytes.length <= 32) this.ascii(bytes);
    else {
      this.buf.set(bytes, this.pos);
      this.pos += bytes.length;
    }
  }

  private readonly encoded = new Map<string, Uint8Array>();

  private push(line: string): void {
    // A UTF-16 unit takes at most 3 UTF-8 bytes; the newline one more.
    if (this.pos + line.length * 3 + 1 > CHUNK_BYTES) {
      this.flush();
      if (line.length * 3 + 1 > CHUNK_BYTES) {
        // A huge line (a footer with many examples): written as it is.
        writeSync(this.fd, line + "\n", null, "utf8");
        return;
      }
    }
    this.pos += this.buf.write(line, this.pos, "utf8");
    this.u8[this.pos++] = 0x0a;
  }

  private flush(): void {
    let off = 0;
    while (off < this.pos) off += writeSync(this.fd, this.buf, off, this.pos - off);
    this.pos = 0;
  }

  finish(footer: TraceFooter): void {
    if (this.done) return;
    this.push(JSON.stringify(footer));
    this.flush();
    closeSync(this.fd);
    // Renaming over an existing file makes ext4 (auto_da_alloc) force the new one to disk first;
    // removing the old one before the rename avoids that stall. Completeness is the footer's to
    // tell, never the file name's, so no fsync is needed for the guarantee either.
    try {
      unlinkSync(this.path);
    } catch {
      // There was none.
    }
    renameSync(this.tmp, this.path);
    this.done = true;
  }

  /**
   * Gives up. By default the temporary file is removed; with `keepAs` the
   * events written so far are kept under that name (a model crash's trace,
   * to study), which has no footer and so never passes for a complete trace.
   */
  abort(keepAs?: string): void {
    if (this.done) return;
    this.done = true;
    try {
      if (keepAs !== undefined) this.flush();
      closeSync(this.fd);
    } catch {
      // Already closed.
    }
    try {
      if (keepAs !== undefined) renameSync(this.tmp, keepAs);
      else unlinkSync(this.tmp);
    } catch {
      // Already gone.
    }
  }
}
