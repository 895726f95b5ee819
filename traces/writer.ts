import { closeSync, openSync, renameSync, unlinkSync } from "node:fs";
import { Worker } from "node:worker_threads";
import type { TraceSink } from "../sim/kernel.js";
import type { TraceFooter, TraceHeader } from "./format.js";
import { NO_DETAILS, REC_LINE, REC_MSG, REC_RAW, RecordFormatter, TAG_INT, TAG_INTS, TAG_JSON, TAG_PLAIN } from "./records.js";

/**
 * Streams a trace to disk. Lines reach the writer in parts (as a
 * TraceSink) or whole (`event`); they are encoded as compact binary
 * records into shared memory, and a formatting thread turns the records
 * into text and writes `<path>.tmp`. `finish` writes the footer, waits for
 * the thread and renames, so an interrupted run leaves only the temporary
 * file, never one that looks complete (completeness is the footer's to
 * tell; no fsync is needed for that).
 *
 * Why a thread: the simulation is single-threaded and CPU-bound, and
 * printing JSON is most of what a trace costs it. Storing a number or a
 * small id into a record is several times cheaper than printing it; the
 * printing then runs on another core. When that thread is busy with
 * another writer, or cannot start, the records are formatted on this
 * thread instead: same bytes, only slower.
 */

const SLOTS = 8;
const SLOT_BYTES = 1 << 18;
const SYMBOL_BYTES = 1 << 22;
/** Control words after the slot lengths: symbol area end, FIN (writer done), DONE (1 written, 2 failed). */
export const CTRL_SYMBOLS = SLOTS;
export const CTRL_FIN = SLOTS + 1;
export const CTRL_DONE = SLOTS + 2;

/** What a writer tells the formatting thread. */
export interface Attach {
  data: SharedArrayBuffer;
  symbols: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
  fd: number;
  slots: number;
  slotBytes: number;
}

let thread: Worker | null = null;
let threadFailed = false;
/** Set to 1 by the formatting thread once it has loaded and listens (it never needs this thread to get there). */
const threadReady = new Int32Array(new SharedArrayBuffer(4));
/** The writer the thread serves now; a second concurrent writer formats on its own thread. */
let threadOwner: TraceWriter | null = null;

function formattingThread(): Worker | null {
  if (threadFailed) return null;
  if (thread === null) {
    try {
      // From TypeScript sources (tests, tsx) the thread needs the same loader.
      const fromSource = import.meta.url.endsWith(".ts");
      const workerData = { ready: threadReady.buffer };
      if (fromSource) {
        // A worker's own entry does not go through tsx: register it first, then load the module.
        const url = JSON.stringify(new URL("./format-worker.ts", import.meta.url).href);
        thread = new Worker(`import("tsx/esm/api").then((m) => m.register()).then(() => import(${url}))`, { eval: true, workerData });
      } else {
        thread = new Worker(new URL("./format-worker.js", import.meta.url), { workerData });
      }
      // An idle formatting thread must not keep the process alive.
      thread.unref();
      thread.on("error", () => {
        thread = null;
        threadFailed = true;
      });
    } catch {
      threadFailed = true;
      return null;
    }
  }
  return thread;
}

/** True when every element is a safe non-negative integer. */
function safeInts(a: unknown[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (typeof x !== "number" || !(x >= 0) || !Number.isSafeInteger(x)) return false;
  }
  return true;
}

/** Details keys last seen for one event kind, with their symbol ids. */
interface Shape {
  keys: string[];
  ids: number[];
}

export class TraceWriter implements TraceSink {
  private readonly fd: number;
  private readonly tmp: string;
  private readonly data = new SharedArrayBuffer(SLOTS * SLOT_BYTES);
  private readonly u8 = new Uint8Array(this.data);
  private readonly dv = new DataView(this.data);
  private readonly text = Buffer.from(this.data);
  private readonly symbolArea = new SharedArrayBuffer(SYMBOL_BYTES);
  private readonly symbolU8 = new Uint8Array(this.symbolArea);
  private readonly symbolText = Buffer.from(this.symbolArea);
  private symbolEnd = 0;
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * (SLOTS + 3)));
  private slot = 0;
  /** Write position in the current slot (absolute byte offset in `data`). */
  private p = 0;
  private done = false;
  /** Formats on this thread when the formatting thread is not ours. */
  private readonly inline: RecordFormatter | null;
  private readonly symbols = new Map<string, number>();
  private readonly keyIds = new Map<string, number>();
  private readonly shapes = new Map<string, Shape>();

  constructor(
    private readonly path: string,
    header: TraceHeader,
  ) {
    this.tmp = `${path}.tmp`;
    this.fd = openSync(this.tmp, "w");
    // The thread starts with the first writer and is used once it is ready, never waited for:
    // a writer never blocks on a thread that is still loading.
    const worker = formattingThread();
    if (worker !== null && threadOwner === null && Atomics.load(threadReady, 0) === 1) {
      threadOwner = this;
      const attach: Attach = { data: this.data, symbols: this.symbolArea, ctrl: this.ctrl.buffer as SharedArrayBuffer, fd: this.fd, slots: SLOTS, slotBytes: SLOT_BYTES };
      worker.postMessage(attach);
      this.inline = null;
    } else {
      this.inline = new RecordFormatter(this.fd, this.symbolU8);
    }
    this.raw(JSON.stringify(header));
  }

  /** Appends one canonical event line (as the simulation emitted it). */
  event(line: string): void {
    this.raw(line);
  }

  /** TraceSink: `{"t":<t><tail>[,"d":<JSON.stringify(details)>]}`. */
  line(t: number, tail: string, details: Record<string, unknown> | undefined): void {
    if (this.safe(t) && this.tryLine(t, tail, details)) return;
    if (this.safe(t)) {
      this.handoff();
      if (this.tryLine(t, tail, details)) return;
    }
    this.raw(details === undefined ? `{"t":${t}${tail}}` : `{"t":${t}${tail},"d":${JSON.stringify(details)}}`);
  }

  /** TraceSink: a network message's line, from its parts. */
  message(t: number, tail: string, from: string, conn: number, sentUs: number, type: string, reason: string | null): void {
    if (!(this.safe(t) && this.safe(conn) && this.safe(sentUs))) {
      this.raw(`{"t":${t}${tail},"d":{"from":${from},"conn":${conn},"sentUs":${sentUs},"type":${type}${reason !== null ? `,"reason":${reason}` : ""}}}`);
      return;
    }
    const tailId = this.symbol(tail);
    const fromId = this.symbol(from);
    const typeId = this.symbol(type);
    const reasonId = reason === null ? -1 : this.symbol(reason);
    if (this.p + 41 > this.slotEnd()) this.handoff();
    const dv = this.dv;
    const p = this.p;
    this.u8[p] = REC_MSG;
    dv.setFloat64(p + 1, t, true);
    dv.setUint32(p + 9, tailId, true);
    dv.setUint32(p + 13, fromId, true);
    dv.setFloat64(p + 17, conn, true);
    dv.setFloat64(p + 25, sentUs, true);
    dv.setUint32(p + 33, typeId, true);
    dv.setInt32(p + 37, reasonId, true);
    this.p = p + 41;
  }

  private safe(n: number): boolean {
    return n >= 0 && Number.isSafeInteger(n);
  }

  private slotEnd(): number {
    return (this.slot + 1) * SLOT_BYTES;
  }

  /** Encodes a LINE record in the current slot; false (and nothing written) when it does not fit. */
  private tryLine(t: number, tail: string, details: Record<string, unknown> | undefined): boolean {
    const end = this.slotEnd();
    const start = this.p;
    if (start + 16 > end) return false;
    const u8 = this.u8;
    const dv = this.dv;
    u8[start] = REC_LINE;
    dv.setFloat64(start + 1, t, true);
    dv.setUint32(start + 9, this.symbol(tail), true);
    let p = start + 15;
    if (details === undefined) {
      dv.setUint16(start + 13, NO_DETAILS, true);
      this.p = p;
      return true;
    }
    const shape = this.shapeOf(tail);
    let n = 0;
    for (const k in details) {
      const v = details[k];
      // JSON.stringify leaves out undefined, functions and symbols.
      if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
      // Events of one kind nearly always carry the same keys in the same order.
      let keyId: number;
      if (shape.keys[n] === k) keyId = shape.ids[n]!;
      else {
        keyId = this.keyId(k);
        shape.keys[n] = k;
        shape.ids[n] = keyId;
      }
      if (p + 13 > end) return false;
      dv.setUint32(p, keyId, true);
      p += 4;
      if (typeof v === "number" && v >= 0 && Number.isSafeInteger(v)) {
        u8[p] = TAG_INT;
        dv.setFloat64(p + 1, v, true);
        p += 9;
      } else if (typeof v === "string" && p + 5 + v.length <= end && this.plain(v, p + 5)) {
        u8[p] = TAG_PLAIN;
        dv.setUint32(p + 1, v.length, true);
        p += 5 + v.length;
      } else if (Array.isArray(v) && v.length <= 16 && safeInts(v)) {
        if (p + 3 + 8 * v.length > end) return false;
        u8[p] = TAG_INTS;
        dv.setUint16(p + 1, v.length, true);
        p += 3;
        for (const x of v as number[]) {
          dv.setFloat64(p, x, true);
          p += 8;
        }
      } else {
        const json = JSON.stringify(v);
        if (p + 5 + json.length * 3 > end) return false;
        u8[p] = TAG_JSON;
        const bytes = this.text.write(json, p + 5, "utf8");
        dv.setUint32(p + 1, bytes, true);
        p += 5 + bytes;
      }
      n++;
    }
    dv.setUint16(start + 13, n, true);
    this.p = p;
    return true;
  }

  /** Copies `s` to `at` when JSON prints it unchanged between quotes (printable ASCII, no `"` or `\\`). */
  private plain(s: string, at: number): boolean {
    const u8 = this.u8;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
      u8[at + i] = c;
    }
    return true;
  }

  /** A whole line (the header, the footer, a line built elsewhere), as a RAW record split across slots if long. */
  private raw(line: string): void {
    const bytes = Buffer.from(`${line}\n`, "utf8");
    let off = 0;
    while (off < bytes.length) {
      if (this.p + 6 > this.slotEnd()) this.handoff();
      const k = Math.min(bytes.length - off, this.slotEnd() - this.p - 5);
      this.u8[this.p] = REC_RAW;
      this.dv.setUint32(this.p + 1, k, true);
      this.u8.set(bytes.subarray(off, off + k), this.p + 5);
      this.p += 5 + k;
      off += k;
    }
  }

  /** The id of a repeated string (a tail, a quoted name, a `"key":`), defined once in the symbol area. */
  private symbol(s: string): number {
    let id = this.symbols.get(s);
    if (id === undefined) {
      id = this.symbols.size;
      this.symbols.set(s, id);
      const len = Buffer.byteLength(s, "utf8");
      if (this.symbolEnd + 8 + len > SYMBOL_BYTES) throw new Error("trace writer: too many distinct names");
      const sdv = new DataView(this.symbolArea);
      sdv.setUint32(this.symbolEnd, id, true);
      sdv.setUint32(this.symbolEnd + 4, len, true);
      this.symbolText.write(s, this.symbolEnd + 8, "utf8");
      this.symbolEnd += 8 + len;
      Atomics.store(this.ctrl, CTRL_SYMBOLS, this.symbolEnd);
    }
    return id;
  }

  private keyId(k: string): number {
    let id = this.keyIds.get(k);
    if (id === undefined) this.keyIds.set(k, (id = this.symbol(`${JSON.stringify(k)}:`)));
    return id;
  }

  private shapeOf(tail: string): Shape {
    let shape = this.shapes.get(tail);
    if (shape === undefined) this.shapes.set(tail, (shape = { keys: [], ids: [] }));
    return shape;
  }

  /** Hands the current slot to the formatter and moves to the next free one. */
  private handoff(): void {
    const start = this.slot * SLOT_BYTES;
    const len = this.p - start;
    if (len === 0) return;
    if (this.inline !== null) {
      this.inline.readSymbols(this.symbolEnd);
      this.inline.consume(this.u8, this.dv, start, this.p);
      this.p = start;
      return;
    }
    Atomics.store(this.ctrl, this.slot, len);
    Atomics.notify(this.ctrl, this.slot);
    this.slot = (this.slot + 1) % SLOTS;
    this.p = this.slot * SLOT_BYTES;
    // Bounded memory: wait while the formatting thread still holds this slot.
    while (Atomics.load(this.ctrl, this.slot) !== 0) {
      if (Atomics.load(this.ctrl, CTRL_DONE) === 2 || threadFailed) throw new Error(`cannot write trace ${this.tmp}: the formatting thread failed`);
      Atomics.wait(this.ctrl, this.slot, Atomics.load(this.ctrl, this.slot), 100);
    }
  }

    /** Formats everything handed over or pending, and releases the formatting thread. */
  private drain(): void {
    this.handoff();
    if (this.inline !== null) {
      this.inline.flush();
      return;
    }
    Atomics.store(this.ctrl, CTRL_FIN, 1);
    for (let i = 0; i < SLOTS; i++) Atomics.notify(this.ctrl, i);
    while (Atomics.load(this.ctrl, CTRL_DONE) === 0 && !threadFailed) Atomics.wait(this.ctrl, CTRL_DONE, 0, 100);
    threadOwner = null;
    if (Atomics.load(this.ctrl, CTRL_DONE) !== 1) throw new Error(`cannot write trace ${this.tmp}: the formatting thread failed`);
  }

  finish(footer: TraceFooter): void {
    if (this.done) return;
    this.raw(JSON.stringify(footer));
    try {
      this.drain();
    } catch (err) {
      this.abort();
      throw err;
    }
    closeSync(this.fd);
    // Renaming over an existing file makes ext4 (auto_da_alloc) force the new one to disk first;
    // removing the old one before the rename avoids that stall.
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
      // Nothing may still be writing to the descriptor when it closes.
      this.drain();
    } catch {
      // A failed write: what was written is all there is.
    }
    if (threadOwner === this) threadOwner = null;
    try {
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

/** Whether the formatting thread has started and is ready (for tests). */
export function formattingThreadReady(): boolean {
  formattingThread();
  return Atomics.load(threadReady, 0) === 1;
}

/**
 * Starts the formatting thread and waits (without blocking this thread) until
 * it is ready or `maxWaitMs` passed. A command about to write one trace calls
 * this first, so even its only trace is formatted on the other core.
 */
export async function traceThreadReady(maxWaitMs: number): Promise<boolean> {
  for (let waited = 0; !formattingThreadReady() && !threadFailed && waited < maxWaitMs; waited += 5) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return formattingThreadReady();
}
