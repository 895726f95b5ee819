import type { Command } from "commander";
import { ModelCrash, runWithTrace } from "../../traces/record.js";
import { traceThreadReady } from "../../traces/writer.js";
import { EXIT, UsageError } from "../errors.js";
import { describeAnomaly, describePlan, formatMs, shellQuote } from "../format.js";
import { collect, configFileOverrides, configOrigins, parseInteger, parseOverrides, type CommonRunFlags } from "../options.js";
import { configKeysFor } from "../../model/config-keys.js";
import { ScenarioError, type RunOverrides } from "../../model/run.js";
import { loadScenarioInput } from "../scenarios.js";
import type { CliContext } from "../main.js";

interface RunFlags extends CommonRunFlags {
  seed?: string;
  trace?: string;
  json?: boolean;
}

export function addRunOptions(cmd: Command): Command {
  return cmd
    .option("--broker-conf <file>", "apply a RocketMQ broker.conf (Java properties) to the scenario's config")
    .option("--server-properties <file>", "apply a Kafka server.properties to the scenario's config")
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

/** The scenario input and overrides from the common flags, config files included. */
export function scenarioAndOverrides(name: string, flags: CommonRunFlags, cli: CliContext): { input: unknown; overrides: RunOverrides } {
  const input = loadScenarioInput(name);
  const system = (input as { system?: unknown }).system;
  let fileSets: Record<string, string | number | boolean> = {};
  if (flags.brokerConf !== undefined) {
    if (system !== "rocketmq") throw new UsageError("--broker-conf applies to RocketMQ scenarios");
    fileSets = { ...fileSets, ...configFileOverrides(flags.brokerConf, configKeysFor("rocketmq"), cli.err) };
  }
  if (flags.serverProperties !== undefined) {
    if (system !== "kafka") throw new UsageError("--server-properties applies to Kafka scenarios");
    fileSets = { ...fileSets, ...configFileOverrides(flags.serverProperties, configKeysFor("kafka"), cli.err) };
  }
  return { input, overrides: parseOverrides(flags, fileSets) };
}

/** A rejected config value names the file and line it came from. */
export function withConfigOrigin<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof ScenarioError) {
      const m = /config key (\S+):/.exec(err.message);
      const origin = m ? configOrigins.get(m[1]!) : undefined;
      if (origin !== undefined) throw new ScenarioError(`${err.message} (${origin})`);
    }
    throw err;
  }
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
  ).action(async (name: string, flags: RunFlags) => {
    const seed = parseInteger("--seed", flags.seed ?? "1", 0, 2 ** 31 - 1);
    const { input, overrides } = scenarioAndOverrides(name, flags, cli);
    // The trace is printed on a second thread once that thread is up; waiting for it costs less than printing here.
    if (flags.trace !== undefined) await traceThreadReady(1000);
    const started = cli.wallNow();
    let result;
    try {
      result = withConfigOrigin(() => runWithTrace(input, { seed, overrides }, flags.trace));
    } catch (err) {
      if (err instanceof UsageError || err instanceof ScenarioError) throw err;
      // Exit 3: an internal error in a model, reported with what reproduces it.
      const partial = err instanceof ModelCrash && err.partialTrace !== null ? ` (partial trace: ${err.partialTrace})` : "";
      cli.err(`mqsim: internal error in the model, seed ${seed}: ${(err as Error).message}${partial}`);
      cli.err(`reproduce: ${reproduceLine(name, seed, flags)}${flags.trace ? " --trace " + flags.trace : ""}`);
      cli.setExit(EXIT.internal);
      return;
    }
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
