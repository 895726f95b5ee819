import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { DEFAULT_COLUMNS, matrixHtml, matrixMarkdown, runMatrix, type MatrixColumn } from "../../traces/matrix.js";
import { SeedPool, defaultWorkers } from "../../traces/pool.js";
import { EXIT, UsageError } from "../errors.js";
import { parseFaultClasses, parseInteger } from "../options.js";
import { builtinScenarioNames, loadScenarioInput } from "../scenarios.js";
import type { CliContext } from "../main.js";
import { progressBar } from "./sweep.js";

interface MatrixFlags {
  seeds: string;
  scenarios?: string;
  faults?: string;
  out: string;
  json?: boolean;
  md?: string;
  html?: string;
  workers?: string;
}

function writeAtomically(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

export function registerMatrix(program: Command, cli: CliContext): void {
  program
    .command("matrix")
    .description("the durability matrix: every built-in scenario under every fault class, with a traced counterexample behind every finding")
    .option("--seeds <n>", "seeds per cell", "6")
    .option("--scenarios <names>", "comma-separated scenario names (default: all built-in)")
    .option("--faults <classes>", "comma-separated fault classes (default: none, process-crash, power-loss, power-loss-all, disk-loss, partition, pause, mixed, and mixed with two concurrent faults)")
    .option("--out <dir>", "where traces and reports go", "mqsim-out")
    .option("--json", "print the matrix as one JSON object")
    .option("--md <file>", "write the markdown table here (default: <out>/matrix.md)")
    .option("--html <file>", "write the HTML report here (default: <out>/matrix.html)")
    .option("--workers <n>", "worker threads (default: one per core)")
    .action(async (flags: MatrixFlags) => {
      const seeds = parseInteger("--seeds", flags.seeds, 1, 100_000);
      const names = flags.scenarios !== undefined ? flags.scenarios.split(",").map((s) => s.trim()).filter((s) => s.length > 0) : builtinScenarioNames();
      if (names.length === 0) throw new UsageError("--scenarios: no scenario named");
      const scenarios = names.map((name) => ({ name, input: loadScenarioInput(name) }));
      let columns: MatrixColumn[] = DEFAULT_COLUMNS;
      if (flags.faults !== undefined) columns = parseFaultClasses(flags.faults).map((f) => ({ id: f, faults: f, maxConcurrentFaults: 1 }));
      const workers = flags.workers !== undefined ? parseInteger("--workers", flags.workers, 1, 256) : defaultWorkers();
      const out = resolve(flags.out);
      const md = resolve(flags.md ?? join(out, "matrix.md"));
      const html = resolve(flags.html ?? join(out, "matrix.html"));
      const started = cli.wallNow();
      const bar = progressBar(cli, scenarios.length * columns.length * seeds, !flags.json);
      const pool = new SeedPool(workers);
      let m;
      try {
        m = await runMatrix(pool, { scenarios, columns, seeds, outDir: out, html: true, onRun: (s) => bar.tick(s) });
      } finally {
        bar.stop();
        await pool.close();
      }
      const wallMs = Math.round(cli.wallNow() - started);
      const table = matrixMarkdown(m, columns);
      writeAtomically(md, table);
      writeAtomically(html, matrixHtml(m, columns, dirname(html)));
      writeAtomically(join(out, "matrix.json"), JSON.stringify({ ...m, wallMs }, null, 1));
      if (flags.json) cli.out(JSON.stringify({ ...m, wallMs }));
      else {
        cli.out(table);
        cli.out(`${m.cells.length} cells, ${m.cells.length * seeds} runs in ${(wallMs / 1000).toFixed(1)} s on ${workers} worker(s)`);
        cli.out(`wrote ${md}, ${html} and ${join(out, "matrix.json")}; traces in ${join(out, "traces")}`);
      }
      const errors = m.cells.reduce((n, c) => n + c.errors, 0);
      cli.setExit(errors > 0 ? EXIT.internal : EXIT.ok);
    });
}
