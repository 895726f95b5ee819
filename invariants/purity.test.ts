// invariants/ must be deterministic and pure (STYLE, "In this project"):
// no wall clock, no ambient randomness, no timers anywhere in this tree.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL(".", import.meta.url));
const self = fileURLToPath(import.meta.url);

// Joined at run time so that this file does not match itself.
const forbidden = [
  ["Math", ".random"],
  ["Date", ".now"],
  ["performance", ".now"],
  ["new Date", "("],
  ["setTime", "out("],
  ["setInter", "val("],
  ["setImme", "diate("],
  ["cryp", "to"],
].map((parts) => parts.join(""));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith(".ts") && path !== self ? [path] : [];
  });
}

describe("invariants/ purity", () => {
  it("uses no clock, randomness, timers or crypto", () => {
    const files = sources(root);
    expect(files.length).toBeGreaterThan(20);
    const hits = files.flatMap((file) => {
      const text = readFileSync(file, "utf8");
      return forbidden.filter((word) => text.includes(word)).map((word) => `${relative(root, file)}: ${word}`);
    });
    expect(hits).toEqual([]);
  });
});
