import fc from "fast-check";
import type { Fault, FaultKind, PartitionShape } from "./faults.js";

export interface FaultPlanArbitraryOptions {
  /** Nodes that faults may hit (servers). */
  nodes: readonly string[];
  kinds?: readonly FaultKind[];
  /** Faults start in [startMs, endMs). */
  startMs?: number;
  endMs?: number;
  maxFaults?: number;
  maxDurationMs?: number;
}

const NODE_KINDS: FaultKind[] = ["process-crash", "power-loss", "disk-loss", "pause"];

/**
 * A fast-check arbitrary of explicit fault plans. Because a plan is plain
 * data, fast-check shrinks a failing one for free: fewer faults, shorter,
 * earlier, simpler targets.
 */
export function faultPlan(opts: FaultPlanArbitraryOptions): fc.Arbitrary<Fault[]> {
  const startMs = opts.startMs ?? 5_000;
  const endMs = opts.endMs ?? 60_000;
  const kinds = opts.kinds ?? [...NODE_KINDS, "partition", "power-loss-all"];
  const maxDurationMs = opts.maxDurationMs ?? 30_000;
  const node = fc.constantFrom(...opts.nodes);
  const fault: fc.Arbitrary<Fault> = fc
    .record({
      atMs: fc.integer({ min: startMs, max: Math.max(startMs, endMs - 1) }),
      durationMs: fc.integer({ min: 100, max: maxDurationMs }),
      kind: fc.constantFrom(...kinds),
      target: node,
      shape: fc.constantFrom<PartitionShape>("isolate", "halves", "one-way"),
      cut: fc.integer({ min: 1, max: Math.max(1, opts.nodes.length - 1) }),
    })
    .map(({ atMs, durationMs, kind, target, shape, cut }): Fault => {
      if (kind === "power-loss-all") return { atMs, kind, durationMs, targets: ["@all"] };
      if (kind === "partition") {
        if (shape === "isolate" || opts.nodes.length < 2) return { atMs, kind, durationMs, targets: [target], shape: "isolate" };
        return { atMs, kind, durationMs, targets: [], shape, groups: [opts.nodes.slice(0, cut), opts.nodes.slice(cut)] };
      }
      return { atMs, kind, durationMs, targets: [target] };
    });
  return fc.array(fault, { maxLength: opts.maxFaults ?? 4 }).map((fs) => [...fs].sort((a, b) => a.atMs - b.atMs));
}
