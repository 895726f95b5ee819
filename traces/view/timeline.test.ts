import { describe, expect, it } from "vitest";
import type { TraceEventLine } from "../format.js";
import { buildTimeline, laneOrder } from "./timeline.js";

const ev = (t: number, n: string, k: string, d?: Record<string, unknown>): TraceEventLine => (d === undefined ? { t, n, k } : { t, n, k, d });

describe("laneOrder", () => {
  it("puts name servers, other servers, clients, the nemesis and the runner in that order, each by first appearance", () => {
    const events = [
      ev(0, "runner", "phase", { phase: "workload" }),
      ev(0, "consumer-1", "node.start"),
      ev(0, "broker-b", "node.start"),
      ev(0, "producer-1", "node.start"),
      ev(0, "namesrv-1", "node.start"),
      ev(1, "nemesis", "fault.start", { index: 0, kind: "pause", nodes: ["broker-a"] }),
      // A node that only ever sent still gets a lane, from the messages it sent, and ahead of their receiver.
      ev(2, "broker-b", "net.msg", { from: "namesrv-2", conn: 1, sentUs: 1, type: "X" }),
      ev(3, "broker-d", "net.drop", { from: "broker-c", conn: 2, sentUs: 2, type: "Y", reason: "reset" }),
    ];
    expect(laneOrder(events)).toEqual(["namesrv-1", "namesrv-2", "broker-b", "broker-a", "broker-c", "broker-d", "consumer-1", "producer-1", "nemesis", "runner"]);
  });
});

describe("buildTimeline", () => {
  it("draws each message from its one event: sender and send time from the details, receiver and arrival from the event", () => {
    const t = buildTimeline([
      ev(10, "producer-1", "op.invoke", { process: 0, f: "send", value: "v" }),
      ev(15, "broker-a", "net.msg", { from: "producer-1", conn: 1, sentUs: 10, type: "req 310" }),
      ev(40, "broker-a", "net.drop", { from: "producer-1", conn: 1, sentUs: 11, type: "req 310", reason: "machine-down" }),
      ev(41, "producer-1", "net.msg", { from: "broker-a", conn: 1, sentUs: 41, type: "resp 0" }),
      // No sender: nothing to draw from.
      ev(42, "broker-a", "net.msg", { conn: 1, sentUs: 30 }),
    ]);
    expect(t.arrows).toEqual([
      { event: 1, from: "producer-1", to: "broker-a", sentUs: 10, atUs: 15, type: "req 310", lost: false },
      { event: 2, from: "producer-1", to: "broker-a", sentUs: 11, atUs: 40, type: "req 310", lost: true, reason: "machine-down" },
      { event: 3, from: "broker-a", to: "producer-1", sentUs: 41, atUs: 41, type: "resp 0", lost: false },
    ]);
  });

  it("spans each fault from fault.start to the fault.end with the same index and kind", () => {
    const t = buildTimeline([
      ev(0, "runner", "phase", { phase: "workload" }),
      ev(100, "nemesis", "fault.start", { index: 0, kind: "partition", nodes: ["broker-a", "namesrv-1"], shape: "halves", durationMs: 5 }),
      ev(200, "nemesis", "fault.start", { index: 1, kind: "pause", nodes: ["broker-b"], durationMs: 9 }),
      ev(300, "nemesis", "fault.end", { index: 0, kind: "partition", nodes: ["broker-a", "namesrv-1"] }),
      ev(400, "runner", "phase", { phase: "heal" }),
    ]);
    expect(t.faults).toEqual([
      { index: 0, kind: "partition", nodes: ["broker-a", "namesrv-1"], shape: "halves", startUs: 100, endUs: 300, startEvent: 1, endEvent: 3 },
      // Never healed in the trace: it runs to the last event.
      { index: 1, kind: "pause", nodes: ["broker-b"], startUs: 200, endUs: 400, startEvent: 2, endEvent: -1 },
    ]);
  });

  it("shows a crashed node down until it starts again, and a paused node until it resumes", () => {
    const t = buildTimeline([
      ev(0, "broker-a", "node.start", { boot: 1, incarnation: 1 }),
      ev(10, "broker-a", "node.crash", { mode: "power" }),
      ev(20, "broker-b", "node.pause"),
      ev(30, "broker-a", "node.start", { boot: 2, incarnation: 2 }),
      ev(40, "broker-b", "node.resume"),
      ev(50, "broker-b", "node.crash", { mode: "process" }),
    ]);
    expect(t.outages).toEqual([
      { node: "broker-a", what: "crash", mode: "power", startUs: 10, endUs: 30, startEvent: 1, endEvent: 3 },
      { node: "broker-b", what: "pause", startUs: 20, endUs: 40, startEvent: 2, endEvent: 4 },
      { node: "broker-b", what: "crash", mode: "process", startUs: 50, endUs: 50, startEvent: 5, endEvent: -1 },
    ]);
  });

  it("turns phase markers into bands that end where the next begins", () => {
    const t = buildTimeline([
      ev(0, "runner", "phase", { phase: "workload" }),
      ev(100, "runner", "phase", { phase: "heal" }),
      ev(100, "runner", "phase", { phase: "drain" }),
      ev(250, "runner", "phase", { phase: "drained" }),
      ev(260, "runner", "verdict", { verdict: "pass" }),
    ]);
    expect(t.phases).toEqual([
      { phase: "workload", startUs: 0, endUs: 100 },
      { phase: "heal", startUs: 100, endUs: 100 },
      { phase: "drain", startUs: 100, endUs: 250 },
      { phase: "drained", startUs: 250, endUs: 260 },
    ]);
    expect([t.startUs, t.endUs]).toEqual([0, 260]);
  });
});
