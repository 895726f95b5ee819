import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkDuplicate } from "./duplicate.js";

describe("duplicate", () => {
  it("flags one value read at two offsets of a key", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .poll(1, [
        ["k", 0, "v1"],
        ["k", 1, "v1"],
      ])
      .build();
    expect(checkDuplicate(h)).toMatchObject({
      type: "duplicate",
      count: 1,
      examples: [{ value: "v1", positions: [{ key: "k", offset: 0 }, { key: "k", offset: 1 }] }],
    });
  });

  it("flags one value stored in two queues (a producer retry to another queue)", () => {
    const h = script()
      .send(0, "t@a#0", "v1", "ok", { offset: 3 })
      .poll(1, [["t@a#1", 7, "v1"]])
      .build();
    expect(checkDuplicate(h)).toMatchObject({
      count: 1,
      examples: [{ value: "v1", positions: [{ key: "t@a#0", offset: 3 }, { key: "t@a#1", offset: 7 }] }],
    });
  });

  it("flags an info send once it is read elsewhere than its reported offset", () => {
    const h = script()
      .send(0, "k", "v1", "info", { offset: 0 })
      .send(2, "k", "v2", "ok", { offset: 2 })
      .poll(1, [["k", 1, "v1"]])
      .build();
    expect(checkDuplicate(h)).toMatchObject({ count: 1, examples: [{ value: "v1" }] });
  });

  it("does not flag an unread info send whose reported offset another value holds", () => {
    const h = script()
      .send(0, "k", "v1", "info", { offset: 0 })
      .send(2, "k", "v2", "ok", { offset: 0 })
      .poll(1, [["k", 0, "v2"]])
      .build();
    expect(checkDuplicate(h)).toBeNull();
  });

  it("does not flag redeliveries through the retry topic or the DLQ, nor re-reads of one offset", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .poll(1, [["k", 0, "v1"]])
      .poll(1, [["k", 0, "v1"]])
      .poll(1, [{ key: "%RETRY%g@b#0", topic: "%RETRY%g", offset: 4, value: "v1", reconsumeTimes: 1 }])
      .poll(1, [{ key: "%RETRY%g@b#0", topic: "%RETRY%g", offset: 9, value: "v1", reconsumeTimes: 2 }])
      .poll(1, [{ key: "%DLQ%g@b#0", offset: 0, value: "v1", dlq: true }])
      .build();
    expect(checkDuplicate(h)).toBeNull();
  });
});
