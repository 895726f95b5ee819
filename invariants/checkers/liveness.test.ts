import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkLiveness } from "./liveness.js";

describe("liveness", () => {
  it("flags a drain timeout and names the unread values per key", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .send(0, "k", "v2", "ok", { offset: 1 })
      .send(0, "j", "v3", "ok", { offset: 0 })
      .poll(1, [["k", 1, "v2"]])
      .phase("heal")
      .phase("drain")
      .phase("drain-timeout")
      .build();
    expect(checkLiveness(h)).toMatchObject({
      type: "liveness",
      count: 1,
      examples: [
        {
          unseen: [
            { key: "k", unseenCount: 1, values: ["v1"] },
            { key: "j", unseenCount: 1, values: ["v3"] },
          ],
        },
      ],
    });
  });

  it("flags a drain timeout even when every value was read", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .poll(1, [["k", 0, "v1"]])
      .phase("drain-timeout")
      .build();
    expect(checkLiveness(h)).toMatchObject({ count: 1, examples: [{ unseen: [] }] });
  });

  it("does not flag a converged drain", () => {
    const h = script().send(0, "k", "v1", "ok", { offset: 0 }).phase("drain").phase("drained").build();
    expect(checkLiveness(h)).toBeNull();
  });

  it("does not flag a run without drain markers", () => {
    const h = script().send(0, "k", "v1", "ok", { offset: 0 }).phase("workload").build();
    expect(checkLiveness(h)).toBeNull();
  });
});
