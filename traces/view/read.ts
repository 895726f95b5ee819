import { closeSync, openSync, readSync } from "node:fs";
import type { z } from "zod";
import { RunningHash, hashEvent } from "../../sim/hash.js";
import { TRACE_FORMAT_VERSION, TraceEventSchema, TraceFooterSchema, TraceHeaderSchema, type TraceEventLine, type TraceFooter, type TraceHeader } from "../format.js";

/** A whole trace in memory: what the viewers render. */
export interface Trace {
  header: TraceHeader;
  /** In file order, which is simulated-time order. */
  events: TraceEventLine[];
  footer: TraceFooter;
}

/** One record of a trace file, as `traceRecords` yields them. */
export type TraceRecord =
  | { type: "header"; line: number; header: TraceHeader }
  | { type: "event"; line: number; event: TraceEventLine }
  | { type: "footer"; line: number; footer: TraceFooter };

export interface ReadOptions {
  /**
   * Recompute the running hash of the event lines and compare it with the
   * footer's. Off by default: it catches an edited trace, but a viewer is
   * also used on traces trimmed by hand to show one moment.
   */
  verifyHash?: boolean;
}

/** Reads and validates a whole trace; throws an Error with a one-line message at the first problem. */
export function readTrace(path: string, opts: ReadOptions = {}): Trace {
  let header: TraceHeader | undefined;
  let footer: TraceFooter | undefined;
  const events: TraceEventLine[] = [];
  for (const rec of traceRecords(path, opts)) {
    if (rec.type === "event") events.push(rec.event);
    else if (rec.type === "header") header = rec.header;
    else footer = rec.footer;
  }
  // traceRecords only finishes normally after a header and a footer.
  if (header === undefined || footer === undefined) throw new Error(`${path}: internal error: incomplete trace`);
  return { header, events, footer };
}

/**
 * Streams a trace file record by record, synchronously, validating as it
 * goes: the header first, events in non-decreasing time, the footer last with
 * the right event count. Only one line is held as a string at a time, and
 * node names and kinds are interned so that a million events share a handful
 * of strings.
 */
export function* traceRecords(path: string, opts: ReadOptions = {}): Generator<TraceRecord, void, undefined> {
  const strings = new Map<string, string>();
  const intern = (s: string): string => {
    const known = strings.get(s);
    if (known !== undefined) return known;
    strings.set(s, s);
    return s;
  };
  const hash = opts.verifyHash ? new RunningHash() : null;
  let sawHeader = false;
  let footerLine = 0;
  let events = 0;
  let lastTimeUs = 0;
  let lines = 0;
  for (const { text, lineNumber, terminated } of fileLines(path)) {
    lines = lineNumber;
    const where = `${path}:${lineNumber}`;
    if (footerLine > 0) {
      if (text.trim() === "") continue;
      throw new Error(`${where}: a line after the footer (line ${footerLine})`);
    }
    if (!sawHeader) {
      yield { type: "header", line: lineNumber, header: parseHeader(text, where) };
      sawHeader = true;
      continue;
    }
    if (text === "") throw new Error(`${where}: blank line`);
    const value = parseJson(text, where, terminated);
    if (isObject(value) && "type" in value && !("k" in value)) {
      if (value.type === "header") throw new Error(`${where}: a second header`);
      if (value.type === "footer") {
        const footer = validate(TraceFooterSchema, value, `${where}: bad trace footer`);
        if (footer.events !== events) throw new Error(`${where}: the footer counts ${footer.events} events but the trace has ${events}`);
        if (hash !== null && hash.digest() !== footer.hash) {
          throw new Error(`${where}: the footer hash ${footer.hash} does not match the event lines (${hash.digest()}): the trace was edited`);
        }
        footerLine = lineNumber;
        yield { type: "footer", line: lineNumber, footer };
        continue;
      }
    }
    const event = parseEvent(value, where);
    if (event.t < lastTimeUs) throw new Error(`${where}: time goes backwards (${event.t} µs after ${lastTimeUs} µs)`);
    lastTimeUs = event.t;
    events++;
    // Transport lines (net.*) are written to traces but kept out of the running hash.
    if (hash !== null && !event.k.startsWith("net.")) hashEvent(hash, event.t, event.n, event.k, event.d);
    const compact: TraceEventLine = event.d === undefined ? { t: event.t, n: intern(event.n), k: intern(event.k) } : { t: event.t, n: intern(event.n), k: intern(event.k), d: event.d };
    yield { type: "event", line: lineNumber, event: compact };
  }
  if (lines === 0) throw new Error(`${path}: empty file (not an mqsim trace)`);
  if (footerLine === 0) throw new Error(`${path}: no footer (the run was interrupted?)`);
}

export type TraceLine =
  | { kind: "header"; line: number; header: TraceHeader }
  | { kind: "event"; line: number; text: string }
  | { kind: "footer"; line: number; footer: TraceFooter };

/**
 * The lines of a trace with only the header and footer parsed: event lines
 * come back as raw text. Replay compares them byte for byte with the lines
 * it regenerates, which checks them more strictly than parsing would, and
 * far faster.
 */
export function* traceLines(path: string): Generator<TraceLine, void, undefined> {
  let sawHeader = false;
  let sawFooter = false;
  for (const { text, lineNumber, terminated } of fileLines(path)) {
    const where = `${path}:${lineNumber}`;
    if (!sawHeader) {
      yield { kind: "header", line: lineNumber, header: parseHeader(text, where) };
      sawHeader = true;
      continue;
    }
    if (sawFooter) {
      if (text.trim() === "") continue;
      throw new Error(`${where}: a line after the footer`);
    }
    if (text.startsWith('{"type":')) {
      const value = parseJson(text, where, terminated);
      if (isObject(value) && value.type === "footer") {
        sawFooter = true;
        yield { kind: "footer", line: lineNumber, footer: validate(TraceFooterSchema, value, `${where}: bad trace footer`) };
        continue;
      }
      if (isObject(value) && value.type === "header") throw new Error(`${where}: a second header`);
    }
    yield { kind: "event", line: lineNumber, text };
  }
  if (!sawHeader) throw new Error(`${path}: empty file (not an mqsim trace)`);
  if (!sawFooter) throw new Error(`${path}: no footer (the run was interrupted?)`);
}

interface FileLine {
  text: string;
  lineNumber: number;
  /** False for a last line with no newline after it: a sign of a cut-short file. */
  terminated: boolean;
}

/**
 * The lines of a file, read in 1 MiB chunks. Splitting on the newline byte
 * is safe in UTF-8 (it never occurs inside a multi-byte character), so each
 * line is decoded on its own and no chunk boundary can split a character.
 */
function* fileLines(path: string): Generator<FileLine, void, undefined> {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${path}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "a directory, not a trace file" : `cannot open (${code ?? String(err)})`}`);
  }
  try {
    const chunk = Buffer.allocUnsafe(1 << 20);
    // A line that started in an earlier chunk and has not ended yet.
    let pending: Buffer[] = [];
    let lineNumber = 0;
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        if (nl < 0 || nl >= n) break;
        let text: string;
        if (pending.length > 0) {
          pending.push(Buffer.from(chunk.subarray(start, nl)));
          text = Buffer.concat(pending).toString("utf8");
          pending = [];
        } else {
          text = chunk.toString("utf8", start, nl);
        }
        lineNumber++;
        yield { text: stripCarriageReturn(text), lineNumber, terminated: true };
        start = nl + 1;
      }
      // Copy the unfinished tail: the chunk buffer is reused by the next read.
      if (start < n) pending.push(Buffer.from(chunk.subarray(start, n)));
    }
    if (pending.length > 0) {
      lineNumber++;
      yield { text: stripCarriageReturn(Buffer.concat(pending).toString("utf8")), lineNumber, terminated: false };
    }
  } finally {
    closeSync(fd);
  }
}

function stripCarriageReturn(text: string): string {
  return text.endsWith("\r") ? text.slice(0, -1) : text;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function parseJson(text: string, where: string, terminated: boolean): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // The engine's own parse message varies between Node versions and quotes the line; the line number is what helps.
    throw new Error(terminated ? `${where}: not JSON` : `${where}: not JSON (the last line is cut short: the run was interrupted?)`);
  }
}

function parseHeader(text: string, where: string): TraceHeader {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${where}: not an mqsim trace header (not JSON)`);
  }
  if (!isObject(value) || value.type !== "header") throw new Error(`${where}: not an mqsim trace header`);
  if (value.format !== TRACE_FORMAT_VERSION) {
    throw new Error(`${where}: trace format ${JSON.stringify(value.format)} is not supported (this mqsim reads format ${TRACE_FORMAT_VERSION})`);
  }
  return validate(TraceHeaderSchema, value, `${where}: bad trace header`);
}

/** What each event field must be, in words, for error messages. */
const EVENT_FIELDS: Record<string, string> = {
  t: "a non-negative integer (µs)",
  n: "a string (the node)",
  k: "a string (the kind)",
  d: "an object (the details)",
};

function parseEvent(value: unknown, where: string): TraceEventLine {
  const parsed = TraceEventSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  if (!isObject(value)) throw new Error(`${where}: not a trace event (not an object)`);
  for (const field of ["t", "n", "k"]) if (!(field in value)) throw new Error(`${where}: not a trace event (missing "${field}")`);
  const issue = parsed.error.issues[0];
  if (issue?.code === "unrecognized_keys") throw new Error(`${where}: not a trace event (unknown key ${issue.keys.map((k) => JSON.stringify(k)).join(", ")})`);
  const field = String(issue?.path[0] ?? "");
  const rule = EVENT_FIELDS[field];
  if (rule !== undefined) throw new Error(`${where}: not a trace event ("${field}" must be ${rule})`);
  throw new Error(`${where}: not a trace event (${issue?.message ?? "invalid"})`);
}

function validate<S extends z.ZodType>(schema: S, value: unknown, prefix: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue === undefined) throw new Error(`${prefix} (invalid)`);
  const path = issue.path.map(String).join(".");
  const what = issue.code === "unrecognized_keys" ? `unknown key ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}` : issue.message;
  throw new Error(`${prefix} (${path === "" ? "" : `${path}: `}${what})`);
}
