import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolveScenario } from "../model/run.js";
import type { FaultClass } from "../sim/faults.js";
import type { SeedPool } from "./pool.js";
import type { SeedSummary } from "./sweep.js";
import { readTrace, renderHtml } from "./view/index.js";

/** A column of the durability matrix: a fault class and how many faults may overlap. */
export interface MatrixColumn {
  id: string;
  faults: FaultClass;
  maxConcurrentFaults: number;
}

export const DEFAULT_COLUMNS: MatrixColumn[] = [
  { id: "none", faults: "none", maxConcurrentFaults: 1 },
  { id: "process-crash", faults: "process-crash", maxConcurrentFaults: 1 },
  { id: "power-loss", faults: "power-loss", maxConcurrentFaults: 1 },
  { id: "power-loss-all", faults: "power-loss-all", maxConcurrentFaults: 1 },
  { id: "disk-loss", faults: "disk-loss", maxConcurrentFaults: 1 },
  { id: "partition", faults: "partition", maxConcurrentFaults: 1 },
  { id: "pause", faults: "pause", maxConcurrentFaults: 1 },
  { id: "mixed", faults: "mixed", maxConcurrentFaults: 1 },
  { id: "mixed-x2", faults: "mixed", maxConcurrentFaults: 2 },
];

export interface MatrixCell {
  scenario: string;
  faults: FaultClass;
  maxConcurrentFaults: number;
  seeds: number;
  /** anomaly type → seeds showing it */
  anomalies: Record<string, number>;
  /** anomaly types that break the scenario's expectations */
  violations: string[];
  errors: number;
  /** The first seed with any finding, traced. */
  example: { seed: number; trace: string; html: string | null } | null;
}

export interface MatrixResult {
  seeds: number;
  cells: MatrixCell[];
}

export interface MatrixOptions {
  scenarios: Array<{ name: string; input: unknown }>;
  columns: MatrixColumn[];
  seeds: number;
  outDir: string;
  /** Also render each example trace as an HTML timeline. */
  html: boolean;
  onRun?: (s: SeedSummary) => void;
}

/**
 * Runs every scenario under every fault column for seeds 1..N on a pool,
 * then traces the first seed of each cell that found anything, so every
 * "can lose" has a counterexample behind it.
 */
export async function runMatrix(pool: SeedPool, opts: MatrixOptions): Promise<MatrixResult> {
  const cells: MatrixCell[] = [];
  const jobs: Array<Promise<void>> = [];
  const perCell: SeedSummary[][] = [];
  const expects: string[][] = [];
  for (const sc of opts.scenarios) {
    const resolved = resolveScenario(sc.input);
    for (const col of opts.columns) {
      const idx = cells.length;
      cells.push({ scenario: sc.name, faults: col.faults, maxConcurrentFaults: col.maxConcurrentFaults, seeds: opts.seeds, anomalies: {}, violations: [], errors: 0, example: null });
      perCell.push([]);
      expects.push(resolved.expect);
      for (let seed = 1; seed <= opts.seeds; seed++) {
        jobs.push(
          pool.run({ input: sc.input, seed, overrides: { faults: [col.faults], maxConcurrentFaults: col.maxConcurrentFaults } }).then((s) => {
            perCell[idx]!.push(s);
            opts.onRun?.(s);
          }),
        );
      }
    }
  }
  await Promise.all(jobs);
  const traceDir = join(opts.outDir, "traces");
  mkdirSync(traceDir, { recursive: true });
  const examples: Array<Promise<void>> = [];
  cells.forEach((cell, i) => {
    const runs = perCell[i]!.sort((a, b) => a.seed - b.seed);
    for (const r of runs) {
      if (r.verdict === "error") cell.errors++;
      for (const a of r.anomalies) cell.anomalies[a.type] = (cell.anomalies[a.type] ?? 0) + 1;
    }
    cell.anomalies = Object.fromEntries(Object.entries(cell.anomalies).sort(([a], [b]) => a.localeCompare(b)));
    cell.violations = Object.keys(cell.anomalies).filter((t) => expects[i]!.includes(t));
    const first = runs.find((r) => r.anomalies.length > 0 || r.verdict !== "pass");
    if (first === undefined) return;
    const colId = opts.columns.find((c) => c.faults === cell.faults && c.maxConcurrentFaults === cell.maxConcurrentFaults)!.id;
    const trace = join(traceDir, `${cell.scenario}--${colId}--seed-${first.seed}.jsonl`);
    const sc = opts.scenarios.find((s) => s.name === cell.scenario)!;
    examples.push(
      pool.run({ input: sc.input, seed: first.seed, overrides: { faults: [cell.faults], maxConcurrentFaults: cell.maxConcurrentFaults }, traceFile: trace }).then(() => {
        let html: string | null = null;
        if (opts.html) {
          html = trace.replace(/\.jsonl$/, ".html");
          writeFileSync(html, renderHtml(readTrace(trace), { source: trace }));
        }
        cell.example = { seed: first.seed, trace, html };
      }),
    );
  });
  await Promise.all(examples);
  return { seeds: opts.seeds, cells };
}

/** One cell as a reader wants it at a glance: "held", or what broke in how many seeds. */
export function cellText(cell: MatrixCell): string {
  const n = cell.seeds;
  const parts: string[] = [];
  const a = cell.anomalies;
  const say = (type: string, label: string) => {
    if (a[type] !== undefined) parts.push(`${label} in ${a[type]}/${n}`);
  };
  say("lost-write", "lost");
  say("duplicate", "duplicated");
  say("inconsistent-offsets", "offsets reused");
  say("liveness", "stuck");
  for (const [t, k] of Object.entries(a)) {
    if (!["lost-write", "duplicate", "inconsistent-offsets", "liveness"].includes(t)) parts.push(`${t} ${k}/${n}`);
  }
  if (cell.errors > 0) parts.push(`errors ${cell.errors}/${n}`);
  if (parts.length === 0) return "held";
  return (cell.violations.length > 0 ? "✗ " : "") + parts.join(", ");
}

function columnLabel(c: MatrixColumn): string {
  return c.maxConcurrentFaults > 1 ? `${c.faults} ×${c.maxConcurrentFaults}` : c.faults;
}

export function matrixMarkdown(m: MatrixResult, columns: MatrixColumn[]): string {
  const scenarios = [...new Set(m.cells.map((c) => c.scenario))];
  const lines = [`| scenario | ${columns.map(columnLabel).join(" | ")} |`, `|---|${columns.map(() => "---").join("|")}|`];
  for (const s of scenarios) {
    const row = columns.map((col) => {
      const cell = m.cells.find((c) => c.scenario === s && c.faults === col.faults && c.maxConcurrentFaults === col.maxConcurrentFaults);
      return cell === undefined ? "" : cellText(cell);
    });
    lines.push(`| ${s} | ${row.join(" | ")} |`);
  }
  lines.push("", `${m.seeds} seeds per cell. "held": no anomaly in any seed. ✗: an anomaly the scenario's expectations forbid. Every other cell has a traced counterexample.`);
  return lines.join("\n") + "\n";
}

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function matrixHtml(m: MatrixResult, columns: MatrixColumn[], linkBase: string): string {
  const scenarios = [...new Set(m.cells.map((c) => c.scenario))];
  const rows = scenarios.map((s) => {
    const tds = columns.map((col) => {
      const cell = m.cells.find((c) => c.scenario === s && c.faults === col.faults && c.maxConcurrentFaults === col.maxConcurrentFaults);
      if (cell === undefined) return "<td></td>";
      const text = escapeHtml(cellText(cell));
      const cls = cell.violations.length > 0 ? "bad" : text === "held" ? "ok" : "warn";
      const link = cell.example?.html ? `<br><a href="${escapeHtml(relativeTo(linkBase, cell.example.html))}">timeline (seed ${cell.example.seed})</a>` : cell.example ? `<br><small>trace seed ${cell.example.seed}</small>` : "";
      return `<td class="${cls}">${text}${link}</td>`;
    });
    return `<tr><th>${escapeHtml(s)}</th>${tds.join("")}</tr>`;
  });
  return `<!doctype html><html><head><meta charset="utf-8"><title>mqsim durability matrix</title>
<style>body{font:14px system-ui,sans-serif;margin:24px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:6px 8px;vertical-align:top;font-size:13px}th{background:#f4f4f4;text-align:left}.ok{background:#e8f6ea}.warn{background:#fff6df}.bad{background:#fde7e7}</style></head>
<body><h1>mqsim durability matrix</h1><p>${m.seeds} seeds per cell. Green: no anomaly. Yellow: findings the scenario allows. Red: an anomaly its expectations forbid. Each finding links to the timeline of its first seed.</p>
<table><tr><th>scenario</th>${columns.map((c) => `<th>${escapeHtml(columnLabel(c))}</th>`).join("")}</tr>${rows.join("")}</table></body></html>
`;
}

function relativeTo(base: string, target: string): string {
  const b = base.replace(/\/+$/, "") + "/";
  return target.startsWith(b) ? target.slice(b.length) : target;
}
