const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Workload values are short ASCII strings ("producer-1:42"); encoding them
 * by hand skips TextEncoder's per-call overhead on the hottest client path.
 * Anything else goes through the real codecs.
 */
export function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return encoder.encode(s);
    out[i] = c;
  }
  return out;
}

/** The inverse of asciiBytes: a message body back to its workload value. */
export function asciiString(b: Uint8Array): string {
  if (b.length > 64) return decoder.decode(b);
  for (let i = 0; i < b.length; i++) if (b[i]! > 0x7f) return decoder.decode(b);
  // One string from all the codes at once: appending a character at a time builds a string per character.
  return String.fromCharCode.apply(null, b as unknown as number[]);
}
