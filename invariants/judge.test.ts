import { describe, expect, it } from "vitest";
import type { Anomaly } from "./anomaly.js";
import { ExpectSchema, judge } from "./judge.js";

const lost: Anomaly = { type: "lost-write", count: 2, examples: [{ value: "v1" }, { value: "v2" }] };
const dup: Anomaly = { type: "duplicate", count: 1, examples: [{ value: "v3" }] };

describe("judge", () => {
  it("fails when an expected-absent anomaly occurred, keeping the rest as findings", () => {
    expect(judge([lost, dup], ["lost-write", "aborted-read"])).toEqual({ verdict: "fail", violations: [lost], findings: [dup] });
  });

  it("passes when only anomalies outside expect occurred", () => {
    expect(judge([dup], ["lost-write"])).toEqual({ verdict: "pass", violations: [], findings: [dup] });
  });

  it("passes a clean run, and an empty expect never fails", () => {
    expect(judge([], ["lost-write"])).toEqual({ verdict: "pass", violations: [], findings: [] });
    expect(judge([lost], [])).toEqual({ verdict: "pass", violations: [], findings: [lost] });
  });

  it("validates a scenario's expect list", () => {
    expect(ExpectSchema.parse(["lost-write", "liveness"])).toEqual(["lost-write", "liveness"]);
    expect(ExpectSchema.safeParse(["lost-writes"]).success).toBe(false);
  });
});
