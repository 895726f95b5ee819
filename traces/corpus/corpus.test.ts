import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { replayTrace } from "../replay.js";
import { readTrace } from "../view/read.js";
import { CORPUS } from "./cases.js";
import { corpusDir } from "./write.js";

describe("regression corpus", () => {
  const files = readdirSync(corpusDir()).filter((f) => f.endsWith(".jsonl")).sort();

  it("has a trace for every scripted case and no stray ones", () => {
    expect(files).toEqual(CORPUS.map((c) => `${c.name}.jsonl`).sort());
  });

  for (const c of CORPUS) {
    it(`${c.name}: replays exactly, with its recorded verdict and anomalies`, () => {
      const path = join(corpusDir(), `${c.name}.jsonl`);
      const r = replayTrace(path);
      expect(r.difference).toBeNull();
      expect(r.reproduced).toBe(true);
      const t = readTrace(path, { verifyHash: true });
      expect(t.footer.verdict).toBe(c.verdict);
      expect(t.footer.anomalies.map((a) => a.type).sort()).toEqual([...c.anomalies].sort());
      expect(t.header.plan).toEqual(c.plan);
    });
  }
});
