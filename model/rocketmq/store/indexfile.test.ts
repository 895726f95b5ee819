import { describe, expect, it } from "vitest";
import { Disk, DiskConfigSchema } from "../../../sim/disk.js";
import { Simulation } from "../../../sim/kernel.js";
import { Rng } from "../../../sim/rng.js";
import { StoreCheckpoint } from "./checkpoint.js";
import { javaStringHashCode, readInt32, readInt64 } from "./codec.js";
import { INDEX_HEADER_SIZE, IndexFile, IndexService, indexKeyHash, timeMillisToHumanString } from "./indexfile.js";
import { bodyText, storeHarness, testMessage } from "./testing.js";

function makeDisk(): Disk {
  return new Disk(new Simulation(), new Rng(1), DiskConfigSchema.parse({}));
}

describe("IndexFile", () => {
  it("lays out header, slots and 20-byte entries, and chains a bucket newest first", () => {
    const disk = makeDisk();
    const f = new IndexFile(disk, "store/index/x", 4, 100, 0, 0);
    // "a" (97) and "e" (101) share slot 1 of 4 but not their hash.
    expect(indexKeyHash("a") % 4).toBe(indexKeyHash("e") % 4);
    f.putKey("a", 1000, 5_000);
    f.putKey("e", 2000, 6_000);
    f.putKey("a", 3000, 7_000);
    f.syncHeader();
    const raw = disk.readAll("store/index/x");
    // Header: begin/end timestamps, begin/end offsets, slot count, entry count (which started at 1).
    expect([readInt64(raw, 0), readInt64(raw, 8), readInt64(raw, 16), readInt64(raw, 24)]).toEqual([5_000, 7_000, 1000, 3000]);
    expect([readInt32(raw, 32), readInt32(raw, 36)]).toEqual([1, 4]);
    // Slot 1 holds the newest entry, 3; entry 3 links to 2, which links to 1.
    expect(readInt32(raw, INDEX_HEADER_SIZE + 4)).toBe(3);
    const entry = (n: number) => INDEX_HEADER_SIZE + 4 * 4 + n * 20;
    expect([readInt32(raw, entry(3)), readInt64(raw, entry(3) + 4), readInt32(raw, entry(3) + 12), readInt32(raw, entry(3) + 16)]).toEqual([97, 3000, 2, 2]);
    expect(readInt32(raw, entry(2) + 16)).toBe(1);
    const out: number[] = [];
    f.selectPhyOffset(out, "a", 10, 0, Number.MAX_SAFE_INTEGER);
    // Same slot, different hash: "e" is walked over, not returned.
    expect(out).toEqual([3000, 1000]);
  });

  it("returns every entry whose hash collides: the caller must re-check the key", () => {
    const f = new IndexFile(makeDisk(), "store/index/x", 1000, 100, 0, 0);
    expect(javaStringHashCode("T#Aa")).toBe(javaStringHashCode("T#BB"));
    f.putKey("T#Aa", 10, 1000);
    f.putKey("T#BB", 20, 1000);
    const out: number[] = [];
    f.selectPhyOffset(out, "T#Aa", 10, 0, Number.MAX_SAFE_INTEGER);
    expect(out).toEqual([20, 10]);
  });

  it("refuses keys once full; the service rolls to a new file, flushes the full one and records its end time", () => {
    const sim = new Simulation();
    const disk = new Disk(sim, new Rng(1), DiskConfigSchema.parse({}));
    const cp = new StoreCheckpoint(disk, "store/checkpoint", false);
    let nowMs = 1_000;
    const svc = new IndexService(disk, "store", 8, 4, cp, () => nowMs);
    const req = (i: number) => ({
      kind: "ok" as const,
      size: 100,
      topic: "T",
      queueId: 0,
      physicalOffset: i * 100,
      queueOffset: i,
      tagsCode: 0,
      storeTimestamp: 1_000 + i,
      sysFlag: 0,
      preparedTransactionOffset: 0,
      keys: `k${i}`,
      uniqKey: undefined,
      properties: {},
    });
    // indexCount starts at 1, so 3 entries fill a 4-entry file.
    for (let i = 0; i < 7; i++) {
      nowMs++;
      svc.buildIndex(req(i));
    }
    expect(svc.files.length).toBe(3);
    expect(svc.files.map((f) => f.name)).toEqual([
      `store/index/${timeMillisToHumanString(1_001)}`,
      `store/index/${timeMillisToHumanString(1_004)}`,
      `store/index/${timeMillisToHumanString(1_007)}`,
    ]);
    // Newest file first; all files searched.
    expect(svc.queryOffset("T", "k0", 10, 0, Number.MAX_SAFE_INTEGER).phyOffsets).toEqual([0]);
    expect(svc.queryOffset("T", "k6", 10, 0, Number.MAX_SAFE_INTEGER).phyOffsets).toEqual([600]);
    sim.run();
    expect(cp.indexMsgTimestamp).toBe(1_005);
    // A message already indexed (below the last file's end offset) is skipped on re-dispatch.
    svc.buildIndex(req(2));
    expect(svc.queryOffset("T", "k2", 10, 0, Number.MAX_SAFE_INTEGER).phyOffsets).toEqual([200]);
  });

  it("names files yyyyMMddHHmmssSSS in UTC", () => {
    expect(timeMillisToHumanString(0)).toBe("19700101000000000");
    expect(timeMillisToHumanString(1_700_000_000_123)).toBe("20231114221320123");
    expect(timeMillisToHumanString(951_782_400_000 + 86_399_999)).toBe("20000229235959999");
  });
});

describe("key queries through the store", () => {
  it("returns only messages whose key really matches, though the index returns collisions", () => {
    const h = storeHarness({ store: { maxHashSlotNum: 4, maxIndexNum: 1000 } });
    h.store.putMessage(testMessage(1, { properties: { KEYS: "Aa" } }));
    h.store.putMessage(testMessage(2, { properties: { KEYS: "BB" } }));
    h.store.putMessage(testMessage(3, { properties: { KEYS: "other Aa" } }));
    h.store.putMessage(testMessage(4, { topic: "Elsewhere", properties: { KEYS: "Aa" } }));
    h.runUntil(10_000);
    // The raw index answer: everything in the bucket with the same hash.
    expect(h.store.queryMessage("TopicTest", "Aa", 10, 0, Number.MAX_SAFE_INTEGER).messages.map((m) => bodyText(m.body)).sort()).toEqual(["body-1", "body-2", "body-3"]);
    expect(h.store.queryMessageByKey("TopicTest", "Aa", 10).map((m) => bodyText(m.body))).toEqual(["body-1", "body-3"]);
    expect(h.store.queryMessageByKey("TopicTest", "BB", 10).map((m) => bodyText(m.body))).toEqual(["body-2"]);
    expect(h.store.queryMessageByKey("Elsewhere", "Aa", 10).map((m) => bodyText(m.body))).toEqual(["body-4"]);
  });

  it("finds a message by UNIQ_KEY and by each KEYS entry, across index files", () => {
    const h = storeHarness({ store: { maxHashSlotNum: 16, maxIndexNum: 8 } });
    for (let i = 0; i < 30; i++) h.store.putMessage(testMessage(i, { properties: { UNIQ_KEY: `U${i}`, KEYS: `a${i} b${i}` } }));
    h.runUntil(10_000);
    expect(h.store.indexService.files.length).toBeGreaterThan(5);
    for (const key of ["U0", "a0", "b0", "U17", "b29"]) {
      const found = h.store.queryMessageByKey("TopicTest", key, 10);
      expect(found.length).toBe(1);
      expect(bodyText(found[0]!.body)).toBe(`body-${key.slice(1)}`);
    }
    expect(h.store.queryMessageByKey("TopicTest", "nope", 10)).toEqual([]);
  });
});
