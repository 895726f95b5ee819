import { describe, expect, it } from "vitest";
import { World } from "../../../sim/world.js";
import { MessageStoreConfigSchema, type MessageStoreConfig } from "./config.js";
import { MessageStore } from "./message-store.js";
import { bodyText, testMessage } from "./testing.js";

/** A master store and a slave store on two nodes of one world. */
function pair(over: Partial<MessageStoreConfig> = {}, slaveOver: Partial<MessageStoreConfig> = {}) {
  const world = new World({ seed: 3 });
  const stores: Record<string, MessageStore> = {};
  const add = (name: string, cfg: MessageStoreConfig) =>
    world.addNode(name, (ctx) => {
      stores[name] = new MessageStore(ctx, cfg);
      return { onMessage() {} };
    });
  add("master", MessageStoreConfigSchema.parse(over));
  add("slave", MessageStoreConfigSchema.parse({ ...over, ...slaveOver, brokerRole: "SLAVE" }));
  world.startAll();
  return {
    world,
    get master() {
      return stores.master!;
    },
    get slave() {
      return stores.slave!;
    },
    run(us: number) {
      world.sim.run({ untilUs: us });
    },
  };
}

/** What HAConnection does: send from the slave's max offset, `batch` bytes at a time. */
function replicate(master: MessageStore, slave: MessageStore, batch: number): number {
  let frames = 0;
  for (;;) {
    const from = slave.getMaxPhyOffset();
    const bytes = master.readCommitLogBytes(from, batch);
    if (bytes === null || bytes.length === 0) return frames;
    expect(slave.appendCommitLogBytes(from, bytes)).toBe(true);
    frames++;
  }
}

describe("replication hooks", () => {
  it("copies the CommitLog byte for byte, unflushed data and file ends included, and the slave dispatches it", () => {
    const p = pair({ mappedFileSizeCommitLog: 2048 });
    for (let i = 0; i < 30; i++) p.master.putMessage(testMessage(i, { queueId: i % 3, bodyBytes: 150 }));
    // Nothing is flushed yet: the master serves from the page cache.
    expect(p.master.getFlushedWhere()).toBe(0);
    // Frames of 1000 bytes cut records in the middle.
    const frames = replicate(p.master, p.slave, 1000);
    expect(frames).toBeGreaterThan(10);
    expect(p.slave.getMaxPhyOffset()).toBe(p.master.getMaxPhyOffset());
    p.run(10_000);
    const masterDisk = p.world.node("master").disk;
    const slaveDisk = p.world.node("slave").disk;
    expect(slaveDisk.list("store/commitlog/")).toEqual(masterDisk.list("store/commitlog/"));
    for (const f of masterDisk.list("store/commitlog/")) {
      const a = masterDisk.readAll(f);
      const b = slaveDisk.readAll(f);
      // The master's file may end at its 8-byte blank; the slave got the zeros after it too.
      expect(b.subarray(0, a.length)).toEqual(a);
      expect(b.subarray(a.length).every((x) => x === 0)).toBe(true);
    }
    for (let q = 0; q < 3; q++) {
      expect(p.slave.getMaxOffsetInQueue("TopicTest", q)).toBe(10);
      const m = p.slave.getMessage("g", "TopicTest", q, 0, 32).messages.map((x) => bodyText(x.body).replace(/a+$/, ""));
      expect(m).toEqual(Array.from({ length: 10 }, (_, i) => `body-${i * 3 + q}`));
    }
    expect(p.slave.queryMessageByKey("TopicTest", "k17", 4).length).toBe(1);
  });

  it("dispatches a record on the slave only once all of it has arrived", () => {
    const p = pair();
    const ar = p.master.putMessage(testMessage(1)).appendResult!;
    const bytes = p.master.readCommitLogBytes(0, 1 << 20)!;
    expect(p.slave.appendCommitLogBytes(0, bytes.subarray(0, 50))).toBe(true);
    p.run(10_000);
    expect(p.slave.getMaxOffsetInQueue("TopicTest", 0)).toBe(0);
    expect(p.slave.appendCommitLogBytes(50, bytes.subarray(50))).toBe(true);
    p.run(20_000);
    expect(p.slave.getMaxOffsetInQueue("TopicTest", 0)).toBe(1);
    expect(p.slave.lookupMessageByOffset(ar.wroteOffset)!.msgId).toBe(ar.msgId);
  });

  it("accepts bytes only at the slave's max offset", () => {
    const p = pair();
    for (let i = 0; i < 3; i++) p.master.putMessage(testMessage(i));
    const all = p.master.readCommitLogBytes(0, 1 << 20)!;
    expect(p.slave.appendCommitLogBytes(0, all.subarray(0, 100))).toBe(true);
    expect(p.slave.appendCommitLogBytes(99, all.subarray(99))).toBe(false);
    expect(p.slave.appendCommitLogBytes(101, all.subarray(101))).toBe(false);
    expect(p.slave.getMaxPhyOffset()).toBe(100);
    expect(p.slave.appendCommitLogBytes(100, all.subarray(100))).toBe(true);
    expect(p.slave.getMaxPhyOffset()).toBe(all.length);
  });

  it("lets an empty slave start at a file boundary of the master (its last file), not elsewhere", () => {
    const p = pair({ mappedFileSizeCommitLog: 1024 });
    for (let i = 0; i < 20; i++) p.master.putMessage(testMessage(i, { bodyBytes: 100 }));
    const last = p.master.commitLog.queue.getLastMappedFile()!.fileFromOffset;
    expect(last).toBeGreaterThan(0);
    expect(p.slave.appendCommitLogBytes(last + 8, p.master.readCommitLogBytes(last + 8, 100)!)).toBe(false);
    expect(p.slave.appendCommitLogBytes(last, p.master.readCommitLogBytes(last, 32 * 1024)!)).toBe(true);
    p.run(10_000);
    expect(p.slave.getMinPhyOffset()).toBe(last);
    // The slave's queue starts mid-way; a slave leaves the offset alone (offsetCheckInSlave = false).
    const firstHere = p.master.lookupMessageByOffset(last)!.queueOffset;
    const r = p.slave.getMessage("g", "TopicTest", 0, 0, 32);
    expect([r.status, r.nextBeginOffset, r.minOffset, r.maxOffset]).toEqual(["OFFSET_TOO_SMALL", 0, firstHere, 20]);
    expect(p.slave.getMessage("g", "TopicTest", 0, firstHere, 32).status).toBe("FOUND");
  });

  it("refuses client puts on the slave and does not wake long polls there", () => {
    const p = pair();
    const calls: string[] = [];
    p.slave.onDispatch((t) => calls.push(t));
    p.master.onDispatch((t) => calls.push(`master:${t}`));
    expect(p.slave.putMessage(testMessage(1)).status).toBe("SERVICE_NOT_AVAILABLE");
    p.master.putMessage(testMessage(1));
    replicate(p.master, p.slave, 32 * 1024);
    p.run(10_000);
    expect(p.slave.getMaxOffsetInQueue("TopicTest", 0)).toBe(1);
    expect(calls).toEqual(["master:TopicTest"]);
  });

  it("truncates the slave's CommitLog to a record boundary, trims its queues, and takes the master's bytes again from there", () => {
    const p = pair();
    const ars = Array.from({ length: 6 }, (_, i) => p.master.putMessage(testMessage(i)).appendResult!);
    replicate(p.master, p.slave, 32 * 1024);
    p.run(10_000);
    expect(p.slave.truncateCommitLog(ars[3]!.wroteOffset + 1)).toBe(false);
    expect(p.slave.truncateCommitLog(p.slave.getMaxPhyOffset() + 100)).toBe(true);
    expect(p.slave.getMaxPhyOffset()).toBe(p.master.getMaxPhyOffset());
    expect(p.slave.truncateCommitLog(ars[3]!.wroteOffset)).toBe(true);
    expect(p.slave.getMaxPhyOffset()).toBe(ars[3]!.wroteOffset);
    expect(p.slave.getMaxOffsetInQueue("TopicTest", 0)).toBe(3);
    replicate(p.master, p.slave, 32 * 1024);
    p.run(20_000);
    expect(p.slave.getMaxOffsetInQueue("TopicTest", 0)).toBe(6);
    expect(p.slave.getMessage("g", "TopicTest", 0, 0, 32).messages.map((m) => m.queueOffset)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("flushes replicated bytes on the slave: the group commit polls every 10 ms under SYNC_FLUSH", () => {
    const p = pair({ flushDiskType: "SYNC_FLUSH" });
    p.master.putMessage(testMessage(1, { properties: { WAIT: "false" } }));
    p.run(1_000_000);
    replicate(p.master, p.slave, 32 * 1024);
    expect(p.slave.getFlushedWhere()).toBe(0);
    p.run(1_011_000);
    expect(p.slave.getFlushedWhere()).toBe(p.slave.getMaxPhyOffset());
  });

  it("serves nothing past the readable end, and nothing once shutting down", () => {
    const p = pair();
    p.master.putMessage(testMessage(1));
    expect(p.master.readCommitLogBytes(p.master.getMaxPhyOffset(), 100)).toBeNull();
    expect(p.master.readCommitLogBytes(0, 10)!.length).toBe(10);
    p.master.shutdown();
    expect(p.master.readCommitLogBytes(0, 10)).toBeNull();
    p.slave.shutdown();
    expect(p.slave.appendCommitLogBytes(0, new Uint8Array(10))).toBe(false);
  });
});
