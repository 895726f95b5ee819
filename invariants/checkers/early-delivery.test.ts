import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkEarlyDelivery } from "./early-delivery.js";

describe("early-delivery", () => {
  it("flags a delayed message delivered before invoke time + delayMs", () => {
    const h = script()
      .at(0)
      .send(0, "k", "v1", "ok", { delayMs: 10 })
      .at(5000)
      .poll(1, [["k", 0, "v1"]])
      .build();
    expect(checkEarlyDelivery(h)).toMatchObject({
      type: "early-delivery",
      count: 1,
      examples: [{ value: "v1", delayMs: 10, dueUs: 10_000, deliveredUs: 5001, earlyByUs: 4999 }],
    });
  });

  it("flags a delivery one microsecond early, once per value", () => {
    const h = script()
      .at(0)
      .send(0, "k", "v1", "ok", { delayMs: 10 })
      .at(9998)
      .poll(1, [["k", 0, "v1"]])
      .poll(2, [["k", 0, "v1"]])
      .build();
    expect(checkEarlyDelivery(h)).toMatchObject({ count: 1, examples: [{ value: "v1", deliveredUs: 9999 }] });
  });

  it("flags several early values", () => {
    const h = script()
      .at(0)
      .send(0, "k", "v1", "ok", { delayMs: 1 })
      .send(0, "k", "v2", "info", { delayMs: 1 })
      .poll(1, [
        ["k", 0, "v1"],
        ["k", 1, "v2"],
      ])
      .build();
    expect(checkEarlyDelivery(h)).toMatchObject({ count: 2 });
  });

  it("does not flag a delivery at the due time, nor undelayed messages", () => {
    const h = script()
      .at(0)
      .send(0, "k", "v1", "ok", { delayMs: 10 })
      .send(0, "k", "v2", "ok")
      .at(9999)
      .poll(1, [
        ["k", 0, "v1"],
        ["k", 1, "v2"],
      ])
      .build();
    expect(h.ops.at(-1)!.timeUs).toBe(10_000);
    expect(checkEarlyDelivery(h)).toBeNull();
  });

  it("tolerates earlyDeliveryToleranceMs (RocketMQ 5 timer precision)", () => {
    const h = script()
      .at(0)
      .send(0, "k", "v1", "ok", { delayMs: 3000 })
      .at(2_500_000)
      .poll(1, [["k", 0, "v1"]])
      .poll(2, [["k", 0, "v1"]], { type: "info" })
      .build();
    expect(checkEarlyDelivery(h, { earlyDeliveryToleranceMs: 1000 })).toBeNull();
    expect(checkEarlyDelivery(h)).toMatchObject({ count: 1 });
  });
});
