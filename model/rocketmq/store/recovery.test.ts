import { describe, expect, it } from "vitest";
import type { AppendResult } from "./types.js";
import { bodyText, storeHarness, testMessage, type StoreHarness } from "./testing.js";

const bodies = (h: StoreHarness, queueId = 0) => h.store.getMessage("g", "TopicTest", queueId, 0, 32).messages.map((m) => bodyText(m.body).replace(/a+$/, ""));

describe("recovery after a process crash", () => {
  it("keeps everything in the page cache, including what was never flushed or dispatched", () => {
    const h = storeHarness();
    h.at(1_000_000, () => {
      for (let i = 0; i < 20; i++) h.store.putMessage(testMessage(i));
    });
    // Crash between the append and the dispatch (1 ms later).
    h.runUntil(1_000_500);
    expect(h.store.getMaxOffsetInQueue("TopicTest", 0)).toBe(0);
    const max = h.store.getMaxPhyOffset();
    h.crash("process");
    const s = h.restart();
    expect(s.recovery).toEqual({ mode: "abnormal", maxOffset: max });
    expect(s.getMaxOffsetInQueue("TopicTest", 0)).toBe(20);
    expect(bodies(h)).toEqual(Array.from({ length: 20 }, (_, i) => `body-${i}`));
    expect(s.queryMessageByKey("TopicTest", "k13", 5).length).toBe(1);
  });
});

describe("recovery after power loss", () => {
  it("keeps only what fsync (or writeback) made durable", () => {
    const h = storeHarness({ disk: { tearProbability: 0 } });
    h.at(1_000_000, () => {
      for (let i = 0; i < 10; i++) h.store.putMessage(testMessage(i));
    });
    // The thorough flush (the round that starts at 10 s and flushes at 10.5 s) makes those ten durable.
    h.runUntil(10_600_000);
    const durable = h.store.getFlushedWhere();
    expect(durable).toBe(h.store.getMaxPhyOffset());
    h.at(11_000_000, () => {
      for (let i = 10; i < 15; i++) h.store.putMessage(testMessage(i));
    });
    h.runUntil(12_000_000);
    h.crash("power");
    const s = h.restart();
    expect(s.recovery).toEqual({ mode: "abnormal", maxOffset: durable });
    expect(s.getMaxOffsetInQueue("TopicTest", 0)).toBe(10);
    expect(bodies(h)).toEqual(Array.from({ length: 10 }, (_, i) => `body-${i}`));
    // Queue offsets continue from what survived.
    expect(s.putMessage(testMessage(99)).appendResult!.queueOffset).toBe(10);
  });

  it("truncates a torn tail record exactly at the end of the last valid one", () => {
    const h = storeHarness({ store: { flushDiskType: "SYNC_FLUSH" }, disk: { tearProbability: 1 } });
    const acked: AppendResult[] = [];
    for (let i = 0; i < 5; i++) h.at(1_000_000 + i * 10_000, () => h.store.putMessageAndWait(testMessage(i, { bodyBytes: 700 }), (r) => acked.push(r.appendResult!)));
    let torn: AppendResult | null = null;
    // A large message nobody waits for, cut by the power loss 0.1 ms later: its last page is torn.
    h.at(2_000_000, () => (torn = h.store.putMessage(testMessage(5, { bodyBytes: 9000, properties: { WAIT: "false" } })).appendResult));
    h.runUntil(2_000_100);
    expect(acked.length).toBe(5);
    h.crash("power");
    const disk = h.world.node("broker").disk;
    // Part of the torn record reached the platter (a prefix of its last page), the rest did not.
    const onDisk = disk.readAll("store/commitlog/00000000000000000000");
    expect(onDisk.length).toBeGreaterThan(torn!.wroteOffset);
    const tail = onDisk.subarray(torn!.wroteOffset);
    expect(tail.some((b) => b !== 0)).toBe(true);
    expect(tail.subarray(0, 8).every((b) => b === 0)).toBe(true);
    const s = h.restart();
    expect(s.recovery).toEqual({ mode: "abnormal", maxOffset: torn!.wroteOffset, truncatedFrom: torn!.wroteOffset });
    const last = acked[4]!;
    expect(last.wroteOffset + last.wroteBytes).toBe(torn!.wroteOffset);
    expect(s.getMaxOffsetInQueue("TopicTest", 0)).toBe(5);
    // The next message goes where the torn one was.
    expect(s.putMessage(testMessage(6)).appendResult!.wroteOffset).toBe(torn!.wroteOffset);
  });

  it("trims consume queue units that point past the recovered CommitLog", () => {
    const h = storeHarness({ disk: { tearProbability: 0 } });
    let v: AppendResult | null = null;
    let w: AppendResult | null = null;
    // V is flushed by the first (thorough) FlushRealTimeService round at 0.5 s; W, 3 pages, waits for 4 pages or 10 s.
    h.at(200_000, () => (v = h.store.putMessage(testMessage(1)).appendResult));
    h.at(600_000, () => (w = h.store.putMessage(testMessage(2, { bodyBytes: 10_000 })).appendResult));
    // The consume queue's first (thorough) flush at 1 s makes both units durable.
    h.runUntil(3_000_000);
    expect(h.store.getFlushedWhere()).toBe(v!.wroteOffset + v!.wroteBytes);
    expect(h.store.getMaxOffsetInQueue("TopicTest", 0)).toBe(2);
    h.crash("power");
    const s = h.restart();
    expect(s.recovery.maxOffset).toBe(w!.wroteOffset);
    expect(s.getMaxOffsetInQueue("TopicTest", 0)).toBe(1);
    expect(bodies(h)).toEqual(["body-1"]);
  });
});

describe("recovery after disk loss", () => {
  it("comes back empty", () => {
    const h = storeHarness({ store: { flushDiskType: "SYNC_FLUSH" } });
    for (let i = 0; i < 10; i++) h.at(1_000 + i * 1_000, () => h.store.putMessageAndWait(testMessage(i), () => {}));
    h.runUntil(60_000_000);
    h.crash("disk");
    const s = h.restart();
    expect(s.recovery).toEqual({ mode: "normal", maxOffset: 0 });
    expect(s.getMaxOffsetInQueue("TopicTest", 0)).toBe(0);
    expect(s.getMessage("g", "TopicTest", 0, 0, 32).status).toBe("NO_MESSAGE_IN_QUEUE");
    expect(s.putMessage(testMessage(1)).appendResult!.wroteOffset).toBe(0);
  });
});

describe("normal vs abnormal recovery", () => {
  it("is chosen by the abort file: a clean shutdown deletes it, every boot creates it", () => {
    const h = storeHarness();
    const disk = h.world.node("broker").disk;
    expect(disk.exists("store/abort")).toBe(true);
    h.store.putMessage(testMessage(1));
    let clean: boolean | null = null;
    h.store.shutdown((c) => (clean = c));
    h.runUntil(999_999);
    expect(clean).toBeNull();
    h.runUntil(2_000_000);
    expect(clean).toBe(true);
    expect(disk.exists("store/abort")).toBe(false);
    // Everything was flushed on the way out.
    expect(h.store.getFlushedWhere()).toBe(h.store.getMaxPhyOffset());
    h.crash("process");
    expect(h.restart().recovery.mode).toBe("normal");
    expect(disk.exists("store/abort")).toBe(true);
    h.crash("process");
    expect(h.restart().recovery.mode).toBe("abnormal");
  });

  it("normal recovery checks CRCs from the third-to-last file and cuts everything after the first bad record", () => {
    const probe = storeHarness();
    const size = probe.store.putMessage(testMessage(0, { bodyBytes: 100 })).appendResult!.wroteBytes;
    const h = storeHarness({ store: { mappedFileSizeCommitLog: 2 * size + 8 } });
    const results: AppendResult[] = [];
    for (let i = 0; i < 10; i++) results.push(h.store.putMessage(testMessage(i, { bodyBytes: 100 })).appendResult!);
    h.runUntil(10_000);
    h.store.shutdown();
    h.runUntil(3_000_000);
    h.crash("process");
    const disk = h.world.node("broker").disk;
    const files = h.store.commitLog.queue.files.map((f) => f.name);
    expect(files.length).toBe(5);
    // A flipped body byte in the oldest file is not looked at (recovery starts at the third-to-last file)...
    disk.corrupt(files[0]!, 100, 1);
    // ...but one in message 5 (the third-to-last file's second record) is, and cuts it and everything after.
    disk.corrupt(files[2]!, size + 100, 1);
    const s = h.restart();
    expect(s.recovery).toEqual({ mode: "normal", maxOffset: results[5]!.wroteOffset, truncatedFrom: results[5]!.wroteOffset });
    expect(s.commitLog.queue.files.length).toBe(3);
    expect(s.getMaxOffsetInQueue("TopicTest", 0)).toBe(5);
    expect(s.getMessage("g", "TopicTest", 0, 0, 32).messages.length).toBe(5);
  });

  it("abnormal recovery deletes index files newer than the checkpoint and rebuilds them from the replayed files", () => {
    const h = storeHarness();
    h.at(1_000_000, () => {
      for (let i = 0; i < 5; i++) h.store.putMessage(testMessage(i));
    });
    h.runUntil(1_010_000);
    const before = h.store.indexService.files.map((f) => f.name);
    expect(before.length).toBe(1);
    h.runUntil(5_000_000);
    h.crash("process");
    const s = h.restart();
    expect(s.indexService.files.length).toBe(1);
    expect(s.indexService.files[0]!.name).not.toBe(before[0]);
    expect(s.queryMessageByKey("TopicTest", "k3", 5).map((m) => bodyText(m.body))).toEqual(["body-3"]);
  });
});
