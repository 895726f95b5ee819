import { FaultClassSchema, type FaultClass } from "../sim/faults.js";
import { parseSetValue, type RunOverrides } from "../model/run.js";
import { UsageError } from "./errors.js";

export interface CommonRunFlags {
  faults?: string;
  maxConcurrentFaults?: string;
  duration?: string;
  set?: string[];
}

export function parseInteger(flag: string, raw: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^-?\d+$/.test(raw.trim())) throw new UsageError(`${flag}: expected an integer, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min || n > max) throw new UsageError(`${flag}: ${n} is out of range [${min}, ${max}]`);
  return n;
}

export function parseFaultClasses(raw: string): FaultClass[] {
  const out: FaultClass[] = [];
  for (const part of raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0)) {
    const r = FaultClassSchema.safeParse(part);
    if (!r.success) throw new UsageError(`--faults: unknown fault class ${JSON.stringify(part)}; expected one of ${FaultClassSchema.options.join(", ")}`);
    out.push(r.data);
  }
  if (out.length === 0) throw new UsageError("--faults: expected a comma-separated list of fault classes");
  return out;
}

/** `A..B` inclusive, or a single seed. */
export function parseSeedRange(raw: string): { from: number; to: number } {
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(raw.trim());
  if (m === null) throw new UsageError(`--seeds: expected A..B (for example 1..100), got ${JSON.stringify(raw)}`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (to < from) throw new UsageError(`--seeds: ${to} is before ${from}`);
  return { from, to };
}

export function parseOverrides(flags: CommonRunFlags): RunOverrides {
  const o: RunOverrides = {};
  if (flags.faults !== undefined) o.faults = parseFaultClasses(flags.faults);
  if (flags.maxConcurrentFaults !== undefined) o.maxConcurrentFaults = parseInteger("--max-concurrent-faults", flags.maxConcurrentFaults, 1, 8);
  if (flags.duration !== undefined) {
    const d = Number(flags.duration);
    if (!Number.isFinite(d) || d <= 0 || d > 86_400) throw new UsageError(`--duration: expected seconds in (0, 86400], got ${JSON.stringify(flags.duration)}`);
    o.durationSeconds = d;
  }
  if (flags.set !== undefined && flags.set.length > 0) {
    o.set = {};
    for (const kv of flags.set) {
      const i = kv.indexOf("=");
      if (i <= 0) throw new UsageError(`--set: expected KEY=VALUE, got ${JSON.stringify(kv)}`);
      o.set[kv.slice(0, i).trim()] = parseSetValue(kv.slice(i + 1).trim());
    }
  }
  return o;
}

export function collect(value: string, previous: string[] = []): string[] {
  return previous.concat([value]);
}
