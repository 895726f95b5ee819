import { describe, expect, it } from "vitest";
import { BLANK_MAGIC_CODE, checkMessageAndReturnSize, readInt32 } from "./codec.js";
import { bodyText, storeHarness, testMessage } from "./testing.js";

const noDelay = () => -1;

describe("CommitLog files", () => {
  it("rolls to a new file named by its start offset; a blank record closes the old one and no message spans files", () => {
    const h = storeHarness({ store: { mappedFileSizeCommitLog: 1024 } });
    const results = [];
    for (let i = 0; i < 40; i++) {
      const r = h.store.putMessage(testMessage(i, { bodyBytes: 100 + (i % 7) * 9 }));
      expect(r.status).toBe("PUT_OK");
      results.push(r.appendResult!);
    }
    const files = h.store.commitLog.queue.files;
    expect(files.length).toBeGreaterThan(5);
    files.forEach((f, i) => {
      expect(f.fileFromOffset).toBe(i * 1024);
      expect(f.name).toBe(`store/commitlog/${String(i * 1024).padStart(20, "0")}`);
    });
    for (const r of results) {
      // A record lies inside one file.
      expect(Math.floor(r.wroteOffset / 1024)).toBe(Math.floor((r.wroteOffset + r.wroteBytes - 1) / 1024));
    }
    // Walk every full file: valid records, then a blank whose length is the rest of the file.
    const disk = h.world.node("broker").disk;
    for (const f of files.slice(0, -1)) {
      const data = disk.readAll(f.name);
      let pos = 0;
      for (;;) {
        const r = checkMessageAndReturnSize(data, pos, data.length - pos, true, noDelay);
        if (r.kind === "blank") {
          expect(r.size).toBe(1024 - pos);
          expect(readInt32(data, pos + 4)).toBe(BLANK_MAGIC_CODE);
          expect(data.length).toBe(pos + 8);
          break;
        }
        expect(r.kind).toBe("ok");
        pos += r.size;
      }
      expect(f.isFull()).toBe(true);
    }
    // The first message of each new file starts at the file's first byte.
    for (const f of files.slice(1)) expect(results.some((r) => r.wroteOffset === f.fileFromOffset)).toBe(true);
    // Every message reads back by physical offset.
    results.forEach((r, i) => {
      const m = h.store.lookupMessageByOffset(r.wroteOffset)!;
      expect(bodyText(m.body).startsWith(`body-${i}`)).toBe(true);
      expect(m.physicalOffset).toBe(r.wroteOffset);
      expect(m.queueOffset).toBe(r.queueOffset);
    });
  });

  it("assigns queue offsets per (topic, queueId), continuing after a restart from the consume queues", () => {
    const h = storeHarness();
    const q = (topic: string, queueId: number) => h.store.putMessage(testMessage(0, { topic, queueId })).appendResult!.queueOffset;
    expect([q("A", 0), q("A", 0), q("A", 1), q("B", 0), q("A", 0)]).toEqual([0, 1, 0, 0, 2]);
    h.runUntil(10_000);
    h.store.shutdown();
    h.runUntil(2_000_000);
    h.crash("process");
    h.restart();
    expect([q("A", 0), q("A", 1), q("B", 0), q("C", 0)]).toEqual([3, 1, 1, 0]);
  });

  it("gives prepared and rollback transaction messages queue offset 0 and keeps them out of the consume queue", () => {
    const h = storeHarness();
    const prepared = h.store.putMessage(testMessage(1, { sysFlag: 0x1 << 2 }));
    const normal = h.store.putMessage(testMessage(2));
    const rollback = h.store.putMessage(testMessage(3, { sysFlag: 0x3 << 2 }));
    expect([prepared.appendResult!.queueOffset, normal.appendResult!.queueOffset, rollback.appendResult!.queueOffset]).toEqual([0, 0, 0]);
    h.runUntil(10_000);
    expect(h.store.getMaxOffsetInQueue("TopicTest", 0)).toBe(1);
    // The index still knows a prepared message (IndexService skips rollback only).
    expect(h.store.queryMessageByKey("TopicTest", "k1", 10).length).toBe(1);
    expect(h.store.queryMessageByKey("TopicTest", "k3", 10).length).toBe(0);
  });
});

describe("ASYNC_FLUSH: FlushRealTimeService", () => {
  it("flushes at the 500 ms ticks once 4 pages are dirty, and whatever is dirty every 10 s", () => {
    const h = storeHarness({ disk: { writebackIntervalUs: 60_000_000, dirtyExpireUs: 600_000_000 } });
    // The first round (t=0) is thorough and finds nothing; the next thorough one starts at 10 s.
    h.at(600_000, () => h.store.putMessage(testMessage(1, { bodyBytes: 1000 })));
    h.runUntil(9_990_000);
    // Less than 4 pages: no flush for the whole thorough interval.
    expect(h.store.getFlushedWhere()).toBe(0);
    const first = h.store.getMaxPhyOffset();
    // The round starting at ~10.0 s is thorough; it flushes after its 500 ms sleep.
    h.runUntil(10_600_000);
    expect(h.store.getFlushedWhere()).toBe(first);
    // 5 pages' worth at once: flushed at the next tick, not 10 s later.
    h.at(11_000_000, () => {
      for (let i = 0; i < 5; i++) h.store.putMessage(testMessage(i, { bodyBytes: 4096 }));
    });
    h.runUntil(11_700_000);
    expect(h.store.getFlushedWhere()).toBe(h.store.getMaxPhyOffset());
    // The checkpoint's physic timestamp follows thorough flushes only (MappedFileQueue.storeTimestamp).
    expect(h.store.checkpoint.physicMsgTimestamp).toBe(600);
  });

  it("with flushCommitLogTimed=false a put wakes the flusher early", () => {
    const h = storeHarness({ store: { flushCommitLogTimed: false } });
    h.runUntil(20_000_000);
    h.at(20_100_000, () => {
      for (let i = 0; i < 5; i++) h.store.putMessage(testMessage(i, { bodyBytes: 4096 }));
    });
    h.runUntil(20_110_000);
    expect(h.store.getFlushedWhere()).toBe(h.store.getMaxPhyOffset());
  });
});

describe("transientStorePoolEnable", () => {
  const pool = { transientStorePoolEnable: true } as const;

  it("keeps appended bytes in process memory until CommitRealTimeService commits them", () => {
    const h = storeHarness({ store: pool });
    const disk = h.world.node("broker").disk;
    h.runUntil(1_000_000);
    h.at(1_000_000, () => h.store.putMessage(testMessage(1)));
    h.runUntil(1_000_000);
    // The put woke the committer at once, but less than 4 pages and less than 200 ms since the last commit.
    h.runUntil(1_000_100);
    expect(disk.size("store/commitlog/00000000000000000000")).toBe(0);
    // Readers see committed bytes only: the message is not there to dispatch or read.
    expect(h.store.getMaxPhyOffset()).toBe(0);
    h.runUntil(1_250_000);
    expect(h.store.getMaxPhyOffset()).toBeGreaterThan(0);
    expect(disk.size("store/commitlog/00000000000000000000")).toBe(h.store.getMaxPhyOffset());
  });

  it("loses uncommitted bytes in a process crash and keeps committed ones", () => {
    const h = storeHarness({ store: pool });
    h.at(1_000_000, () => h.store.putMessage(testMessage(1)));
    h.runUntil(1_500_000);
    const committed = h.store.getMaxPhyOffset();
    expect(committed).toBeGreaterThan(0);
    // Idle rounds every 200 ms are thorough; a put 50 ms after one waits for 4 pages or the next 200 ms.
    h.at(2_050_000, () => h.store.putMessage(testMessage(2)));
    h.runUntil(2_060_000);
    expect(h.store.commitLog.queue.getMaxWrotePosition()).toBeGreaterThan(committed);
    h.crash("process");
    const s = h.restart();
    expect(s.getMaxPhyOffset()).toBe(committed);
    expect(s.getMaxOffsetInQueue("TopicTest", 0)).toBe(1);
    expect(bodyText(s.getMessage("g", "TopicTest", 0, 0, 32).messages[0]!.body)).toBe("body-1");
  });

  it("is ignored on a slave and with SYNC_FLUSH (isTransientStorePoolEnable)", () => {
    const sync = storeHarness({ store: { ...pool, flushDiskType: "SYNC_FLUSH" } });
    sync.store.putMessage(testMessage(1));
    expect(sync.store.getMaxPhyOffset()).toBeGreaterThan(0);
    expect(sync.store.commitLog.commitService).toBeNull();
  });
});
