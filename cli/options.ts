import { FaultClassSchema, type FaultClass } from "../sim/faults.js";
import { parseSetValue, type RunOverrides } from "../model/run.js";
import { UsageError } from "./errors.js";
import { readPropertiesFile, type Property } from "./properties.js";

/**
 * Keys a real broker.conf or server.properties carries that the scenario's
 * cluster section defines instead (names, ids, addresses, paths, ports).
 */
const TOPOLOGY_KEYS = new Set([
  "brokerName", "brokerId", "brokerClusterName", "namesrvAddr", "brokerIP1", "brokerIP2", "listenPort", "storePathRootDir", "storePathCommitLog",
  "broker.id", "node.id", "process.roles", "listeners", "advertised.listeners", "log.dirs", "log.dir", "controller.quorum.voters", "controller.listener.names",
  "zookeeper.connect", "inter.broker.listener.name", "listener.security.protocol.map",
]);

/** Where each --set key came from, to name the line when a value is rejected. */
export const configOrigins = new Map<string, string>();

/**
 * Turns a properties file into config changes for the scenario: known keys
 * apply, topology keys and unknown keys are reported (not fatal), each with
 * its line. A later --set wins over the file.
 */
export function configFileOverrides(file: string, knownKeys: readonly string[], warn: (line: string) => void): Record<string, string | number | boolean> {
  const known = new Set(knownKeys);
  const out: Record<string, string | number | boolean> = {};
  for (const p of readPropertiesFile(file) as Property[]) {
    if (known.has(p.key)) {
      out[p.key] = parseSetValue(p.value);
      configOrigins.set(p.key, `${file}:${p.line}`);
    } else if (TOPOLOGY_KEYS.has(p.key)) {
      warn(`warning: ${file}:${p.line}: ${p.key} is defined by the scenario's cluster; ignored`);
    } else {
      warn(`warning: ${file}:${p.line}: unknown key ${p.key}; ignored`);
    }
  }
  return out;
}

export interface CommonRunFlags {
  brokerConf?: string;
  serverProperties?: string;
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

export function parseOverrides(flags: CommonRunFlags, fileSets: Record<string, string | number | boolean> = {}): RunOverrides {
  const o: RunOverrides = {};
  if (Object.keys(fileSets).length > 0) o.set = { ...fileSets };
  if (flags.faults !== undefined) o.faults = parseFaultClasses(flags.faults);
  if (flags.maxConcurrentFaults !== undefined) o.maxConcurrentFaults = parseInteger("--max-concurrent-faults", flags.maxConcurrentFaults, 1, 8);
  if (flags.duration !== undefined) {
    const d = Number(flags.duration);
    if (!Number.isFinite(d) || d <= 0 || d > 86_400) throw new UsageError(`--duration: expected seconds in (0, 86400], got ${JSON.stringify(flags.duration)}`);
    o.durationSeconds = d;
  }
  if (flags.set !== undefined && flags.set.length > 0) {
    o.set = o.set ?? {};
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
