import { describe, expect, it } from "vitest";
import type { PutMessageResult } from "./types.js";
import { storeHarness, testMessage } from "./testing.js";

const CL0 = "store/commitlog/00000000000000000000";

describe("SYNC_FLUSH: GroupCommitService", () => {
  it("answers PUT_OK only once the fsync covering the message has completed", () => {
    const h = storeHarness({ store: { flushDiskType: "SYNC_FLUSH" }, disk: { fsyncLatencyUs: 2000 } });
    const disk = h.world.node("broker").disk;
    let result: PutMessageResult | null = null;
    let atUs = -1;
    h.at(1_000_000, () =>
      h.store.putMessageAndWait(testMessage(1), (r) => {
        result = r;
        atUs = h.world.sim.now;
      }),
    );
    h.runUntil(1_001_999);
    expect(result).toBeNull();
    expect(disk.durableContent(CL0)?.length ?? 0).toBe(0);
    h.runUntil(1_010_000);
    expect(result!.status).toBe("PUT_OK");
    expect(atUs).toBe(1_002_000);
    const end = result!.appendResult!.wroteOffset + result!.appendResult!.wroteBytes;
    expect(disk.durableContent(CL0)!.length).toBe(end);
    expect(h.store.getFlushedWhere()).toBe(end);
  });

  it("answers FLUSH_DISK_TIMEOUT after syncFlushTimeout when the fsync is slow; the message is stored anyway", () => {
    const h = storeHarness({ store: { flushDiskType: "SYNC_FLUSH" } });
    const disk = h.world.node("broker").disk;
    disk.slowDown(10_000_000, 6_000_000);
    const seen: Array<[string, number]> = [];
    h.at(1_000_000, () => h.store.putMessageAndWait(testMessage(1), (r) => seen.push([r.status, h.world.sim.now])));
    h.runUntil(5_999_999);
    expect(seen).toEqual([]);
    h.runUntil(6_000_000);
    expect(seen).toEqual([["FLUSH_DISK_TIMEOUT", 6_000_000]]);
    // Stored: 4.x dispatches up to the write position, so consumers already see it.
    expect(h.store.getMessage("g", "TopicTest", 0, 0, 32).status).toBe("FOUND");
    expect(disk.durableContent(CL0)?.length ?? 0).toBe(0);
    // The fsync finishes at 1 s + 0.5 ms + 6 s; no second answer is given.
    h.runUntil(8_000_000);
    expect(h.store.getFlushedWhere()).toBe(h.store.getMaxPhyOffset());
    expect(disk.durableContent(CL0)!.length).toBe(h.store.getMaxPhyOffset());
    expect(seen.length).toBe(1);
  });

  it("commits a group: puts that arrive during an fsync share the next one", () => {
    const h = storeHarness({ store: { flushDiskType: "SYNC_FLUSH" }, disk: { fsyncLatencyUs: 5000 } });
    const disk = h.world.node("broker").disk;
    const done: string[] = [];
    // Between two rounds of the consume queue flusher (every 1 s), whose checkpoint fsync would count too.
    for (let i = 0; i < 50; i++) h.at(1_500_000 + i * 100, () => h.store.putMessageAndWait(testMessage(i), (r) => done.push(r.status)));
    h.runUntil(1_499_999);
    const before = disk.fsyncs;
    h.runUntil(1_600_000);
    expect(done.length).toBe(50);
    expect(done.every((s) => s === "PUT_OK")).toBe(true);
    // One fsync for the first put, one for the 49 that queued behind it.
    expect(disk.fsyncs - before).toBe(2);
  });

  it("answers FLUSH_DISK_TIMEOUT at once when two flushes do not reach the message (it sits two files ahead)", () => {
    // Each message fills a file, and the group commit flushes one file per flush, twice per request.
    const h = storeHarness({ store: { flushDiskType: "SYNC_FLUSH", mappedFileSizeCommitLog: 512 } });
    const seen: Array<[string, number]> = [];
    h.at(1_000_000, () => {
      h.store.putMessage(testMessage(1, { bodyBytes: 300, properties: { WAIT: "false" } }));
      h.store.putMessage(testMessage(2, { bodyBytes: 300, properties: { WAIT: "false" } }));
      h.store.putMessageAndWait(testMessage(3, { bodyBytes: 300 }), (r) => seen.push([r.status, h.world.sim.now]));
    });
    h.runUntil(1_100_000);
    expect(h.store.commitLog.queue.files.length).toBe(3);
    // Two fsyncs of 0.5 ms each, then the verdict; the message is stored and flushed by the next round.
    expect(seen).toEqual([["FLUSH_DISK_TIMEOUT", 1_001_000]]);
    expect(h.store.getFlushedWhere()).toBe(h.store.getMaxPhyOffset());
  });

  it("does not make a put with WAIT=false wait, but still flushes it soon", () => {
    const h = storeHarness({ store: { flushDiskType: "SYNC_FLUSH" }, disk: { fsyncLatencyUs: 2000 } });
    let status = "";
    h.at(1_000_000, () => h.store.putMessageAndWait(testMessage(1, { properties: { WAIT: "false" } }), (r) => (status = r.status)));
    h.runUntil(1_000_000);
    expect(status).toBe("PUT_OK");
    expect(h.store.getFlushedWhere()).toBe(0);
    h.runUntil(1_003_000);
    expect(h.store.getFlushedWhere()).toBe(h.store.getMaxPhyOffset());
  });

  it("leaves the HA wait to the broker: putMessage answers at once and waitFlush resolves separately", () => {
    const h = storeHarness({ store: { flushDiskType: "SYNC_FLUSH" } });
    const r = h.store.putMessage(testMessage(1));
    expect(r.status).toBe("PUT_OK");
    let flush = "";
    h.store.waitFlush(r.appendResult!.wroteOffset + r.appendResult!.wroteBytes, (s) => (flush = s));
    expect(flush).toBe("");
    h.runUntil(10_000);
    expect(flush).toBe("PUT_OK");
    // Under ASYNC_FLUSH there is nothing to wait for.
    const a = storeHarness();
    let asyncFlush = "";
    a.store.waitFlush(1_000, (s) => (asyncFlush = s));
    expect(asyncFlush).toBe("PUT_OK");
  });
});

describe("dispatch bound by version", () => {
  const run = (version: "4.9.8" | "5.3.3", flushDiskType: "SYNC_FLUSH" | "ASYNC_FLUSH") => {
    const h = storeHarness({ store: { flushDiskType, version }, disk: { fsyncLatencyUs: 10_000 } });
    h.at(1_000_000, () => h.store.putMessageAndWait(testMessage(1), () => {}));
    h.runUntil(1_005_000);
    const early = h.store.getMaxOffsetInQueue("TopicTest", 0);
    h.runUntil(1_020_000);
    return [early, h.store.getMaxOffsetInQueue("TopicTest", 0)];
  };

  it("4.x dispatches up to the write position, unflushed data included", () => {
    expect(run("4.9.8", "SYNC_FLUSH")).toEqual([1, 1]);
  });

  it("5.3.3 under SYNC_FLUSH dispatches only what is flushed (confirmOffset = flushedWhere)", () => {
    expect(run("5.3.3", "SYNC_FLUSH")).toEqual([0, 1]);
  });

  it("5.3.3 under ASYNC_FLUSH dispatches up to the max offset", () => {
    expect(run("5.3.3", "ASYNC_FLUSH")).toEqual([1, 1]);
  });
});
