import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkDirtyRead } from "./dirty-read.js";

describe("dirty-read", () => {
  it("flags a read at the commit point (commit points are exclusive)", () => {
    const h = script()
      .at(10)
      .commit("k", "n1", 1, "k")
      .at(20)
      .poll(1, [
        ["k", 0, "v0"],
        ["k", 1, "v1"],
      ])
      .build();
    expect(checkDirtyRead(h)).toMatchObject({
      type: "dirty-read",
      count: 1,
      examples: [{ key: "k", offset: 1, value: "v1", timeUs: 21, commitIndexAtTime: 1 }],
    });
  });

  it("flags a read completed before the first commit of the key", () => {
    const h = script()
      .at(5)
      .poll(1, [["k", 0, "v0"]])
      .at(10)
      .commit("k", "n1", 5, "k")
      .build();
    expect(checkDirtyRead(h)).toMatchObject({ count: 1, examples: [{ offset: 0, commitIndexAtTime: 0 }] });
  });

  it("flags each dirty read, per key", () => {
    const h = script()
      .commit("a", "n1", 1, "a")
      .commit("b", "n1", 1, "b")
      .at(30)
      .poll(1, [
        ["a", 1, "x"],
        ["b", 1, "y"],
        ["b", 0, "z"],
      ])
      .build();
    const a = checkDirtyRead(h);
    expect(a).toMatchObject({ count: 2 });
    expect(a!.examples.map((e) => (e as { value: string }).value)).toEqual(["x", "y"]);
  });

  it("does not flag reads below the highest commit point any node reported by then", () => {
    const h = script()
      .at(10)
      .commit("k", "n1", 1, "k")
      .commit("k", "n2", 3, "k")
      .commit("k", "n1", 2, "k")
      .at(20)
      .poll(1, [
        ["k", 0, "v0"],
        ["k", 1, "v1"],
        ["k", 2, "v2"],
      ])
      .build();
    expect(checkDirtyRead(h)).toBeNull();
  });

  it("counts a commit observed at the poll's completion time, and ignores keys without commits", () => {
    const h = script()
      .at(21)
      .commit("k", "n1", 1, "k")
      .at(20)
      .poll(1, [
        ["k", 0, "v0"],
        ["j", 7, "w"],
      ])
      .build();
    expect(h.ops[1]!.timeUs).toBe(21);
    expect(checkDirtyRead(h)).toBeNull();
  });
});
