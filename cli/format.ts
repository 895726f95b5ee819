import type { Anomaly } from "../invariants/index.js";
import type { FaultPlan } from "../sim/faults.js";

export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

export function describePlan(plan: FaultPlan): string[] {
  return plan.map((f) => {
    const who = f.kind === "partition" ? `${f.shape ?? "isolate"} ${f.groups ? f.groups.map((g) => `[${g.join(",")}]`).join(" | ") : f.targets.join(",")}` : f.targets.join(",");
    return `  at ${formatMs(f.atMs)}: ${f.kind} ${who} for ${formatMs(f.durationMs)}`;
  });
}

export function describeAnomaly(a: Anomaly): string {
  const ex = a.examples.slice(0, 3).map((e) => JSON.stringify(e));
  const more = a.count > ex.length ? ` (+${a.count - ex.length} more)` : "";
  return `  ${a.type.padEnd(22)} ${String(a.count).padStart(6)}  ${ex.join(" ")}${more}`.slice(0, 400);
}

/** Shell-quotes an argument for a reproduce line. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=,@+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}
