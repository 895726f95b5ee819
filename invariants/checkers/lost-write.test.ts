import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkLostWrite } from "./lost-write.js";

const values = (a: ReturnType<typeof checkLostWrite>) => a?.examples.map((e) => (e as { value: string }).value);

describe("lost-write", () => {
  it("flags an acknowledged value the converged drain never read", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .send(0, "k", "v2", "ok", { offset: 1 })
      .poll(1, [["k", 1, "v2"]])
      .phase("drained")
      .build();
    const a = checkLostWrite(h);
    expect(a).toMatchObject({ type: "lost-write", count: 1 });
    expect(values(a)).toEqual(["v1"]);
    expect(a!.examples[0]).toMatchObject({ key: "k", value: "v1", offset: 0 });
  });

  it("flags, without a drain, an unread value below what consumers read (Jepsen's bound)", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .send(0, "k", "v2", "ok", { offset: 1 })
      .send(0, "k", "v3", "ok", { offset: 2 })
      .poll(1, [["k", 1, "v2"]])
      .build();
    const a = checkLostWrite(h);
    // v1 (index 0) is below the bound (index 1); v3 (index 2) is only unseen.
    expect(a).toMatchObject({ type: "lost-write", count: 1 });
    expect(values(a)).toEqual(["v1"]);
  });

  it("flags an acknowledged value without a known offset after a drain, and committed transactions", () => {
    const h = script()
      .send(0, "k", "v1", "ok")
      .send(0, "k", "v2", "ok", { offset: 1, txn: { outcome: "commit" } })
      .send(0, "k", "v3", "ok", { offset: 2 })
      .poll(1, [["k", 2, "v3"]])
      .phase("drained")
      .build();
    const a = checkLostWrite(h);
    expect(a).toMatchObject({ type: "lost-write", count: 2 });
    expect(values(a)).toEqual(["v1", "v2"]);
  });

  it("does not flag indeterminate, failed or rolled-back sends nobody read", () => {
    const h = script()
      .send(0, "k", "v1", "info", { offset: 0 })
      .send(1, "k", "v2", "fail")
      .send(1, "k", "v3", "ok", { offset: 1, txn: { outcome: "rollback" } })
      .send(1, "k", "v4", "ok", { offset: 2, txn: { outcome: "unknown" } })
      .send(1, "k", "v5", "ok", { offset: 3 })
      .poll(2, [["k", 3, "v5"]])
      .phase("drained")
      .build();
    expect(checkLostWrite(h)).toBeNull();
  });

  it("does not flag, without a drain, values above every read", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .send(0, "k", "v2", "ok", { offset: 1 })
      .poll(1, [["k", 0, "v1"]])
      .build();
    expect(checkLostWrite(h)).toBeNull();
  });

  it("does not flag a value read from the retry topic or the DLQ only", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .send(0, "k", "v2", "ok", { offset: 1 })
      .poll(1, [{ key: "%RETRY%g@b#0", topic: "%RETRY%g", offset: 0, value: "v1" }, ["k", 1, "v2"]])
      .poll(1, [{ key: "%DLQ%g@b#0", offset: 0, value: "v2", dlq: true }])
      .phase("drained")
      .build();
    expect(checkLostWrite(h)).toBeNull();
  });

  it("uses the bound rule when the drain timed out, even after a drained marker", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { offset: 0 })
      .send(0, "k", "v2", "ok", { offset: 1 })
      .poll(1, [["k", 0, "v1"]])
      .phase("drained")
      .phase("drain-timeout")
      .build();
    expect(checkLostWrite(h)).toBeNull();
  });

  it("caps examples but not the count", () => {
    const s = script();
    for (let i = 0; i < 20; i++) s.send(0, "k", `v${i}`, "ok", { offset: i });
    const h = s.phase("drained").build();
    const a = checkLostWrite(h, { maxExamples: 3 });
    expect(a).toMatchObject({ count: 20 });
    expect(values(a)).toEqual(["v0", "v1", "v2"]);
  });
});
