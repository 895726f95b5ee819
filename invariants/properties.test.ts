// Properties over histories of the perfect queue (testing/perfect-queue.ts):
// a correct system never shows an anomaly, and one injected fault shows
// exactly the anomaly it should, and nothing else.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkAll } from "./check.js";
import { HistorySchema } from "./history.js";
import { DEFAULT_PARAMS, runPerfectQueue, type Action, type InjectionKind, type SendOutcome } from "./testing/perfect-queue.js";

// A low maximum makes messages reach the DLQ within short scripts.
const params = { ...DEFAULT_PARAMS, maxReconsumeTimes: 1 };
const opts = { maxReconsumeTimes: params.maxReconsumeTimes };
const RUNS = 120;

const outcomeArb: fc.Arbitrary<SendOutcome> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<SendOutcome>("ok") },
  { weight: 1, arbitrary: fc.constantFrom<SendOutcome>("fail", "info-stored", "info-lost", "txn-commit", "txn-rollback") },
);

const sendArb: fc.Arbitrary<Action> = fc.record({
  kind: fc.constant("send" as const),
  producer: fc.nat({ max: params.producers - 1 }),
  key: fc.nat({ max: params.keys - 1 }),
  ordered: fc.boolean(),
  delayMs: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 20 }) }),
  tag: fc.constantFrom("a" as const, "b" as const),
  outcome: outcomeArb,
  msgKey: fc.option(fc.nat({ max: 3 }), { freq: 2, nil: null }),
  dtUs: fc.nat({ max: 2000 }),
});

// One poll in five fails its first message, which exercises retry and DLQ.
const pollArb: fc.Arbitrary<Action> = fc.record({
  kind: fc.constant("poll" as const),
  consumer: fc.nat({ max: params.consumers - 1 }),
  max: fc.integer({ min: 1, max: 6 }),
  failFirst: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  dtUs: fc.nat({ max: 2000 }),
});

const lookupArb: fc.Arbitrary<Action> = fc.record({
  kind: fc.constant("lookup" as const),
  msgKey: fc.nat({ max: 3 }),
  dtUs: fc.nat({ max: 2000 }),
});

const scriptArb = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: sendArb },
    { weight: 5, arbitrary: pollArb },
    { weight: 1, arbitrary: lookupArb },
  ),
  { minLength: 10, maxLength: 120 },
);

describe("perfect queue histories", () => {
  it("never yield an anomaly", () => {
    fc.assert(
      fc.property(scriptArb, (actions) => {
        const { history } = runPerfectQueue(actions, params);
        expect(checkAll(history, opts)).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });

  it("are valid against HistorySchema", () => {
    fc.assert(
      fc.property(scriptArb, (actions) => {
        const { history } = runPerfectQueue(actions, params);
        expect(HistorySchema.safeParse(history).success).toBe(true);
      }),
      { numRuns: 30 },
    );
  });
});

const expectedByInjection: Record<InjectionKind, string> = {
  loss: "lost-write",
  duplicate: "duplicate",
  reorder: "nonmonotonic-send",
  early: "early-delivery",
};

describe.each(Object.entries(expectedByInjection) as [InjectionKind, string][])("one injected %s", (kind, anomaly) => {
  it(`yields exactly ${anomaly}`, () => {
    fc.assert(
      fc.property(scriptArb, fc.nat(), (actions, pick) => {
        // The uninjected run says which sends the injection may target.
        const candidates = runPerfectQueue(actions, params).candidates[kind];
        fc.pre(candidates.length > 0);
        const value = candidates[pick % candidates.length]!;
        const { history } = runPerfectQueue(actions, params, { kind, value });
        const anomalies = checkAll(history, opts);
        expect(anomalies.map((a) => a.type)).toEqual([anomaly]);
        expect(anomalies[0]!.count).toBe(1);
        expect(JSON.stringify(anomalies[0]!.examples)).toContain(`"${value}"`);
      }),
      { numRuns: RUNS },
    );
  });
});
