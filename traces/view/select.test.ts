import { describe, expect, it } from "vitest";
import type { TraceEventLine } from "../format.js";
import { selectEvents } from "./select.js";

const ev = (t: number, n: string, k: string, d?: Record<string, unknown>): TraceEventLine => (d === undefined ? { t, n, k } : { t, n, k, d });

/** 1 phase + 1 crash + 10 ops + 10 store steps + 20 messages (10 pairs). */
function mixed(): TraceEventLine[] {
  const out: TraceEventLine[] = [ev(0, "runner", "phase", { phase: "workload" })];
  for (let i = 0; i < 10; i++) {
    const t = 10 + i * 10;
    out.push(ev(t, "producer-1", "op.ok", { value: `v${i}` }));
    out.push(ev(t, "broker-a", "store.append", { queueOffset: i }));
    out.push(ev(t + 1, "producer-1", "net.send", { to: "broker-a", msg: i, type: "SEND_MESSAGE" }));
    out.push(ev(t + 2, "broker-a", "net.recv", { from: "producer-1", msg: i }));
    if (i === 5) out.push(ev(t + 3, "broker-a", "node.crash", { mode: "power" }));
  }
  return out;
}

describe("selectEvents", () => {
  it("keeps everything when the trace fits", () => {
    const events = mixed();
    expect(selectEvents(events, 1000)).toEqual({ kept: events.map((_, i) => i), total: events.length, dropped: {} });
  });

  it("drops messages first, in whole pairs, thinned evenly", () => {
    const events = mixed();
    // 2 always-kept + 10 ops + 10 store steps leave room for 4 messages: two pairs.
    const s = selectEvents(events, 26);
    const kept = s.kept.map((i) => events[i]!);
    expect(kept.filter((e) => e.k === "op.ok").length).toBe(10);
    expect(kept.filter((e) => e.k === "store.append").length).toBe(10);
    const sends = kept.filter((e) => e.k === "net.send").map((e) => e.d!.msg);
    const recvs = kept.filter((e) => e.k === "net.recv").map((e) => e.d!.msg);
    expect(sends).toEqual(recvs);
    // Evenly spread: one from each half of the run, not the first two.
    expect(sends).toEqual([4, 9]);
    expect(s.dropped).toEqual({ message: 16 });
  });

  it("always keeps node, fault and phase events and the events linked to anomalies, even past the cap", () => {
    const events = mixed();
    const linked = events.findIndex((e) => e.k === "net.send" && e.d!.msg === 3);
    const s = selectEvents(events, 3, new Set([linked]));
    const kinds = s.kept.map((i) => events[i]!.k);
    expect(kinds).toContain("phase");
    expect(kinds).toContain("node.crash");
    expect(s.kept).toContain(linked);
    // The linked send's receive comes along, so the message still draws as an arrow.
    expect(s.kept.map((i) => events[i]!).filter((e) => e.k === "net.recv").map((e) => e.d!.msg)).toEqual([3]);
    expect(kinds.filter((k) => k === "op.ok").length).toBe(0);
    expect(s.dropped).toEqual({ "client operation": 10, protocol: 10, message: 18 });
  });
});
