import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkInconsistentOffsets } from "./inconsistent-offsets.js";

describe("inconsistent-offsets", () => {
  it("flags two acknowledged sends at one offset", () => {
    const h = script().send(0, "k", "v1", "ok", { offset: 0 }).send(0, "k", "v2", "ok", { offset: 0 }).build();
    expect(checkInconsistentOffsets(h)).toMatchObject({
      type: "inconsistent-offsets",
      count: 1,
      examples: [{ key: "k", offset: 0, values: ["v1", "v2"] }],
    });
  });

  it("flags a poll, even an indeterminate one, returning another value at an acknowledged offset", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .poll(1, [["k", 0, "v9"]], { type: "info" })
      .build();
    expect(checkInconsistentOffsets(h)).toMatchObject({ count: 1, examples: [{ key: "k", offset: 0, values: ["v1", "v9"] }] });
  });

  it("counts each conflicting (key, offset) once", () => {
    const h = script()
      .poll(1, [
        ["a", 0, "x1"],
        ["a", 0, "x2"],
        ["a", 0, "x3"],
        ["b", 5, "y1"],
      ])
      .poll(2, [["b", 5, "y2"]])
      .build();
    expect(checkInconsistentOffsets(h)).toMatchObject({
      count: 2,
      examples: [
        { key: "a", offset: 0, values: ["x1", "x2", "x3"] },
        { key: "b", offset: 5, values: ["y1", "y2"] },
      ],
    });
  });

  it("does not flag an unread indeterminate or failed send at a taken offset", () => {
    const h = script()
      .send(0, "k", "v1", "info", { offset: 0 })
      .send(2, "k", "v2", "ok", { offset: 0 })
      .send(2, "k", "v3", "fail", { offset: 0 })
      .build();
    expect(checkInconsistentOffsets(h)).toBeNull();
  });

  it("does not flag the same value seen at its offset by a send and several polls", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .poll(1, [["k", 0, "v1"]])
      .poll(2, [["k", 0, "v1"]], { type: "fail" })
      .build();
    expect(checkInconsistentOffsets(h)).toBeNull();
  });
});
