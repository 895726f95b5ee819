// Simulated time is an integer count of microseconds held in a `number`.
// 2^53 µs is about 285 years, so integer arithmetic stays exact for any run.

export type Micros = number;

export const US_PER_MS = 1_000;
export const US_PER_SECOND = 1_000_000;

export function ms(n: number): Micros {
  return Math.round(n * US_PER_MS);
}

export function seconds(n: number): Micros {
  return Math.round(n * US_PER_SECOND);
}

export function toMs(us: Micros): number {
  return us / US_PER_MS;
}

/** Formats a simulated time as `h:mm:ss.mmm` for logs and timelines. */
export function formatTime(us: Micros): string {
  const totalMs = Math.floor(us / US_PER_MS);
  const msPart = totalMs % 1000;
  const totalS = Math.floor(totalMs / 1000);
  const s = totalS % 60;
  const m = Math.floor(totalS / 60) % 60;
  const h = Math.floor(totalS / 3600);
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}.${String(msPart).padStart(3, "0")}`;
}
