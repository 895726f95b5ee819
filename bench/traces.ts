import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runScenario } from "../model/run.js";
import { runPingPong } from "../sim/examples/pingpong.js";
import { TRACE_FORMAT_VERSION } from "../traces/format.js";
import { runWithTrace } from "../traces/record.js";
import { replayTrace } from "../traces/replay.js";
import { TraceWriter } from "../traces/writer.js";
import type { Metrics } from "./metrics.js";
import { scenarioInput } from "./rocketmq.js";

/**
 * Trace figures: what writing a trace adds to a run, how fast a
 * one-million-event trace replays, and the peak memory while a
 * ten-million-event trace streams to disk.
 */
export function benchTraces(): Metrics {
  const dir = mkdtempSync(join(tmpdir(), "mqsim-bench-"));
  try {
    const input = scenarioInput("rocketmq-single-async-flush");
    // Overhead: the same runs with and without a trace file, interleaved, best of each. A run
    // takes about 20 ms, so two rounds over the six seeds keep one noisy moment from deciding.
    for (let i = 0; i < 2; i++) runWithTrace(input, { seed: 50 + i }, join(dir, "warm.jsonl"));
    let bare = Infinity;
    let traced = Infinity;
    for (let round = 0; round < 12; round++) {
      const seed = 1 + (round % 6);
      let t0 = performance.now();
      runScenario(input, { seed });
      bare = Math.min(bare, performance.now() - t0);
      t0 = performance.now();
      runWithTrace(input, { seed }, join(dir, "t.jsonl"));
      traced = Math.min(traced, performance.now() - t0);
    }

    // Replay: a run long enough for about a million events.
    const long = join(dir, "long.jsonl");
    const r = runWithTrace(input, { seed: 7, overrides: { durationSeconds: 3_300 } }, long);
    const t0 = performance.now();
    const rep = replayTrace(long);
    const replayMs = performance.now() - t0;
    if (!rep.reproduced) throw new Error("bench: the long trace did not replay");

    // Memory: ten million events streamed through the writer from a protocol-free world.
    const huge = join(dir, "huge.jsonl");
    let peakRss = process.memoryUsage().rss;
    const baseRss = peakRss;
    let writer: TraceWriter | null = null;
    let n = 0;
    const pp = runPingPong({
      seed: 1,
      workloadUs: 500_000_000,
      window: 1,
      journal: false,
      traceEvery: 1,
      heartbeatUs: 1_000_000_000,
      onTraceStart: (sim) => {
        writer = new TraceWriter(huge, { type: "header", format: TRACE_FORMAT_VERSION, mqsim: "bench", scenario: input as never, seed: 1, plan: [] });
        sim.onTraceLine((line) => {
          writer!.event(line);
          if (++n % 500_000 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
        });
      },
    });
    (writer as TraceWriter | null)?.finish({ type: "footer", events: pp.world.sim.traceEvents, hash: pp.traceHash, verdict: "pass", outcome: "drained", anomalies: [] });
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    return {
      "traces.write_overhead": { value: Number(((traced - bare) / bare).toFixed(3)), unit: "fraction of run time" },
      "traces.replay_events": { value: rep.events, unit: "events" },
      "traces.replay_ms": { value: Math.round(replayMs), unit: "ms" },
      "traces.replay_1m_events_ms": { value: Math.round((replayMs * 1_000_000) / rep.events), unit: "ms per million events" },
      "traces.stream_events": { value: n, unit: "events" },
      "traces.stream_file_mb": { value: Math.round(statSync(huge).size / 1e6), unit: "MB" },
      "traces.stream_peak_rss_mb": { value: Math.round(peakRss / 1e6), unit: "MB" },
      "traces.stream_rss_growth_mb": { value: Math.round((peakRss - baseRss) / 1e6), unit: "MB" },
      "traces.long_run_trace_events": { value: r.stats.traceEvents, unit: "events" },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
