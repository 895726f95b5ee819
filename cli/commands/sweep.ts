import { readFileSync } from "node:fs";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { SeedPool, defaultWorkers, sweepOnPool } from "../../traces/pool.js";
import { SweepDigest, shardRange, type SeedSummary, type SweepResult } from "../../traces/sweep.js";
import { EXIT, UsageError } from "../errors.js";
import { parseInteger, parseSeedRange, type CommonRunFlags } from "../options.js";
import type { CliContext } from "../main.js";
import { addRunOptions, reproduceLine, scenarioAndOverrides, withConfigOrigin } from "./run.js";
import { resolveScenario } from "../../model/run.js";

interface SweepFlags extends CommonRunFlags {
  seeds?: string;
  stopOnFirst?: boolean;
  out?: string;
  json?: boolean;
  workers?: string;
  shard?: string;
}

export function parseShard(raw: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(raw.trim());
  if (m === null) throw new UsageError(`--shard: expected I/N (for example 2/8), got ${JSON.stringify(raw)}`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count) throw new UsageError(`--shard: ${raw} is not one of 1/${count}..${count}/${count}`);
  return { index, count };
}

/** A progress bar on stderr when it is a terminal: seeds per second, ETA, findings so far. */
export function progressBar(cli: CliContext, total: number, enabled: boolean): { tick(s: SeedSummary): void; stop(): void } {
  if (!enabled || !process.stderr.isTTY) return { tick: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { format: "{bar} {value}/{total} seeds | {rate} seeds/s | ETA {eta_formatted} | findings {findings}", stream: process.stderr, hideCursor: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  const started = cli.wallNow();
  let done = 0;
  let findings = 0;
  bar.start(total, 0, { rate: "0.0", findings: 0 });
  return {
    tick: (s) => {
      done++;
      if (s.anomalies.length > 0) findings++;
      const rate = (done / Math.max(1e-3, (cli.wallNow() - started) / 1000)).toFixed(1);
      bar.update(done, { rate, findings });
    },
    stop: () => bar.stop(),
  };
}

function printSweep(cli: CliContext, result: SweepResult, name: string, flags: CommonRunFlags, wallMs: number): void {
  cli.out(`mqsim sweep ${result.scenario} seeds ${result.seeds.from}..${result.seeds.to}${result.shard ? ` (shard ${result.shard.index}/${result.shard.count})` : ""} faults ${result.faults.join(",")}`);
  cli.out(`runs ${result.runs}: ${result.passed} passed, ${result.failed} failed, ${result.errors} errors in ${(wallMs / 1000).toFixed(1)} s`);
  const types = Object.entries(result.anomalies);
  if (types.length === 0) cli.out("no anomalies");
  for (const [t, n] of types) cli.out(`  ${t.padEnd(22)} in ${n} of ${result.runs} seeds`);
  if (result.firstFailure !== null) {
    cli.out(`first failure: seed ${result.firstFailure.seed} (${result.firstFailure.anomalies.map((a) => a.type).join(", ") || "error"})`);
    if (result.firstFailure.trace) cli.out(`  trace: ${result.firstFailure.trace}`);
    cli.out(`  reproduce: ${reproduceLine(name, result.firstFailure.seed, flags)}`);
  }
  cli.out(`digest: ${result.digest}`);
}

function exitFor(r: { errors: number; failed: number }): number {
  return r.errors > 0 ? EXIT.internal : r.failed > 0 ? EXIT.violated : EXIT.ok;
}

export function registerSweep(program: Command, cli: CliContext): void {
  addRunOptions(
    program
      .command("sweep")
      .description("run a scenario over a range of seeds and count the seeds each anomaly type shows up in")
      .argument("<scenario>", "a built-in scenario name or a scenario JSON file")
      .option("--seeds <A..B>", "seed range, inclusive")
      .option("--stop-on-first", "stop at the first seed that fails")
      .option("--out <dir>", "write the trace of every failing seed to this folder")
      .option("--workers <n>", "worker threads (default: one per core)")
      .option("--shard <I/N>", "run only the I-th of N slices of the seed range (merge the results with `mqsim merge`)")
      .option("--json", "print one JSON object"),
  ).action(async (name: string, flags: SweepFlags) => {
    if (flags.seeds === undefined) throw new UsageError("sweep: --seeds A..B is required");
    let { from, to } = parseSeedRange(flags.seeds);
    const shard = flags.shard !== undefined ? parseShard(flags.shard) : undefined;
    if (shard !== undefined) ({ from, to } = shardRange(from, to, shard.index, shard.count));
    const workers = flags.workers !== undefined ? parseInteger("--workers", flags.workers, 1, 256) : defaultWorkers();
    const { input, overrides } = scenarioAndOverrides(name, flags, cli);
    withConfigOrigin(() => resolveScenario(input, overrides));
    const started = cli.wallNow();
    const bar = progressBar(cli, Math.max(0, to - from + 1), !flags.json);
    const pool = new SeedPool(workers);
    let result: SweepResult;
    try {
      result =
        to < from
          ? { ...(await sweepOnPool(pool, input, { from, to: from - 1, overrides })), seeds: { from, to, count: 0 } }
          : await sweepOnPool(pool, input, {
              from,
              to,
              overrides,
              stopOnFirst: flags.stopOnFirst ?? false,
              onRun: (s) => bar.tick(s),
              ...(flags.out !== undefined ? { outDir: flags.out } : {}),
            });
    } finally {
      bar.stop();
      await pool.close();
    }
    if (shard !== undefined) result.shard = shard;
    const wallMs = Math.round(cli.wallNow() - started);
    const { perSeed: _perSeed, ...summary } = result;
    if (flags.json) cli.out(JSON.stringify({ ...summary, wallMs }));
    else printSweep(cli, result, name, flags, wallMs);
    cli.setExit(exitFor(result));
  });

  program
    .command("merge")
    .description("combine the JSON results of sharded sweeps into the result of the whole sweep")
    .argument("<results...>", "files holding `mqsim sweep --json` output")
    .option("--json", "print one JSON object")
    .action((files: string[], flags: { json?: boolean }) => {
      const parts = files.map((f) => {
        let text: string;
        try {
          text = readFileSync(f, "utf8");
        } catch {
          throw new UsageError(`${f}: cannot read`);
        }
        try {
          const j = JSON.parse(text) as SweepResult & { wallMs?: number };
          if (typeof j.scenario !== "string" || typeof j.digest !== "string" || typeof j.seeds?.from !== "number") throw new Error();
          return { file: f, r: j };
        } catch {
          throw new UsageError(`${f}: not the JSON output of mqsim sweep`);
        }
      });
      const merged = mergeSweeps(parts);
      if (flags.json) cli.out(JSON.stringify(merged));
      else printSweep(cli, { ...merged, perSeed: [] }, merged.scenario, {}, merged.wallMs);
      cli.setExit(exitFor(merged));
    });
}

/** Adds shard results up; refuses parts from different scenarios or fault classes, gaps and overlaps. */
export function mergeSweeps(parts: Array<{ file: string; r: SweepResult & { wallMs?: number } }>): Omit<SweepResult, "perSeed"> & { wallMs: number } {
  if (parts.length === 0) throw new UsageError("merge: no results given");
  const first = parts[0]!.r;
  const sorted = [...parts].sort((a, b) => a.r.seeds.from - b.r.seeds.from);
  for (const p of sorted) {
    if (p.r.scenario !== first.scenario) throw new UsageError(`${p.file}: scenario ${p.r.scenario}, expected ${first.scenario}`);
    if (JSON.stringify(p.r.faults) !== JSON.stringify(first.faults)) throw new UsageError(`${p.file}: faults ${p.r.faults.join(",")}, expected ${first.faults.join(",")}`);
  }
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!.r.seeds;
    const cur = sorted[i]!.r.seeds;
    if (cur.from !== prev.to + 1) throw new UsageError(`${sorted[i]!.file}: seeds ${cur.from}..${cur.to} do not follow ${prev.from}..${prev.to}`);
  }
  const digest = new SweepDigest();
  const anomalies: Record<string, number> = {};
  let runs = 0;
  let passed = 0;
  let failed = 0;
  let errors = 0;
  let wallMs = 0;
  let firstFailure: SweepResult["firstFailure"] = null;
  for (const { r } of sorted) {
    digest.addHex(r.digest);
    runs += r.runs;
    passed += r.passed;
    failed += r.failed;
    errors += r.errors;
    wallMs += r.wallMs ?? 0;
    for (const [t, n] of Object.entries(r.anomalies)) anomalies[t] = (anomalies[t] ?? 0) + n;
    if (firstFailure === null && r.firstFailure !== null) firstFailure = r.firstFailure;
  }
  const from = sorted[0]!.r.seeds.from;
  const to = sorted[sorted.length - 1]!.r.seeds.to;
  // Anomaly keys in catalogue order, as a single sweep reports them.
  const ordered = Object.fromEntries(Object.entries(anomalies).sort(([a], [b]) => a.localeCompare(b)));
  return { scenario: first.scenario, faults: first.faults, seeds: { from, to, count: to - from + 1 }, runs, passed, failed, errors, anomalies: ordered, firstFailure, digest: digest.hex(), wallMs };
}
