import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkWrongTag } from "./wrong-tag.js";

const onlyA = { subscription: { topic: "t", tags: ["a"] } };

describe("wrong-tag", () => {
  it("flags a message whose send tag the subscription excludes", () => {
    const h = script().send(0, "k", "v1", "ok", { tag: "b" }).poll(1, [["k", 0, "v1"]], onlyA).build();
    expect(checkWrongTag(h)).toMatchObject({
      type: "wrong-tag",
      count: 1,
      examples: [{ value: "v1", key: "k", offset: 0, tag: "b", subscribed: ["a"] }],
    });
  });

  it("flags an untagged message under a tag list, and uses the read's own tag", () => {
    const h = script()
      .send(0, "k", "v1", "ok")
      .send(0, "k", "v2", "ok", { tag: "a" })
      .poll(
        1,
        [
          ["k", 0, "v1"],
          { key: "k", offset: 1, value: "v2", tag: "c" },
        ],
        onlyA,
      )
      .build();
    const a = checkWrongTag(h);
    expect(a).toMatchObject({ count: 2 });
    expect(a!.examples).toMatchObject([
      { value: "v1", tag: undefined },
      { value: "v2", tag: "c" },
    ]);
  });

  it("does not flag '*' subscriptions, matching tags, or polls without a subscription", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { tag: "b" })
      .send(0, "k", "v2", "ok", { tag: "a" })
      .poll(1, [["k", 0, "v1"]], { subscription: { topic: "t", tags: "*" } })
      .poll(2, [["k", 0, "v1"]], { subscription: { topic: "t", tags: ["a", "b"] } })
      .poll(3, [["k", 1, "v2"]], onlyA)
      .poll(4, [["k", 0, "v1"]])
      .build();
    expect(checkWrongTag(h)).toBeNull();
  });

  it("does not flag retry or DLQ reads, nor polls that did not complete ok", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { tag: "b" })
      .poll(1, [{ key: "%RETRY%g@b#0", topic: "%RETRY%g", offset: 0, value: "v1" }], onlyA)
      .poll(1, [{ key: "%DLQ%g@b#0", offset: 0, value: "v1", dlq: true }], onlyA)
      .poll(2, [["k", 0, "v1"]], { ...onlyA, type: "info" })
      .build();
    expect(checkWrongTag(h)).toBeNull();
  });
});
