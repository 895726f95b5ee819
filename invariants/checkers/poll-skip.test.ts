import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkPollSkip } from "./poll-skip.js";

/** k holds v0@0, v1@1, v2@2. */
const base = () =>
  script().send(0, "k", "v0", "ok", { offset: 0 }).send(0, "k", "v1", "ok", { offset: 1 }).send(0, "k", "v2", "ok", { offset: 2 });

describe("poll-skip", () => {
  it("flags a consumer jumping over a message between polls", () => {
    const h = base()
      .poll(1, [["k", 0, "v0"]])
      .poll(1, [["k", 2, "v2"]])
      .build();
    expect(checkPollSkip(h)).toMatchObject({
      type: "poll-skip",
      count: 1,
      examples: [{ process: 1, key: "k", previous: { offset: 0, value: "v0", index: 0 }, offset: 2, value: "v2", index: 2, delta: 2, skipped: ["v1"] }],
    });
  });

  it("flags a jump inside one poll", () => {
    const h = base()
      .poll(1, [
        ["k", 0, "v0"],
        ["k", 2, "v2"],
      ])
      .build();
    expect(checkPollSkip(h)).toMatchObject({ count: 1, examples: [{ value: "v2", skipped: ["v1"] }] });
  });

  it("keeps state across an assign that still covers the key", () => {
    const h = base()
      .poll(1, [["k", 0, "v0"]])
      .assign(1, ["k", "j"])
      .poll(1, [["k", 2, "v2"]])
      .build();
    expect(checkPollSkip(h)).toMatchObject({ count: 1, examples: [{ value: "v2" }] });
  });

  it("does not flag keys in the poll's rebalance, other processes, or tag-filtered polls", () => {
    const h = base()
      .poll(1, [["k", 0, "v0"]])
      .poll(1, [["k", 2, "v2"]], { rebalance: { revoked: [], assigned: ["k"] } })
      .poll(2, [["k", 0, "v0"]])
      .poll(3, [["k", 1, "v1"]])
      .poll(2, [["k", 2, "v2"]], { subscription: { topic: "t", tags: ["a"] } })
      .build();
    expect(checkPollSkip(h)).toBeNull();
  });

  it("does not flag a jump inside a poll whose rebalance names the key", () => {
    const h = base()
      .poll(
        1,
        [
          ["k", 0, "v0"],
          ["k", 2, "v2"],
        ],
        { rebalance: { revoked: ["k"], assigned: [] } },
      )
      .build();
    expect(checkPollSkip(h)).toBeNull();
  });

  it("resets when an assign stops covering the key, and tolerates offset gaps", () => {
    const h = base()
      .send(0, "k", "v9", "ok", { offset: 9 })
      .poll(1, [["k", 0, "v0"]])
      .assign(1, ["j"])
      .assign(1, ["k"])
      .poll(1, [["k", 2, "v2"]])
      .poll(1, [["k", 9, "v9"]])
      .build();
    expect(checkPollSkip(h)).toBeNull();
  });
});
