/**
 * A streaming 64-bit hash (two 32-bit multiply-xorshift lanes over UTF-16
 * code units). Not cryptographic: it fingerprints a run so that two runs of
 * the same (scenario, seed) can be compared in O(1), and an edited trace
 * line changes the result.
 */
export class RunningHash {
  private h1 = 0xdeadbeef;
  private h2 = 0x41c6ce57;

  update(text: string): void {
    let h1 = this.h1;
    let h2 = this.h2;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
    // A separator so that ["ab","c"] and ["a","bc"] differ.
    h1 = Math.imul(h1 ^ 0x0a, 2654435761);
    h2 = Math.imul(h2 ^ 0x0a, 1597334677);
    this.h1 = h1;
    this.h2 = h2;
  }

  updateNumber(n: number): void {
    const lo = n >>> 0;
    const hi = Math.floor(n / 4294967296) >>> 0;
    this.h1 = Math.imul(this.h1 ^ lo, 2654435761);
    this.h2 = Math.imul(this.h2 ^ hi, 1597334677);
    this.h1 = Math.imul(this.h1 ^ hi, 2246822507);
    this.h2 = Math.imul(this.h2 ^ lo, 3266489909);
  }

  /** The current value as 16 hex digits; the state is left unchanged. */
  digest(): string {
    let h1 = this.h1;
    let h2 = this.h2;
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
