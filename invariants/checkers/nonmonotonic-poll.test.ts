import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkNonmonotonicPoll } from "./nonmonotonic-poll.js";

const base = () => script().send(0, "k", "v0", "ok", { offset: 0 }).send(0, "k", "v1", "ok", { offset: 1 });

describe("nonmonotonic-poll", () => {
  it("flags a consumer going back between polls", () => {
    const h = base()
      .poll(1, [["k", 1, "v1"]])
      .poll(1, [["k", 0, "v0"]])
      .build();
    expect(checkNonmonotonicPoll(h)).toMatchObject({
      type: "nonmonotonic-poll",
      count: 1,
      examples: [{ process: 1, key: "k", previous: { value: "v1", index: 1 }, value: "v0", index: 0, delta: -1 }],
    });
  });

  it("flags a re-read inside one poll (delta 0), even under a tag filter", () => {
    const h = base()
      .poll(
        1,
        [
          ["k", 0, "v0"],
          ["k", 0, "v0"],
        ],
        { subscription: { topic: "t", tags: ["a"] } },
      )
      .build();
    expect(checkNonmonotonicPoll(h)).toMatchObject({ count: 1, examples: [{ value: "v0", delta: 0 }] });
  });

  it("counts each backward step", () => {
    const h = base()
      .poll(1, [
        ["k", 1, "v1"],
        ["k", 0, "v0"],
        ["k", 1, "v1"],
        ["k", 0, "v0"],
      ])
      .build();
    expect(checkNonmonotonicPoll(h)).toMatchObject({ count: 2 });
  });

  it("does not flag a new process after an indeterminate poll, nor a rebalanced key", () => {
    const h = base()
      .poll(1, [["k", 1, "v1"]])
      .poll(1, [], { type: "info" })
      .poll(2, [["k", 0, "v0"]])
      .poll(3, [["k", 1, "v1"]])
      .poll(3, [["k", 0, "v0"]], { rebalance: { revoked: ["k"], assigned: ["k"] } })
      .build();
    expect(checkNonmonotonicPoll(h)).toBeNull();
  });

  it("does not flag a re-read after seeking to the beginning, nor polls that failed", () => {
    const h = base()
      .poll(1, [["k", 1, "v1"]])
      .assign(1, ["k"], { seekToBeginning: true })
      .poll(1, [["k", 0, "v0"]])
      .poll(1, [["k", 0, "v0"]], { type: "fail" })
      .build();
    expect(checkNonmonotonicPoll(h)).toBeNull();
  });
});
