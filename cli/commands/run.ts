import type { Command } from "commander";
import { runWithTrace } from "../../traces/record.js";
import { EXIT, UsageError } from "../errors.js";
import { describeAnomaly, describePlan, formatMs, shellQuote } from "../format.js";
import { collect, parseInteger, parseOverrides, type CommonRunFlags } from "../options.js";
import { loadScenarioInput } from "../scenarios.js";
import type { CliContext } from "../main.js";

interface RunFlags extends CommonRunFlags {
  seed?: string;
  trace?: string;
  json?: boolean;
}

export function addRunOptions(cmd: Command): Command {
  return cmd
    .option("--faults <classes>", "comma-separated fault classes: none, process-crash, power-loss, power-loss-all, disk-loss, partition, pause, mixed")
    .option("--max-concurrent-faults <n>", "at most this many faults at once")
    .option("--duration <seconds>", "length of the workload-under-faults phase")
    .option("--set <key=value>", "change one key of the scenario's config (repeatable)", collect, []);
}

/** The command line that reproduces a run exactly. */
export function reproduceLine(scenario: string, seed: number, flags: CommonRunFlags): string {
  const parts = ["mqsim", "run", scenario, "--seed", String(seed)];
  if (flags.faults) parts.push("--faults", flags.faults);
  if (flags.maxConcurrentFaults) parts.push("--max-concurrent-faults", flags.maxConcurrentFaults);
  if (flags.duration) parts.push("--duration", flags.duration);
  for (const s of flags.set ?? []) parts.push("--set", s);
  return parts.map(shellQuote).join(" ");
}

export function registerRun(program: Command, cli: CliContext): void {
  addRunOptions(
    program
      .command("run")
      .description("run one scenario with one seed and judge it")
      .argument("<scenario>", "a built-in scenario name or a scenario JSON file")
      .option("--seed <n>", "the seed (the run is a pure function of scenario and seed)", "1")
      .option("--trace <file>", "write the trace (JSON Lines) to this file")
      .option("--json", "print one JSON object"),
  ).action((name: string, flags: RunFlags) => {
    const seed = parseInteger("--seed", flags.seed ?? "1", 0, 2 ** 31 - 1);
    const overrides = parseOverrides(flags);
    const input = loadScenarioInput(name);
    const started = cli.wallNow();
    const result = runWithTrace(input, { seed, overrides }, flags.trace);
    const wallMs = Math.round(cli.wallNow() - started);
    if (flags.json) {
      cli.out(
        JSON.stringify({
          scenario: result.scenario,
          seed,
          verdict: result.verdict,
          anomalies: result.anomalies,
          violations: result.violations.map((a) => a.type),
          outcome: result.outcome,
          plan: result.plan,
          stats: { events: result.stats.events, simTimeMs: result.stats.simTimeMs, wallMs, ops: result.stats.ops },
          traceHash: result.traceHash,
          ...(flags.trace ? { trace: flags.trace } : {}),
        }),
      );
    } else {
      cli.out(`mqsim run ${result.scenario} seed ${seed} faults ${result.resolved.faults.classes.join(",")} (${result.plan.length} planned)`);
      for (const line of describePlan(result.plan)) cli.out(line);
      const verdictLine = result.verdict === "pass" ? "PASS" : result.verdict === "fail" ? `FAIL: violated ${result.violations.map((a) => a.type).join(", ")}` : `ERROR: ${result.error ?? ""}`;
      cli.out(`verdict: ${verdictLine}`);
      if (result.outcome === "drain-timeout") cli.out("the final drain did not converge after healing (liveness)");
      if (result.violations.length > 0) {
        cli.out("violations:");
        for (const a of result.violations) cli.out(describeAnomaly(a));
      }
      if (result.findings.length > 0) {
        cli.out("findings (reported, not failing):");
        for (const a of result.findings) cli.out(describeAnomaly(a));
      }
      const speed = wallMs > 0 ? `${Math.round(result.stats.simTimeMs / wallMs)}x real time` : "";
      cli.out(`stats: ${result.stats.events.toLocaleString("en-US")} events, ${result.stats.ops} client ops, ${formatMs(result.stats.simTimeMs)} simulated in ${formatMs(wallMs)} ${speed}`);
      cli.out(`trace hash: ${result.traceHash}${flags.trace ? `  trace: ${flags.trace}` : ""}`);
      if (result.verdict !== "pass") cli.out(`reproduce: ${reproduceLine(name, seed, flags)}`);
    }
    cli.setExit(result.verdict === "pass" ? EXIT.ok : result.verdict === "fail" ? EXIT.violated : EXIT.internal);
  });
}

export { UsageError };
