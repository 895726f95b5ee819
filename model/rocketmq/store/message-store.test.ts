import { describe, expect, it } from "vitest";
import { javaStringHashCode } from "./codec.js";
import { bodyText, storeHarness, testMessage, type StoreHarness } from "./testing.js";

/** A message whose encoded size does not depend on n for n < 10. */
const fixed = (n: number) => testMessage(n, { bodyBytes: 100 });

function fill(h: StoreHarness, count: number, topic = "TopicTest", queueId = 0): void {
  for (let i = 0; i < count; i++) expect(h.store.putMessage(testMessage(i, { topic, queueId })).status).toBe("PUT_OK");
  h.runUntil(h.world.sim.now + 10_000);
}

/** Stops the store cleanly and boots it again (normal recovery), applying `meddle` to the disk while it is down. */
function cleanRestart(h: StoreHarness, meddle: () => void = () => {}): void {
  h.store.shutdown();
  h.runUntil(h.world.sim.now + 2_000_000);
  h.crash("process");
  meddle();
  h.restart();
}

describe("getMessage", () => {
  it("FOUND: reads the consume queue then the CommitLog, up to maxMsgNums", () => {
    const h = storeHarness();
    fill(h, 40);
    const r = h.store.getMessage("g", "TopicTest", 0, 5, 10);
    expect(r.status).toBe("FOUND");
    expect(r.messages.map((m) => bodyText(m.body))).toEqual(Array.from({ length: 10 }, (_, i) => `body-${i + 5}`));
    expect(r.messages.map((m) => m.queueOffset)).toEqual(Array.from({ length: 10 }, (_, i) => i + 5));
    expect([r.nextBeginOffset, r.minOffset, r.maxOffset]).toEqual([15, 0, 40]);
    expect(r.suggestPullingFromSlave).toBe(false);
  });

  it("caps a batch at maxTransferCountOnMessageInMemory, or the smaller on-disk limits when the consumer lags far behind", () => {
    const h = storeHarness();
    fill(h, 40);
    expect(h.store.getMessage("g", "TopicTest", 0, 0, 100).messages.length).toBe(32);
    // With (say) 1 KiB of RAM everything is "on disk": 8 messages, and a hint to pull from the slave.
    const lagging = storeHarness({ store: { totalPhysicalMemorySizeBytes: 1024 } });
    fill(lagging, 40);
    const r = lagging.store.getMessage("g", "TopicTest", 0, 0, 100);
    expect(r.messages.length).toBe(8);
    expect(r.nextBeginOffset).toBe(8);
    expect(r.suggestPullingFromSlave).toBe(true);
  });

  it("NO_MESSAGE_IN_QUEUE for an empty or unknown queue", () => {
    const h = storeHarness();
    const r = h.store.getMessage("g", "Nothing", 3, 7, 32);
    expect([r.status, r.nextBeginOffset, r.minOffset, r.maxOffset]).toEqual(["NO_MESSAGE_IN_QUEUE", 0, 0, 0]);
  });

  it("OFFSET_OVERFLOW_ONE at the end of the queue, OFFSET_OVERFLOW_BADLY past it", () => {
    const h = storeHarness();
    fill(h, 5);
    const one = h.store.getMessage("g", "TopicTest", 0, 5, 32);
    expect([one.status, one.nextBeginOffset, one.messages.length]).toEqual(["OFFSET_OVERFLOW_ONE", 5, 0]);
    const badly = h.store.getMessage("g", "TopicTest", 0, 9, 32);
    expect([badly.status, badly.nextBeginOffset]).toEqual(["OFFSET_OVERFLOW_BADLY", 5]);
  });

  it("NO_MATCHED_MESSAGE when the tag filter rejects every unit scanned; the offset still moves on", () => {
    const h = storeHarness();
    fill(h, 5);
    const tagB = javaStringHashCode("TagB");
    const r = h.store.getMessage("g", "TopicTest", 0, 1, 32, (code) => code === tagB);
    expect([r.status, r.nextBeginOffset, r.messages.length]).toEqual(["NO_MATCHED_MESSAGE", 5, 0]);
    const tagA = javaStringHashCode("TagA");
    expect(h.store.getMessage("g", "TopicTest", 0, 1, 32, (code) => code === tagA).status).toBe("FOUND");
  });

  it("OFFSET_FOUND_NULL when the consume queue file holding the offset is gone", () => {
    const h = storeHarness({ store: { mappedFileSizeConsumeQueue: 60 } });
    fill(h, 9);
    cleanRestart(h, () => h.world.node("broker").disk.remove(`store/consumequeue/TopicTest/0/${String(60).padStart(20, "0")}`));
    const r = h.store.getMessage("g", "TopicTest", 0, 4, 32);
    expect([r.status, r.nextBeginOffset, r.minOffset, r.maxOffset]).toEqual(["OFFSET_FOUND_NULL", 6, 0, 9]);
    expect(h.store.getMessage("g", "TopicTest", 0, 6, 32).status).toBe("FOUND");
  });

  it("MESSAGE_WAS_REMOVING when the CommitLog file a consume queue points into is gone", () => {
    // Three fixed-size messages per CommitLog file and per consume queue file.
    const probe = storeHarness();
    const size = probe.store.putMessage(fixed(0)).appendResult!.wroteBytes;
    const h = storeHarness({ store: { mappedFileSizeCommitLog: 3 * size + 8, mappedFileSizeConsumeQueue: 60 } });
    for (let i = 0; i < 9; i++) h.store.putMessage(fixed(i));
    h.runUntil(10_000);
    expect(h.store.commitLog.queue.files.length).toBe(3);
    const second = h.store.commitLog.queue.files[1]!.name;
    cleanRestart(h, () => h.world.node("broker").disk.remove(second));
    const r = h.store.getMessage("g", "TopicTest", 0, 3, 32);
    expect([r.status, r.nextBeginOffset, r.messages.length]).toEqual(["MESSAGE_WAS_REMOVING", 6, 0]);
    expect(h.store.getMessage("g", "TopicTest", 0, 6, 32).status).toBe("FOUND");
  });

  it("OFFSET_TOO_SMALL below the queue's minimum, which follows the CommitLog's first file", () => {
    const probe = storeHarness();
    const size = probe.store.putMessage(fixed(0)).appendResult!.wroteBytes;
    const h = storeHarness({ store: { mappedFileSizeCommitLog: 3 * size + 8 } });
    for (let i = 0; i < 9; i++) h.store.putMessage(fixed(i));
    h.runUntil(10_000);
    // As when retention deletes the oldest file: correctMinOffset moves each queue's minimum past it.
    const first = h.store.commitLog.queue.files[0]!.name;
    cleanRestart(h, () => h.world.node("broker").disk.remove(first));
    expect(h.store.getMinPhyOffset()).toBe(3 * size + 8);
    const r = h.store.getMessage("g", "TopicTest", 0, 1, 32);
    expect([r.status, r.nextBeginOffset, r.minOffset, r.maxOffset]).toEqual(["OFFSET_TOO_SMALL", 3, 3, 9]);
  });

  it("rebuilds a lost consume queue from where abnormal recovery starts: padded with blank units, which reads skip", () => {
    const probe = storeHarness();
    const size = probe.store.putMessage(fixed(0)).appendResult!.wroteBytes;
    const h = storeHarness({ store: { mappedFileSizeCommitLog: 3 * size + 8 } });
    for (let i = 0; i < 10; i++) h.at((i + 1) * 1_000_000, () => h.store.putMessage(fixed(i)));
    // The thorough consume-queue flush at ~61 s writes a checkpoint of 10 s: recovery starts at the file whose first message is at most 7 s old.
    h.runUntil(70_000_000);
    h.crash("process");
    const disk = h.world.node("broker").disk;
    for (const f of disk.list("store/consumequeue/")) disk.remove(f);
    const s = h.restart();
    expect(s.recovery.mode).toBe("abnormal");
    // Messages 0-5 sit in files recovery did not replay: the queue starts at 6, behind blank units (0, Integer.MAX_VALUE, 0).
    // recoverTopicQueueTable's correctMinOffset then takes the first unit at or past CommitLog offset 0 — a blank one —
    // so the minimum reads 0, as in the real store, and a pull from 0 skips the blanks (MESSAGE_WAS_REMOVING, then found).
    const r = s.getMessage("g", "TopicTest", 0, 0, 32);
    expect([r.status, r.minOffset, r.maxOffset, r.nextBeginOffset]).toEqual(["FOUND", 0, 10, 10]);
    expect(r.messages.map((m) => bodyText(m.body).slice(0, 6))).toEqual(["body-6", "body-7", "body-8", "body-9"]);
    // New messages continue the queue.
    expect(s.putMessage(fixed(0)).appendResult!.queueOffset).toBe(10);
  });

  it("a slave does not correct a bad offset (offsetCheckInSlave = false)", () => {
    const h = storeHarness({ store: { brokerRole: "SLAVE" } });
    const r = h.store.getMessage("g", "TopicTest", 0, 7, 32);
    expect([r.status, r.nextBeginOffset]).toEqual(["NO_MESSAGE_IN_QUEUE", 7]);
  });
});

describe("putMessage", () => {
  it("refuses puts on a slave and once shutdown has begun: SERVICE_NOT_AVAILABLE", () => {
    expect(storeHarness({ store: { brokerRole: "SLAVE" } }).store.putMessage(testMessage(1)).status).toBe("SERVICE_NOT_AVAILABLE");
    const h = storeHarness();
    h.store.shutdown();
    expect(h.store.putMessage(testMessage(1))).toEqual({ status: "SERVICE_NOT_AVAILABLE", appendResult: null });
  });

  it("MESSAGE_ILLEGAL for a topic over 127 characters, a body over maxMessageSize, or properties over 32767 characters", () => {
    const h = storeHarness({ store: { maxMessageSize: 1000 } });
    expect(h.store.putMessage(testMessage(1, { topic: "t".repeat(128) })).status).toBe("MESSAGE_ILLEGAL");
    expect(h.store.putMessage(testMessage(1, { topic: "t".repeat(127) })).status).toBe("PUT_OK");
    expect(h.store.putMessage(testMessage(1, { bodyBytes: 1001 })).status).toBe("MESSAGE_ILLEGAL");
    expect(h.store.putMessage(testMessage(1, { properties: { K: "v".repeat(32766) } })).status).toBe("MESSAGE_ILLEGAL");
    expect(h.store.putMessage(testMessage(1, { bodyBytes: 1000 })).status).toBe("PUT_OK");
  });

  it("PROPERTIES_SIZE_EXCEEDED when the properties fit in characters but not in UTF-8 bytes", () => {
    const h = storeHarness();
    const r = h.store.putMessage(testMessage(1, { properties: { K: "\u00e9".repeat(20_000) } }));
    expect(r).toEqual({ status: "PROPERTIES_SIZE_EXCEEDED", appendResult: null });
    expect(h.store.getMaxPhyOffset()).toBe(0);
  });

  it("rewrites a delayed message to SCHEDULE_TOPIC_XXXX, queue level-1, tagged with its delivery time", () => {
    const h = storeHarness();
    let stored = null as ReturnType<typeof h.store.putMessage> | null;
    h.at(5_000_000, () => (stored = h.store.putMessage(testMessage(1, { properties: { DELAY: "3", TAGS: "TagA" } }))));
    h.runUntil(5_010_000);
    const ar = stored!.appendResult!;
    expect([ar.topic, ar.queueId, ar.queueOffset]).toEqual(["SCHEDULE_TOPIC_XXXX", 2, 0]);
    expect(h.store.getMaxOffsetInQueue("TopicTest", 0)).toBe(0);
    const r = h.store.getMessage("g", "SCHEDULE_TOPIC_XXXX", 2, 0, 32);
    const m = r.messages[0]!;
    expect(m.properties).toMatchObject({ REAL_TOPIC: "TopicTest", REAL_QID: "0", DELAY: "3" });
    // Level 3 is 10 s (messageDelayLevel "1s 5s 10s ...").
    expect(m.tagsCode).toBe(5_000 + 10_000);
    const filtered = h.store.getMessage("g", "SCHEDULE_TOPIC_XXXX", 2, 0, 32, (deliverAt) => deliverAt === 15_000);
    expect(filtered.status).toBe("FOUND");
    // Levels past the last are capped.
    expect(h.store.putMessage(testMessage(2, { properties: { DELAY: "99" } })).appendResult!.queueId).toBe(17);
  });

  it("emits store.append with the assigned offsets", () => {
    const h = storeHarness();
    const seen: unknown[] = [];
    h.world.sim.onTrace((ev) => {
      if (ev.kind === "store.append") seen.push(ev.details);
    });
    h.store.putMessage(testMessage(1));
    const second = h.store.putMessage(testMessage(2)).appendResult!;
    expect(seen[1]).toEqual({ topic: "TopicTest", queueId: 0, queueOffset: 1, offset: second.wroteOffset, size: second.wroteBytes });
    expect(second.msgId).toBe(h.store.lookupMessageByOffset(second.wroteOffset)!.msgId);
  });
});

describe("dispatch (ReputMessageService)", () => {
  it("builds the consume queue 1 ms after the append and tells the listeners", () => {
    const h = storeHarness();
    const calls: Array<[string, number, number, number]> = [];
    h.store.onDispatch((topic, queueId, maxOffset) => calls.push([topic, queueId, maxOffset, h.world.sim.now]));
    h.at(2_000_000, () => {
      h.store.putMessage(testMessage(1));
      h.store.putMessage(testMessage(2, { queueId: 1 }));
    });
    h.runUntil(2_000_999);
    expect(h.store.getMaxOffsetInQueue("TopicTest", 0)).toBe(0);
    h.runUntil(2_001_000);
    expect(calls).toEqual([
      ["TopicTest", 0, 1, 2_001_000],
      ["TopicTest", 1, 1, 2_001_000],
    ]);
    expect(h.store.dispatchBehindBytes()).toBe(0);
  });

  it("costs no events while idle", () => {
    const h = storeHarness();
    h.runUntil(1_000_000);
    const before = h.world.sim.eventsRun;
    h.runUntil(101_000_000);
    // Only the periodic services: the CommitLog flusher (2/s), the consume queue flusher (1/s) and the disk's own writeback.
    expect(h.world.sim.eventsRun - before).toBeLessThan(100 * 3 + 50);
  });
});

describe("determinism", () => {
  it("gives the same trace for the same seed", () => {
    const digest = () => {
      const h = storeHarness({ seed: 7, store: { flushDiskType: "SYNC_FLUSH", mappedFileSizeCommitLog: 4096 } });
      for (let i = 0; i < 50; i++) h.at(i * 3_000, () => h.store.putMessageAndWait(testMessage(i), () => {}));
      h.runUntil(1_000_000);
      h.crash("power");
      h.restart();
      h.runUntil(2_000_000);
      return h.world.sim.traceDigest;
    };
    expect(digest()).toBe(digest());
  });
});
