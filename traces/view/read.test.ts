import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readTrace, traceRecords } from "./read.js";
import { eventLine, sampleTrace, traceText, writeTrace } from "./testing/sample-trace.js";

const dir = mkdtempSync(join(tmpdir(), "mqsim-view-read-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sample = sampleTrace();
const headerLine = JSON.stringify(sample.header);
const footerLine = JSON.stringify(sample.footer);
const eventLines = sample.events.map(eventLine);

/** Writes `text` as trace.jsonl in a fresh folder and returns its path. */
let files = 0;
function file(text: string): string {
  const sub = join(dir, String(files++));
  mkdirSync(sub);
  const path = join(sub, "trace.jsonl");
  writeFileSync(path, text);
  return path;
}

/** A trace of a header, the given event lines, and a footer whose count fits them. */
function withEvents(lines: string[], footer: Record<string, unknown> = {}): string {
  return [headerLine, ...lines, JSON.stringify({ ...sample.footer, events: lines.length, ...footer })].join("\n") + "\n";
}

function errorOf(path: string, verifyHash = false): string {
  try {
    readTrace(path, { verifyHash });
  } catch (err) {
    return (err as Error).message;
  }
  return "no error";
}

describe("readTrace", () => {
  it("round-trips a trace: header, every event in order, footer", () => {
    const path = join(dir, "sample.jsonl");
    writeTrace(path, sample);
    const read = readTrace(path, { verifyHash: true });
    expect(read.header).toEqual(sample.header);
    expect(read.events).toEqual(sample.events);
    expect(read.footer).toEqual(sample.footer);
  });

  it("keeps parsed events compact: only t, n, k and d", () => {
    const read = readTrace(file(traceText(sample)));
    expect(read.events.every((e) => Object.keys(e).every((k) => ["t", "n", "k", "d"].includes(k)))).toBe(true);
    expect(read.events.filter((e) => e.d === undefined).length).toBe(sample.events.filter((e) => e.d === undefined).length);
  });

  it("reads lines longer than its read buffer, and multi-byte characters across buffer boundaries", () => {
    // 1.5 MiB of a two-byte character: the line spans two 1 MiB chunks and a chunk boundary falls inside the text.
    const big = sampleTrace({ injectText: "µ".repeat(800_000) + "</script>" });
    const path = file(traceText(big));
    const read = readTrace(path, { verifyHash: true });
    expect(read.events).toEqual(big.events);
    expect(read.events.find((e) => typeof e.d?.note === "string")?.d?.note).toBe("µ".repeat(800_000) + "</script>");
  });

  it("accepts CRLF line ends and a missing final newline", () => {
    const text = traceText(sample).replace(/\n/g, "\r\n").replace(/\r\n$/, "");
    expect(readTrace(file(text)).events).toEqual(sample.events);
  });

  it("streams records one at a time through the synchronous iterator", () => {
    const path = file(traceText(sample));
    const types: string[] = [];
    for (const rec of traceRecords(path)) types.push(rec.type);
    expect(types[0]).toBe("header");
    expect(types[types.length - 1]).toBe("footer");
    expect(types.filter((t) => t === "event").length).toBe(sample.events.length);
  });

  describe("names the first problem on one line, with the line number", () => {
    it("an empty file", () => {
      const path = file("");
      expect(errorOf(path)).toBe(`${path}: empty file (not an mqsim trace)`);
    });

    it("a missing file", () => {
      const path = join(dir, "nope.jsonl");
      expect(errorOf(path)).toBe(`${path}: no such file`);
    });

    it("a first line that is not a header", () => {
      const path = file(withEvents(eventLines.slice(0, 2)).split("\n").slice(1).join("\n"));
      expect(errorOf(path)).toBe(`${path}:1: not an mqsim trace header`);
    });

    it("a first line that is not JSON", () => {
      const path = file("hello\n");
      expect(errorOf(path)).toBe(`${path}:1: not an mqsim trace header (not JSON)`);
    });

    it("a header of another format version", () => {
      const path = file([JSON.stringify({ ...sample.header, format: 2 }), footerLine].join("\n"));
      expect(errorOf(path)).toBe(`${path}:1: trace format 2 is not supported (this mqsim reads format 1)`);
    });

    it("a header missing a field", () => {
      const { seed: _seed, ...rest } = sample.header;
      const path = file([JSON.stringify(rest), footerLine].join("\n"));
      expect(errorOf(path)).toBe(`${path}:1: bad trace header (seed: Invalid input: expected number, received undefined)`);
    });

    it("an event line missing its kind", () => {
      const path = file(withEvents([eventLines[0]!, '{"t":5,"n":"broker-a"}']));
      expect(errorOf(path)).toBe(`${path}:3: not a trace event (missing "k")`);
    });

    it("an event line with a negative time", () => {
      const path = file(withEvents(['{"t":-1,"n":"broker-a","k":"x"}']));
      expect(errorOf(path)).toBe(`${path}:2: not a trace event ("t" must be a non-negative integer (µs))`);
    });

    it("an event line with details that are not an object", () => {
      const path = file(withEvents(['{"t":1,"n":"broker-a","k":"x","d":[1]}']));
      expect(errorOf(path)).toBe(`${path}:2: not a trace event ("d" must be an object (the details))`);
    });

    it("an event line with an unknown key", () => {
      const path = file(withEvents(['{"t":1,"n":"broker-a","k":"x","z":1}']));
      expect(errorOf(path)).toBe(`${path}:2: not a trace event (unknown key "z")`);
    });

    it("an event line that is not an object", () => {
      const path = file(withEvents(["[1,2]"]));
      expect(errorOf(path)).toBe(`${path}:2: not a trace event (not an object)`);
    });

    it("a line that is not JSON", () => {
      const path = file(withEvents([eventLines[0]!, '{"t":1,']));
      expect(errorOf(path)).toBe(`${path}:3: not JSON`);
    });

    it("a last line cut short", () => {
      const path = file([headerLine, eventLines[0], '{"t":1,"n":"br'].join("\n"));
      expect(errorOf(path)).toBe(`${path}:3: not JSON (the last line is cut short: the run was interrupted?)`);
    });

    it("no footer", () => {
      const path = file([headerLine, ...eventLines.slice(0, 3)].join("\n") + "\n");
      expect(errorOf(path)).toBe(`${path}: no footer (the run was interrupted?)`);
    });

    it("a blank line between events", () => {
      const path = file(withEvents([eventLines[0]!, "", eventLines[1]!]));
      expect(errorOf(path)).toBe(`${path}:3: blank line`);
    });

    it("a second header", () => {
      const path = file(withEvents([eventLines[0]!, headerLine]));
      expect(errorOf(path)).toBe(`${path}:3: a second header`);
    });

    it("a line after the footer", () => {
      const path = file(withEvents([eventLines[0]!]) + eventLines[1] + "\n");
      expect(errorOf(path)).toBe(`${path}:4: a line after the footer (line 3)`);
    });

    it("time going backwards", () => {
      const path = file(withEvents(['{"t":10,"n":"a","k":"x"}', '{"t":9,"n":"a","k":"x"}']));
      expect(errorOf(path)).toBe(`${path}:3: time goes backwards (9 µs after 10 µs)`);
    });

    it("a footer whose event count does not match", () => {
      const path = file(withEvents(eventLines.slice(0, 2), { events: 5 }));
      expect(errorOf(path)).toBe(`${path}:4: the footer counts 5 events but the trace has 2`);
    });

    it("a bad footer", () => {
      const path = file(withEvents(eventLines.slice(0, 2), { verdict: "maybe" }));
      expect(errorOf(path)).toBe(`${path}:4: bad trace footer (verdict: Invalid option: expected one of "pass"|"fail"|"error")`);
    });

    it("an edited event, when asked to verify the hash", () => {
      const edited = traceText(sample).replace('"value":"producer-1:1"', '"value":"producer-1:X"');
      const path = file(edited);
      expect(errorOf(path)).toBe("no error");
      expect(errorOf(path, true)).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:${sample.events.length + 2}: the footer hash ${sample.footer.hash} does not match the event lines \\([0-9a-f]{16}\\): the trace was edited$`));
    });
  });
});
