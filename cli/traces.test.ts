import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "./main.js";

async function cli(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

/** A failing trace: ASYNC_FLUSH under a power loss, judged strictly. */
async function failingTrace(dir: string): Promise<string> {
  const base = JSON.parse(readFileSync(new URL("../scenarios/rocketmq-single-async-flush.json", import.meta.url), "utf8"));
  const file = join(dir, "strict.json");
  writeFileSync(file, JSON.stringify({ ...base, name: "strict-async", expect: ["lost-write"] }));
  for (let seed = 1; seed <= 6; seed++) {
    const trace = join(dir, `seed-${seed}.jsonl`);
    const r = await cli("run", file, "--faults", "power-loss", "--seed", String(seed), "--duration", "30", "--trace", trace);
    if (r.code === 1) return trace;
  }
  throw new Error("no failing seed");
}

describe("trace commands", () => {
  it("replay reproduces a trace, catches a one-character edit, and rejects a non-trace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mqsim-tr-"));
    const trace = await failingTrace(dir);
    const ok = await cli("replay", trace, "--json");
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ reproduced: true, difference: null });

    const lines = readFileSync(trace, "utf8").split("\n");
    const i = lines.findIndex((l, n) => n > 100 && l.includes('"k":"store.append"'));
    lines[i] = lines[i]!.replace(/"size":(\d)/, (_m, d: string) => `"size":${(Number(d) + 1) % 10}`);
    const edited = join(dir, "edited.jsonl");
    writeFileSync(edited, lines.join("\n"));
    const bad = await cli("replay", edited);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`diverged at event ${i - 1} (line ${i + 1})`);
    expect(bad.stdout).toMatch(/recorded: .*store\.append/);
    expect(bad.stdout).toMatch(/replayed: .*store\.append/);

    writeFileSync(join(dir, "junk.jsonl"), "hello\n");
    const junk = await cli("replay", join(dir, "junk.jsonl"));
    expect(junk.code).toBe(2);
    expect(junk.stderr.trim().split("\n")).toHaveLength(1);
    const missing = await cli("replay", join(dir, "nope.jsonl"));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no such file/);
  });

  it("shrink makes a failing trace smaller, it still fails the same way, and it replays", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mqsim-tr-"));
    const trace = await failingTrace(dir);
    const out = join(dir, "small.jsonl");
    const r = await cli("shrink", trace, "-o", out, "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.target).toEqual(["lost-write"]);
    expect(j.verdict).toBe("fail");
    expect(j.anomalies.map((a: { type: string }) => a.type)).toContain("lost-write");
    expect(j.after.faults).toBeLessThanOrEqual(j.before.faults);
    expect(statSync(out).size).toBeLessThan(statSync(trace).size / 2);
    expect((await cli("replay", out)).code).toBe(0);
  });

  it("view writes a self-contained page and a Mermaid diagram", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mqsim-tr-"));
    const trace = await failingTrace(dir);
    const html = join(dir, "t.html");
    expect((await cli("view", trace, "-o", html)).code).toBe(0);
    const page = readFileSync(html, "utf8");
    expect(page).toContain("lost-write");
    expect(page).not.toMatch(/(src|href)="https?:/);
    const mmd = join(dir, "t.mmd");
    expect((await cli("view", trace, "-o", mmd, "--format", "mermaid", "--max-events", "80")).code).toBe(0);
    expect(readFileSync(mmd, "utf8")).toMatch(/^sequenceDiagram/);
    const badFormat = await cli("view", trace, "-o", join(dir, "x"), "--format", "png");
    expect(badFormat.code).toBe(2);
    expect(existsSync(join(dir, "x"))).toBe(false);
  });
});

describe("a model that crashes mid-run", () => {
  it("leaves its partial trace under .partial, never a file that looks complete", async () => {
    const { runWithTrace, ModelCrash } = await import("../traces/record.js");
    const dir = mkdtempSync(join(tmpdir(), "mqsim-crash-"));
    const path = join(dir, "t.jsonl");
    const input = JSON.parse(readFileSync(new URL("../scenarios/rocketmq-single-sync-flush.json", import.meta.url), "utf8"));
    let lines = 0;
    let caught: unknown = null;
    try {
      runWithTrace(input, { seed: 1, onTraceLine: () => {
        if (++lines > 200) throw new Error("boom inside the model");
      } }, path);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ModelCrash);
    expect(existsSync(path)).toBe(false);
    const partial = readFileSync(`${path}.partial`, "utf8").trim().split("\n");
    expect(partial.length).toBeGreaterThan(100);
    expect(partial.some((l) => l.includes('"type":"footer"'))).toBe(false);
  });

  it("an explicit plan naming a node the cluster lacks is bad input (exit 2)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mqsim-plan-"));
    const base = JSON.parse(readFileSync(new URL("../scenarios/rocketmq-single-sync-flush.json", import.meta.url), "utf8"));
    const file = join(dir, "s.json");
    writeFileSync(file, JSON.stringify({ ...base, faults: { plan: [{ atMs: 1000, kind: "pause", durationMs: 100, targets: ["broker-z"] }] } }));
    const r = await cli("run", file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/faults.plan\[0\]: unknown node "broker-z"/);
  });
});
