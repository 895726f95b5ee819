import { EventHeap } from "../sim/heap.js";
import { runPingPong } from "../sim/examples/pingpong.js";
import type { Metrics } from "./metrics.js";

interface BareEvent {
  time: number;
  seq: number;
}

/**
 * The kernel's throughput on a protocol-free workload (five nodes bouncing
 * pings over simulated TCP plus heartbeat timers), and the same number of
 * push/pop pairs on the bare heap the kernel uses, with the same number of
 * events pending, measured in the same process. The ratio is the share of
 * time the kernel spends on its own work rather than ordering events.
 */
export function benchKernel(): Metrics {
  // Warm up both loops so the JIT has compiled them before timing.
  runPingPong({ seed: 0, workloadUs: 2_000_000, journal: false });
  bareHeapLoop(200_000, 50);

  let best = 0;
  let events = 0;
  let pending = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const r = runPingPong({ seed: 1 + i, workloadUs: 20_000_000, journal: false });
    const dt = (performance.now() - t0) / 1000;
    events = r.events;
    pending = r.world.sim.pending;
    best = Math.max(best, r.events / dt);
  }
  let bareBest = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    bareHeapLoop(events, Math.max(pending, 1));
    const dt = (performance.now() - t0) / 1000;
    bareBest = Math.max(bareBest, events / dt);
  }
  return {
    "kernel.events_per_sec": { value: Math.round(best), unit: "events/s" },
    "kernel.bare_heap_per_sec": { value: Math.round(bareBest), unit: "events/s" },
    "kernel.vs_bare_heap": { value: Number((best / bareBest).toFixed(3)), unit: "ratio" },
  };
}

/** Pops the earliest event and pushes a successor, `count` times, with `pending` events queued. */
function bareHeapLoop(count: number, pending: number): number {
  const heap = new EventHeap<BareEvent>();
  let seq = 0;
  // A cheap deterministic stream of delays (a linear congruential generator).
  let x = 12345;
  for (let i = 0; i < pending; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    heap.push({ time: x % 1000, seq: seq++ });
  }
  let sink = 0;
  for (let i = 0; i < count; i++) {
    const ev = heap.pop()!;
    sink += ev.seq;
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    heap.push({ time: ev.time + 200 + (x % 1000), seq: seq++ });
  }
  return sink;
}
