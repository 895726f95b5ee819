import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MessageEncoder,
  PHYSICAL_OFFSET_POSITION,
  QUEUE_OFFSET_POSITION,
  SCHEDULE_TOPIC,
  decodeMessage,
  decodeRecord,
  decodedFromFields,
  parseHost,
  writeInt64,
  type EncodeFields,
} from "./codec.js";
import { ConsumeQueue } from "./consumequeue.js";
import { RECENT_RECORDS } from "./recent-records.js";
import type { MessageStore } from "./message-store.js";
import { bodyText, storeHarness, testMessage, type StoreHarness } from "./testing.js";
import type { AppendResult, DecodedMessage } from "./types.js";
import { Disk, DiskConfigSchema } from "../../../sim/disk.js";
import { Simulation } from "../../../sim/kernel.js";
import { Rng } from "../../../sim/rng.js";

const delay = (level: number, storeTimestamp: number) => storeTimestamp + level * 1000;

/** What decoding the record's bytes as they are in the page cache gives (no mirror, no cache). */
function decodeFromDisk(h: StoreHarness, store: MessageStore, offset: number, size: number): DecodedMessage | null {
  const cl = store.commitLog;
  const f = cl.queue.findMappedFileByOffset(offset)!;
  const bytes = h.world.node("broker").disk.read(f.name, offset % cl.fileSize, size);
  return decodeMessage(bytes, 0, bytes.length, store.deliverTimestamp);
}

describe("decodedFromFields", () => {
  // Characters that exercise every special case: separators, multi-byte, paired and unpaired surrogates.
  const char = fc.constantFrom("a", "Z", "0", "9", " ", "#", "\u0000", "\u0001", "\u0002", "é", "中", "\ud83d\ude00", "\ud800", "\udc00");
  const text = (maxLength: number) => fc.array(char, { maxLength }).map((cs) => cs.join(""));
  const int = fc.oneof(fc.integer(), fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.double({ noNaN: false }), fc.constant(2 ** 31));
  const long = fc.oneof(fc.maxSafeInteger(), fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.double(), fc.constant(2 ** 60));
  const host = fc.record({ ip: fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), int), port: int });
  const key = fc.oneof(fc.constantFrom("KEYS", "TAGS", "UNIQ_KEY", "DELAY", "WAIT", "__proto__", "0", "17", ""), text(6));
  // Not only strings: a request body is not type-checked at run time.
  const value = fc.oneof(text(12), fc.constantFrom("1", "3", "TagA", "k1 k2", " k1  k2 "), fc.constant(undefined), fc.constant(null), fc.integer().map((n) => n as unknown as string));
  const properties = fc.array(fc.tuple(key, value), { maxLength: 6 }).map((pairs) => {
    const o: Record<string, string> = {};
    // defineProperty, so that "__proto__" becomes an own key as a parsed request body could have it.
    for (const [k, v] of pairs) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
    return o;
  });
  const fields: fc.Arbitrary<EncodeFields> = fc.record({
    topic: fc.oneof(fc.constantFrom("TopicTest", SCHEDULE_TOPIC), text(20)),
    queueId: int,
    flag: int,
    sysFlag: int,
    bornTimestamp: long,
    bornHost: host,
    storeTimestamp: long,
    storeHost: host,
    reconsumeTimes: int,
    preparedTransactionOffset: long,
    body: fc.uint8Array({ maxLength: 300 }),
    bodyCrc: int,
    properties,
  });

  it("gives exactly what decoding the encoded bytes gives, whenever it gives anything", () => {
    const e = new MessageEncoder(4 * 1024 * 1024);
    let built = 0;
    fc.assert(
      fc.property(fields, fc.maxSafeInteger(), fc.maxSafeInteger(), (f, queueOffset, physicalOffset) => {
        if (e.encode(f) !== null) return;
        writeInt64(e.buffer, QUEUE_OFFSET_POSITION, queueOffset);
        writeInt64(e.buffer, PHYSICAL_OFFSET_POSITION, physicalOffset);
        const decoded = decodeRecord(e.buffer, 0, e.length, delay);
        expect(decoded).not.toBeNull();
        const fromFields = decodedFromFields(f, e.length, queueOffset, physicalOffset, delay);
        if (fromFields === null) return;
        built++;
        expect(fromFields).toStrictEqual(decoded);
        expect(Object.keys(fromFields.message.properties)).toEqual(Object.keys(decoded!.message.properties));
        expect(Object.getPrototypeOf(fromFields.message.properties)).toBe(Object.getPrototypeOf(decoded!.message.properties));
      }),
      { numRuns: 1000, seed: 7 },
    );
    // The comparison did run on a good share of the cases.
    expect(built).toBeGreaterThan(100);
  });

  it("builds ordinary messages (it only declines strings that might not survive the round trip)", () => {
    const e = new MessageEncoder(4 * 1024 * 1024);
    const body = new TextEncoder().encode("hello");
    const f: EncodeFields = {
      topic: "TopicTest",
      queueId: 1,
      flag: 0,
      sysFlag: 0,
      bornTimestamp: 1_700_000_000_123,
      bornHost: parseHost("producer-1"),
      storeTimestamp: 1_700_000_000_456,
      storeHost: parseHost("broker-a"),
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      body,
      bodyCrc: 5,
      properties: { KEYS: "k1 k2", UNIQ_KEY: "U1", TAGS: "TagA", WAIT: "true", "é中\ud83d\ude00": "ok" },
    };
    expect(e.encode(f)).toBeNull();
    expect(decodedFromFields(f, e.length, 0, 0, delay)).not.toBeNull();
    expect(decodedFromFields({ ...f, properties: { KEYS: "a\u0002b" } }, e.length, 0, 0, delay)).toBeNull();
    expect(decodedFromFields({ ...f, properties: { KEYS: "" } }, e.length, 0, 0, delay)).toBeNull();
    expect(decodedFromFields({ ...f, topic: "T\ud800" }, e.length, 0, 0, delay)).toBeNull();
  });
});

describe("the cache of recently appended records", () => {
  it("holds what decoding the bytes in the page cache gives, and reads are served from it", () => {
    const h = storeHarness();
    const results: AppendResult[] = [];
    for (let i = 0; i < 50; i++) results.push(h.store.putMessage(testMessage(i, { queueId: i % 2, properties: { KEYS: `k${i} x${i}`, UNIQ_KEY: `U${i}`, TAGS: "TagA" } })).appendResult!);
    h.runUntil(10_000);
    const cl = h.store.commitLog;
    expect(cl.recent.size).toBe(50);
    for (const r of results) {
      const rec = cl.recentRecord(r.wroteOffset, r.wroteBytes)!;
      expect(rec).toBeDefined();
      expect(rec.message).toStrictEqual(decodeFromDisk(h, h.store, r.wroteOffset, r.wroteBytes));
      expect(rec.message.msgId).toBe(r.msgId);
      // A read of another size is not a read of this record: the cache does not answer it.
      expect(cl.recentRecord(r.wroteOffset, r.wroteBytes - 1)).toBeUndefined();
    }
    const got = h.store.getMessage("g", "TopicTest", 1, 0, 32).messages;
    expect(got.map((m) => bodyText(m.body))).toEqual(Array.from({ length: 25 }, (_, i) => `body-${2 * i + 1}`));
    // Each read gets its own message object; the shared properties cannot be changed behind other readers' backs.
    expect(got[0]).not.toBe(cl.recentRecord(results[1]!.wroteOffset, results[1]!.wroteBytes)!.message);
    expect(() => {
      (got[0]!.properties as Record<string, string>).KEYS = "changed";
    }).toThrow();
    // The index was built from the cached dispatch requests.
    expect(h.store.queryMessageByKey("TopicTest", "x7", 5).map((m) => bodyText(m.body))).toEqual(["body-7"]);
  });

  it("keeps only the newest records", () => {
    const h = storeHarness();
    for (let i = 0; i < RECENT_RECORDS + 76; i++) h.store.putMessage(testMessage(i));
    expect(h.store.commitLog.recent.size).toBe(RECENT_RECORDS);
    h.runUntil(10_000);
    const r = h.store.getMessage("g", "TopicTest", 0, 0, 32);
    // The oldest are read from the disk, as before.
    expect(r.messages.map((m) => bodyText(m.body))).toEqual(Array.from({ length: 32 }, (_, i) => `body-${i}`));
  });

  it("never serves a record lost in a crash: after power loss the recovered store reads what the disk kept", () => {
    const h = storeHarness({ disk: { tearProbability: 0 } });
    h.at(1_000_000, () => {
      for (let i = 0; i < 10; i++) h.store.putMessage(testMessage(i, { bodyBytes: 50 }));
    });
    // The thorough flush round at 10 s makes those ten durable.
    h.runUntil(10_600_000);
    const durable = h.store.getFlushedWhere();
    let lost: AppendResult | null = null;
    h.at(11_000_000, () => (lost = h.store.putMessage(testMessage(10, { bodyBytes: 50 })).appendResult));
    h.runUntil(11_100_000);
    const before = h.store;
    // Appended, dispatched and served from the cache; never flushed.
    expect(lost!.wroteOffset).toBe(durable);
    expect(before.commitLog.recentRecord(lost!.wroteOffset, lost!.wroteBytes)).toBeDefined();
    expect(bodyText(before.getMessage("g", "TopicTest", 0, 10, 32).messages[0]!.body)).toMatch(/^body-10a*$/);

    h.crash("power");
    const s = h.restart();
    expect(s).not.toBe(before);
    expect(s.recovery).toEqual({ mode: "abnormal", maxOffset: durable });
    // The new process starts with an empty cache: recovery reads the disk and appends nothing.
    expect(s.commitLog.recent.size).toBe(0);
    expect(s.commitLog.recentRecord(lost!.wroteOffset, lost!.wroteBytes)).toBeUndefined();
    expect(s.lookupMessageByOffset(lost!.wroteOffset)).toBeNull();
    expect(s.getMessage("g", "TopicTest", 0, 10, 32).status).toBe("OFFSET_OVERFLOW_ONE");
    // The old process's cache still holds the lost record, but nothing reads it any more.
    expect(before.commitLog.recent.size).toBe(11);

    // A different message of the same size now takes the lost one's place; reads see it, not the lost one.
    const again = s.putMessage(testMessage(99, { bodyBytes: 50 })).appendResult!;
    expect([again.wroteOffset, again.wroteBytes, again.queueOffset]).toEqual([lost!.wroteOffset, lost!.wroteBytes, lost!.queueOffset]);
    h.runUntil(h.world.sim.now + 10_000);
    const m = s.getMessage("g", "TopicTest", 0, 10, 32).messages;
    expect(m.map((x) => bodyText(x.body).replace(/a+$/, ""))).toEqual(["body-99"]);
    expect(m[0]).toStrictEqual(decodeFromDisk(h, s, again.wroteOffset, again.wroteBytes));
  });

  it("forgets everything when the CommitLog is truncated, so a rewritten offset reads its new record", () => {
    const h = storeHarness();
    const first: AppendResult[] = [];
    for (let i = 0; i < 10; i++) first.push(h.store.putMessage(testMessage(i, { bodyBytes: 50 })).appendResult!);
    h.runUntil(10_000);
    expect(h.store.truncateCommitLog(first[5]!.wroteOffset)).toBe(true);
    expect(h.store.commitLog.recent.size).toBe(0);
    expect(h.store.commitLog.recentRecord(first[7]!.wroteOffset, first[7]!.wroteBytes)).toBeUndefined();
    // Same sizes, so the new records start where the old ones did.
    for (let i = 5; i < 10; i++) {
      const msg = testMessage(i, { body: new TextEncoder().encode(`new-${i}`.padEnd(50, "b")), properties: { UNIQ_KEY: `V${i}`, TAGS: "TagB", KEYS: `j${i}` } });
      expect(h.store.putMessage(msg).appendResult!.wroteOffset).toBe(first[i]!.wroteOffset);
    }
    h.runUntil(h.world.sim.now + 10_000);
    const bodies = h.store.getMessage("g", "TopicTest", 0, 0, 32).messages.map((m) => bodyText(m.body).replace(/a+$|b+$/, ""));
    expect(bodies).toEqual(["body-0", "body-1", "body-2", "body-3", "body-4", "new-5", "new-6", "new-7", "new-8", "new-9"]);
    expect(h.store.lookupMessageByOffset(first[7]!.wroteOffset)!.msgId).toBe(decodeFromDisk(h, h.store, first[7]!.wroteOffset, first[7]!.wroteBytes)!.msgId);
  });

  it("answers only where readers would read the mirror: other records come from the disk, as they are there", () => {
    // 16 KiB files: the mirror holds only the newest file's bytes, the cache all 30 records.
    const h = storeHarness({ store: { mappedFileSizeCommitLog: 16 * 1024 } });
    const results: AppendResult[] = [];
    for (let i = 0; i < 30; i++) results.push(h.store.putMessage(testMessage(i, { bodyBytes: 1000 })).appendResult!);
    h.runUntil(10_000);
    const cl = h.store.commitLog;
    expect(cl.queue.files.length).toBe(3);
    expect(cl.recent.size).toBe(30);
    const first = results[0]!;
    const last = results[29]!;
    expect(cl.recentRecord(first.wroteOffset, first.wroteBytes)).toBeUndefined();
    expect(cl.recentRecord(last.wroteOffset, last.wroteBytes)).toBeDefined();
    // A bad sector under the first record while the process runs: the read goes to the page cache and sees it.
    const disk = h.world.node("broker").disk;
    disk.corrupt(cl.queue.files[0]!.name, first.wroteOffset + 200, 16);
    const m = h.store.getMessage("g", "TopicTest", 0, 0, 1).messages[0]!;
    expect(m).toStrictEqual(decodeFromDisk(h, h.store, first.wroteOffset, first.wroteBytes));
    expect(bodyText(m.body)).not.toBe(bodyText(testMessage(0, { bodyBytes: 1000 }).body));
  });

  it("with the transient store pool, serves nothing before the commit makes the bytes readable", () => {
    const h = storeHarness({ store: { transientStorePoolEnable: true, commitCommitLogLeastPages: 4 } });
    const r = h.store.putMessage(testMessage(1)).appendResult!;
    // Appended into the write buffer only: neither the mirror nor readers have the bytes yet.
    expect(h.store.getMaxPhyOffset()).toBe(0);
    expect(h.store.commitLog.recentRecord(r.wroteOffset, r.wroteBytes)).toBeUndefined();
    h.runUntil(1_000_000);
    expect(h.store.getMaxPhyOffset()).toBe(r.wroteBytes);
    expect(h.store.commitLog.recentRecord(r.wroteOffset, r.wroteBytes)!.message).toStrictEqual(decodeFromDisk(h, h.store, r.wroteOffset, r.wroteBytes));
  });
});

describe("a consume queue's mirror", () => {
  it("gives what the disk holds, through rolls, rewinds and rewrites", () => {
    const disk = new Disk(new Simulation(), new Rng(1), DiskConfigSchema.parse({}));
    const cq = new ConsumeQueue(disk, "store", "T", 0, 200);
    const check = () => {
      for (let unit = cq.getMinOffsetInQueue(); unit < cq.getMaxOffsetInQueue(); unit++) {
        const got = cq.getIndexBuffer(unit, 3);
        const f = cq.queue.findMappedFileByOffset(unit * 20)!;
        const pos = (unit * 20) % 200;
        expect(got).toEqual(disk.read(f.name, pos, got!.length));
      }
    };
    for (let i = 0; i < 25; i++) cq.putMessagePositionInfo(i * 100, 100, i, i);
    check();
    cq.truncateDirtyLogicFiles(1750);
    expect(cq.getMaxOffsetInQueue()).toBe(18);
    check();
    // Rewritten units differ from the ones the rewind dropped.
    for (let i = 18; i < 30; i++) cq.putMessagePositionInfo(i * 100, 100, 1000 + i, i);
    check();
    expect(cq.getIndexBuffer(20, 1)).toEqual(disk.read(cq.queue.findMappedFileByOffset(400)!.name, 0, 20));
  });
});
