import { describe, expect, it } from "vitest";
import { analyze } from "./analysis.js";
import { ANOMALY_TYPES, AnomalySchema } from "./anomaly.js";
import { checkAll } from "./check.js";
import { CHECKERS } from "./checkers/index.js";
import { script } from "./testing/dsl.js";

/** One history showing several anomalies at once. */
const messy = () =>
  script()
    .leader("g", 1, "n1")
    .leader("g", 1, "n2")
    .send(0, "k", "v1", "ok", { offset: 0 })
    .send(0, "k", "v2", "ok", { offset: 0 })
    .send(0, "k", "v3", "fail")
    .poll(1, [
      ["k", 0, "v2"],
      ["k", 1, "v3"],
    ])
    .phase("drained")
    .build();

describe("checkAll", () => {
  it("has one checker per anomaly type", () => {
    expect(Object.keys(CHECKERS).sort()).toEqual([...ANOMALY_TYPES].sort());
  });

  it("reports every anomaly in ANOMALY_TYPES order, each matching AnomalySchema", () => {
    const anomalies = checkAll(messy());
    // v1 sits at offset 0 too, but the drain only ever returned v2 there.
    expect(anomalies.map((a) => [a.type, a.count])).toEqual([
      ["lost-write", 1],
      ["inconsistent-offsets", 1],
      ["aborted-read", 1],
      ["leader-conflict", 1],
    ]);
    for (const a of anomalies) expect(AnomalySchema.safeParse(a).success).toBe(true);
  });

  it("runs only the requested checkers, on a history or a prebuilt analysis", () => {
    const h = messy();
    expect(checkAll(h, { only: ["aborted-read"] }).map((a) => a.type)).toEqual(["aborted-read"]);
    expect(checkAll(analyze(h))).toEqual(checkAll(h));
  });

  it("finds nothing in an empty history", () => {
    expect(checkAll({ ops: [], observations: [] })).toEqual([]);
  });
});
