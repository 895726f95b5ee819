import { describe, expect, it } from "vitest";
import { allocateAveragely } from "./consumer.js";
import type { MessageQueue } from "./client.js";

const queues = (n: number, broker = "broker-a"): MessageQueue[] => Array.from({ length: n }, (_, i) => ({ topic: "T", brokerName: broker, queueId: i }));
const ids = (mqs: MessageQueue[]) => mqs.map((q) => `${q.brokerName}#${q.queueId}`);

describe("AllocateMessageQueueAveragely", () => {
  it("gives each client a contiguous block, the first ones one larger", () => {
    const mqs = queues(8);
    const cids = ["c1", "c2", "c3"];
    expect(ids(allocateAveragely(mqs, cids, "c1"))).toEqual(["broker-a#0", "broker-a#1", "broker-a#2"]);
    expect(ids(allocateAveragely(mqs, cids, "c2"))).toEqual(["broker-a#3", "broker-a#4", "broker-a#5"]);
    expect(ids(allocateAveragely(mqs, cids, "c3"))).toEqual(["broker-a#6", "broker-a#7"]);
  });

  it("covers every queue exactly once, for any number of clients", () => {
    const mqs = [...queues(4, "broker-b"), ...queues(4, "broker-a")];
    for (let n = 1; n <= 10; n++) {
      const cids = Array.from({ length: n }, (_, i) => `c${i}`).sort();
      const all = cids.flatMap((c) => ids(allocateAveragely(mqs, cids, c)));
      expect(all.sort()).toEqual(ids(mqs).sort());
    }
  });

  it("gives nothing to a client that is not in the list", () => {
    expect(allocateAveragely(queues(4), ["c1"], "c9")).toEqual([]);
  });
});
