import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { History } from "../invariants/index.js";
import { runScenario } from "../model/run.js";
import type { FaultPlan } from "../sim/faults.js";
import { corpusDir } from "./corpus/write.js";
import { exportTrace, toJepsen, toOpenChaos } from "./export.js";

interface Counts {
  acked: number;
  reads: number;
  lost: number;
  duplicated: number;
}

/** Acknowledged values, reads and positions, gathered from an export; the counts follow from them. */
class Tally {
  readonly acked = new Set<string>();
  readonly read = new Set<string>();
  readonly positions = new Map<string, Set<string>>();
  reads = 0;
  at(v: string, pos: string): void {
    let s = this.positions.get(v);
    if (s === undefined) this.positions.set(v, (s = new Set()));
    s.add(pos);
  }
  counts(): Counts {
    return { acked: this.acked.size, reads: this.reads, lost: [...this.acked].filter((v) => !this.read.has(v)).length, duplicated: [...this.positions.values()].filter((s) => s.size > 1).length };
  }
}

/** Counts from a Jepsen EDN export, computed the way jepsen.tests.kafka defines them. */
function jepsenCounts(edn: string): Counts {
  const t = new Tally();
  for (const line of edn.split("\n")) {
    if (!line.startsWith("{")) continue;
    const type = /:type :(\w+)/.exec(line)![1];
    const f = /:f :(\w+)/.exec(line)![1];
    if (f === "send" && type === "ok") {
      const m = /\[\[:send (\d+) \[(\d+) (\d+)\]\]\]/.exec(line)!;
      t.acked.add(m[3]!);
      t.at(m[3]!, `${m[1]}/${m[2]}`);
    }
    if (f === "poll" && type === "ok") {
      const body = /\[\[:poll \{(.*)\}\]\]/.exec(line)![1]!;
      for (const km of body.matchAll(/(\d+) \[((?:\[\d+ \d+\] ?)*)\]/g)) {
        for (const pm of km[2]!.matchAll(/\[(\d+) (\d+)\]/g)) {
          t.reads++;
          t.read.add(pm[2]!);
          t.at(pm[2]!, `${km[1]}/${pm[1]}`);
        }
      }
    }
  }
  return t.counts();
}

/** Counts from an OpenMessaging Chaos export, as its QueueChecker counts them (plus positions from extraInfo). */
function openChaosCounts(tsv: string): Counts {
  const t = new Tally();
  for (const line of tsv.split("\n")) {
    const c = line.split("\t");
    if (c[2] !== "RESPONSE" || c[3] !== "SUCCESS") continue;
    if (c[1] === "enqueue") {
      t.acked.add(c[4]!);
      t.at(c[4]!, c[8]!);
    } else if (c[1] === "dequeue") {
      t.reads++;
      t.read.add(c[4]!);
      t.at(c[4]!, c[8]!);
    }
  }
  return t.counts();
}

function mqsimCounts(history: History, anomalies: Array<{ type: string; count: number }>): Counts {
  let acked = 0;
  let reads = 0;
  for (const op of history.ops) {
    if (op.f === "send" && op.type === "ok") acked++;
    if (op.f === "poll" && op.type === "ok") reads += (op.value as { reads: unknown[] }).reads.length;
  }
  return { acked, reads, lost: anomalies.find((a) => a.type === "lost-write")?.count ?? 0, duplicated: anomalies.find((a) => a.type === "duplicate")?.count ?? 0 };
}

const scenario = (name: string) => JSON.parse(readFileSync(new URL(`../scenarios/${name}.json`, import.meta.url), "utf8"));

describe("export", () => {
  it("matches the golden files for the corpus trace", () => {
    const trace = join(corpusDir(), "rocketmq-async-flush-power-loss.jsonl");
    expect(exportTrace(trace, "jepsen")).toBe(readFileSync(join(corpusDir(), "rocketmq-async-flush-power-loss.edn"), "utf8"));
    expect(exportTrace(trace, "openchaos")).toBe(readFileSync(join(corpusDir(), "rocketmq-async-flush-power-loss.tsv"), "utf8"));
  });

  it("round trip: counts computed from each export agree with mqsim's own checkers", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.constantFrom("rocketmq-single-async-flush", "rocketmq-multi-master"), fc.constantFrom("power-loss", "mixed", "pause"), (seed, name, faults) => {
        const r = runScenario(scenario(name), { seed, overrides: { faults: [faults as "mixed"], durationSeconds: 30 } });
        const want = mqsimCounts(r.history, r.anomalies);
        expect(jepsenCounts(toJepsen(r.history))).toEqual(want);
        expect(openChaosCounts(toOpenChaos(r.history, r.plan as FaultPlan))).toEqual(want);
      }),
      { numRuns: 12 },
    );
  });

  it("the round trip is not vacuous: the corpus trace has lost writes in both exports", () => {
    const trace = join(corpusDir(), "rocketmq-async-flush-power-loss.jsonl");
    expect(jepsenCounts(exportTrace(trace, "jepsen")).lost).toBeGreaterThan(0);
    expect(openChaosCounts(exportTrace(trace, "openchaos")).lost).toBeGreaterThan(0);
  });
});

describe("trace writer", () => {
  it("writes non-ASCII text as UTF-8 and ASCII text unchanged", async () => {
    const { TraceWriter } = await import("./writer.js");
    const { mkdtempSync, readFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "mqsim-writer-"));
    const path = join(dir, "t.jsonl");
    const w = new TraceWriter(path, { type: "header", format: 1, mqsim: "t", scenario: scenario("rocketmq-single-sync-flush"), seed: 1, plan: [] });
    w.event('{"t":1,"n":"a","k":"x","d":{"s":"plain"}}');
    w.event('{"t":2,"n":"a","k":"x","d":{"s":"héllo ✓"}}');
    w.finish({ type: "footer", events: 2, hash: "0000000000000000", verdict: "pass", outcome: "drained", anomalies: [] });
    const lines = readFileSync(path, "utf8").trim().split("\n");
    expect(lines[1]).toBe('{"t":1,"n":"a","k":"x","d":{"s":"plain"}}');
    expect(lines[2]).toBe('{"t":2,"n":"a","k":"x","d":{"s":"héllo ✓"}}');
  });
});
