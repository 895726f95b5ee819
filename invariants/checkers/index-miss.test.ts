import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkIndexMiss } from "./index-miss.js";

describe("index-miss", () => {
  it("flags a lookup missing an acknowledged message with that key", () => {
    const h = script().send(0, "t@b#0", "v1", "ok", { keys: ["order-1"] }).lookup(1, "t", "order-1", []).build();
    expect(checkIndexMiss(h)).toMatchObject({
      type: "index-miss",
      count: 1,
      examples: [{ topic: "t", msgKey: "order-1", value: "v1", key: "t@b#0", lookupIndex: 2 }],
    });
  });

  it("flags each missing value of each lookup", () => {
    const h = script()
      .send(0, "t@b#0", "v1", "ok", { keys: ["order-1", "x"] })
      .send(0, "t@b#1", "v2", "ok", { keys: ["order-1"] })
      .send(0, "u-0", "v3", "ok", { keys: ["order-1"], topic: "u" })
      .lookup(1, "t", "order-1", ["v1"])
      .lookup(1, "u", "order-1", [])
      .build();
    const a = checkIndexMiss(h);
    expect(a).toMatchObject({ count: 2 });
    expect(a!.examples).toMatchObject([
      { topic: "t", value: "v2" },
      { topic: "u", value: "v3" },
    ]);
  });

  it("does not require sends that completed after the lookup was invoked", () => {
    const h = script()
      .invoke(0, "send", { key: "t@b#0", value: "v1", keys: ["order-1"] })
      .invoke(1, "lookup", { topic: "t", msgKey: "order-1", found: [] })
      .complete(0, "ok", { key: "t@b#0", value: "v1", keys: ["order-1"], offset: 0 })
      .complete(1, "ok", { topic: "t", msgKey: "order-1", found: [] })
      .build();
    expect(checkIndexMiss(h)).toBeNull();
  });

  it("does not require indeterminate, failed, rolled-back or other-topic sends", () => {
    const h = script()
      .send(0, "t@b#0", "v1", "info", { keys: ["k1"] })
      .send(2, "t@b#0", "v2", "fail", { keys: ["k1"] })
      .send(2, "t@b#0", "v3", "ok", { keys: ["k1"], txn: { outcome: "rollback" } })
      .send(2, "s@b#0", "v4", "ok", { keys: ["k1"] })
      .send(2, "t@b#0", "v5", "ok", { keys: ["k1"] })
      .lookup(1, "t", "k1", ["v5", "extra"])
      .lookup(1, "t", "k1", [], "fail")
      .build();
    expect(checkIndexMiss(h)).toBeNull();
  });
});
