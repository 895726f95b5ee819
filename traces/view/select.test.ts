import { describe, expect, it } from "vitest";
import type { TraceEventLine } from "../format.js";
import { selectEvents } from "./select.js";

const ev = (t: number, n: string, k: string, d?: Record<string, unknown>): TraceEventLine => (d === undefined ? { t, n, k } : { t, n, k, d });

/** 1 phase + 1 crash + 10 ops + 10 store steps + 10 messages (one lost). */
function mixed(): TraceEventLine[] {
  const out: TraceEventLine[] = [ev(0, "runner", "phase", { phase: "workload" })];
  for (let i = 0; i < 10; i++) {
    const t = 10 + i * 10;
    out.push(ev(t, "producer-1", "op.ok", { value: `v${i}` }));
    out.push(ev(t, "broker-a", "store.append", { queueOffset: i }));
    if (i === 5) out.push(ev(t + 2, "broker-a", "net.drop", { from: "producer-1", conn: 1, sentUs: t + 1, type: "SEND_MESSAGE", reason: "machine-down" }));
    else out.push(ev(t + 2, "broker-a", "net.msg", { from: "producer-1", conn: 1, sentUs: t + 1, type: "SEND_MESSAGE" }));
    if (i === 5) out.push(ev(t + 3, "broker-a", "node.crash", { mode: "power" }));
  }
  return out;
}

/** Which message (0..9) an event is, from when it was sent. */
const messageOf = (e: TraceEventLine): number => ((e.d!.sentUs as number) - 11) / 10;
const isMessage = (e: TraceEventLine): boolean => e.k === "net.msg" || e.k === "net.drop";

describe("selectEvents", () => {
  it("keeps everything when the trace fits", () => {
    const events = mixed();
    expect(selectEvents(events, 1000)).toEqual({ kept: events.map((_, i) => i), total: events.length, dropped: {} });
  });

  it("drops messages first, thinned evenly", () => {
    const events = mixed();
    // 2 always-kept + 10 ops + 10 store steps leave room for 2 messages, one event each.
    const s = selectEvents(events, 24);
    const kept = s.kept.map((i) => events[i]!);
    expect(kept.filter((e) => e.k === "op.ok").length).toBe(10);
    expect(kept.filter((e) => e.k === "store.append").length).toBe(10);
    // Evenly spread: one from each half of the run, not the first two.
    expect(kept.filter(isMessage).map(messageOf)).toEqual([4, 9]);
    expect(s.dropped).toEqual({ message: 8 });
  });

  it("counts a lost message (net.drop) as a message too", () => {
    const events = mixed();
    // Room for 5 of the 10 messages: every other one, the lost one (the 6th) among them.
    const s = selectEvents(events, 27);
    const kept = s.kept.map((i) => events[i]!).filter(isMessage);
    expect(kept.map(messageOf)).toEqual([1, 3, 5, 7, 9]);
    expect(kept.map((e) => e.k)).toContain("net.drop");
    expect(s.dropped).toEqual({ message: 5 });
  });

  it("always keeps node, fault and phase events and the events linked to anomalies, even past the cap", () => {
    const events = mixed();
    const linked = events.findIndex((e) => isMessage(e) && messageOf(e) === 3);
    const s = selectEvents(events, 3, new Set([linked]));
    const kinds = s.kept.map((i) => events[i]!.k);
    expect(kinds).toContain("phase");
    expect(kinds).toContain("node.crash");
    expect(s.kept).toContain(linked);
    // The linked message is one event: it draws as a whole arrow on its own.
    expect(s.kept.map((i) => events[i]!).filter(isMessage).map(messageOf)).toEqual([3]);
    expect(kinds.filter((k) => k === "op.ok").length).toBe(0);
    expect(s.dropped).toEqual({ "client operation": 10, protocol: 10, message: 9 });
  });
});
