import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "./errors.js";

/** The built-in scenarios ship in the package's scenarios/ folder (two levels up from dist/cli or cli/). */
export function scenariosDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, "scenarios");
    if (existsSync(join(dir, "package.json")) && existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error("cannot find the built-in scenarios folder");
}

export function builtinScenarioNames(): string[] {
  return readdirSync(scenariosDir())
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** Reads a scenario by built-in name or by path; malformed JSON is a usage error naming the file. */
export function loadScenarioInput(nameOrPath: string): unknown {
  const looksLikePath = nameOrPath.endsWith(".json") || nameOrPath.includes("/") || nameOrPath.includes("\\");
  let file: string;
  if (looksLikePath) {
    if (!existsSync(nameOrPath)) throw new UsageError(`scenario file not found: ${nameOrPath}`);
    file = nameOrPath;
  } else {
    file = join(scenariosDir(), `${nameOrPath}.json`);
    if (!existsSync(file)) throw new UsageError(`unknown scenario ${JSON.stringify(nameOrPath)}; built-in: ${builtinScenarioNames().join(", ")}`);
  }
  const text = readFileSync(file, "utf8");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file}: not valid JSON (${(err as Error).message.split("\n")[0]})`);
  }
}
