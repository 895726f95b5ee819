import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import type { TraceFooter, TraceHeader } from "./format.js";

/**
 * Streams a trace to disk: lines are buffered and written in large chunks
 * to `<path>.tmp`; `finish` writes the footer, fsyncs and renames. An
 * interrupted run leaves only the temporary file, never one that looks
 * complete.
 */
export class TraceWriter {
  private readonly fd: number;
  private readonly tmp: string;
  /** Lines waiting to be written, as one string (V8 concatenates cheaply and flattens once on write). */
  private pending = "";
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

  private push(line: string): void {
    this.pending += line + "\n";
    if (this.pending.length >= 1 << 18) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    // Node encodes a one-byte string to UTF-8 with SIMD; no per-line scan is needed to pick an encoding.
    writeSync(this.fd, this.pending, null, "utf8");
    this.pending = "";
  }

  finish(footer: TraceFooter): void {
    if (this.done) return;
    this.push(JSON.stringify(footer));
    this.flush();
    fsyncSync(this.fd);
    closeSync(this.fd);
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
