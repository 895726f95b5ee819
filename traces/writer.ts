import { closeSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import type { TraceSink } from "../sim/kernel.js";
import type { TraceFooter, TraceHeader } from "./format.js";

/** Bytes gathered before one write call. */
const CHUNK_BYTES = 1 << 20;

const ascii = (s: string): Uint8Array => Buffer.from(s, "latin1");

/** True when JSON.stringify would write `s` between quotes unchanged: printable ASCII without `"` or `\\`. */
function plainAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}
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
      this.object(details);
    }
    this.reserve(2);
    this.ascii(CLOSE_LINE);
  }

  /**
   * JSON.stringify(o), written straight into the buffer for the common flat
   * case (keys and values that need no escaping, non-negative integers);
   * any other value goes through JSON.stringify itself.
   */
  private object(o: Record<string, unknown>): void {
    this.reserve(1);
    this.buf[this.pos++] = 0x7b; // {
    let first = true;
    for (const k in o) {
      const v = o[k];
      // JSON.stringify leaves out undefined, functions and symbols.
      if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
      this.reserve(k.length * 6 + 4);
      if (!first) this.buf[this.pos++] = 0x2c; // ,
      first = false;
      this.text(this.quoteKey(k));
      this.buf[this.pos++] = 0x3a; // :
      if (typeof v === "number" && v >= 0 && Number.isSafeInteger(v)) {
        this.reserve(16);
        this.int(v);
      } else if (typeof v === "string" && v.length <= 256 && plainAscii(v)) {
        this.reserve(v.length + 2);
        this.buf[this.pos++] = 0x22;
        this.pos += this.buf.write(v, this.pos, "latin1");
        this.buf[this.pos++] = 0x22;
      } else {
        const json = JSON.stringify(v);
        this.reserve(json.length * 3);
        this.pos += this.buf.write(json, this.pos, "utf8");
      }
    }
    this.reserve(1);
    this.buf[this.pos++] = 0x7d; // }
  }

  /** Keys repeat endlessly: quoted once. */
  private quoteKey(k: string): string {
    let q = this.keys.get(k);
    if (q === undefined) this.keys.set(k, (q = JSON.stringify(k)));
    return q;
  }

  private readonly keys = new Map<string, string>();

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
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < bytes.length; i++) buf[pos++] = bytes[i]!;
    this.pos = pos;
  }

  /** A non-negative integer's decimal digits, as JSON.stringify writes them; anything else via String(). */
  private int(n: number): void {
    if (!(n >= 0 && Number.isSafeInteger(n))) {
      this.pos += this.buf.write(String(n), this.pos, "latin1");
      return;
    }
    const buf = this.buf;
    const start = this.pos;
    let end = start;
    do {
      const q = Math.floor(n / 10);
      buf[end++] = 0x30 + (n - q * 10);
      n = q;
    } while (n > 0);
    // Digits came least significant first.
    for (let i = start, j = end - 1; i < j; i++, j--) {
      const c = buf[i]!;
      buf[i] = buf[j]!;
      buf[j] = c;
    }
    this.pos = end;
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
    this.buf[this.pos++] = 0x0a;
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
