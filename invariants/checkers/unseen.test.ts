import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkUnseen } from "./unseen.js";

const values = (a: ReturnType<typeof checkUnseen>) => a?.examples.map((e) => (e as { value: string }).value);

describe("unseen", () => {
  it("flags acknowledged values above every read when the run did not drain", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .send(0, "k", "v2", "ok", { offset: 1 })
      .send(0, "j", "v3", "ok", { offset: 0 })
      .poll(1, [["k", 0, "v1"]])
      .build();
    const a = checkUnseen(h);
    expect(a).toMatchObject({ type: "unseen", count: 2 });
    expect(values(a)).toEqual(["v2", "v3"]);
    expect(a!.message).toContain("k: 1, j: 1");
  });

  it("flags a value read only by a poll that did not complete ok", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .poll(1, [["k", 0, "v1"]], { type: "info" })
      .phase("drain-timeout")
      .build();
    const a = checkUnseen(h);
    expect(a).toMatchObject({ type: "unseen", count: 1 });
    expect(values(a)).toEqual(["v1"]);
  });

  it("does not flag after a converged drain (unread values are lost-write then)", () => {
    const h = script().send(0, "k", "v1", "ok", { offset: 0 }).phase("drained").build();
    expect(checkUnseen(h)).toBeNull();
  });

  it("does not repeat values already lost by the bound rule, nor unread info sends", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .send(0, "k", "v2", "ok", { offset: 1 })
      .send(0, "k", "v3", "info")
      .poll(1, [["k", 1, "v2"]])
      .build();
    expect(checkUnseen(h)).toBeNull();
  });

  it("does not flag when every acknowledged value was read", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .poll(1, [["k", 0, "v1"]])
      .build();
    expect(checkUnseen(h)).toBeNull();
  });
});
