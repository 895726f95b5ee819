import { rocketmqBodyCrc } from "./crc32.js";
import type { DecodedMessage } from "./types.js";

/**
 * The CommitLog record in RocketMQ's own byte layout (CommitLog.calMsgLength,
 * MessageExtEncoder.encode, CommitLog.checkMessageAndReturnSize), big-endian:
 *
 *   0 TOTALSIZE 4 | 4 MAGICCODE 4 | 8 BODYCRC 4 | 12 QUEUEID 4 | 16 FLAG 4 |
 *  20 QUEUEOFFSET 8 | 28 PHYSICALOFFSET 8 | 36 SYSFLAG 4 | 40 BORNTIMESTAMP 8 |
 *  48 BORNHOST 8 | 56 STORETIMESTAMP 8 | 64 STOREHOST 8 | 72 RECONSUMETIMES 4 |
 *  76 PREPARED_TX_OFFSET 8 | 84 BODYLEN 4 + body | TOPICLEN 1 + topic |
 *  PROPLEN 2 + properties
 *
 * (hosts are 20 bytes instead of 8 when the IPv6 sysflag bits are set; this
 * model only writes IPv4 but decodes both, as the real decoder does).
 */

/** CommitLog.MESSAGE_MAGIC_CODE = -626843481 (0xdaa320a7). */
export const MESSAGE_MAGIC_CODE = -626843481;
/** CommitLog.BLANK_MAGIC_CODE = -875286124 (0xcbd43194): the rest of the file is empty. */
export const BLANK_MAGIC_CODE = -875286124;
/** DefaultAppendMessageCallback.END_FILE_MIN_BLANK_LENGTH: room always kept for a blank record. */
export const END_FILE_MIN_BLANK_LENGTH = 8;

export const QUEUE_OFFSET_POSITION = 20;
export const PHYSICAL_OFFSET_POSITION = 28;
export const SYSFLAG_POSITION = 36;
/** STORETIMESTAMP for IPv4 born hosts (MessageDecoder: 4+4+4+4+4+8+8+4+8+8). */
export const STORE_TIMESTAMP_POSITION_V4 = 56;

// MessageSysFlag
export const BORNHOST_V6_FLAG = 0x1 << 4;
export const STOREHOSTADDRESS_V6_FLAG = 0x1 << 5;
export const TRANSACTION_NOT_TYPE = 0;
export const TRANSACTION_PREPARED_TYPE = 0x1 << 2;
export const TRANSACTION_COMMIT_TYPE = 0x2 << 2;
export const TRANSACTION_ROLLBACK_TYPE = 0x3 << 2;

export function transactionType(sysFlag: number): number {
  return sysFlag & TRANSACTION_ROLLBACK_TYPE;
}

// MessageConst property names the store reads.
export const PROPERTY_KEYS = "KEYS";
export const PROPERTY_TAGS = "TAGS";
export const PROPERTY_WAIT_STORE_MSG_OK = "WAIT";
export const PROPERTY_DELAY_TIME_LEVEL = "DELAY";
export const PROPERTY_REAL_TOPIC = "REAL_TOPIC";
export const PROPERTY_REAL_QUEUE_ID = "REAL_QID";
export const PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX = "UNIQ_KEY";
/** MessageConst.KEY_SEPARATOR */
export const KEY_SEPARATOR = " ";
/** TopicValidator.RMQ_SYS_SCHEDULE_TOPIC */
export const SCHEDULE_TOPIC = "SCHEDULE_TOPIC_XXXX";

/** CommitLog.calMsgLength */
export function calMsgLength(sysFlag: number, bodyLength: number, topicLength: number, propertiesLength: number): number {
  const bornHostLength = (sysFlag & BORNHOST_V6_FLAG) === 0 ? 8 : 20;
  const storeHostLength = (sysFlag & STOREHOSTADDRESS_V6_FLAG) === 0 ? 8 : 20;
  return (
    4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + bornHostLength + 8 + storeHostLength + 4 + 8 +
    4 + Math.max(bodyLength, 0) + 1 + topicLength + 2 + Math.max(propertiesLength, 0)
  );
}

// ---- big-endian primitives ----------------------------------------------------

const TWO_POW_32 = 4294967296;

export function writeInt32(buf: Uint8Array, pos: number, v: number): void {
  buf[pos] = v >>> 24;
  buf[pos + 1] = v >>> 16;
  buf[pos + 2] = v >>> 8;
  buf[pos + 3] = v;
}

export function readInt32(buf: Uint8Array, pos: number): number {
  return (buf[pos]! << 24) | (buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!;
}

/** Writes a Java long; exact for |v| < 2^53, which covers every offset and timestamp here. */
export function writeInt64(buf: Uint8Array, pos: number, v: number): void {
  const hi = Math.floor(v / TWO_POW_32);
  writeInt32(buf, pos, hi | 0);
  writeInt32(buf, pos + 4, (v - hi * TWO_POW_32) | 0);
}

export function readInt64(buf: Uint8Array, pos: number): number {
  return readInt32(buf, pos) * TWO_POW_32 + (readInt32(buf, pos + 4) >>> 0);
}

export function writeInt16(buf: Uint8Array, pos: number, v: number): void {
  buf[pos] = v >>> 8;
  buf[pos + 1] = v;
}

/** A Java short: signed. */
export function readInt16(buf: Uint8Array, pos: number): number {
  return ((buf[pos]! << 24) | (buf[pos + 1]! << 16)) >> 16;
}

// ---- strings ---------------------------------------------------------------------

/**
 * Encodes `s` as UTF-8 at `pos` and returns the bytes written, as Java's
 * String.getBytes(UTF_8) does (an unpaired surrogate becomes '?'). The
 * caller guarantees room for 3 bytes per UTF-16 unit.
 */
export function writeUtf8(s: string, buf: Uint8Array, pos: number): number {
  const start = pos;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[pos++] = c;
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        buf[pos++] = 0xf0 | (c >> 18);
        buf[pos++] = 0x80 | ((c >> 12) & 0x3f);
        buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
        buf[pos++] = 0x80 | (c & 0x3f);
      } else {
        buf[pos++] = 0x3f;
      }
    } else {
      buf[pos++] = 0xe0 | (c >> 12);
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
      buf[pos++] = 0x80 | (c & 0x3f);
    }
  }
  return pos - start;
}

const utf8Decoder = new TextDecoder("utf-8");

/** Decodes UTF-8 (malformed input becomes U+FFFD, as Java's decoder does); short ASCII strings skip TextDecoder. */
export function readUtf8(buf: Uint8Array, pos: number, length: number): string {
  if (length <= 4096) {
    let ascii = true;
    for (let i = pos; i < pos + length; i++) {
      if (buf[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, buf.subarray(pos, pos + length) as unknown as number[]);
  }
  return utf8Decoder.decode(buf.subarray(pos, pos + length));
}

/** Java's String.hashCode over UTF-16 units, with its 32-bit wrap. */
export function javaStringHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

/** MessageDecoder.NAME_VALUE_SEPARATOR and PROPERTY_SEPARATOR. */
const NAME_VALUE_SEPARATOR = "\u0001";
const PROPERTY_SEPARATOR = "\u0002";

/** MessageDecoder.messageProperties2String: name \u0001 value \u0002 ..., the last \u0002 dropped. */
export function messageProperties2String(properties: Record<string, string>): string {
  let s = "";
  for (const name in properties) {
    const value = properties[name];
    if (value === undefined || value === null) continue;
    s += name + NAME_VALUE_SEPARATOR + value + PROPERTY_SEPARATOR;
  }
  return s.length > 0 ? s.slice(0, -1) : s;
}

/**
 * MessageDecoder.string2messageProperties, with its quirks: a segment shorter
 * than 3 characters, or whose value is empty, is dropped.
 */
export function string2messageProperties(properties: string): Record<string, string> {
  const map: Record<string, string> = {};
  const len = properties.length;
  let index = 0;
  while (index < len) {
    let newIndex = properties.indexOf(PROPERTY_SEPARATOR, index);
    if (newIndex < 0) newIndex = len;
    if (newIndex - index >= 3) {
      const kvSepIndex = properties.indexOf(NAME_VALUE_SEPARATOR, index);
      if (kvSepIndex > index && kvSepIndex < newIndex - 1) {
        map[properties.substring(index, kvSepIndex)] = properties.substring(kvSepIndex + 1, newIndex);
      }
    }
    index = newIndex + 1;
  }
  return map;
}

/** MessageExtBrokerInner.tagsString2tagsCode: the tag's String.hashCode, 0 without a tag. */
export function tagsString2tagsCode(tags: string | undefined): number {
  if (tags === undefined || tags.length === 0) return 0;
  return javaStringHashCode(tags);
}

// ---- hosts -------------------------------------------------------------------------

export interface HostAddress {
  /** IPv4 address as an unsigned 32-bit number. */
  ip: number;
  port: number;
}

const hostCache = new Map<string, HostAddress>();

/**
 * A host string as the record's 8-byte address (ip 4 + port 4, as
 * MessageExt.socketAddress2ByteBuffer writes it). "a.b.c.d:port" is taken
 * literally. Simulated nodes are named, not addressed, so any other string
 * is mapped to a stable address in 10.0.0.0/8 derived from its hash, with
 * the port after a ':' if there is one: decoding gives that address back,
 * not the name. The cache is a memo of a pure function.
 */
export function parseHost(host: string): HostAddress {
  const cached = hostCache.get(host);
  if (cached !== undefined) return cached;
  const colon = host.lastIndexOf(":");
  const name = colon >= 0 ? host.slice(0, colon) : host;
  const portText = colon >= 0 ? host.slice(colon + 1) : "";
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) & 0xffff : 0;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name);
  let ip: number;
  if (m !== null && m.slice(1).every((p) => Number(p) <= 255)) {
    ip = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  } else {
    ip = ((10 << 24) | (javaStringHashCode(name) & 0xffffff)) >>> 0;
  }
  const out = { ip, port };
  hostCache.set(host, out);
  return out;
}

/** What decoding derives from an IPv4 address and port: its text and its message id prefix. */
interface HostText {
  /** "a.b.c.d:port", as MessageExt's socket address prints. */
  text: string;
  /** createMessageId's first 16 hex digits (ip 4 bytes, port 4 bytes). */
  idPrefix: string;
}

/**
 * HostText by ip then port: decoding meets the same few hosts over and
 * over, and building the text and hex costs more than the lookup. A memo of
 * a pure function; cleared if it ever grows large (garbage records).
 */
const hostTexts = new Map<number, Map<number, HostText>>();
let hostTextCount = 0;

/** `ip` unsigned and `port` signed, as read from a record. */
function hostTextOf(ip: number, port: number): HostText {
  let byPort = hostTexts.get(ip);
  let t = byPort?.get(port);
  if (t !== undefined) return t;
  if (hostTextCount >= 4096) {
    hostTexts.clear();
    hostTextCount = 0;
    byPort = undefined;
  }
  if (byPort === undefined) {
    byPort = new Map();
    hostTexts.set(ip, byPort);
  }
  t = { text: `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}:${port}`, idPrefix: hex32(ip) + hex32(port) };
  byPort.set(port, t);
  hostTextCount++;
  return t;
}

function readHost(buf: Uint8Array, pos: number, v6: boolean): string {
  if (!v6) return hostTextOf(readInt32(buf, pos) >>> 0, readInt32(buf, pos + 4)).text;
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(((buf[pos + i]! << 8) | buf[pos + i + 1]!).toString(16));
  return `[${parts.join(":")}]:${readInt32(buf, pos + 16)}`;
}

/** Upper-case hex of every byte value, as UtilAll.bytes2string writes it. */
const HEX_BYTE: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, "0"));

function hex32(v: number): string {
  return HEX_BYTE[(v >>> 24) & 0xff]! + HEX_BYTE[(v >>> 16) & 0xff]! + HEX_BYTE[(v >>> 8) & 0xff]! + HEX_BYTE[v & 0xff]!;
}

/** Character codes of the upper-case hex digits. */
const HEX_CODE: number[] = Array.from("0123456789ABCDEF", (c) => c.charCodeAt(0));

/**
 * The last 16 hex digits of a message id: the physical offset as a Java
 * long, as hex32 of its high then its low word would write them. Every
 * stored message gets one, so the string is made at once from its 16
 * character codes rather than from eight concatenated byte pairs.
 */
function offsetHex(physicalOffset: number): string {
  const hi = Math.floor(physicalOffset / TWO_POW_32);
  const h = hi | 0;
  const l = (physicalOffset - hi * TWO_POW_32) | 0;
  const d = HEX_CODE;
  return String.fromCharCode(
    d[(h >>> 28) & 15]!, d[(h >>> 24) & 15]!, d[(h >>> 20) & 15]!, d[(h >>> 16) & 15]!,
    d[(h >>> 12) & 15]!, d[(h >>> 8) & 15]!, d[(h >>> 4) & 15]!, d[h & 15]!,
    d[(l >>> 28) & 15]!, d[(l >>> 24) & 15]!, d[(l >>> 20) & 15]!, d[(l >>> 16) & 15]!,
    d[(l >>> 12) & 15]!, d[(l >>> 8) & 15]!, d[(l >>> 4) & 15]!, d[l & 15]!,
  );
}

// Weak, so callers' HostAddress objects are not kept alive by the memo.
const hostHex = new WeakMap<HostAddress, string>();

/** MessageDecoder.createMessageId: store host (8 bytes) and physical offset (8 bytes) as upper-case hex. */
export function createMessageId(storeHost: HostAddress, physicalOffset: number): string {
  let prefix = hostHex.get(storeHost);
  if (prefix === undefined) {
    prefix = hex32(storeHost.ip) + hex32(storeHost.port);
    hostHex.set(storeHost, prefix);
  }
  return prefix + offsetHex(physicalOffset);
}

/** The message id of a stored record (its store host is at a fixed place for IPv4 born hosts). */
function messageIdOf(buf: Uint8Array, pos: number, storeHostPos: number, physicalOffset: number): string {
  return hostTextOf(readInt32(buf, pos + storeHostPos) >>> 0, readInt32(buf, pos + storeHostPos + 4)).idPrefix + offsetHex(physicalOffset);
}

// ---- encoding ------------------------------------------------------------------------

/** The fields the encoder needs, after the broker's message has been checked and rewritten. */
export interface EncodeFields {
  topic: string;
  queueId: number;
  flag: number;
  sysFlag: number;
  bornTimestamp: number;
  bornHost: HostAddress;
  storeTimestamp: number;
  storeHost: HostAddress;
  reconsumeTimes: number;
  preparedTransactionOffset: number;
  body: Uint8Array;
  bodyCrc: number;
  properties: Record<string, string>;
}

export type EncodeError = "MESSAGE_ILLEGAL" | "PROPERTIES_SIZE_EXCEEDED";

/** Where MessageEncoder puts the body (after BODYLEN): it writes every host as IPv4. */
const ENCODED_BODY_POSITION = 88;

/**
 * MessageExtEncoder: serializes into one buffer it keeps (a thread-local
 * buffer in the real broker), with QUEUEOFFSET and PHYSICALOFFSET left as 0
 * for the append to fill in. The buffer is overwritten by the next encode.
 */
export class MessageEncoder {
  buffer: Uint8Array;
  /** Valid after a successful encode. */
  length = 0;

  constructor(
    /** maxMessageSize: the largest body accepted. */
    private readonly maxMessageBodySize: number,
  ) {
    this.buffer = new Uint8Array(Math.min(64 * 1024, maxMessageBodySize + 64 * 1024));
  }

  /** Encodes; returns null on success, or the status the real encoder returns. */
  encode(f: EncodeFields): EncodeError | null {
    const bodyLength = f.body.length;
    // Exceeds the maximum message body (checked before anything is written).
    if (bodyLength > this.maxMessageBodySize) return "MESSAGE_ILLEGAL";
    // Worst case UTF-8 is 3 bytes per UTF-16 unit; make room up front.
    let propChars = 0;
    for (const k in f.properties) {
      const v = f.properties[k];
      if (v !== undefined && v !== null) propChars += k.length + v.length + 2;
    }
    const bound = calMsgLength(0, bodyLength, f.topic.length * 3, propChars * 3);
    if (this.buffer.length < bound) {
      let cap = this.buffer.length;
      while (cap < bound) cap *= 2;
      this.buffer = new Uint8Array(cap);
    }
    const buf = this.buffer;
    const sysFlag = encodedSysFlag(f.sysFlag);
    writeInt32(buf, 4, MESSAGE_MAGIC_CODE);
    writeInt32(buf, 8, f.bodyCrc);
    writeInt32(buf, 12, f.queueId);
    writeInt32(buf, 16, f.flag);
    writeInt64(buf, 20, 0);
    writeInt64(buf, 28, 0);
    writeInt32(buf, 36, sysFlag);
    writeInt64(buf, 40, f.bornTimestamp);
    writeInt32(buf, 48, f.bornHost.ip | 0);
    writeInt32(buf, 52, f.bornHost.port);
    writeInt64(buf, 56, f.storeTimestamp);
    writeInt32(buf, 64, f.storeHost.ip | 0);
    writeInt32(buf, 68, f.storeHost.port);
    writeInt32(buf, 72, f.reconsumeTimes);
    writeInt64(buf, 76, f.preparedTransactionOffset);
    writeInt32(buf, 84, bodyLength);
    buf.set(f.body, ENCODED_BODY_POSITION);
    let pos = ENCODED_BODY_POSITION + bodyLength;
    const topicLength = writeUtf8(f.topic, buf, pos + 1);
    if (topicLength > 127) return "MESSAGE_ILLEGAL";
    buf[pos] = topicLength;
    pos += 1 + topicLength;
    // Properties straight from the map, in the layout messageProperties2String gives.
    const propStart = pos + 2;
    let p = propStart;
    for (const k in f.properties) {
      const v = f.properties[k];
      if (v === undefined || v === null) continue;
      p += writeUtf8(k, buf, p);
      buf[p++] = 1;
      p += writeUtf8(v, buf, p);
      buf[p++] = 2;
    }
    if (p > propStart) p--;
    const propertiesLength = p - propStart;
    // MessageExtEncoder: a properties string longer than Short.MAX_VALUE bytes.
    if (propertiesLength > 32767) return "PROPERTIES_SIZE_EXCEEDED";
    writeInt16(buf, pos, propertiesLength);
    const msgLen = calMsgLength(sysFlag, bodyLength, topicLength, propertiesLength);
    // Exceeds the maximum message: body limit plus 64 KiB for everything else.
    if (msgLen > this.maxMessageBodySize + 64 * 1024) return "MESSAGE_ILLEGAL";
    writeInt32(buf, 0, msgLen);
    this.length = msgLen;
    return null;
  }
}

/** The sysflag as encoded: its IPv6 bits are the broker's to set from the addresses; ours are always IPv4. */
function encodedSysFlag(sysFlag: number): number {
  return sysFlag & ~(BORNHOST_V6_FLAG | STOREHOSTADDRESS_V6_FLAG);
}

/** What readInt64 gives back for a number writeInt64 wrote (the number itself when it is a safe integer). */
function int64RoundTrip(v: number): number {
  const hi = Math.floor(v / TWO_POW_32);
  return (hi | 0) * TWO_POW_32 + (((v - hi * TWO_POW_32) | 0) >>> 0);
}

/** True when UTF-8 encoding then decoding gives `s` back and it holds neither properties separator. */
function isPlainText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 1 || c === 2) return false;
    if (c >= 0xd800 && c <= 0xdfff) {
      // A surrogate pair survives as one 4-byte character; an unpaired surrogate would come back as '?'.
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) return false;
      i++;
    }
  }
  return true;
}

/**
 * The properties map decoding gives for what the encoder wrote from
 * `properties`, or null when it may differ from a copy of them. The encoder
 * writes every non-null value as `name \u0001 value`, separated by \u0002;
 * the decoder splits on those separators, drops a pair with an empty name
 * or value, and assigns each pair into a new object. So unless a string
 * holds a separator or would not survive UTF-8, a name or value is empty, or
 * a value is not a string, assigning the pairs in the encoder's (for-in)
 * order gives the same object (a "__proto__" name is ignored by both).
 */
function decodedProperties(properties: Record<string, string>): Record<string, string> | null {
  const out: Record<string, string> = {};
  for (const k in properties) {
    const v = properties[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string" || k.length === 0 || v.length === 0 || !isPlainText(k) || !isPlainText(v)) return null;
    out[k] = v;
  }
  return out;
}

/**
 * What decodeRecord(buf, 0, msgLen) gives for the record the encoder just
 * wrote into its buffer from `f` (with `queueOffset` and `physicalOffset`
 * filled in), built from `f` instead of parsing the bytes back; null when a string
 * might not come back unchanged, and then the caller decodes the bytes.
 * Each field is what its decoder reads back from what the encoder wrote:
 * int fields as Java ints (`| 0`), longs through int64RoundTrip, IPv4
 * addresses as unsigned ints, the body as written (f.body itself), and the
 * dispatch fields through the same functions the checker uses. The tests
 * (recent-records.test.ts) compare the two over random records.
 */
export function decodedFromFields(f: EncodeFields, msgLen: number, queueOffset: number, physicalOffset: number, deliverTimestamp: DeliverTimestampFn): DecodedRecord | null {
  const topic = f.topic;
  if (!isPlainText(topic)) return null;
  const properties = decodedProperties(f.properties);
  if (properties === null) return null;
  const storeTimestamp = int64RoundTrip(f.storeTimestamp);
  // checkMessageAndReturnSize reads these only when there are properties; absent ones read as undefined either way.
  const keys = properties[PROPERTY_KEYS];
  const uniqKey = properties[PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX];
  const tagsCode = dispatchTagsCode(topic, properties[PROPERTY_TAGS], properties[PROPERTY_DELAY_TIME_LEVEL], storeTimestamp, deliverTimestamp);
  const queueId = f.queueId | 0;
  const sysFlag = encodedSysFlag(f.sysFlag);
  const preparedTransactionOffset = int64RoundTrip(f.preparedTransactionOffset);
  const storeHost = hostTextOf(f.storeHost.ip >>> 0, f.storeHost.port | 0);
  queueOffset = int64RoundTrip(queueOffset);
  physicalOffset = int64RoundTrip(physicalOffset);
  const dispatch: DispatchRequest = {
    kind: "ok",
    size: msgLen,
    topic,
    queueId,
    physicalOffset,
    queueOffset,
    tagsCode,
    storeTimestamp,
    sysFlag,
    preparedTransactionOffset,
    keys,
    uniqKey,
    properties,
  };
  const message: DecodedMessage = {
    topic,
    queueId,
    flag: f.flag | 0,
    queueOffset,
    physicalOffset,
    sysFlag,
    bornTimestamp: int64RoundTrip(f.bornTimestamp),
    bornHost: hostTextOf(f.bornHost.ip >>> 0, f.bornHost.port | 0).text,
    storeTimestamp,
    storeHost: storeHost.text,
    reconsumeTimes: f.reconsumeTimes | 0,
    preparedTransactionOffset,
    // The encoder copied f.body's bytes verbatim, so f.body holds exactly what decoding would copy out; bodies are
    // never written after they are made (records share theirs with every reader), so it serves as the copy.
    body: f.body,
    bodyCRC: f.bodyCrc | 0,
    properties,
    storeSize: msgLen,
    tagsCode,
    msgId: storeHost.idPrefix + offsetHex(physicalOffset),
  };
  return { dispatch, message };
}

/** The 8-byte blank record that closes a file whose remaining `maxBlank` bytes cannot hold the next message. */
export function encodeBlank(maxBlank: number): Uint8Array {
  const b = new Uint8Array(END_FILE_MIN_BLANK_LENGTH);
  writeInt32(b, 0, maxBlank);
  writeInt32(b, 4, BLANK_MAGIC_CODE);
  return b;
}

// ---- validation and decoding ----------------------------------------------------------

/** A valid record, as DispatchRequest carries it. */
export interface DispatchRequest {
  kind: "ok";
  size: number;
  topic: string;
  queueId: number;
  physicalOffset: number;
  queueOffset: number;
  tagsCode: number;
  storeTimestamp: number;
  sysFlag: number;
  preparedTransactionOffset: number;
  keys: string | undefined;
  uniqKey: string | undefined;
  /** Every property; empty when decoded for dispatch only. */
  properties: Record<string, string>;
}

/**
 * The outcome of checkMessageAndReturnSize:
 * - ok: a valid record;
 * - blank: the end-of-file marker (the real one reports size 0);
 * - corrupt: the bytes are there and wrong (bad magic, CRC, or TOTALSIZE not
 *   matching the fields; `size` is TOTALSIZE in the last case, as the real
 *   DispatchRequest(totalSize, false), else -1);
 * - end: not enough bytes for a record, or zeros where one would start.
 * The real code folds `end` into -1 through an exception; callers treat it
 * like corrupt, and recovery reports it as a clean end.
 */
export type CheckResult = DispatchRequest | { kind: "blank"; size: number } | { kind: "corrupt"; size: number } | { kind: "end"; size: -1 };

const END: CheckResult = { kind: "end", size: -1 };
const CORRUPT: CheckResult = { kind: "corrupt", size: -1 };

/** The delivery time of a delayed message, used as its ConsumeQueue tag (ScheduleMessageService.computeDeliverTimestamp). */
export type DeliverTimestampFn = (delayLevel: number, storeTimestamp: number) => number;

/**
 * CommitLog.checkMessageAndReturnSize over buf[pos, pos+avail). With
 * `checkCRC` the body's CRC is verified (recovery); the dispatcher skips it.
 * With `fullProperties` false the returned `properties` is empty and only
 * the four properties dispatch needs (KEYS, UNIQ_KEY, TAGS, DELAY) are read,
 * straight from the bytes, with the same result string2messageProperties
 * would give for them.
 */
export function checkMessageAndReturnSize(
  buf: Uint8Array,
  pos: number,
  avail: number,
  checkCRC: boolean,
  deliverTimestamp: DeliverTimestampFn,
  fullProperties = true,
): CheckResult {
  if (avail < 8) return END;
  const totalSize = readInt32(buf, pos);
  const magic = readInt32(buf, pos + 4);
  if (magic === BLANK_MAGIC_CODE) return { kind: "blank", size: totalSize };
  if (magic !== MESSAGE_MAGIC_CODE) return magic === 0 && totalSize === 0 ? END : CORRUPT;
  if (totalSize <= 0) return CORRUPT;
  if (totalSize > avail) return END;
  const sysFlag = readInt32(buf, pos + SYSFLAG_POSITION);
  const bornHostLength = (sysFlag & BORNHOST_V6_FLAG) === 0 ? 8 : 20;
  const storeHostLength = (sysFlag & STOREHOSTADDRESS_V6_FLAG) === 0 ? 8 : 20;
  const storeTsPos = 48 + bornHostLength;
  const reconsumePos = storeTsPos + 8 + storeHostLength;
  const bodyLenPos = reconsumePos + 4 + 8;
  const end = pos + totalSize;
  if (pos + bodyLenPos + 4 > end) return { kind: "corrupt", size: totalSize };
  const bodyLen = readInt32(buf, pos + bodyLenPos);
  let p = pos + bodyLenPos + 4;
  if (bodyLen > 0) {
    if (p + bodyLen > end) return CORRUPT;
    if (checkCRC && rocketmqBodyCrc(buf, p, bodyLen) !== readInt32(buf, pos + 8)) return CORRUPT;
    p += bodyLen;
  }
  if (p + 1 > end) return CORRUPT;
  // A Java byte: a length above 127 reads as negative and breaks the parse.
  const topicLen = (buf[p]! << 24) >> 24;
  p += 1;
  if (topicLen < 0 || p + topicLen + 2 > end) return CORRUPT;
  const topic = readUtf8(buf, p, topicLen);
  p += topicLen;
  const propertiesLength = readInt16(buf, p);
  p += 2;
  let properties: Record<string, string> = EMPTY_PROPERTIES;
  let tagsCode = 0;
  let keys: string | undefined;
  let uniqKey: string | undefined;
  const storeTimestamp = readInt64(buf, pos + storeTsPos);
  if (propertiesLength > 0) {
    if (p + propertiesLength > end) return CORRUPT;
    let tags: string | undefined;
    let level: string | undefined;
    if (fullProperties) {
      properties = string2messageProperties(readUtf8(buf, p, propertiesLength));
      keys = properties[PROPERTY_KEYS];
      uniqKey = properties[PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX];
      tags = properties[PROPERTY_TAGS];
      level = properties[PROPERTY_DELAY_TIME_LEVEL];
    } else {
      const d = scanDispatchProperties(buf, p, propertiesLength);
      keys = d.keys;
      uniqKey = d.uniqKey;
      tags = d.tags;
      level = d.delay;
    }
    tagsCode = dispatchTagsCode(topic, tags, level, storeTimestamp, deliverTimestamp);
  }
  if (calMsgLength(sysFlag, bodyLen, topicLen, propertiesLength) !== totalSize) return { kind: "corrupt", size: totalSize };
  return {
    kind: "ok",
    size: totalSize,
    topic,
    queueId: readInt32(buf, pos + 12),
    physicalOffset: readInt64(buf, pos + PHYSICAL_OFFSET_POSITION),
    queueOffset: readInt64(buf, pos + QUEUE_OFFSET_POSITION),
    tagsCode,
    storeTimestamp,
    sysFlag,
    preparedTransactionOffset: readInt64(buf, pos + reconsumePos + 4),
    keys,
    uniqKey,
    properties,
  };
}

/** The ConsumeQueue tag of a record with properties: the TAGS hash, or a delayed message's delivery time. */
function dispatchTagsCode(topic: string, tags: string | undefined, level: string | undefined, storeTimestamp: number, deliverTimestamp: DeliverTimestampFn): number {
  let tagsCode = tagsString2tagsCode(tags);
  if (topic === SCHEDULE_TOPIC && level !== undefined) {
    const delayLevel = Number.parseInt(level, 10);
    if (delayLevel > 0) tagsCode = deliverTimestamp(delayLevel, storeTimestamp);
  }
  return tagsCode;
}

interface DispatchProperties {
  keys: string | undefined;
  uniqKey: string | undefined;
  tags: string | undefined;
  delay: string | undefined;
}

const NAME_KEYS = [0x4b, 0x45, 0x59, 0x53]; // KEYS
const NAME_TAGS = [0x54, 0x41, 0x47, 0x53]; // TAGS
const NAME_DELAY = [0x44, 0x45, 0x4c, 0x41, 0x59]; // DELAY
const NAME_UNIQ_KEY = [0x55, 0x4e, 0x49, 0x51, 0x5f, 0x4b, 0x45, 0x59]; // UNIQ_KEY

function nameIs(buf: Uint8Array, start: number, length: number, name: number[]): boolean {
  if (length !== name.length) return false;
  for (let i = 0; i < length; i++) if (buf[start + i] !== name[i]) return false;
  return true;
}

/**
 * The dispatcher's four properties from the encoded properties bytes.
 * \u0001 and \u0002 are single bytes in UTF-8 and never occur inside a
 * multi-byte character, so splitting bytes splits characters the same way;
 * a later duplicate wins, as with map.put.
 */
function scanDispatchProperties(buf: Uint8Array, start: number, length: number): DispatchProperties {
  const out: DispatchProperties = { keys: undefined, uniqKey: undefined, tags: undefined, delay: undefined };
  const end = start + length;
  let index = start;
  while (index < end) {
    let newIndex = index;
    while (newIndex < end && buf[newIndex] !== 2) newIndex++;
    let kvSep = index;
    while (kvSep < newIndex && buf[kvSep] !== 1) kvSep++;
    if (kvSep > index && kvSep < newIndex - 1) {
      const nameLength = kvSep - index;
      let slot: keyof DispatchProperties | null = null;
      if (nameIs(buf, index, nameLength, NAME_KEYS)) slot = "keys";
      else if (nameIs(buf, index, nameLength, NAME_TAGS)) slot = "tags";
      else if (nameIs(buf, index, nameLength, NAME_UNIQ_KEY)) slot = "uniqKey";
      else if (nameIs(buf, index, nameLength, NAME_DELAY)) slot = "delay";
      if (slot !== null) out[slot] = readUtf8(buf, kvSep + 1, newIndex - kvSep - 1);
    }
    index = newIndex + 1;
  }
  return out;
}

const EMPTY_PROPERTIES: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * MessageDecoder.decode: every field of the record at buf[pos, pos+avail),
 * or null when it is not a valid message. The body is copied out.
 */
export function decodeMessage(buf: Uint8Array, pos: number, avail: number, deliverTimestamp: DeliverTimestampFn): DecodedMessage | null {
  const r = checkMessageAndReturnSize(buf, pos, avail, false, deliverTimestamp);
  if (r.kind !== "ok") return null;
  return decodeChecked(buf, pos, r);
}

/** A record decoded both ways: what the dispatcher takes and what a reader gets. */
export interface DecodedRecord {
  dispatch: DispatchRequest;
  message: DecodedMessage;
}

/**
 * checkMessageAndReturnSize (without CRC check, every property read) and
 * decodeMessage at once, over the same bytes: the dispatch request's fields
 * are the ones the dispatcher's lighter check gives (its properties map is
 * full rather than empty), and `message` is what decodeMessage returns.
 * Both share one properties object.
 */
export function decodeRecord(buf: Uint8Array, pos: number, avail: number, deliverTimestamp: DeliverTimestampFn): DecodedRecord | null {
  const r = checkMessageAndReturnSize(buf, pos, avail, false, deliverTimestamp);
  if (r.kind !== "ok") return null;
  const message = decodeChecked(buf, pos, r);
  r.properties = message.properties;
  return { dispatch: r, message };
}

/** decodeMessage's work once the record at `pos` has been checked. */
function decodeChecked(buf: Uint8Array, pos: number, r: DispatchRequest): DecodedMessage {
  const sysFlag = r.sysFlag;
  const bornV6 = (sysFlag & BORNHOST_V6_FLAG) !== 0;
  const storeV6 = (sysFlag & STOREHOSTADDRESS_V6_FLAG) !== 0;
  const bornHostLength = bornV6 ? 20 : 8;
  const storeHostLength = storeV6 ? 20 : 8;
  const storeHostPos = 48 + bornHostLength + 8;
  const bodyLenPos = storeHostPos + storeHostLength + 4 + 8;
  const bodyLen = Math.max(readInt32(buf, pos + bodyLenPos), 0);
  const bodyStart = pos + bodyLenPos + 4;
  return {
    topic: r.topic,
    queueId: r.queueId,
    flag: readInt32(buf, pos + 16),
    queueOffset: r.queueOffset,
    physicalOffset: r.physicalOffset,
    sysFlag,
    bornTimestamp: readInt64(buf, pos + 40),
    bornHost: readHost(buf, pos + 48, bornV6),
    storeTimestamp: r.storeTimestamp,
    storeHost: readHost(buf, pos + storeHostPos, storeV6),
    reconsumeTimes: readInt32(buf, pos + storeHostPos + storeHostLength),
    preparedTransactionOffset: r.preparedTransactionOffset,
    body: buf.slice(bodyStart, bodyStart + bodyLen),
    bodyCRC: readInt32(buf, pos + 8),
    properties: r.properties === EMPTY_PROPERTIES ? {} : r.properties,
    storeSize: r.size,
    tagsCode: r.tagsCode,
    msgId: storeV6 ? readHost(buf, pos + storeHostPos, true) + "@" + r.physicalOffset : messageIdOf(buf, pos, storeHostPos, r.physicalOffset),
  };
}
