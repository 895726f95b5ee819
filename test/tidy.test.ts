import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Host time and host randomness would make a run depend on more than (scenario, seed). */
const FORBIDDEN = [
  /Math\.random\s*\(/,
  /Date\.now\s*\(/,
  /performance\.now\s*\(/,
  /\bnew Date\s*\(/,
  /\bsetTimeout\s*\(/,
  /\bsetInterval\s*\(/,
  /\bsetImmediate\s*\(/,
  /process\.hrtime/,
  /crypto\.(randomBytes|randomUUID|getRandomValues|randomInt)/,
  /from\s+["']node:crypto["']/,
  /\bqueueMicrotask\s*\(/,
  /\bawait\b/,
  /\bPromise\b/,
];

function sourceFiles(dir: string): string[] {
  let out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(sourceFiles(p));
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

describe("tidy", () => {
  it("the simulated world (sim/, model/, invariants/) uses no host time, host randomness or promises", () => {
    const offenders: string[] = [];
    for (const dir of ["sim", "model", "invariants"]) {
      for (const file of sourceFiles(join(root, dir))) {
        // The two-process determinism helper is a script, not part of the world.
        if (file.endsWith(join("testing", "pingpong-hash.ts"))) continue;
        const lines = stripComments(readFileSync(file, "utf8")).split("\n");
        lines.forEach((line, i) => {
          for (const re of FORBIDDEN) if (re.test(line)) offenders.push(`${relative(root, file)}:${i + 1}: ${line.trim()}`);
        });
      }
    }
    expect(offenders).toEqual([]);
  });

  it("sim/ imports nothing from model/, traces/ or cli/; invariants/ imports nothing but itself", () => {
    const offenders: string[] = [];
    const check = (dir: string, bad: RegExp) => {
      for (const file of sourceFiles(join(root, dir))) {
        for (const m of readFileSync(file, "utf8").matchAll(/from\s+["']([^"']+)["']/g)) {
          if (bad.test(m[1]!)) offenders.push(`${relative(root, file)} imports ${m[1]}`);
        }
      }
    };
    check("sim", /\/(model|traces|cli|invariants)\//);
    check("invariants", /\.\.\/(\.\.\/)?(sim|model|traces|cli)\//);
    expect(offenders).toEqual([]);
  });
});
