import type { Anomaly } from "../../invariants/index.js";
import type { TraceEventLine } from "../format.js";

/**
 * Links each anomaly example to the trace events that explain it.
 *
 * Checkers work on the client history, so their examples name values, queue
 * keys and offsets, not trace lines. We search the trace for the same
 * identities:
 * - `value`, `values`, `skipped`: events whose details carry that `value`
 *   (the op.invoke / op.ok / op.fail / op.info of the send);
 * - `key` + `offset` (also inside `positions`, `previous`, `unseen`): the
 *   op.ok that got that position, the op.poll whose offset range covers it,
 *   the store.append that wrote it (key = `topic@brokerName#queueId`,
 *   offset = queue offset), and a consumer.offset-moved that jumped over it;
 *   with `previous.offset` too (a poll step), the offsets in between: the
 *   polls and offset moves that skipped them;
 * - `node` + `index` (+ `term`): replicated-log events on that node at that
 *   log index; `leaders` + `term`: leadership events of those nodes.
 * And, as context, what undid a write: after a matching append on a broker,
 * the next crash of that broker, the fault that caused it, and the recovery
 * that followed (which says where the log was cut).
 * `timeUs` fields become moments: vertical marks on the timeline.
 */
export interface ExampleLink {
  example: unknown;
  /** Indices into the events array, ascending. */
  events: number[];
  moments: number[];
}

export interface AnomalyLink {
  type: string;
  count: number;
  message?: string;
  /** The scenario's `expect` forbids this type: it fails the run (otherwise it is a finding). */
  violation: boolean;
  examples: ExampleLink[];
}

/** No example needs more events than this to be understood; the cap keeps a pathological match bounded. */
export const MAX_EVENTS_PER_EXAMPLE = 200;

interface Needles {
  values: Set<string>;
  positions: Array<{ key: string; offset: number }>;
  /** Offsets a consumer jumped over: between `previous.offset` and `offset`, both excluded. */
  gaps: Array<{ key: string; from: number; to: number }>;
  entries: Array<{ node: string; index: number; term?: number }>;
  leaders: Array<{ nodes: string[]; term: number }>;
  moments: number[];
}

/** Collects identities from an example object, walking nested objects and arrays. */
function needlesOf(example: unknown): Needles {
  const out: Needles = { values: new Set(), positions: [], gaps: [], entries: [], leaders: [], moments: [] };
  // A nested object inherits its parent's `key` and `index`: `previous: {offset}` is on the parent's key, and
  // log-divergence's `a: {node, term}` / `b: {...}` sit at the parent's log index.
  const walk = (x: unknown, inherited: { key?: string; index?: number }, depth: number): void => {
    if (depth > 6 || x === null || typeof x !== "object") return;
    if (Array.isArray(x)) {
      for (const item of x) walk(item, inherited, depth + 1);
      return;
    }
    const o = x as Record<string, unknown>;
    const key = typeof o.key === "string" ? o.key : inherited.key;
    const index = typeof o.index === "number" ? o.index : inherited.index;
    if (typeof o.value === "string") out.values.add(o.value);
    for (const list of [o.values, o.skipped]) {
      if (Array.isArray(list)) for (const v of list) if (typeof v === "string") out.values.add(v);
    }
    if (key !== undefined && typeof o.offset === "number") out.positions.push({ key, offset: o.offset });
    const previous = o.previous as Record<string, unknown> | undefined;
    if (key !== undefined && typeof o.offset === "number" && typeof previous?.offset === "number" && o.offset - previous.offset > 1) {
      out.gaps.push({ key, from: previous.offset + 1, to: o.offset - 1 });
    }
    if (typeof o.node === "string" && index !== undefined) {
      out.entries.push(typeof o.term === "number" ? { node: o.node, index, term: o.term } : { node: o.node, index });
    }
    if (Array.isArray(o.leaders) && typeof o.term === "number") {
      out.leaders.push({ nodes: o.leaders.filter((n): n is string => typeof n === "string"), term: o.term });
    }
    if (typeof o.timeUs === "number") out.moments.push(o.timeUs);
    const context = { ...(key !== undefined ? { key } : {}), ...(index !== undefined ? { index } : {}) };
    for (const [field, v] of Object.entries(o)) if (field !== "values" && field !== "skipped") walk(v, context, depth + 1);
  };
  walk(example, {}, 0);
  return out;
}

/** `topic@brokerName#queueId`, RocketMQ's queue key (model/rocketmq/client.ts queueKey). */
function parseQueueKey(key: string): { topic: string; broker: string; queueId: number } | null {
  const m = /^(.*)@([^@#]+)#(\d+)$/.exec(key);
  if (m === null) return null;
  return { topic: m[1]!, broker: m[2]!, queueId: Number(m[3]) };
}

/** Whether a store event on `node` belongs to broker `brokerName` (its master or one of its slaves). */
function isBrokerNode(node: string, d: Record<string, unknown>, brokerName: string): boolean {
  if (typeof d.brokerName === "string") return d.brokerName === brokerName;
  return node === brokerName || node.startsWith(`${brokerName}-`);
}

function num(x: unknown): number | undefined {
  return typeof x === "number" ? x : undefined;
}

/** A write found on a broker, waiting for the crash and recovery that may have undone it. */
interface PendingUndo {
  example: number;
  stage: "appended" | "crashed";
  crashUs: number;
}

export function linkAnomalies(events: readonly TraceEventLine[], anomalies: readonly Anomaly[], expect: readonly string[] = []): AnomalyLink[] {
  const forbidden = new Set(expect);
  const flat: Array<{ example: unknown; needles: Needles; found: Set<number> }> = [];
  const links: AnomalyLink[] = anomalies.map((a) => {
    const link: AnomalyLink = { type: a.type, count: a.count, violation: forbidden.has(a.type), examples: [] };
    if (a.message !== undefined) link.message = a.message;
    for (const example of a.examples) {
      const needles = needlesOf(example);
      flat.push({ example, needles, found: new Set() });
      link.examples.push({ example, events: [], moments: [...new Set(needles.moments)].sort((x, y) => x - y) });
    }
    return link;
  });
  if (flat.length === 0) return links;

  // Index the needles so that one pass over a large trace costs a few map lookups per event.
  const byValue = new Map<string, number[]>();
  const byPosition = new Map<string, number[]>();
  const byQueueKey = new Map<string, Array<{ example: number; from: number; to: number }>>();
  const byAppend = new Map<string, Array<{ example: number; broker: string }>>();
  const byEntry = new Map<string, Array<{ example: number; term?: number }>>();
  const byLeader = new Map<string, Array<{ example: number; term: number }>>();
  const push = <T>(map: Map<string, T[]>, k: string, v: T): void => {
    const list = map.get(k);
    if (list === undefined) map.set(k, [v]);
    else list.push(v);
  };
  flat.forEach(({ needles }, i) => {
    for (const v of needles.values) push(byValue, v, i);
    for (const { key, offset } of needles.positions) {
      push(byPosition, `${key}\u0000${offset}`, i);
      push(byQueueKey, key, { example: i, from: offset, to: offset });
      const q = parseQueueKey(key);
      if (q !== null) push(byAppend, `${q.topic}\u0000${q.queueId}\u0000${offset}`, { example: i, broker: q.broker });
    }
    for (const g of needles.gaps) push(byQueueKey, g.key, { example: i, from: g.from, to: g.to });
    for (const e of needles.entries) push(byEntry, `${e.node}\u0000${e.index}`, e.term === undefined ? { example: i } : { example: i, term: e.term });
    for (const l of needles.leaders) for (const n of l.nodes) push(byLeader, n, { example: i, term: l.term });
  });

  const undo = new Map<string, PendingUndo[]>();
  const add = (example: number, index: number): void => {
    const found = flat[example]!.found;
    if (found.size < MAX_EVENTS_PER_EXAMPLE) found.add(index);
  };

  events.forEach((ev, index) => {
    const d = ev.d;
    if (ev.k === "node.crash" || ev.k === "fault.start" || ev.k.endsWith(".recover")) advanceUndo(undo, ev, index, add);
    if (d === undefined) return;
    if (typeof d.value === "string") for (const i of byValue.get(d.value) ?? []) add(i, index);
    const key = typeof d.key === "string" ? d.key : typeof d.mq === "string" ? d.mq : undefined;
    if (key !== undefined) {
      const offset = num(d.offset);
      if (offset !== undefined) for (const i of byPosition.get(`${key}\u0000${offset}`) ?? []) add(i, index);
      const wanted = byQueueKey.get(key);
      if (wanted !== undefined) {
        // A poll covers [first, last]; a moved offset jumped over [from, to).
        const range = Array.isArray(d.offsets) ? [num(d.offsets[0]), num(d.offsets[1])] : ev.k === "consumer.offset-moved" ? [num(d.from), (num(d.to) ?? 0) - 1] : null;
        const [lo, hi] = range ?? [];
        if (lo !== undefined && hi !== undefined) for (const w of wanted) if (w.from <= hi && w.to >= lo) add(w.example, index);
      }
    }
    if (typeof d.topic === "string" && typeof d.queueId === "number" && typeof d.queueOffset === "number") {
      for (const w of byAppend.get(`${d.topic}\u0000${d.queueId}\u0000${d.queueOffset}`) ?? []) {
        if (!isBrokerNode(ev.n, d, w.broker)) continue;
        add(w.example, index);
        push(undo, ev.n, { example: w.example, stage: "appended", crashUs: -1 });
      }
    }
    if (typeof d.index === "number") {
      for (const w of byEntry.get(`${ev.n}\u0000${d.index}`) ?? []) if (w.term === undefined || d.term === undefined || d.term === w.term) add(w.example, index);
    }
    if (typeof d.term === "number" && /leader|elect|vote/i.test(ev.k)) {
      for (const w of byLeader.get(ev.n) ?? []) if (w.term === d.term) add(w.example, index);
    }
  });

  let k = 0;
  for (const link of links) {
    for (const ex of link.examples) ex.events = [...flat[k++]!.found].sort((x, y) => x - y);
  }
  return links;
}

/**
 * Follows a write on a broker to what undid it: the broker's next crash, the
 * fault.start logged in the same instant (the injector crashes the node
 * first, then logs the fault), and the recovery after the restart.
 */
function advanceUndo(undo: Map<string, PendingUndo[]>, ev: TraceEventLine, index: number, add: (example: number, index: number) => void): void {
  if (ev.k === "fault.start") {
    const nodes = Array.isArray(ev.d?.nodes) ? ev.d.nodes : [];
    for (const n of nodes) {
      if (typeof n !== "string") continue;
      for (const p of undo.get(n) ?? []) if (p.stage === "crashed" && p.crashUs === ev.t) add(p.example, index);
    }
    return;
  }
  const pending = undo.get(ev.n);
  if (pending === undefined) return;
  if (ev.k === "node.crash") {
    for (const p of pending) {
      if (p.stage !== "appended") continue;
      p.stage = "crashed";
      p.crashUs = ev.t;
      add(p.example, index);
    }
    return;
  }
  // A recovery: it closes every write that was waiting for one on this node.
  const rest = pending.filter((p) => {
    if (p.stage !== "crashed") return true;
    add(p.example, index);
    return false;
  });
  if (rest.length === 0) undo.delete(ev.n);
  else undo.set(ev.n, rest);
}
