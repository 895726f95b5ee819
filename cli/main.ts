import { Command, CommanderError } from "commander";
import { z } from "zod";
import { ScenarioError } from "../model/run.js";
import { ScenarioSchema } from "../model/scenario.js";
import { TraceEventSchema, TraceFooterSchema, TraceHeaderSchema } from "../traces/format.js";
import { MQSIM_VERSION } from "../version.js";
import { registerRun } from "./commands/run.js";
import { registerSweep } from "./commands/sweep.js";
import { registerMatrix } from "./commands/matrix.js";
import { registerExport, registerTraceCommands } from "./commands/traces.js";
import { EXIT, UsageError } from "./errors.js";
import { builtinScenarioNames, loadScenarioInput } from "./scenarios.js";

/** What commands need from the CLI shell: output, the exit code, and wall time (for reporting only). */
export interface CliContext {
  out(line: string): void;
  /** Raw stdout, for help text. */
  stdoutRaw(text: string): void;
  err(line: string): void;
  setExit(code: number): void;
  wallNow(): number;
}

function buildProgram(cli: CliContext): Command {
  const program = new Command("mqsim")
    .description("Deterministic simulator for RocketMQ and Kafka replication under seeded faults")
    .version(MQSIM_VERSION, "-V, --version")
    .showHelpAfterError(false)
    .allowExcessArguments(false);

  registerRun(program, cli);
  registerSweep(program, cli);
  registerTraceCommands(program, cli);
  registerExport(program, cli);
  registerMatrix(program, cli);

  program
    .command("scenarios")
    .description("list the built-in scenarios")
    .option("--json", "print one JSON object")
    .action((flags: { json?: boolean }) => {
      const rows = builtinScenarioNames().map((name) => {
        const s = ScenarioSchema.parse(loadScenarioInput(name));
        return { name, system: s.system, description: s.description, expect: s.expect };
      });
      if (flags.json) cli.out(JSON.stringify({ scenarios: rows }));
      else for (const r of rows) cli.out(`${r.name.padEnd(34)} ${r.description}`);
    });

  program
    .command("schema")
    .description("print the JSON Schema of scenario and trace files")
    .action(() => {
      cli.out(
        JSON.stringify(
          {
            scenario: z.toJSONSchema(ScenarioSchema, { io: "input" }),
            trace: { header: z.toJSONSchema(TraceHeaderSchema, { io: "input" }), event: z.toJSONSchema(TraceEventSchema), footer: z.toJSONSchema(TraceFooterSchema) },
          },
          null,
          2,
        ),
      );
    });

  program.exitOverride();
  program.configureOutput({ writeOut: (s) => cli.stdoutRaw(s), writeErr: () => {} });
  for (const c of program.commands) {
    c.exitOverride();
    c.configureOutput({ writeOut: (s) => cli.stdoutRaw(s), writeErr: () => {} });
    c.allowExcessArguments(false);
  }
  return program;
}

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** Runs the CLI and returns the process exit code; never throws. */
export async function runCli(argv: string[], io: CliIo = processIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  const cli: CliContext = {
    out: (line) => io.stdout(line + "\n"),
    err: (line) => io.stderr(line + "\n"),
    stdoutRaw: io.stdout,
    setExit: (code) => {
      exitCode = code;
    },
    wallNow: () => performance.now(),
  };
  const program = buildProgram(cli);
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.ok;
    }
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return EXIT.ok;
      cli.err(`mqsim: ${err.message.replace(/^error: /, "")}`);
      return EXIT.usage;
    }
    if (err instanceof UsageError || err instanceof ScenarioError) {
      cli.err(`mqsim: ${err.message}`);
      return EXIT.usage;
    }
    cli.err(`mqsim: internal error: ${(err as Error).stack ?? String(err)}`);
    return EXIT.internal;
  }
}
