import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { faultedPingPongHash } from "./testing/pingpong-hash.js";

describe("determinism", () => {
  it("any seed: two runs give the same trace hash; different seeds give different hashes", () => {
    const hashes = new Map<string, number>();
    const seeds = new Set<number>();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        const a = faultedPingPongHash(seed);
        const b = faultedPingPongHash(seed);
        expect(b).toEqual(a);
        const prev = hashes.get(a.hash);
        if (prev !== undefined && prev !== seed) throw new Error(`seeds ${prev} and ${seed} gave the same hash ${a.hash}`);
        hashes.set(a.hash, seed);
        seeds.add(seed);
      }),
      { numRuns: 200 },
    );
    expect(seeds.size).toBeGreaterThanOrEqual(150);
    expect(hashes.size).toBe(seeds.size);
  });

  it("the same seed gives the same hash in another process", () => {
    const script = fileURLToPath(new URL("./testing/pingpong-hash.ts", import.meta.url));
    for (const seed of [1, 99, 123456]) {
      const out = execFileSync(process.execPath, ["--import", "tsx", script, String(seed)], { encoding: "utf8" });
      expect(JSON.parse(out)).toEqual(faultedPingPongHash(seed));
    }
  });
});
