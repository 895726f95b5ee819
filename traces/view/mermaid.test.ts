import { describe, expect, it } from "vitest";
import type { TraceEventLine } from "../format.js";
import { renderMermaid } from "./mermaid.js";
import { literalTrace, sampleTrace } from "./testing/sample-trace.js";

const ev = (t: number, n: string, k: string, d?: Record<string, unknown>): TraceEventLine => (d === undefined ? { t, n, k } : { t, n, k, d });

// A send acknowledged from the page cache, a power loss, a send lost while the broker is down, recovery.
const events = [
  ev(0, "runner", "phase", { phase: "workload" }),
  ev(0, "broker-a", "node.start", { boot: 1, incarnation: 1 }),
  ev(100, "producer-1", "op.invoke", { process: 0, f: "send", value: "p:1" }),
  ev(400, "broker-a", "net.msg", { from: "producer-1", conn: 1, sentUs: 100, type: "SEND_MESSAGE" }),
  ev(400, "broker-a", "store.append", { topic: "T", queueId: 0, queueOffset: 0, offset: 0, size: 10 }),
  ev(900, "producer-1", "net.msg", { from: "broker-a", conn: 1, sentUs: 450, type: "SEND_MESSAGE_REPLY" }),
  ev(900, "producer-1", "op.ok", { process: 0, f: "send", value: "p:1", key: "T@broker-a#0", offset: 0 }),
  ev(1000, "broker-a", "node.crash", { mode: "power" }),
  ev(1000, "nemesis", "fault.start", { index: 0, kind: "power-loss", nodes: ["broker-a"], durationMs: 5 }),
  ev(1100, "producer-1", "op.invoke", { process: 0, f: "send", value: "p:2;<b>" }),
  ev(1400, "broker-a", "net.drop", { from: "producer-1", conn: 1, sentUs: 1100, type: "SEND_MESSAGE", reason: "machine-down" }),
  ev(6000, "nemesis", "fault.end", { index: 0, kind: "power-loss", nodes: ["broker-a"] }),
  ev(6000, "broker-a", "node.start", { boot: 2, incarnation: 2 }),
  ev(6010, "broker-a", "store.recover", { mode: "abnormal", maxOffset: 0, truncatedFrom: 0 }),
  ev(7000, "producer-1", "op.info", { process: 0, f: "send", value: "p:2;<b>", error: "timeout" }),
  ev(8000, "runner", "phase", { phase: "drained" }),
];
const trace = literalTrace(events, [
  { type: "lost-write", count: 1, examples: [{ key: "T@broker-a#0", value: "p:1", offset: 0 }], message: "1 acknowledged value(s) never read after the final drain" },
]);

describe("renderMermaid", () => {
  it("draws a tiny trace as a sequence diagram (golden)", () => {
    // `#35;`, `#59;`, `#60;`, `#62;` are Mermaid's entity codes for # ; < >, which its parser would otherwise read as syntax.
    expect(renderMermaid(trace)).toBe(
      [
        "sequenceDiagram",
        "    %% mqsim 0.1.0: sample-single-async-flush seed 7, verdict fail, outcome drained",
        "    participant broker_a as broker-a",
        "    participant producer_1 as producer-1",
        "    participant nemesis as nemesis",
        "    participant runner as runner",
        "    Note over broker_a,runner: 0.000000s phase workload",
        "    Note over broker_a: 0.000000s start (boot 1)",
        "    Note over producer_1: 0.000100s ⚠ lost-write: invoke send p:1",
        "    producer_1->>broker_a: SEND_MESSAGE",
        "    Note over broker_a: 0.000400s ⚠ lost-write: store.append topic=T queueId=0 queueOffset=0 offset=0 size=10",
        "    broker_a->>producer_1: SEND_MESSAGE_REPLY",
        "    Note over producer_1: 0.000900s ⚠ lost-write: ok send p:1 at T@broker-a#35;0 offset 0",
        "    Note over broker_a: 0.001000s ⚠ lost-write: crash (power)",
        "    Note over broker_a: 0.001000s ⚠ lost-write: fault #35;0 power-loss starts on broker-a for 5 ms",
        "    Note over producer_1: 0.001100s invoke send p:2#59;#60;b#62;",
        "    producer_1-xbroker_a: SEND_MESSAGE (lost: machine-down)",
        "    Note over broker_a: 0.006000s fault #35;0 power-loss heals",
        "    Note over broker_a: 0.006000s start (boot 2)",
        "    Note over broker_a: 0.006010s ⚠ lost-write: store.recover mode=abnormal maxOffset=0 truncatedFrom=0",
        "    Note over producer_1: 0.007000s info send p:2#59;#60;b#62;: timeout",
        "    Note over broker_a,runner: 0.008000s phase drained",
        "    Note over broker_a,runner: ⚠ lost-write ×1 (violation): 1 acknowledged value(s) never read after the final drain#59; e.g. key=T@broker-a#35;0 value=p:1 offset=0",
      ].join("\n") + "\n",
    );
  });

  it("cuts at maxEvents with a note, and still lists the anomalies", () => {
    expect(renderMermaid(trace, { maxEvents: 5 })).toBe(
      [
        "sequenceDiagram",
        "    %% mqsim 0.1.0: sample-single-async-flush seed 7, verdict fail, outcome drained",
        "    participant broker_a as broker-a",
        "    participant producer_1 as producer-1",
        "    participant runner as runner",
        "    Note over broker_a,runner: 0.000000s phase workload",
        "    Note over broker_a: 0.000000s start (boot 1)",
        "    Note over producer_1: 0.000100s ⚠ lost-write: invoke send p:1",
        "    producer_1->>broker_a: SEND_MESSAGE",
        "    Note over broker_a: 0.000400s ⚠ lost-write: store.append topic=T queueId=0 queueOffset=0 offset=0 size=10",
        "    Note over broker_a,runner: cut: showing the first 5 of 16 events",
        "    Note over broker_a,runner: ⚠ lost-write ×1 (violation): 1 acknowledged value(s) never read after the final drain#59; e.g. key=T@broker-a#35;0 value=p:1 offset=0",
      ].join("\n") + "\n",
    );
  });

  it("cuts at 300 events by default and keeps every line one statement", () => {
    const big = sampleTrace({ sends: 100, injectText: "line one\nline two; end" });
    const text = renderMermaid(big);
    expect(text).toContain(`cut: showing the first 300 of ${big.events.length} events`);
    const statements = text.trimEnd().split("\n");
    // Header, comment, participants, one line per drawn event, the cut note, one line per anomaly.
    expect(statements.every((l) => l === "sequenceDiagram" || /^    (%%|participant |Note over |[A-Za-z_][A-Za-z0-9_]*(->>|-x))/.test(l))).toBe(true);
    // The newline and the semicolon in a detail would each have ended the statement early.
    expect(text).toContain("note=line one line two#59; end");
  });

  it("draws each message from its sender at its place in event order, and gives a sender that logged nothing else a participant", () => {
    const msgs = literalTrace([
      ev(5, "broker-a", "net.msg", { from: "namesrv-1", conn: 2, sentUs: 1, type: "resp 0" }),
      ev(6, "broker-a", "store.flush", { flushedWhere: 0 }),
      ev(9, "producer-1", "net.drop", { from: "broker-a", conn: 3, sentUs: 7, type: "resp 0" }),
    ]);
    expect(renderMermaid(msgs).split("\n").filter((l) => !l.startsWith("    %%"))).toEqual([
      "sequenceDiagram",
      "    participant namesrv_1 as namesrv-1",
      "    participant broker_a as broker-a",
      "    participant producer_1 as producer-1",
      "    namesrv_1->>broker_a: resp 0",
      "    Note over broker_a: 0.000006s store.flush flushedWhere=0",
      "    broker_a-xproducer_1: resp 0 (lost)",
      "",
    ]);
  });

  it("gives every node a Mermaid-safe participant id", () => {
    const odd = literalTrace([ev(0, "end", "x"), ev(1, "9-lives", "y"), ev(2, "9_lives", "z")]);
    expect(renderMermaid(odd).split("\n").filter((l) => l.includes("participant"))).toEqual([
      "    participant end_ as end",
      "    participant n_9_lives as 9-lives",
      "    participant n_9_lives_2 as 9_lives",
    ]);
  });
});
