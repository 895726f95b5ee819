import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkLogDivergence } from "./log-divergence.js";

describe("log-divergence", () => {
  it("flags two replicas holding different committed values at one index", () => {
    const h = script()
      .log("g", "n1", [[0, 1, "a"]])
      .log("g", "n2", [[0, 1, "b"]])
      .build();
    expect(checkLogDivergence(h)).toMatchObject({
      type: "log-divergence",
      count: 1,
      examples: [{ group: "g", index: 0, a: { node: "n1", term: 1, value: "a" }, b: { node: "n2", term: 1, value: "b" } }],
    });
  });

  it("flags equal values written in different terms, once per position", () => {
    const h = script()
      .log("g", "n1", [
        [0, 1, "a"],
        [1, 1, "b"],
      ])
      .log("g", "n2", [
        [0, 1, "a"],
        [1, 2, "b"],
      ])
      .log("g", "n3", [[1, 3, "b"]])
      .build();
    expect(checkLogDivergence(h)).toMatchObject({ count: 1, examples: [{ index: 1, a: { term: 1 }, b: { node: "n2", term: 2 } }] });
  });

  it("flags divergence below both nodes' commit points", () => {
    const h = script()
      .commit("g", "n1", 2)
      .commit("g", "n2", 2)
      .log("g", "n1", [
        [0, 1, "a"],
        [1, 1, "b"],
      ])
      .log("g", "n2", [
        [0, 1, "a"],
        [1, 1, "c"],
      ])
      .build();
    expect(checkLogDivergence(h)).toMatchObject({ count: 1, examples: [{ index: 1 }] });
  });

  it("does not flag identical logs, other groups, or one node's own snapshots", () => {
    const h = script()
      .log("g", "n1", [[0, 1, "a"]])
      .log("g", "n2", [[0, 1, "a"]])
      .log("h", "n2", [[0, 1, "z"]])
      .log("g", "n1", [[1, 1, "b"]])
      .log("g", "n1", [[1, 2, "c"]])
      .build();
    expect(checkLogDivergence(h)).toBeNull();
  });

  it("ignores entries at or above the node's own commit point", () => {
    const h = script()
      .commit("g", "n1", 2)
      .commit("g", "n2", 1)
      .log("g", "n1", [
        [0, 1, "a"],
        [1, 1, "b"],
      ])
      .log("g", "n2", [
        [0, 1, "a"],
        [1, 2, "uncommitted"],
      ])
      .build();
    expect(checkLogDivergence(h)).toBeNull();
  });
});
