import { describe, expect, it } from "vitest";
import {
  BLANK_MAGIC_CODE,
  MESSAGE_MAGIC_CODE,
  MessageEncoder,
  PHYSICAL_OFFSET_POSITION,
  STORE_TIMESTAMP_POSITION_V4,
  SYSFLAG_POSITION,
  checkMessageAndReturnSize,
  createMessageId,
  decodeMessage,
  encodeBlank,
  javaStringHashCode,
  messageProperties2String,
  parseHost,
  readInt32,
  readInt64,
  string2messageProperties,
  tagsString2tagsCode,
  writeInt64,
  type EncodeFields,
} from "./codec.js";
import { crc32, rocketmqBodyCrc } from "./crc32.js";
import { indexKeyHash } from "./indexfile.js";

const enc = new TextEncoder();
const noDelay = () => -1;

function fields(over: Partial<EncodeFields> = {}): EncodeFields {
  const body = enc.encode("hello, commitlog");
  return {
    topic: "TopicTest",
    queueId: 3,
    flag: 7,
    sysFlag: 0,
    bornTimestamp: 1_700_000_000_123,
    bornHost: parseHost("192.168.1.2:50123"),
    storeTimestamp: 1_700_000_000_456,
    storeHost: parseHost("10.1.2.3:10911"),
    reconsumeTimes: 2,
    preparedTransactionOffset: 0,
    body,
    bodyCrc: rocketmqBodyCrc(body),
    properties: { TAGS: "TagA", KEYS: "k1 k2", UNIQ_KEY: "AC11000100002A9F0000000000000001" },
    ...over,
  };
}

/** Encodes and fills in the offsets the append would. */
function record(over: Partial<EncodeFields> = {}, queueOffset = 42, physicalOffset = 4096): Uint8Array {
  const e = new MessageEncoder(4 * 1024 * 1024);
  expect(e.encode(fields(over))).toBeNull();
  const out = e.buffer.slice(0, e.length);
  writeInt64(out, 20, queueOffset);
  writeInt64(out, PHYSICAL_OFFSET_POSITION, physicalOffset);
  return out;
}

describe("crc32 as java.util.zip.CRC32", () => {
  it("matches the standard check value and RocketMQ's top-bit mask", () => {
    expect(crc32(enc.encode("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(rocketmqBodyCrc(enc.encode("123456789"))).toBe(0xcbf43926 & 0x7fffffff);
    // Slicing-by-4 agrees with the byte loop on every alignment and tail length.
    const data = Uint8Array.from({ length: 37 }, (_, i) => (i * 97 + 13) & 0xff);
    const bytewise = (b: Uint8Array) => {
      let c = -1;
      for (const x of b) {
        c ^= x;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      }
      return (c ^ -1) >>> 0;
    };
    for (let s = 0; s < 5; s++) for (let e = s; e <= 37; e += 3) expect(crc32(data, s, e - s)).toBe(bytewise(data.subarray(s, e)));
  });
});

describe("Java String.hashCode", () => {
  it("is exact, with 32-bit wrap", () => {
    expect(javaStringHashCode("")).toBe(0);
    expect(javaStringHashCode("hello")).toBe(99162322);
    expect(javaStringHashCode("TagA")).toBe(2598919);
    // Famous: its hashCode is Integer.MIN_VALUE, whose abs is negative; the index maps it to 0.
    expect(javaStringHashCode("polygenelubricants")).toBe(-2147483648);
    expect(indexKeyHash("polygenelubricants")).toBe(0);
    expect(javaStringHashCode("Aa")).toBe(javaStringHashCode("BB"));
    expect(tagsString2tagsCode("TagA")).toBe(2598919);
    expect(tagsString2tagsCode("")).toBe(0);
    expect(tagsString2tagsCode(undefined)).toBe(0);
  });
});

describe("properties encoding (MessageDecoder)", () => {
  it("is name \\u0001 value \\u0002 ..., without the last separator", () => {
    expect(messageProperties2String({ A: "1", B: "2" })).toBe("A\u00011\u0002B\u00012");
    expect(messageProperties2String({})).toBe("");
    expect(string2messageProperties("A\u00011\u0002B\u00012")).toEqual({ A: "1", B: "2" });
  });

  it("drops entries with an empty value or name, as string2messageProperties does", () => {
    expect(string2messageProperties("A\u0001\u0002B\u00012\u0002\u0001x")).toEqual({ B: "2" });
  });
});

describe("CommitLog record codec", () => {
  it("round-trips every field in the real layout", () => {
    const bytes = record();
    expect(readInt32(bytes, 0)).toBe(bytes.length);
    expect(readInt32(bytes, 4)).toBe(MESSAGE_MAGIC_CODE);
    expect(MESSAGE_MAGIC_CODE >>> 0).toBe(0xdaa320a7);
    expect(readInt64(bytes, PHYSICAL_OFFSET_POSITION)).toBe(4096);
    expect(readInt32(bytes, SYSFLAG_POSITION)).toBe(0);
    expect(readInt64(bytes, STORE_TIMESTAMP_POSITION_V4)).toBe(1_700_000_000_456);
    // 91 fixed bytes + body + topic + properties.
    const props = messageProperties2String(fields().properties);
    expect(bytes.length).toBe(91 + 16 + 9 + props.length);
    const m = decodeMessage(bytes, 0, bytes.length, noDelay)!;
    expect(m).not.toBeNull();
    expect(m.topic).toBe("TopicTest");
    expect(m.queueId).toBe(3);
    expect(m.flag).toBe(7);
    expect(m.queueOffset).toBe(42);
    expect(m.physicalOffset).toBe(4096);
    expect(m.bornTimestamp).toBe(1_700_000_000_123);
    expect(m.storeTimestamp).toBe(1_700_000_000_456);
    expect(m.bornHost).toBe("192.168.1.2:50123");
    expect(m.storeHost).toBe("10.1.2.3:10911");
    expect(m.reconsumeTimes).toBe(2);
    expect(new TextDecoder().decode(m.body)).toBe("hello, commitlog");
    expect(m.properties).toEqual(fields().properties);
    expect(m.storeSize).toBe(bytes.length);
    expect(m.tagsCode).toBe(javaStringHashCode("TagA"));
    expect(m.msgId).toBe(createMessageId(parseHost("10.1.2.3:10911"), 4096));
    expect(m.msgId).toBe("0A01020300002A9F0000000000001000");
  });

  it("encodes non-ASCII topics, bodies and properties as UTF-8", () => {
    const bytes = record({ properties: { KEYS: "ключ 键" }, body: enc.encode("é") });
    const m = decodeMessage(bytes, 0, bytes.length, noDelay)!;
    expect(m.properties.KEYS).toBe("ключ 键");
    expect(new TextDecoder().decode(m.body)).toBe("é");
  });

  it("detects a flipped body byte with the CRC check, as recovery does", () => {
    const bytes = record();
    expect(checkMessageAndReturnSize(bytes, 0, bytes.length, true, noDelay).kind).toBe("ok");
    bytes[88 + 3]! ^= 0x01;
    expect(checkMessageAndReturnSize(bytes, 0, bytes.length, true, noDelay)).toEqual({ kind: "corrupt", size: -1 });
    // The dispatcher does not check CRCs.
    expect(checkMessageAndReturnSize(bytes, 0, bytes.length, false, noDelay).kind).toBe("ok");
  });

  it("reports a record cut short as the end, zeros as the end, and a bad magic or size as corrupt", () => {
    const bytes = record();
    expect(checkMessageAndReturnSize(bytes, 0, bytes.length - 1, true, noDelay).kind).toBe("end");
    expect(checkMessageAndReturnSize(new Uint8Array(64), 0, 64, true, noDelay).kind).toBe("end");
    expect(checkMessageAndReturnSize(bytes, 0, 5, true, noDelay).kind).toBe("end");
    const badMagic = bytes.slice();
    badMagic[5]! ^= 0xff;
    expect(checkMessageAndReturnSize(badMagic, 0, badMagic.length, true, noDelay).kind).toBe("corrupt");
    // TOTALSIZE not matching the fields: the real DispatchRequest(totalSize, false).
    const padded = new Uint8Array(bytes.length + 4);
    padded.set(bytes);
    padded[3]! += 4;
    expect(checkMessageAndReturnSize(padded, 0, padded.length, true, noDelay)).toEqual({ kind: "corrupt", size: bytes.length + 4 });
  });

  it("writes the 8-byte blank record (remaining length, BLANK_MAGIC_CODE)", () => {
    const b = encodeBlank(1234);
    expect(b.length).toBe(8);
    expect(readInt32(b, 0)).toBe(1234);
    expect(readInt32(b, 4)).toBe(BLANK_MAGIC_CODE);
    expect(BLANK_MAGIC_CODE >>> 0).toBe(0xcbd43194);
    expect(checkMessageAndReturnSize(b, 0, 8, true, noDelay)).toEqual({ kind: "blank", size: 1234 });
  });

  it("reads the dispatch properties from the bytes exactly as the full parse does", () => {
    const cases: Array<Record<string, string>> = [
      {},
      { TAGS: "T" },
      { KEYS: "a b  c", UNIQ_KEY: "U1", TAGS: "x", DELAY: "3", OTHER: "v" },
      { KEYS: "", TAGS: "t", X: "\u00e9\u00e9" },
      { KEYSX: "no", TAG: "no", UNIQ_KEY: "u", "\u00e9": "v" },
    ];
    for (const properties of cases) {
      const bytes = record({ properties });
      const full = checkMessageAndReturnSize(bytes, 0, bytes.length, true, noDelay, true);
      const lite = checkMessageAndReturnSize(bytes, 0, bytes.length, true, noDelay, false);
      if (full.kind !== "ok" || lite.kind !== "ok") throw new Error("expected ok");
      expect([lite.keys, lite.uniqKey, lite.tagsCode]).toEqual([full.keys, full.uniqKey, full.tagsCode]);
      expect(lite.properties).toEqual({});
    }
  });

  it("uses the delivery time as the tags code of a delayed message in SCHEDULE_TOPIC_XXXX", () => {
    const bytes = record({ topic: "SCHEDULE_TOPIC_XXXX", properties: { DELAY: "3", TAGS: "TagA" } });
    const r = checkMessageAndReturnSize(bytes, 0, bytes.length, false, (level, ts) => ts + level * 1000);
    expect(r.kind === "ok" && r.tagsCode).toBe(1_700_000_000_456 + 3000);
  });

  it("refuses a body over maxMessageSize and a topic over 127 bytes", () => {
    const e = new MessageEncoder(16);
    expect(e.encode(fields({ body: new Uint8Array(17) }))).toBe("MESSAGE_ILLEGAL");
    expect(e.encode(fields({ body: new Uint8Array(16) }))).toBeNull();
    expect(new MessageEncoder(1024).encode(fields({ topic: "\u00e9".repeat(64) }))).toBe("MESSAGE_ILLEGAL");
  });

  it("maps node names to stable addresses and keeps real ones", () => {
    expect(parseHost("1.2.3.4:5")).toEqual({ ip: 0x01020304, port: 5 });
    const a = parseHost("broker-a");
    expect(a).toEqual(parseHost("broker-a"));
    expect(a.ip >>> 24).toBe(10);
    expect(parseHost("broker-a:10911").port).toBe(10911);
  });
});
