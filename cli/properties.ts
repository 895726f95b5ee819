import { readFileSync } from "node:fs";
import { UsageError } from "./errors.js";

export interface Property {
  key: string;
  value: string;
  line: number;
}

/**
 * Reads a Java properties file (broker.conf, server.properties) as
 * java.util.Properties does: `key=value`, `key: value` or `key value`;
 * `#` and `!` comments; a trailing backslash continues the line; `\t`,
 * `\n`, `\uXXXX` and escaped separators in keys and values.
 */
export function parseProperties(text: string, file: string): Property[] {
  const out: Property[] = [];
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const startLine = i + 1;
    let logical = lines[i]!.replace(/^[ \t\f]+/, "");
    if (logical === "" || logical.startsWith("#") || logical.startsWith("!")) continue;
    while (endsWithContinuation(logical) && i + 1 < lines.length) {
      logical = logical.slice(0, -1) + lines[++i]!.replace(/^[ \t\f]+/, "");
    }
    let k = 0;
    let key = "";
    while (k < logical.length) {
      const c = logical[k]!;
      if (c === "\\") {
        key += unescapeAt(logical, k, file, startLine);
        k += escapeLength(logical, k);
        continue;
      }
      if (c === "=" || c === ":" || c === " " || c === "\t" || c === "\f") break;
      key += c;
      k++;
    }
    while (k < logical.length && /[ \t\f]/.test(logical[k]!)) k++;
    if (k < logical.length && (logical[k] === "=" || logical[k] === ":")) k++;
    while (k < logical.length && /[ \t\f]/.test(logical[k]!)) k++;
    let value = "";
    while (k < logical.length) {
      if (logical[k] === "\\") {
        value += unescapeAt(logical, k, file, startLine);
        k += escapeLength(logical, k);
        continue;
      }
      value += logical[k]!;
      k++;
    }
    out.push({ key, value: value.trimEnd(), line: startLine });
  }
  return out;
}

function endsWithContinuation(s: string): boolean {
  let n = 0;
  for (let i = s.length - 1; i >= 0 && s[i] === "\\"; i--) n++;
  return n % 2 === 1;
}

function escapeLength(s: string, i: number): number {
  return s[i + 1] === "u" ? 6 : 2;
}

function unescapeAt(s: string, i: number, file: string, line: number): string {
  const c = s[i + 1];
  if (c === undefined) return "";
  if (c === "u") {
    const hex = s.slice(i + 2, i + 6);
    if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new UsageError(`${file}:${line}: malformed \\uXXXX escape`);
    return String.fromCharCode(parseInt(hex, 16));
  }
  return c === "t" ? "\t" : c === "n" ? "\n" : c === "r" ? "\r" : c === "f" ? "\f" : c;
}

export function readPropertiesFile(file: string): Property[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new UsageError(`${file}: cannot read`);
  }
  return parseProperties(text, file);
}
