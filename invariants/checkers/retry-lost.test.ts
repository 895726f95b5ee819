import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkRetryLost } from "./retry-lost.js";

const retryRead = (value: string, offset: number, reconsumeTimes: number) => ({
  key: "%RETRY%g@b#0",
  topic: "%RETRY%g",
  offset,
  value,
  reconsumeTimes,
});

describe("retry-lost", () => {
  it("flags a failed message never delivered again", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .poll(1, [["k", 0, "v1"]])
      .consumeFail(1, "g", "k", 0, "v1", 0)
      .phase("drained")
      .build();
    expect(checkRetryLost(h)).toMatchObject({
      type: "retry-lost",
      count: 1,
      examples: [{ group: "g", value: "v1", reconsumeTimes: 0, needed: "redelivery" }],
    });
  });

  it("flags a message past the maximum that was redelivered instead of dead-lettered", () => {
    const h = script()
      .poll(1, [retryRead("v1", 40, 16)])
      .consumeFail(1, "g", "%RETRY%g@b#0", 40, "v1", 16)
      .poll(1, [retryRead("v1", 41, 17)])
      .phase("drained")
      .build();
    expect(checkRetryLost(h)).toMatchObject({ count: 1, examples: [{ value: "v1", needed: "dlq" }] });
  });

  it("flags a redelivery seen only by another group, or a read before the failure", () => {
    const h = script()
      .poll(1, [["k", 0, "v1"]])
      .poll(2, [retryRead("v2", 0, 1)])
      .consumeFail(1, "g", "k", 0, "v1", 0)
      .consumeFail(2, "g", "%RETRY%g@b#0", 0, "v2", 1)
      .poll(3, [
        ["k", 0, "v1"],
        ["k", 1, "v2"],
      ], { group: "other" })
      .phase("drained")
      .build();
    const a = checkRetryLost(h);
    expect(a).toMatchObject({ count: 2 });
    expect(a!.examples.map((e) => (e as { value: string }).value)).toEqual(["v1", "v2"]);
  });

  it("does not flag a redelivery through the retry topic, or a dead letter past the maximum", () => {
    const h = script()
      .poll(1, [["k", 0, "v1"]])
      .consumeFail(1, "g", "k", 0, "v1", 0)
      .poll(1, [retryRead("v1", 0, 1)])
      .poll(1, [retryRead("v2", 1, 16)])
      .consumeFail(1, "g", "%RETRY%g@b#0", 1, "v2", 16)
      .poll(2, [{ key: "%DLQ%g@b#0", topic: "%DLQ%g", offset: 0, value: "v2" }], { group: "admin" })
      .phase("drained")
      .build();
    expect(checkRetryLost(h)).toBeNull();
  });

  it("honours maxReconsumeTimes", () => {
    const h = script()
      .poll(1, [retryRead("v1", 0, 1)])
      .consumeFail(1, "g", "%RETRY%g@b#0", 0, "v1", 1)
      .poll(1, [retryRead("v1", 1, 2)])
      .phase("drained")
      .build();
    // With the default maximum (16) a redelivery is right; with 1 it needed the DLQ.
    expect(checkRetryLost(h)).toBeNull();
    expect(checkRetryLost(h, { maxReconsumeTimes: 1 })).toMatchObject({ count: 1, examples: [{ value: "v1", needed: "dlq" }] });
  });

  it("accepts a DLQ read that names no topic, and waits for a converged drain", () => {
    const deadLettered = script()
      .poll(1, [retryRead("v1", 0, 1)])
      .consumeFail(1, "g", "%RETRY%g@b#0", 0, "v1", 1)
      .poll(2, [{ key: "x", offset: 0, value: "v1", dlq: true }])
      .phase("drained")
      .build();
    expect(checkRetryLost(deadLettered, { maxReconsumeTimes: 1 })).toBeNull();
    const notDrained = script().poll(1, [["k", 0, "v1"]]).consumeFail(1, "g", "k", 0, "v1", 0).phase("drain-timeout").build();
    expect(checkRetryLost(notDrained)).toBeNull();
  });
});
