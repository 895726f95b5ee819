import type { AnomalyType } from "../invariants/index.js";
import { runScenario } from "../model/run.js";
import type { Scenario } from "../model/scenario.js";
import type { Fault, FaultPlan } from "../sim/faults.js";

export interface ShrinkCandidate {
  scenario: Scenario;
  plan: FaultPlan;
}

export interface ShrinkStep {
  step: number;
  what: string;
  faults: number;
  producers: number;
  durationSeconds: number;
  kept: boolean;
}

export interface ShrinkResult {
  target: AnomalyType[];
  start: ShrinkCandidate;
  result: ShrinkCandidate;
  runs: number;
  steps: ShrinkStep[];
}

/**
 * Minimises a failing run while the same anomaly types still occur: first
 * the fault plan by delta debugging (drop chunks of faults, then single
 * faults), then each remaining fault (shorter; earlier, so that the run can
 * end sooner), then the run (shorter), then each fault as late as the
 * shorter run allows (less happens under it), then the workload (fewer
 * producers and consumers, a lower rate). Every
 * candidate is a full deterministic run with the same seed, so the result
 * replays exactly.
 */
export function shrink(start: ShrinkCandidate, seed: number, target: readonly AnomalyType[], onStep?: (s: ShrinkStep) => void, maxRuns = 400): ShrinkResult {
  let runs = 0;
  const steps: ShrinkStep[] = [];
  const fails = (c: ShrinkCandidate): boolean => {
    if (runs >= maxRuns) return false;
    runs++;
    try {
      const r = runScenario(c.scenario, { seed, overrides: { plan: c.plan } });
      const types = new Set(r.anomalies.map((a) => a.type));
      return target.every((t) => types.has(t));
    } catch {
      return false;
    }
  };
  let best: ShrinkCandidate = { scenario: structuredClone(start.scenario), plan: start.plan.map((f) => ({ ...f })) };
  const attempt = (what: string, c: ShrinkCandidate): boolean => {
    const kept = fails(c);
    if (kept) best = c;
    const s: ShrinkStep = { step: steps.length + 1, what, faults: best.plan.length, producers: best.scenario.cluster.producers, durationSeconds: best.scenario.workload.durationSeconds, kept };
    steps.push(s);
    onStep?.(s);
    return kept;
  };
  const withPlan = (plan: Fault[]): ShrinkCandidate => ({ scenario: best.scenario, plan });

  // 1. Fewer faults: ddmin over the plan.
  let n = 2;
  while (best.plan.length > 0 && runs < maxRuns) {
    const plan = best.plan;
    const size = Math.ceil(plan.length / n);
    let reduced = false;
    for (let i = 0; i < plan.length && !reduced; i += size) {
      const complement = [...plan.slice(0, i), ...plan.slice(i + size)];
      if (attempt(`drop faults ${i + 1}..${Math.min(i + size, plan.length)} of ${plan.length}`, withPlan(complement))) {
        n = Math.max(n - 1, 2);
        reduced = true;
      }
    }
    if (!reduced) {
      if (size <= 1) break;
      n = Math.min(n * 2, plan.length);
    }
  }

  // 2. Each remaining fault: shorter.
  for (let i = 0; i < best.plan.length && runs < maxRuns; i++) {
    for (let tries = 0; tries < 6; tries++) {
      const f = best.plan[i]!;
      const shorter = Math.floor(f.durationMs / 2);
      if (shorter < 100) break;
      const plan = best.plan.map((g, j) => (j === i ? { ...g, durationMs: shorter } : g));
      if (!attempt(`fault ${i + 1}: ${f.kind} for ${shorter} ms instead of ${f.durationMs} ms`, withPlan(plan))) break;
    }
  }

  // 3. Each fault earlier, so that the run can end sooner.
  for (let i = 0; i < best.plan.length && runs < maxRuns; i++) {
    for (let tries = 0; tries < 6; tries++) {
      const f = best.plan[i]!;
      const floorMs = Math.round(best.scenario.workload.startDelaySeconds * 1000) + 1000;
      const earlier = floorMs + Math.floor((f.atMs - floorMs) / 2);
      if (earlier >= f.atMs - 100) break;
      const plan = best.plan.map((g, j) => (j === i ? { ...g, atMs: earlier } : g));
      if (!attempt(`fault ${i + 1}: at ${earlier} ms instead of ${f.atMs} ms`, withPlan(plan))) break;
    }
  }

  // 4. A shorter run, ending soon after the last fault heals.
  for (let tries = 0; tries < 6 && runs < maxRuns; tries++) {
    const w = best.scenario.workload;
    const lastFaultEndS = Math.max(0, ...best.plan.map((f) => (f.atMs + f.durationMs) / 1000));
    const shorter = Math.max(Math.ceil(lastFaultEndS + 1), Math.floor(w.durationSeconds / 2), Math.ceil(w.startDelaySeconds + 2));
    if (shorter >= w.durationSeconds) break;
    const s = structuredClone(best.scenario);
    s.workload.durationSeconds = shorter;
    if (!attempt(`run for ${shorter} s instead of ${w.durationSeconds} s`, { scenario: s, plan: best.plan })) break;
  }

  // 5. Each fault later, within the (now shorter) run: less happens under it.
  for (let i = 0; i < best.plan.length && runs < maxRuns; i++) {
    for (let tries = 0; tries < 4; tries++) {
      const f = best.plan[i]!;
      const endMs = best.scenario.workload.durationSeconds * 1000;
      const later = f.atMs + Math.floor((endMs - f.atMs - f.durationMs) / 2);
      if (later <= f.atMs + 100) break;
      const plan = best.plan.map((g, j) => (j === i ? { ...g, atMs: later } : g));
      if (!attempt(`fault ${i + 1}: at ${later} ms instead of ${f.atMs} ms`, withPlan(plan))) break;
    }
  }

  // 6. Fewer clients, a lower rate.
  for (const field of ["producers", "consumers"] as const) {
    while (best.scenario.cluster[field] > 1 && runs < maxRuns) {
      const s = structuredClone(best.scenario);
      s.cluster[field] -= 1;
      if (!attempt(`${s.cluster[field]} ${field} instead of ${best.scenario.cluster[field]}`, { scenario: s, plan: best.plan })) break;
    }
  }
  for (let tries = 0; tries < 4 && runs < maxRuns; tries++) {
    const rate = best.scenario.workload.rate / 2;
    if (rate < 1) break;
    const s = structuredClone(best.scenario);
    s.workload.rate = rate;
    if (!attempt(`rate ${rate}/s instead of ${best.scenario.workload.rate}/s`, { scenario: s, plan: best.plan })) break;
  }
  return { target: [...target], start, result: best, runs, steps };
}
