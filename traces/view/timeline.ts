import type { TraceEventLine } from "../format.js";

/**
 * The shapes a timeline draws, derived from events: lanes, message arrows,
 * fault spans, node outages and run phases. Indices refer to the events
 * array the timeline was built from.
 */
export interface Timeline {
  /** Node names, one lane each, in display order. */
  lanes: string[];
  startUs: number;
  endUs: number;
  arrows: Arrow[];
  faults: FaultSpan[];
  outages: Outage[];
  phases: PhaseBand[];
}

/**
 * A message, from its one event on the receiver's lane: `net.msg` when it
 * arrived, `net.drop` when it was lost. It runs from the sender's lane at
 * the time it was sent to the receiver's lane at the time of the event.
 */
export interface Arrow {
  /** The net.msg or net.drop event. */
  event: number;
  from: string;
  to: string;
  /** When the sender sent it (never after `atUs`). */
  sentUs: number;
  /** When it arrived, or was lost. */
  atUs: number;
  type: string;
  /** Never arrived (net.drop): its connection was reset, the receiver was down, ... */
  lost: boolean;
  /** For a lost message, why (socket-closed, machine-down, process-down, reset, sender-down). */
  reason?: string;
}

/** The kinds of a message event: arrived, lost. */
export function isMessageKind(kind: string): kind is "net.msg" | "net.drop" {
  return kind === "net.msg" || kind === "net.drop";
}

export interface FaultSpan {
  index: number;
  kind: string;
  nodes: string[];
  shape?: string;
  startUs: number;
  endUs: number;
  startEvent: number;
  /** -1 when the trace ends with the fault still active. */
  endEvent: number;
}

/** A node down (crashed until its next start) or paused (until resumed). */
export interface Outage {
  node: string;
  what: "crash" | "pause";
  /** For a crash: process, power or disk. */
  mode?: string;
  startUs: number;
  endUs: number;
  startEvent: number;
  endEvent: number;
}

export interface PhaseBand {
  phase: string;
  startUs: number;
  endUs: number;
}

/**
 * Lane order: name servers, then the other servers, then clients, then the
 * nemesis and the runner, each group in order of first appearance. Servers
 * on top reads like an architecture diagram; the harness goes at the bottom
 * because it is not part of the system under test.
 */
export function laneRank(node: string): number {
  if (/^namesrv/i.test(node)) return 0;
  if (/^(producer|consumer|client)/i.test(node)) return 2;
  if (node === "nemesis") return 3;
  if (node === "runner") return 4;
  return 1;
}

export function laneOrder(events: readonly TraceEventLine[], extraNodes: Iterable<string> = []): string[] {
  const seen = new Map<string, number>();
  const note = (n: string): void => {
    if (!seen.has(n)) seen.set(n, seen.size);
  };
  for (const ev of events) {
    // A message from a node that never logged anything still deserves a lane; the sender comes first, as it acted first.
    if (isMessageKind(ev.k) && typeof ev.d?.from === "string") note(ev.d.from);
    note(ev.n);
    if (ev.k === "fault.start" && Array.isArray(ev.d?.nodes)) for (const n of ev.d.nodes) if (typeof n === "string") note(n);
  }
  for (const n of extraNodes) note(n);
  return [...seen.keys()].sort((a, b) => laneRank(a) - laneRank(b) || seen.get(a)! - seen.get(b)!);
}

export function buildTimeline(events: readonly TraceEventLine[]): Timeline {
  const lanes = laneOrder(events);
  const startUs = events.length > 0 ? events[0]!.t : 0;
  const endUs = events.length > 0 ? events[events.length - 1]!.t : 0;
  const arrows: Arrow[] = [];
  const faults: FaultSpan[] = [];
  const openFaults = new Map<string, FaultSpan[]>();
  const outages: Outage[] = [];
  const openOutages = new Map<string, Outage>();
  const phases: PhaseBand[] = [];

  events.forEach((ev, i) => {
    const d = ev.d ?? {};
    switch (ev.k) {
      case "net.msg":
      case "net.drop": {
        // Without a sender there is nothing to draw from: the event still shows as a mark on its lane.
        if (typeof d.from !== "string") break;
        const sentUs = typeof d.sentUs === "number" ? Math.min(d.sentUs, ev.t) : ev.t;
        const arrow: Arrow = { event: i, from: d.from, to: ev.n, sentUs, atUs: ev.t, type: typeof d.type === "string" ? d.type : "", lost: ev.k === "net.drop" };
        if (arrow.lost && typeof d.reason === "string") arrow.reason = d.reason;
        arrows.push(arrow);
        break;
      }
      case "fault.start": {
        const span: FaultSpan = {
          index: typeof d.index === "number" ? d.index : -1,
          kind: typeof d.kind === "string" ? d.kind : "fault",
          nodes: Array.isArray(d.nodes) ? d.nodes.filter((n): n is string => typeof n === "string") : [],
          startUs: ev.t,
          endUs,
          startEvent: i,
          endEvent: -1,
        };
        if (typeof d.shape === "string") span.shape = d.shape;
        faults.push(span);
        const key = `${span.index}:${span.kind}`;
        openFaults.set(key, [...(openFaults.get(key) ?? []), span]);
        break;
      }
      case "fault.end": {
        const key = `${typeof d.index === "number" ? d.index : -1}:${typeof d.kind === "string" ? d.kind : "fault"}`;
        const span = openFaults.get(key)?.shift();
        if (span !== undefined) {
          span.endUs = ev.t;
          span.endEvent = i;
        }
        break;
      }
      case "node.crash":
      case "node.pause": {
        // A crash while paused ends the pause: the process is gone either way.
        closeOutage(openOutages, ev.n, ev.t, i);
        const outage: Outage = { node: ev.n, what: ev.k === "node.crash" ? "crash" : "pause", startUs: ev.t, endUs, startEvent: i, endEvent: -1 };
        if (typeof d.mode === "string") outage.mode = d.mode;
        outages.push(outage);
        openOutages.set(ev.n, outage);
        break;
      }
      case "node.start":
      case "node.resume":
        closeOutage(openOutages, ev.n, ev.t, i);
        break;
      case "phase": {
        const last = phases[phases.length - 1];
        if (last !== undefined) last.endUs = ev.t;
        phases.push({ phase: typeof d.phase === "string" ? d.phase : "?", startUs: ev.t, endUs });
        break;
      }
      default:
        break;
    }
  });
  return { lanes, startUs, endUs, arrows, faults, outages, phases };
}

function closeOutage(open: Map<string, Outage>, node: string, timeUs: number, index: number): void {
  const o = open.get(node);
  if (o === undefined) return;
  o.endUs = timeUs;
  o.endEvent = index;
  open.delete(node);
}
