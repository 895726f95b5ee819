import { describe, expect, it } from "vitest";
import { script } from "../testing/dsl.js";
import { checkAbortedRead } from "./aborted-read.js";

describe("aborted-read", () => {
  it("flags a read of a value whose send failed", () => {
    const h = script().send(0, "k", "v1", "fail").poll(1, [["k", 0, "v1"]]).build();
    expect(checkAbortedRead(h)).toMatchObject({
      type: "aborted-read",
      count: 1,
      examples: [{ value: "v1", key: "k", offset: 0, reason: "send-failed", process: 1 }],
    });
  });

  it("flags a read of a rolled-back transactional message", () => {
    const h = script()
      .send(0, "k", "v2", "ok", { txn: { outcome: "rollback" } })
      .poll(1, [{ key: "%RETRY%g@b#0", topic: "%RETRY%g", offset: 0, value: "v2" }])
      .build();
    expect(checkAbortedRead(h)).toMatchObject({ count: 1, examples: [{ value: "v2", reason: "txn-rollback" }] });
  });

  it("counts distinct values, not reads", () => {
    const h = script()
      .send(0, "k", "v1", "fail")
      .send(0, "k", "v2", "fail")
      .poll(1, [
        ["k", 0, "v1"],
        ["k", 1, "v2"],
      ])
      .poll(2, [["k", 0, "v1"]])
      .build();
    const a = checkAbortedRead(h);
    expect(a).toMatchObject({ count: 2 });
    expect(a!.examples.map((e) => (e as { value: string }).value)).toEqual(["v1", "v2"]);
  });

  it("does not flag reads by polls that did not complete ok", () => {
    const h = script()
      .send(0, "k", "v1", "fail")
      .poll(1, [["k", 0, "v1"]], { type: "info" })
      .poll(2, [["k", 0, "v1"]], { type: "fail" })
      .build();
    expect(checkAbortedRead(h)).toBeNull();
  });

  it("does not flag committed, unknown-outcome or indeterminate sends", () => {
    const h = script()
      .send(0, "k", "v1", "ok", { txn: { outcome: "commit" } })
      .send(0, "k", "v2", "ok", { txn: { outcome: "unknown" } })
      .send(0, "k", "v3", "info")
      .poll(1, [
        ["k", 0, "v1"],
        ["k", 1, "v2"],
        ["k", 2, "v3"],
      ])
      .build();
    expect(checkAbortedRead(h)).toBeNull();
  });
});
