import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkCommittedTruncation } from "./committed-truncation.js";

describe("committed-truncation", () => {
  it("flags a node truncating below its own commit point", () => {
    const h = script()
      .commit("g", "n1", 3)
      .truncate("g", "n1", 2, [
        [2, 1, "c"],
        [3, 1, "d"],
      ])
      .build();
    expect(checkCommittedTruncation(h)).toMatchObject({
      type: "committed-truncation",
      count: 1,
      examples: [{ group: "g", node: "n1", index: 2, term: 1, value: "c", ownCommitIndex: 3, reason: "below-own-commit" }],
    });
  });

  it("flags removing an entry another replica had committed", () => {
    const h = script()
      .log("g", "n2", [[0, 1, "a"]])
      .truncate("g", "n1", 0, [[0, 1, "a"]])
      .build();
    expect(checkCommittedTruncation(h)).toMatchObject({
      count: 1,
      examples: [{ node: "n1", index: 0, value: "a", ownCommitIndex: 0, reason: "committed-elsewhere" }],
    });
  });

  it("flags the 2013 Kafka case: the old leader's high watermark covered what it truncated", () => {
    const h = script()
      .commit("p0", "b1", 10)
      .leader("p0", 2, "b2")
      .truncate("p0", "b1", 5, [
        [5, 1, "m5"],
        [6, 1, "m6"],
      ])
      .build();
    expect(checkCommittedTruncation(h)).toMatchObject({ count: 2 });
  });

  it("does not flag truncating at or above the commit point (exclusive)", () => {
    const h = script()
      .commit("g", "n1", 2)
      .truncate("g", "n1", 2, [
        [2, 1, "c"],
        [3, 1, "d"],
      ])
      .build();
    expect(checkCommittedTruncation(h)).toBeNull();
  });

  it("does not flag a follower dropping a stale entry at an index committed with another entry", () => {
    const h = script()
      .commit("g", "n2", 1)
      .log("g", "n2", [[0, 2, "x"]])
      .truncate("g", "n1", 0, [[0, 1, "a"]])
      .build();
    expect(checkCommittedTruncation(h)).toBeNull();
  });

  it("does not flag an entry committed only after it was truncated", () => {
    const h = script()
      .at(10)
      .truncate("g", "n1", 0, [[0, 1, "a"]])
      .at(20)
      .log("g", "n2", [[0, 1, "a"]])
      .commit("g", "n1", 1)
      .build();
    expect(checkCommittedTruncation(h)).toBeNull();
  });
});
