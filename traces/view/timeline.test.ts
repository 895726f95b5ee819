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
      ev(2, "broker-b", "net.send", { to: "namesrv-2", conn: 1, msg: 1, type: "X" }),
    ];
    expect(laneOrder(events)).toEqual(["namesrv-1", "namesrv-2", "broker-b", "broker-a", "consumer-1", "producer-1", "nemesis", "runner"]);
  });
});

describe("buildTimeline", () => {
  it("pairs net.send with net.recv by packet id, and keeps a message never received as lost", () => {
    const t = buildTimeline([
      ev(10, "producer-1", "net.send", { to: "broker-a", conn: 1, msg: 7, type: "SEND_MESSAGE" }),
      ev(11, "producer-1", "net.send", { to: "broker-a", conn: 1, msg: 8, type: "SEND_MESSAGE" }),
      ev(15, "broker-a", "net.recv", { from: "producer-1", conn: 1, msg: 8 }),
      ev(16, "broker-a", "net.recv", { from: "producer-1", conn: 1, msg: 99 }),
    ]);
    expect(t.arrows).toEqual([
      { send: 0, recv: -1, from: "producer-1", to: "broker-a", type: "SEND_MESSAGE" },
      { send: 1, recv: 2, from: "producer-1", to: "broker-a", type: "SEND_MESSAGE" },
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
