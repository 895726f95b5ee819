import type { Command } from "commander";
import { sweep } from "../../traces/sweep.js";
import { EXIT } from "../errors.js";
import { parseOverrides, parseSeedRange, type CommonRunFlags } from "../options.js";
import { loadScenarioInput } from "../scenarios.js";
import type { CliContext } from "../main.js";
import { addRunOptions, reproduceLine } from "./run.js";
import { UsageError } from "../errors.js";

interface SweepFlags extends CommonRunFlags {
  seeds?: string;
  stopOnFirst?: boolean;
  out?: string;
  json?: boolean;
}

export function registerSweep(program: Command, cli: CliContext): void {
  addRunOptions(
    program
      .command("sweep")
      .description("run a scenario over a range of seeds and count what each anomaly type shows up in")
      .argument("<scenario>", "a built-in scenario name or a scenario JSON file")
      .option("--seeds <A..B>", "seed range, inclusive")
      .option("--stop-on-first", "stop at the first seed that fails")
      .option("--out <dir>", "write the trace of every failing seed to this folder")
      .option("--json", "print one JSON object"),
  ).action((name: string, flags: SweepFlags) => {
    if (flags.seeds === undefined) throw new UsageError("sweep: --seeds A..B is required");
    const { from, to } = parseSeedRange(flags.seeds);
    const overrides = parseOverrides(flags);
    const input = loadScenarioInput(name);
    const started = cli.wallNow();
    const result = sweep(input, {
      from,
      to,
      overrides,
      stopOnFirst: flags.stopOnFirst ?? false,
      ...(flags.out !== undefined ? { outDir: flags.out } : {}),
    });
    const wallMs = Math.round(cli.wallNow() - started);
    const { perSeed: _perSeed, ...summary } = result;
    if (flags.json) {
      cli.out(JSON.stringify({ ...summary, wallMs }));
    } else {
      cli.out(`mqsim sweep ${result.scenario} seeds ${from}..${to} faults ${result.faults.join(",")}`);
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
    cli.setExit(result.errors > 0 ? EXIT.internal : result.failed > 0 ? EXIT.violated : EXIT.ok);
  });
}
