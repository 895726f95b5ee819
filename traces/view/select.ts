import type { TraceEventLine } from "../format.js";

/**
 * Chooses which events to embed when a trace has more than a page can hold.
 *
 * Tiers, most important first:
 * 0. always kept: node life (node.*), faults, phases and everything the
 *    runner or the nemesis logged, plus the events that explain an anomaly;
 * 1. client operations (op.*);
 * 2. every other protocol step except messages (store.*, namesrv.*, ...);
 * 3. messages (net.send with its net.recv, as a pair so arrows stay whole).
 * A tier that fits is kept whole; the first one that does not is thinned
 * evenly over the whole run (so no stretch of time goes blank) and later
 * tiers are dropped.
 */
export interface Selection {
  /** Indices of the kept events, ascending. */
  kept: number[];
  total: number;
  /** Per tier name, how many events were dropped; empty when nothing was. */
  dropped: Record<string, number>;
}

const TIER_NAMES = ["node, fault and phase", "client operation", "protocol", "message"] as const;

export function tierOf(ev: TraceEventLine): 0 | 1 | 2 | 3 {
  if (ev.n === "runner" || ev.n === "nemesis" || ev.k === "phase" || ev.k.startsWith("node.") || ev.k.startsWith("fault.")) return 0;
  if (ev.k.startsWith("op.")) return 1;
  if (ev.k.startsWith("net.")) return 3;
  return 2;
}

export function selectEvents(events: readonly TraceEventLine[], maxEvents: number, mustKeep: ReadonlySet<number> = new Set()): Selection {
  const total = events.length;
  if (total <= maxEvents) return { kept: events.map((_, i) => i), total, dropped: {} };

  // Pass 1: how many candidates each tier has (a net.recv is counted with its send).
  const counts = [0, 0, 0, 0];
  let must = 0;
  events.forEach((ev, i) => {
    const tier = tierOf(ev);
    if (tier === 0 || mustKeep.has(i)) must++;
    else if (tier !== 3 || ev.k === "net.send") counts[tier]!++;
  });

  // How many of each tier fit, in priority order. A message costs two lines.
  let room = Math.max(0, maxEvents - must);
  const take = [0, 0, 0, 0];
  for (const tier of [1, 2, 3] as const) {
    const cost = tier === 3 ? 2 : 1;
    take[tier] = Math.min(counts[tier]!, Math.floor(room / cost));
    room -= take[tier]! * cost;
  }

  // Pass 2: keep the j-th candidate of a tier when floor(j * take / count) steps up, which spreads the kept ones evenly.
  const seen = [0, 0, 0, 0];
  const keptMessages = new Set<unknown>();
  const kept: number[] = [];
  const dropped: Record<string, number> = {};
  const drop = (tier: number): void => {
    const name = TIER_NAMES[tier]!;
    dropped[name] = (dropped[name] ?? 0) + 1;
  };
  events.forEach((ev, i) => {
    const tier = tierOf(ev);
    if (tier === 0 || mustKeep.has(i)) {
      kept.push(i);
      // A kept send brings its receive along, so that the message still draws as an arrow.
      if (ev.k === "net.send") keptMessages.add(ev.d?.msg);
      return;
    }
    if (tier === 3 && ev.k !== "net.send") {
      // A receive follows its send; an unpaired net.* line (a receive whose send is gone) goes with it.
      if (ev.k === "net.recv" && keptMessages.delete(ev.d?.msg)) kept.push(i);
      else drop(tier);
      return;
    }
    const j = seen[tier]!++;
    const count = counts[tier]!;
    if (Math.floor(((j + 1) * take[tier]!) / count) > Math.floor((j * take[tier]!) / count)) {
      kept.push(i);
      if (tier === 3) keptMessages.add(ev.d?.msg);
    } else {
      drop(tier);
    }
  });
  return { kept, total, dropped };
}
