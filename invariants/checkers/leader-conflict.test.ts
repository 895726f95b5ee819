import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkLeaderConflict } from "./leader-conflict.js";

describe("leader-conflict", () => {
  it("flags two leaders of one group in one term", () => {
    const h = script().leader("g", 3, "n1").leader("g", 3, "n2").build();
    expect(checkLeaderConflict(h)).toMatchObject({
      type: "leader-conflict",
      count: 1,
      examples: [{ group: "g", term: 3, leaders: ["n1", "n2"] }],
    });
  });

  it("counts terms, not claimants", () => {
    const h = script()
      .leader("g", 1, "n1")
      .leader("g", 1, "n2")
      .leader("g", 1, "n3")
      .leader("h", 7, "n2")
      .leader("h", 7, "n1")
      .build();
    expect(checkLeaderConflict(h)).toMatchObject({
      count: 2,
      examples: [
        { group: "g", term: 1, leaders: ["n1", "n2", "n3"] },
        { group: "h", term: 7, leaders: ["n2", "n1"] },
      ],
    });
  });

  it("does not flag one leader per term, repeated claims, or other groups", () => {
    const h = script()
      .leader("g", 1, "n1")
      .leader("g", 1, "n1")
      .leader("g", 2, "n2")
      .leader("h", 1, "n2")
      .build();
    expect(checkLeaderConflict(h)).toBeNull();
  });

  it("does not flag a history without leader observations", () => {
    const h = script().send(0, "k", "v", "ok", { offset: 0 }).build();
    expect(checkLeaderConflict(h)).toBeNull();
  });
});
