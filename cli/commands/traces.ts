import { writeFileSync, renameSync } from "node:fs";
import type { Command } from "commander";
import { AnomalyTypeSchema, type AnomalyType } from "../../invariants/index.js";
import { runWithTrace } from "../../traces/record.js";
import { exportTrace, type ExportFormat } from "../../traces/export.js";
import { replayTrace } from "../../traces/replay.js";
import { shrink } from "../../traces/shrink.js";
import { readTrace, traceRecords, renderHtml, renderMermaid } from "../../traces/view/index.js";
import { EXIT, UsageError } from "../errors.js";
import type { CliContext } from "../main.js";

/** Reading a trace fails with a one-line message naming the file and line: that is bad input (exit 2). */
function asUsage<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const msg = (err as Error).message;
    if (/^[^\n]*: /.test(msg) && !msg.includes("\n")) throw new UsageError(msg);
    throw err;
  }
}

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export function registerTraceCommands(program: Command, cli: CliContext): void {
  program
    .command("replay")
    .description("re-run a trace from its header and check that every event and the verdict reproduce")
    .argument("<trace>", "a trace file (JSON Lines)")
    .option("--json", "print one JSON object")
    .action((path: string, flags: { json?: boolean }) => {
      const started = cli.wallNow();
      const r = asUsage(() => replayTrace(path));
      const wallMs = Math.round(cli.wallNow() - started);
      if (flags.json) {
        cli.out(JSON.stringify({ ...r, wallMs }));
      } else if (r.reproduced) {
        cli.out(`reproduced: ${r.scenario} seed ${r.seed}, ${r.events.toLocaleString("en-US")} events, verdict ${r.recorded.verdict}, hash ${r.recorded.hash} (${(wallMs / 1000).toFixed(1)} s)`);
      } else {
        const d = r.difference!;
        cli.out(`diverged at event ${d.index}${d.line !== null ? ` (line ${d.line})` : ""}:`);
        cli.out(`  recorded: ${d.recorded ?? "(nothing: the recording ended)"}`);
        cli.out(`  replayed: ${d.replayed ?? "(nothing: the replay ended)"}`);
      }
      cli.setExit(r.reproduced ? EXIT.ok : EXIT.violated);
    });

  program
    .command("shrink")
    .description("minimise a failing trace's faults and workload while the same anomaly still occurs")
    .argument("<trace>", "a trace file with at least one anomaly")
    .requiredOption("-o, --out <file>", "where to write the shrunk trace")
    .option("--anomaly <type>", "the anomaly type to keep (default: the violated ones, else the first found)")
    .option("--max-runs <n>", "give up after this many trial runs", "300")
    .option("--json", "print one JSON object at the end")
    .action((path: string, flags: { out: string; anomaly?: string; maxRuns: string; json?: boolean }) => {
      const trace = asUsage(() => {
        const it = traceRecords(path);
        const h = it.next();
        if (h.done || h.value.type !== "header") throw new UsageError(`${path}: not an mqsim trace`);
        let footer = null;
        for (const r of it) if (r.type === "footer") footer = r.footer;
        return { header: h.value.header, footer: footer! };
      });
      let target: AnomalyType[];
      if (flags.anomaly !== undefined) {
        const t = AnomalyTypeSchema.safeParse(flags.anomaly);
        if (!t.success) throw new UsageError(`--anomaly: unknown anomaly type ${JSON.stringify(flags.anomaly)}`);
        target = [t.data];
      } else {
        const found = trace.footer.anomalies.map((a) => a.type);
        const violated = found.filter((t) => trace.header.scenario.expect.includes(t));
        target = violated.length > 0 ? violated : found.slice(0, 1);
      }
      if (target.length === 0) throw new UsageError(`${path}: the run found no anomaly; nothing to shrink`);
      if (!trace.footer.anomalies.some((a) => target.includes(a.type))) throw new UsageError(`${path}: the run did not show ${target.join(", ")}`);
      const maxRuns = Number(flags.maxRuns);
      if (!Number.isInteger(maxRuns) || maxRuns < 1) throw new UsageError("--max-runs: expected a positive integer");
      const start = { scenario: trace.header.scenario, plan: trace.header.plan };
      if (!flags.json) cli.out(`shrinking ${path}: keep ${target.join(", ")}; ${start.plan.length} faults, ${start.scenario.cluster.producers} producers, ${start.scenario.workload.durationSeconds} s`);
      const r = shrink(start, trace.header.seed, target, (s) => {
        if (!flags.json) cli.out(`  step ${s.step}: ${s.what}: ${s.kept ? "still fails, kept" : "passes, undone"}`);
      }, maxRuns);
      const final = runWithTrace(r.result.scenario, { seed: trace.header.seed, overrides: { plan: r.result.plan } }, flags.out);
      const summary = {
        target,
        runs: r.runs,
        before: { faults: start.plan.length, producers: start.scenario.cluster.producers, consumers: start.scenario.cluster.consumers, durationSeconds: start.scenario.workload.durationSeconds, rate: start.scenario.workload.rate },
        after: { faults: r.result.plan.length, producers: r.result.scenario.cluster.producers, consumers: r.result.scenario.cluster.consumers, durationSeconds: r.result.scenario.workload.durationSeconds, rate: r.result.scenario.workload.rate },
        plan: r.result.plan,
        verdict: final.verdict,
        anomalies: final.anomalies.map((a) => ({ type: a.type, count: a.count })),
        trace: flags.out,
      };
      if (flags.json) cli.out(JSON.stringify(summary));
      else {
        cli.out(`done after ${r.runs} runs: ${summary.before.faults} → ${summary.after.faults} faults, ${summary.before.producers} → ${summary.after.producers} producers, ${summary.before.durationSeconds} → ${summary.after.durationSeconds} s, rate ${summary.before.rate} → ${summary.after.rate}/s`);
        cli.out(`wrote ${flags.out} (${final.anomalies.map((a) => a.type).join(", ")}); replay it with: mqsim replay ${flags.out}`);
      }
      cli.setExit(EXIT.ok);
    });

  program
    .command("view")
    .description("render a trace as a self-contained HTML timeline (or a Mermaid sequence diagram)")
    .argument("<trace>", "a trace file")
    .requiredOption("-o, --out <file>", "the file to write")
    .option("--format <format>", "html or mermaid", "html")
    .option("--max-events <n>", "cap the events embedded in the page")
    .action((path: string, flags: { out: string; format: string; maxEvents?: string }) => {
      if (flags.format !== "html" && flags.format !== "mermaid") throw new UsageError(`--format: expected html or mermaid, got ${JSON.stringify(flags.format)}`);
      let maxEvents: number | undefined;
      if (flags.maxEvents !== undefined) {
        maxEvents = Number(flags.maxEvents);
        if (!Number.isInteger(maxEvents) || maxEvents < 1) throw new UsageError("--max-events: expected a positive integer");
      }
      const trace = asUsage(() => readTrace(path));
      const text = flags.format === "html" ? renderHtml(trace, maxEvents !== undefined ? { maxEvents, source: path } : { source: path }) : renderMermaid(trace, maxEvents !== undefined ? { maxEvents } : {});
      writeAtomically(flags.out, text);
      cli.out(`wrote ${flags.out}`);
    });
}

export function registerExport(program: Command, cli: CliContext): void {
  program
    .command("export")
    .description("export a trace's client history for Jepsen (EDN) or OpenMessaging Chaos (TSV)")
    .argument("<trace>", "a trace file")
    .requiredOption("--format <format>", "jepsen or openchaos")
    .requiredOption("-o, --out <file>", "the file to write")
    .action((path: string, flags: { format: string; out: string }) => {
      if (flags.format !== "jepsen" && flags.format !== "openchaos") throw new UsageError(`--format: expected jepsen or openchaos, got ${JSON.stringify(flags.format)}`);
      const text = asUsage(() => exportTrace(path, flags.format as ExportFormat));
      writeAtomically(flags.out, text);
      cli.out(`wrote ${flags.out} (${text.split("\n").length - 1} lines, ${flags.format})`);
    });
}
