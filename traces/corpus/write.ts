// Writes the regression corpus: `npm run corpus`.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileSync } from "node:fs";
import { toJepsen, toOpenChaos } from "../export.js";
import { runWithTrace } from "../record.js";
import { CORPUS, type CorpusCase } from "./cases.js";

/** The corpus folder in the source tree (this file may run from dist/). */
export function corpusDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, "package.json"))) return join(dir, "traces", "corpus");
    dir = dirname(dir);
  }
  throw new Error("cannot find the repository root");
}

export function corpusInput(c: CorpusCase): unknown {
  const file = join(dirname(corpusDir()), "..", "scenarios", `${c.scenario}.json`);
  const s = JSON.parse(readFileSync(file, "utf8")) as { expect?: string[]; workload: { rate?: number }; cluster: { producers?: number } };
  if (c.expect !== undefined) s.expect = c.expect;
  // A gentle rate keeps the corpus files small; the behaviour they pin does not depend on load.
  s.workload.rate = c.rate ?? 5;
  if (c.producers !== undefined) s.cluster.producers = c.producers;
  return s;
}

function main(): void {
  for (const c of CORPUS) {
    const path = join(corpusDir(), `${c.name}.jsonl`);
    const r = runWithTrace(corpusInput(c), { seed: c.seed, overrides: { plan: c.plan, durationSeconds: c.durationSeconds, ...(c.set ? { set: c.set } : {}) } }, path);
    const got = r.anomalies.map((a) => a.type).sort();
    const ok = r.verdict === c.verdict && JSON.stringify(got) === JSON.stringify([...c.anomalies].sort());
    process.stdout.write(`${ok ? "ok  " : "BAD "} ${c.name}: ${r.verdict} ${got.join(",") || "-"} (${r.stats.traceEvents} events)\n`);
    if (c.exports) {
      // Golden exports: the test suite checks that exporting the trace gives these files exactly.
      writeFileSync(join(corpusDir(), `${c.name}.edn`), toJepsen(r.history));
      writeFileSync(join(corpusDir(), `${c.name}.tsv`), toOpenChaos(r.history, c.plan));
    }
    if (!ok) process.exitCode = 1;
  }
}

if (process.argv[1] !== undefined && /corpus[\\/]write\.(ts|js)$/.test(process.argv[1])) main();
