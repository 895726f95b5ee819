import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkNonmonotonicSend } from "./nonmonotonic-send.js";

describe("nonmonotonic-send", () => {
  it("flags a producer's ordered send stored before its previous one", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 5, ordered: true })
      .send(0, "k", "v2", "ok", { offset: 4, ordered: true })
      .build();
    expect(checkNonmonotonicSend(h)).toMatchObject({
      type: "nonmonotonic-send",
      count: 1,
      examples: [{ process: 0, key: "k", previous: { value: "v1", offset: 5, index: 1 }, value: "v2", offset: 4, index: 0 }],
    });
  });

  it("flags two ordered sends acknowledged at the same offset (delta 0)", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 5, ordered: true })
      .send(0, "k", "v2", "ok", { offset: 5, ordered: true })
      .build();
    expect(checkNonmonotonicSend(h)).toMatchObject({ count: 1, examples: [{ value: "v2", previous: { value: "v1" } }] });
  });

  it("uses read positions when the acknowledgement carried no offset", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { ordered: true })
      .send(0, "k", "v2", "ok", { ordered: true })
      .send(0, "k", "v3", "ok", { ordered: true })
      .poll(1, [
        ["k", 0, "v2"],
        ["k", 1, "v1"],
        ["k", 2, "v3"],
      ])
      .build();
    expect(checkNonmonotonicSend(h)).toMatchObject({ count: 1, examples: [{ value: "v2", index: 0, previous: { value: "v1", index: 1 } }] });
  });

  it("does not compare different producers, different keys or unordered sends", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 5, ordered: true })
      .send(1, "k", "v2", "ok", { offset: 4, ordered: true })
      .send(0, "j", "v3", "ok", { offset: 0, ordered: true })
      .send(2, "k", "v4", "ok", { offset: 7 })
      .send(2, "k", "v5", "ok", { offset: 6 })
      .build();
    expect(checkNonmonotonicSend(h)).toBeNull();
  });

  it("restarts after an indeterminate send (the client takes a new process)", () => {
    const h = script()
      .send(0, "k", "v1", "info", { offset: 5, ordered: true })
      .send(3, "k", "v2", "ok", { offset: 4, ordered: true })
      .poll(1, [["k", 5, "v1"]])
      .build();
    expect(checkNonmonotonicSend(h)).toBeNull();
  });

  it("skips sends whose position is unknown", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 5, ordered: true })
      .send(0, "k", "v2", "ok", { ordered: true })
      .send(0, "k", "v3", "ok", { offset: 6, ordered: true })
      .build();
    expect(checkNonmonotonicSend(h)).toBeNull();
  });
});
