// The viewers on a trace the simulator really wrote: RocketMQ with
// ASYNC_FLUSH loses acknowledged writes when the broker loses power (acks
// come from the page cache), so the run has lost-write examples to link.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runWithTrace } from "../record.js";
import { buildPageData, renderHtml } from "./html.js";
import { renderMermaid } from "./mermaid.js";
import { readTrace, type Trace } from "./read.js";

const scenario = {
  name: "view-async-flush-power-loss",
  system: "rocketmq",
  cluster: { nameServers: 1, brokers: [{ name: "broker-a" }], producers: 1, consumers: 1 },
  config: { flushDiskType: "ASYNC_FLUSH", brokerRole: "ASYNC_MASTER" },
  workload: { durationSeconds: 12, rate: 20 },
  expect: ["lost-write"],
};

describe("a trace written by the simulator", () => {
  let dir = "";
  let trace: Trace;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "mqsim-view-real-"));
    const path = join(dir, "trace.jsonl");
    runWithTrace(scenario, { seed: 1, overrides: { plan: [{ atMs: 6_000, kind: "power-loss", durationMs: 2_000, targets: ["broker-a"] }] } }, path);
    // The hash check ties the reader to the writer: both must agree on every line.
    trace = readTrace(path, { verifyHash: true });
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("reads back with its footer count and hash", () => {
    expect(trace.events.length).toBe(trace.footer.events);
    expect(trace.events.some((e) => e.k === "net.msg")).toBe(true);
    expect(trace.events.some((e) => e.k === "net.send" || e.k === "net.recv")).toBe(false);
  });

  it("links every lost write to its acknowledgement and to the crash that lost it", () => {
    const lost = trace.footer.anomalies.find((a) => a.type === "lost-write");
    expect(lost).toBeDefined();
    const data = buildPageData(trace, 200_000);
    const link = data.anomalies.find((a) => a.type === "lost-write")!;
    expect(link.violation).toBe(true);
    for (const ex of link.examples) {
      const value = (ex.example as { value: string }).value;
      const kinds = ex.events.map((i) => data.kinds[data.events[i]![2]]);
      expect(ex.events.some((i) => data.kinds[data.events[i]![2]] === "op.ok" && data.events[i]![3]?.value === value)).toBe(true);
      expect(kinds).toContain("store.append");
      expect(kinds).toContain("node.crash");
    }
    // Every message draws as an arrow, from a known sender lane, sent no later than it arrived or was lost.
    const messages = data.events.flatMap((row, i) => (["net.msg", "net.drop"].includes(data.kinds[row[2]]!) ? [i] : []));
    expect(messages.length).toBeGreaterThan(0);
    expect(data.arrows.map(([event]) => event)).toEqual(messages);
    for (const [event, from, sentUs, lost] of data.arrows) {
      const row = data.events[event]!;
      expect(data.lanes[from]).toBe(row[3]!.from);
      expect(sentUs).toBeLessThanOrEqual(row[0]);
      expect(lost).toBe(data.kinds[row[2]] === "net.drop" ? 1 : 0);
    }
    // The power loss cut messages to the broker: they show as lost.
    expect(data.arrows.some(([event, , , lost]) => lost === 1 && data.lanes[data.events[event]![1]] === "broker-a")).toBe(true);
    // The crash shows as the broker down, and the fault as a span on its lane.
    expect(data.outages.some(([lane, what]) => data.lanes[lane] === "broker-a" && what === "crash")).toBe(true);
    expect(data.faults).toMatchObject([{ kind: "power-loss", nodes: [data.lanes.indexOf("broker-a")] }]);
  });

  it("renders as a page and as a diagram", () => {
    const html = renderHtml(trace);
    expect(html).toContain("lost-write");
    const mermaid = renderMermaid(trace, { maxEvents: 100 });
    expect(mermaid.startsWith("sequenceDiagram\n")).toBe(true);
    expect(mermaid).toContain(`cut: showing the first 100 of ${trace.events.length} events`);
    expect(mermaid).toContain("->>");
  });
});
