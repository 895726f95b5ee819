import { z } from "zod";
import { AnomalySchema } from "../invariants/index.js";
import { FaultPlanSchema } from "../sim/faults.js";
import { ScenarioSchema } from "../model/scenario.js";

/**
 * A trace is JSON Lines: a header, one line per event, a footer. The header
 * holds everything needed to re-run: the fully resolved scenario, the seed
 * and the fault plan. The footer holds the event count, the running hash of
 * every event line, and the verdict.
 */
export const TRACE_FORMAT_VERSION = 1;

export const TraceHeaderSchema = z
  .object({
    type: z.literal("header"),
    format: z.literal(TRACE_FORMAT_VERSION),
    mqsim: z.string(),
    scenario: ScenarioSchema,
    seed: z.number().int(),
    plan: FaultPlanSchema,
  })
  .strict();
export type TraceHeader = z.infer<typeof TraceHeaderSchema>;

/** One event line: {"t": µs, "n": node, "k": kind, "d": details?}. */
export const TraceEventSchema = z
  .object({
    t: z.number().int().min(0),
    n: z.string(),
    k: z.string(),
    d: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type TraceEventLine = z.infer<typeof TraceEventSchema>;

export const TraceFooterSchema = z
  .object({
    type: z.literal("footer"),
    events: z.number().int().min(0),
    hash: z.string().regex(/^[0-9a-f]{16}$/),
    verdict: z.enum(["pass", "fail", "error"]),
    outcome: z.enum(["drained", "drain-timeout", "event-budget"]),
    anomalies: z.array(AnomalySchema),
  })
  .strict();
export type TraceFooter = z.infer<typeof TraceFooterSchema>;
