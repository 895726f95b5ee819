// Anomaly results: one named type per checker, a count, and capped examples.
import { z } from "zod";

/** Every anomaly type, in the order `checkAll` reports them. */
export const ANOMALY_TYPES = [
  "lost-write",
  "unseen",
  "duplicate",
  "inconsistent-offsets",
  "nonmonotonic-send",
  "poll-skip",
  "nonmonotonic-poll",
  "aborted-read",
  "dirty-read",
  "early-delivery",
  "wrong-tag",
  "retry-lost",
  "index-miss",
  "log-divergence",
  "leader-conflict",
  "committed-truncation",
  "liveness",
] as const;

export const AnomalyTypeSchema = z.enum(ANOMALY_TYPES);
export type AnomalyType = z.infer<typeof AnomalyTypeSchema>;

export const AnomalySchema = z.object({
  type: AnomalyTypeSchema,
  /** How many offending items; what an item is is stated per checker. */
  count: z.number().int().positive(),
  /** The first offending items in history order, at most `maxExamples`. */
  examples: z.array(z.unknown()),
  message: z.string().optional(),
});
export type Anomaly = z.infer<typeof AnomalySchema>;

export const CheckOptionsSchema = z.object({
  /** Cap on `examples` per anomaly. */
  maxExamples: z.number().int().nonnegative().optional(),
  /**
   * After a failure at this reconsumeTimes the message must go to the DLQ.
   * Default 16: SubscriptionGroupConfig.retryMaxTimes.
   */
  maxReconsumeTimes: z.number().int().nonnegative().optional(),
  /**
   * Deliveries up to this much before the due time are tolerated. Default 0,
   * which fits RocketMQ 4.x delay levels; RocketMQ 5's timer wheel rounds the
   * delivery time down to `timerPrecisionMs` (1000), so set that there.
   */
  earlyDeliveryToleranceMs: z.number().nonnegative().optional(),
  /** Run only these checkers (default: all). */
  only: z.array(AnomalyTypeSchema).optional(),
});
export type CheckOptions = z.infer<typeof CheckOptionsSchema>;

export interface ResolvedOptions {
  maxExamples: number;
  maxReconsumeTimes: number;
  earlyDeliveryToleranceMs: number;
}

export const DEFAULT_MAX_EXAMPLES = 8;
/** SubscriptionGroupConfig.retryMaxTimes. */
export const DEFAULT_MAX_RECONSUME_TIMES = 16;

export function resolveOptions(opts: CheckOptions = {}): ResolvedOptions {
  return {
    maxExamples: opts.maxExamples ?? DEFAULT_MAX_EXAMPLES,
    maxReconsumeTimes: opts.maxReconsumeTimes ?? DEFAULT_MAX_RECONSUME_TIMES,
    earlyDeliveryToleranceMs: opts.earlyDeliveryToleranceMs ?? 0,
  };
}

/**
 * Counts offending items and keeps the first `maxExamples` of them, so a
 * history with a million anomalies still yields a small result.
 */
export class Findings {
  count = 0;
  readonly examples: unknown[] = [];

  constructor(
    readonly type: AnomalyType,
    private readonly maxExamples: number,
  ) {}

  /** Counts one item; `example` is only called while examples are kept. */
  add(example: () => unknown): void {
    this.count++;
    if (this.examples.length < this.maxExamples) this.examples.push(example());
  }

  /** The anomaly, or null when nothing was found. */
  result(message?: (count: number) => string): Anomaly | null {
    if (this.count === 0) return null;
    const anomaly: Anomaly = { type: this.type, count: this.count, examples: this.examples };
    if (message !== undefined) anomaly.message = message(this.count);
    return anomaly;
  }
}
