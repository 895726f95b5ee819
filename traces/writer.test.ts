// The writer encodes lines from their parts (TraceSink) without building
// them; the bytes must be exactly the lines onTraceLine listeners get.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Simulation } from "../sim/kernel.js";
import { TRACE_FORMAT_VERSION } from "./format.js";
import { formattingThreadReady, TraceWriter } from "./writer.js";

const dir = mkdtempSync(join(tmpdir(), "mqsim-writer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;

function both(drive: (sim: Simulation) => void): { written: string[]; lines: string[] } {
  const sim = new Simulation();
  const path = join(dir, `t${++files}.jsonl`);
  const w = new TraceWriter(path, { type: "header", format: TRACE_FORMAT_VERSION, mqsim: "test", scenario: {} as never, seed: 1, plan: [] });
  const lines: string[] = [];
  sim.onTraceSink(w);
  sim.onTraceLine((l) => lines.push(l));
  drive(sim);
  w.finish({ type: "footer", events: lines.length, hash: "0", verdict: "pass", outcome: "drained", anomalies: [] });
  const written = readFileSync(path, "utf8").trimEnd().split("\n").slice(1, -1);
  return { written, lines };
}

function awkward(sim: Simulation): void {
  sim.emit("n1", "plain", { a: 1, b: "x", c: true, d: null });
  sim.emit("n1", "no-details");
  sim.emit("nödé", "escapes", { s: 'quote " and \\ and \n newline', u: "ünïcødé ✓", e: "" });
  sim.emit("n2", "numbers", { neg: -5, float: 1.5, big: 2 ** 60, nan: Number.NaN, inf: Infinity, zero: -0 });
  sim.emit("n2", "integers", { a: 0, b: 9, c: 10, d: 2 ** 31 - 1, e: 2 ** 31, f: 1e9, g: 1e9 + 7, h: 17_230_300_000, i: Number.MAX_SAFE_INTEGER, j: 1e21 });
  sim.emit("n2", "nested", { arr: [1, "two", { three: 3 }], ints: [0, 7, 12_345_678_901], obj: { k: [null] }, skip: undefined, fn: () => 1 });
  sim.emit("n2", "keys", { 'we"ird': 1, 10: "int key first", z: 2 });
  sim.emit("n2", "long", { s: "x".repeat(300_000) });
  sim.emitMessage("n3", "net.msg", "peer-1", 7, 123456789, "req 310", null);
  sim.emitMessage("n3", "net.drop", "peer-é", 0, 0, "resp 0", "socket-closed");
  sim.emitMessage("n3", "net.msg", "peer-1", -1, 1.5, "req 310", null);
  sim.emitTransport("n3", "net.other", { from: "x", n: 3 });
}

describe("TraceWriter as a TraceSink", () => {
  it("writes every line byte for byte as the string path builds it", () => {
    const { written, lines } = both(awkward);
    expect(written).toEqual(lines);
    expect(lines.length).toBe(12);
  });

  it("gives the same bytes through the formatting thread once it is ready", async () => {
    for (let i = 0; i < 200 && !formattingThreadReady(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(formattingThreadReady()).toBe(true);
    const { written, lines } = both((sim) => {
      awkward(sim);
      for (let i = 0; i < 30_000; i++) sim.emit(`node-${i % 7}`, "k", { i, v: `value-${i}`.repeat(1 + (i % 5)) });
    });
    expect(written).toEqual(lines);
  }, 20_000);

  it("spans chunk boundaries without losing or splitting a line", () => {
    const { written, lines } = both((sim) => {
      for (let i = 0; i < 40_000; i++) sim.emit(`node-${i % 7}`, "k", { i, v: `value-${i}`.repeat(1 + (i % 5)) });
    });
    expect(written.length).toBe(40_000);
    expect(written).toEqual(lines);
  });
});
