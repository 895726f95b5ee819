import { benchKernel } from "./kernel.js";
import { benchKafka, benchRocketMq } from "./rocketmq.js";
import { benchSweep } from "./sweep.js";
import { benchTraces } from "./traces.js";
import type { Metrics } from "./metrics.js";

/**
 * `npm run bench` prints a table of figures; `npm run bench -- --json`
 * prints one JSON object `{ "<name>": { "value": n, "unit": "..." } }`.
 * `--only PREFIX` runs the suites whose name starts with PREFIX.
 */
type Suite = { name: string; run: () => Promise<Metrics> | Metrics };

async function loadSuites(): Promise<Suite[]> {
  const suites: Suite[] = [
    { name: "kernel", run: benchKernel },
    { name: "rocketmq", run: benchRocketMq },
    { name: "kafka", run: benchKafka },
    { name: "traces", run: benchTraces },
    { name: "sweep", run: benchSweep },
  ];
  const optional: Array<[string, string, string]> = [["invariants", "./invariants.js", "benchInvariants"]];
  for (const [name, path, fn] of optional) {
    try {
      const mod = (await import(path)) as Record<string, () => Promise<Metrics>>;
      const f = mod[fn];
      if (typeof f === "function") suites.push({ name, run: f });
    } catch (err) {
      if ((err as { code?: string }).code !== "ERR_MODULE_NOT_FOUND") throw err;
    }
  }
  return suites;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes("--json");
  const onlyAt = args.indexOf("--only");
  const only = onlyAt >= 0 ? args[onlyAt + 1] : undefined;
  for (const a of args) {
    if (a.startsWith("--") && a !== "--json" && a !== "--only") {
      process.stderr.write(`bench: unknown option ${a}\n`);
      process.exit(2);
    }
  }
  const all: Metrics = {};
  for (const suite of await loadSuites()) {
    if (only !== undefined && !suite.name.startsWith(only)) continue;
    if (!json) process.stderr.write(`running ${suite.name}...\n`);
    Object.assign(all, await suite.run());
  }
  if (json) {
    process.stdout.write(JSON.stringify(all) + "\n");
    return;
  }
  const rows = Object.entries(all).map(([k, v]) => [k, formatNumber(v.value), v.unit]);
  const w0 = Math.max(6, ...rows.map((r) => r[0]!.length));
  const w1 = Math.max(5, ...rows.map((r) => r[1]!.length));
  process.stdout.write(`${"metric".padEnd(w0)}  ${"value".padStart(w1)}  unit\n`);
  for (const [k, v, u] of rows) process.stdout.write(`${k!.padEnd(w0)}  ${v!.padStart(w1)}  ${u}\n`);
}

function formatNumber(n: number): string {
  if (Number.isInteger(n)) return n.toLocaleString("en-US");
  return n.toFixed(3);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(3);
});
