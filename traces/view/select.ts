import type { TraceEventLine } from "../format.js";

/**
 * Chooses which events to embed when a trace has more than a page can hold.
 *
 * Tiers, most important first:
 * 0. always kept: node life (node.*), faults, phases and everything the
 *    runner or the nemesis logged, plus the events that explain an anomaly;
 * 1. client operations (op.*);
 * 2. every other protocol step except messages (store.*, namesrv.*, ...);
 * 3. messages (net.msg and net.drop: one event per message, which carries
 *    both ends of its arrow).
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

  // Pass 1: how many candidates each tier has.
  const counts = [0, 0, 0, 0];
  let must = 0;
  events.forEach((ev, i) => {
    const tier = tierOf(ev);
    if (tier === 0 || mustKeep.has(i)) must++;
    else counts[tier]!++;
  });

  // How many of each tier fit, in priority order.
  let room = Math.max(0, maxEvents - must);
  const take = [0, 0, 0, 0];
  for (const tier of [1, 2, 3] as const) {
    take[tier] = Math.min(counts[tier]!, room);
    room -= take[tier]!;
  }

  // Pass 2: keep the j-th candidate of a tier when floor(j * take / count) steps up, which spreads the kept ones evenly.
  const seen = [0, 0, 0, 0];
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
      return;
    }
    const j = seen[tier]!++;
    const count = counts[tier]!;
    if (Math.floor(((j + 1) * take[tier]!) / count) > Math.floor((j * take[tier]!) / count)) kept.push(i);
    else drop(tier);
  });
  return { kept, total, dropped };
}
