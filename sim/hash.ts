/**
 * A streaming 64-bit hash (two 32-bit multiply-xorshift lanes). Not
 * cryptographic: it fingerprints a run so that two runs of the same
 * (scenario, seed) can be compared in O(1), and an edited trace line
 * changes the result.
 */
export class RunningHash {
  /**
   * The two lanes, [h1, h2]. An Int32Array keeps them as raw 32-bit ints:
   * as plain fields they would be stored as doubles (the first seed is above
   * 2^31) and converted on every access. Storing ToInt32 of the seeds
   * changes no result, since every use converts them to int32 anyway.
   */
  private readonly lanes = Int32Array.of(0xdeadbeef, 0x41c6ce57);

  /** Mixes every UTF-16 code unit of `text`, then a separator. */
  update(text: string): void {
    const lanes = this.lanes;
    let h1 = lanes[0]!;
    let h2 = lanes[1]!;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
    // A separator so that ["ab","c"] and ["a","bc"] differ.
    lanes[0] = Math.imul(h1 ^ 0x0a, 2654435761);
    lanes[1] = Math.imul(h2 ^ 0x0a, 1597334677);
  }

  /** Mixes a 32-bit word into both lanes. */
  word(w: number): void {
    const lanes = this.lanes;
    lanes[0] = Math.imul(lanes[0]! ^ w, 2654435761);
    lanes[1] = Math.imul(lanes[1]! ^ w, 1597334677);
  }

  updateNumber(n: number): void {
    const lo = n >>> 0;
    const hi = Math.floor(n / 4294967296) >>> 0;
    const lanes = this.lanes;
    lanes[0] = Math.imul(Math.imul(lanes[0]! ^ lo, 2654435761) ^ hi, 2246822507);
    lanes[1] = Math.imul(Math.imul(lanes[1]! ^ hi, 1597334677) ^ lo, 3266489909);
  }

  /** The current value as 16 hex digits; the state is left unchanged. */
  digest(): string {
    let h1 = this.lanes[0]!;
    let h2 = this.lanes[1]!;
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
    h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
    h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return (h2 >>> 0).toString(16).padStart(8, "0") + (h1 >>> 0).toString(16).padStart(8, "0");
  }
}

export function hashString(text: string): string {
  const h = new RunningHash();
  h.update(text);
  return h.digest();
}

// Type tags keep values of different JSON types apart ("1" vs 1, [] vs {}).
const TAG_NULL = 0x6e756c6c;
const TAG_TRUE = 0x74727565;
const TAG_FALSE = 0x66616c73;
const TAG_INT = 0x696e7431;
const TAG_NUM = 0x6e756d31;
const TAG_STR = 0x73747231;
const TAG_ARR = 0x61727231;
const TAG_OBJ = 0x6f626a31;
const TAG_END = 0x656e6431;

/**
 * Hashes a trace event: its time, node, kind and details, walking the
 * details as JSON would serialise them (key order, JSON's types, undefined
 * members skipped) without building the JSON text. A trace file's lines
 * parse back to exactly these values, so the hash can be checked from the
 * file alone; and the walk is several times cheaper than stringifying and
 * hashing every character of every line.
 */
export function hashEvent(h: RunningHash, timeUs: number, node: string, kind: string, details: unknown): void {
  h.updateNumber(timeUs);
  h.update(node);
  h.update(kind);
  if (details !== undefined) hashValue(h, details);
  h.word(TAG_END);
}

function hashInt(h: RunningHash, v: number): void {
  h.word(TAG_INT);
  h.updateNumber(v < 0 ? -v * 2 + 1 : v * 2);
}

function hashValue(h: RunningHash, v: unknown): void {
  switch (typeof v) {
    case "number":
      if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) {
        hashInt(h, v);
      } else if (Number.isFinite(v)) {
        h.word(TAG_NUM);
        h.update(String(v));
      } else {
        h.word(TAG_NULL);
      }
      return;
    case "string":
      h.word(TAG_STR);
      h.update(v);
      return;
    case "boolean":
      h.word(v ? TAG_TRUE : TAG_FALSE);
      return;
    case "object":
      if (v === null) {
        h.word(TAG_NULL);
        return;
      }
      if (Array.isArray(v)) {
        h.word(TAG_ARR);
        h.word(v.length);
        // An index loop: hashValue is recursive and too polymorphic for the array iterator to be optimised away.
        for (let i = 0; i < v.length; i++) {
          const x: unknown = v[i];
          // JSON writes undefined (and functions) inside arrays as null.
          if (x === undefined || typeof x === "function") h.word(TAG_NULL);
          else hashValue(h, x);
        }
        return;
      }
      h.word(TAG_OBJ);
      for (const k in v as Record<string, unknown>) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined || typeof x === "function") continue;
        h.update(k);
        // Most members are strings and safe integers: hashed here, as hashValue would, without a recursive call.
        if (typeof x === "string") {
          h.word(TAG_STR);
          h.update(x);
        } else if (typeof x === "number" && Number.isSafeInteger(x)) {
          hashInt(h, x);
        } else {
          hashValue(h, x);
        }
      }
      h.word(TAG_END);
      return;
    default:
      // undefined, functions, symbols: JSON leaves them out.
      h.word(TAG_NULL);
  }
}
