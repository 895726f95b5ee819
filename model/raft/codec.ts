// DLedger's on-disk formats: the entry (DLedgerEntryCoder.encode), the
// 32-byte index unit (DLedgerEntryCoder.encodeIndex), and the tiny
// java.util.Properties files MemberState and the checkpoint write. Numbers
// are big-endian, as java.nio.ByteBuffer writes them.
import { ENTRY_HEADER_BYTES, entrySize, type Entry } from "./core.js";

/** DLedgerMmapFileStore.MAGIC_1 = CURRENT_MAGIC = 1. */
export const ENTRY_MAGIC = 1;
/** MmapFileList.BLANK_MAGIC_CODE = -1: the rest of a mapped file is unused. */
export const BLANK_MAGIC = -1;
/** DLedgerMmapFileStore.INDEX_UNIT_SIZE = 32: magic 4, pos 8, size 4, index 8, term 8. */
export const INDEX_UNIT_BYTES = 32;

const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

/** CRC-32 (java.util.zip.CRC32), as an unsigned number. Bodies here are a few bytes, so byte-at-a-time is enough. */
export function crc32(bytes: Uint8Array, offset = 0, length = bytes.length - offset): number {
  let c = -1;
  for (let i = offset; i < offset + length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function setInt64(view: DataView, offset: number, n: number): void {
  view.setUint32(offset, Math.floor(n / 0x1_0000_0000));
  view.setUint32(offset + 4, n >>> 0);
}

function getInt64(view: DataView, offset: number): number {
  const hi = view.getInt32(offset);
  return hi * 0x1_0000_0000 + view.getUint32(offset + 4);
}

/**
 * An entry as DLedger lays it out: magic, size, index, term, pos, channel,
 * chainCrc, bodyCrc, bodyLen, body. DLedger 0.3.1.2 leaves bodyCrc at 0 and
 * never checks it; the model fills it in and checks it on recovery (see
 * `decodeEntries`), so that a torn body is never read back as an entry.
 */
export function encodeEntry(e: Entry): Uint8Array {
  const out = new Uint8Array(entrySize(e.body));
  const v = new DataView(out.buffer);
  v.setInt32(0, ENTRY_MAGIC);
  v.setInt32(4, out.length);
  setInt64(v, 8, e.index);
  setInt64(v, 16, e.term);
  setInt64(v, 24, e.pos);
  v.setInt32(32, 0); // channel (reserved)
  v.setInt32(36, 0); // chainCrc (never computed by DLedger)
  v.setInt32(40, crc32(e.body) | 0);
  v.setInt32(44, e.body.length);
  out.set(e.body, ENTRY_HEADER_BYTES);
  return out;
}

export function encodeIndexUnit(e: Entry): Uint8Array {
  const out = new Uint8Array(INDEX_UNIT_BYTES);
  const v = new DataView(out.buffer);
  v.setInt32(0, ENTRY_MAGIC);
  setInt64(v, 4, e.pos);
  v.setInt32(12, entrySize(e.body));
  setInt64(v, 16, e.index);
  setInt64(v, 24, e.term);
  return out;
}

export interface IndexUnit {
  magic: number;
  pos: number;
  size: number;
  index: number;
  term: number;
}

export function decodeIndexUnit(bytes: Uint8Array, offset: number): IndexUnit | null {
  if (offset + INDEX_UNIT_BYTES > bytes.length) return null;
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, INDEX_UNIT_BYTES);
  return { magic: v.getInt32(0), pos: getInt64(v, 4), size: v.getInt32(12), index: getInt64(v, 16), term: getInt64(v, 24) };
}

export interface DecodedLog {
  entries: Entry[];
  /** Bytes of valid entries from the start; everything after is ignored (and overwritten by later appends). */
  validBytes: number;
  /** Why the scan stopped: "end" (a blank or the end of the file) or the first check that failed. */
  stop: string;
}

/**
 * DLedgerMmapFileStore.recover over one data file: read entries from the
 * start while each one checks out — magic, size = 48 + bodyLen, pos equal to
 * its offset, index one past the previous, term not below the previous — and
 * (the model's addition) the body CRC. The first failure ends the log.
 */
export function decodeEntries(bytes: Uint8Array): DecodedLog {
  const entries: Entry[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  let lastIndex = -1;
  let lastTerm = -1;
  const stop = (why: string): DecodedLog => ({ entries, validBytes: offset, stop: why });
  for (;;) {
    if (offset + 8 > bytes.length) return stop("end");
    const magic = view.getInt32(offset);
    const size = view.getInt32(offset + 4);
    if (magic === BLANK_MAGIC || (magic === 0 && size === 0)) return stop("end");
    if (offset + ENTRY_HEADER_BYTES > bytes.length) return stop("torn header");
    if (magic !== ENTRY_MAGIC) return stop("bad magic");
    const index = getInt64(view, offset + 8);
    const term = getInt64(view, offset + 16);
    const pos = getInt64(view, offset + 24);
    const bodyCrc = view.getInt32(offset + 40) >>> 0;
    const bodyLen = view.getInt32(offset + 44);
    if (pos !== offset) return stop("pos mismatch");
    if (bodyLen < 0 || bodyLen + ENTRY_HEADER_BYTES !== size) return stop("size mismatch");
    if (offset + size > bytes.length) return stop("torn body");
    if (lastIndex !== -1 ? index !== lastIndex + 1 : index !== 0) return stop("index gap");
    if (term < lastTerm) return stop("term went back");
    const body = bytes.slice(offset + ENTRY_HEADER_BYTES, offset + size);
    if (crc32(body) !== bodyCrc) return stop("body crc");
    entries.push({ index, term, pos, body });
    lastIndex = index;
    lastTerm = term;
    offset += size;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** IOUtils.properties2String, without the date comment java.util.Properties.store would add. */
export function encodeProperties(props: Record<string, string>): Uint8Array {
  let s = "";
  for (const [k, v] of Object.entries(props)) s += `${k}=${v}\n`;
  return encoder.encode(s);
}

/** IOUtils.string2Properties: `key=value` lines; a file that came back empty or torn yields what it still holds. */
export function decodeProperties(bytes: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of decoder.decode(bytes).split("\n")) {
    if (line.length === 0 || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

/** Long.valueOf: a number, or null where Java would throw NumberFormatException. */
export function parseLong(s: string | undefined): number | null {
  if (s === undefined) return null;
  const t = s.trim();
  return /^-?\d{1,18}$/.test(t) ? Number(t) : null;
}
