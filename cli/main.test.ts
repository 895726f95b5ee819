import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
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

function oneLineError(r: { code: number; stdout: string; stderr: string }, pattern: RegExp) {
  expect(r.code).toBe(2);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe("mqsim CLI", () => {
  it("--help lists the commands", async () => {
    const r = await cli("--help");
    expect(r.code).toBe(0);
    for (const c of ["run", "sweep", "scenarios", "schema"]) expect(r.stdout).toContain(c);
  });

  it("lists the built-in scenarios", async () => {
    const r = await cli("scenarios", "--json");
    const names = JSON.parse(r.stdout).scenarios.map((s: { name: string }) => s.name);
    for (const n of ["rocketmq-multi-master", "rocketmq-single-async-flush", "rocketmq-single-sync-flush"]) expect(names).toContain(n);
    expect(names).toEqual([...names].sort());
  });

  it("run --json prints the contract's fields and exits 0 on pass", async () => {
    const r = await cli("run", "rocketmq-single-sync-flush", "--faults", "power-loss", "--seed", "3", "--duration", "30", "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ scenario: "rocketmq-single-sync-flush", seed: 3, verdict: "pass" });
    expect(j.stats).toEqual(expect.objectContaining({ events: expect.any(Number), simTimeMs: expect.any(Number), wallMs: expect.any(Number) }));
    expect(j.traceHash).toMatch(/^[0-9a-f]{16}$/);
    expect(Array.isArray(j.anomalies)).toBe(true);
  });

  it("run exits 1 when an expected guarantee breaks, and prints how to reproduce", async () => {
    // ASYNC_FLUSH under power loss loses acknowledged messages; expecting otherwise must fail.
    const dir = mkdtempSync(join(tmpdir(), "mqsim-cli-"));
    const file = join(dir, "s.json");
    const base = JSON.parse(readFileSync(new URL("../scenarios/rocketmq-single-async-flush.json", import.meta.url), "utf8"));
    writeFileSync(file, JSON.stringify({ ...base, name: "strict-async", expect: ["lost-write"] }));
    let failing: { code: number; stdout: string } | null = null;
    for (let seed = 1; seed <= 5 && failing === null; seed++) {
      const r = await cli("run", file, "--faults", "power-loss", "--seed", String(seed));
      if (r.code === 1) failing = r;
    }
    expect(failing).not.toBeNull();
    expect(failing!.stdout).toMatch(/verdict: FAIL: violated lost-write/);
    expect(failing!.stdout).toMatch(/reproduce: mqsim run .* --seed \d+ --faults power-loss/);
  });

  it("the same seed prints the same trace hash twice", async () => {
    const a = JSON.parse((await cli("run", "rocketmq-multi-master", "--faults", "mixed", "--seed", "5", "--duration", "30", "--json")).stdout);
    const b = JSON.parse((await cli("run", "rocketmq-multi-master", "--faults", "mixed", "--seed", "5", "--duration", "30", "--json")).stdout);
    expect(a.traceHash).toBe(b.traceHash);
  });

  it("bad input gets one clear line and exit code 2", async () => {
    oneLineError(await cli("run", "no-such-scenario"), /unknown scenario "no-such-scenario"/);
    oneLineError(await cli("run", "rocketmq-single-sync-flush", "--set", "flushDiskTyp=SYNC_FLUSH"), /unknown config key flushDiskTyp/);
    oneLineError(await cli("run", "rocketmq-single-sync-flush", "--set", "flushDiskType=SOMETIMES"), /config key flushDiskType/);
    oneLineError(await cli("run", "rocketmq-single-sync-flush", "--faults", "meteor"), /unknown fault class "meteor"/);
    oneLineError(await cli("run", "rocketmq-single-sync-flush", "--seed", "abc"), /--seed: expected an integer/);
    oneLineError(await cli("run", "rocketmq-single-sync-flush", "--frobnicate"), /unknown option/);
    oneLineError(await cli("sweep", "rocketmq-single-sync-flush", "--seeds", "9..3"), /--seeds/);
    oneLineError(await cli("sweep", "rocketmq-single-sync-flush"), /--seeds A..B is required/);
    oneLineError(await cli("bogus-command"), /unknown command/);
    const dir = mkdtempSync(join(tmpdir(), "mqsim-cli-"));
    writeFileSync(join(dir, "broken.json"), "{ not json");
    oneLineError(await cli("run", join(dir, "broken.json")), /broken.json: not valid JSON/);
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ name: "x", system: "rocketmq", cluster: { brokers: [] } }));
    oneLineError(await cli("run", join(dir, "bad.json")), /scenario: cluster.brokers/);
    writeFileSync(join(dir, "extra.json"), JSON.stringify({ name: "x", system: "rocketmq", cluster: { brokers: [{ name: "b" }] }, colour: "red" }));
    oneLineError(await cli("run", join(dir, "extra.json")), /unknown key "colour"/);
  });

  it("a bad --trace path does not leave a partial file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mqsim-cli-"));
    const r = await cli("run", "rocketmq-single-sync-flush", "--set", "nope=1", "--trace", join(dir, "t.jsonl"));
    expect(r.code).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("sweep --json gives counts, a first failure with its trace, and a stable digest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mqsim-sweep-"));
    const file = join(dir, "strict.json");
    const base = JSON.parse(readFileSync(new URL("../scenarios/rocketmq-single-async-flush.json", import.meta.url), "utf8"));
    writeFileSync(file, JSON.stringify({ ...base, name: "strict-async", expect: ["lost-write"] }));
    const out = join(dir, "out");
    const r = await cli("sweep", file, "--faults", "power-loss", "--seeds", "1..4", "--duration", "30", "--out", out, "--json");
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ scenario: "strict-async", faults: ["power-loss"], seeds: { from: 1, to: 4, count: 4 }, runs: 4, errors: 0 });
    expect(j.passed + j.failed).toBe(4);
    expect(j.failed).toBeGreaterThan(0);
    expect(r.code).toBe(1);
    expect(j.anomalies["lost-write"]).toBe(j.failed);
    expect(j.digest).toMatch(/^[0-9a-f]{16}$/);
    expect(readdirSync(out).sort()).toContain(`strict-async-seed-${j.firstFailure.seed}.jsonl`);
    const footer = JSON.parse(readFileSync(j.firstFailure.trace, "utf8").trim().split("\n").pop()!);
    expect(footer).toMatchObject({ type: "footer", verdict: "fail" });
    const again = JSON.parse((await cli("sweep", file, "--faults", "power-loss", "--seeds", "1..4", "--duration", "30", "--json")).stdout);
    expect(again.digest).toBe(j.digest);
    expect(again.anomalies).toEqual(j.anomalies);
  });

  it("prints the JSON Schema of scenarios and traces", async () => {
    const j = JSON.parse((await cli("schema")).stdout);
    // One variant per system, each with its own cluster shape.
    const variants = j.scenario.oneOf ?? j.scenario.anyOf;
    expect(variants.map((v: { properties: { system: { const: string } } }) => v.properties.system.const).sort()).toEqual(["kafka", "rocketmq"]);
    expect(j.trace.header.properties.seed).toBeDefined();
  });
});
