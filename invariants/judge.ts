// Judgement, kept apart from detection (STYLE, from Jepsen): a scenario's
// `expect` lists the anomaly types its configuration promises never to show.
// Only those fail the run; anything else found is a finding: reported, not
// failing (e.g. `duplicate` under at-least-once delivery).
import { z } from "zod";
import { AnomalySchema, AnomalyTypeSchema, type Anomaly, type AnomalyType } from "./anomaly.js";

/** A scenario's `expect`: anomaly types that must NOT occur. */
export const ExpectSchema = z.array(AnomalyTypeSchema);
export type Expect = z.infer<typeof ExpectSchema>;

export const VerdictSchema = z.enum(["pass", "fail"]);
export type Verdict = z.infer<typeof VerdictSchema>;

export const JudgementSchema = z.object({
  verdict: VerdictSchema,
  /** Anomalies whose type is in `expect`. */
  violations: z.array(AnomalySchema),
  /** Anomalies whose type is not in `expect`. */
  findings: z.array(AnomalySchema),
});
export type Judgement = z.infer<typeof JudgementSchema>;

export function judge(anomalies: readonly Anomaly[], expect: readonly AnomalyType[]): Judgement {
  const forbidden = new Set(expect);
  const violations: Anomaly[] = [];
  const findings: Anomaly[] = [];
  for (const anomaly of anomalies) (forbidden.has(anomaly.type) ? violations : findings).push(anomaly);
  return { verdict: violations.length === 0 ? "pass" : "fail", violations, findings };
}
