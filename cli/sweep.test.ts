import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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

const base = ["sweep", "rocketmq-single-async-flush", "--faults", "power-loss", "--duration", "20", "--json"];

describe("parallel sweeps, shards and merge", () => {
  it("two workers give the same result and digest as one", async () => {
    const one = JSON.parse((await cli(...base, "--seeds", "1..6", "--workers", "1")).stdout);
    const two = JSON.parse((await cli(...base, "--seeds", "1..6", "--workers", "2")).stdout);
    const { wallMs: _a, ...x } = one;
    const { wallMs: _b, ...y } = two;
    expect(y).toEqual(x);
    expect(x.anomalies["lost-write"]).toBeGreaterThan(0);
  });

  it("shards merged equal the whole sweep", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mqsim-shard-"));
    const whole = JSON.parse((await cli(...base, "--seeds", "1..7", "--workers", "1")).stdout);
    const files: string[] = [];
    for (const s of ["1/3", "2/3", "3/3"]) {
      const r = JSON.parse((await cli(...base, "--seeds", "1..7", "--shard", s, "--workers", "1")).stdout);
      expect(r.shard).toEqual({ index: Number(s[0]), count: 3 });
      const f = join(dir, `shard-${s[0]}.json`);
      writeFileSync(f, JSON.stringify(r));
      files.push(f);
    }
    const merged = JSON.parse((await cli("merge", files[2]!, files[0]!, files[1]!, "--json")).stdout);
    const { wallMs: _a, ...m } = merged;
    const { wallMs: _b, ...w } = whole;
    expect(m).toEqual(w);
  });

  it("merge refuses mismatched or gapped parts with exit code 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mqsim-merge-"));
    const a = JSON.parse((await cli(...base, "--seeds", "1..4", "--shard", "1/2", "--workers", "1")).stdout);
    const other = JSON.parse((await cli("sweep", "rocketmq-multi-master", "--faults", "power-loss", "--duration", "20", "--json", "--seeds", "1..4", "--shard", "2/2", "--workers", "1")).stdout);
    writeFileSync(join(dir, "a.json"), JSON.stringify(a));
    writeFileSync(join(dir, "b.json"), JSON.stringify(other));
    const r = await cli("merge", join(dir, "a.json"), join(dir, "b.json"));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/scenario rocketmq-multi-master, expected rocketmq-single-async-flush/);
    const gap = { ...a, seeds: { from: 10, to: 11, count: 2 } };
    writeFileSync(join(dir, "gap.json"), JSON.stringify(gap));
    expect((await cli("merge", join(dir, "a.json"), join(dir, "gap.json"))).stderr).toMatch(/do not follow/);
    writeFileSync(join(dir, "junk.json"), "[]");
    expect((await cli("merge", join(dir, "junk.json"))).code).toBe(2);
    expect((await cli(...base, "--seeds", "1..4", "--shard", "3/2")).code).toBe(2);
  });

  it("the matrix gives a cell per scenario and fault class, with a traced example behind every finding", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mqsim-matrix-"));
    const r = await cli("matrix", "--scenarios", "rocketmq-single-async-flush,rocketmq-single-sync-flush", "--faults", "none,power-loss", "--seeds", "2", "--out", dir, "--json", "--workers", "1");
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout);
    expect(m.cells).toHaveLength(4);
    for (const c of m.cells) {
      expect(Object.keys(c).sort()).toEqual(["anomalies", "errors", "example", "faults", "maxConcurrentFaults", "scenario", "seeds", "violations"]);
      if (Object.keys(c.anomalies).length > 0) {
        expect(existsSync(c.example.trace)).toBe(true);
        expect(existsSync(c.example.html)).toBe(true);
      } else expect(c.example).toBeNull();
    }
    const asyncPower = m.cells.find((c: { scenario: string; faults: string }) => c.scenario === "rocketmq-single-async-flush" && c.faults === "power-loss");
    expect(asyncPower.anomalies["lost-write"]).toBeGreaterThan(0);
    expect(readFileSync(join(dir, "matrix.md"), "utf8")).toMatch(/\| rocketmq-single-sync-flush \| held \| held \|/);
    expect(readFileSync(join(dir, "matrix.html"), "utf8")).toContain("timeline (seed");
  });
});
