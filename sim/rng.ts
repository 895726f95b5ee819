import seedrandom from "seedrandom";

/**
 * A seeded random stream. Every component draws from its own named fork of
 * the root stream (`rng.fork("network")`), so adding a draw in one component
 * (say, one more fault) never shifts the choices another component makes.
 *
 * The generator is seedrandom's `alea`, one of its fast generators; the
 * default ARC4 generator is several times slower and buys nothing here.
 */
const EXP_TABLE_SIZE = 4096;
const EXP_QUANTILES = new Float64Array(EXP_TABLE_SIZE);
for (let i = 0; i < EXP_TABLE_SIZE; i++) EXP_QUANTILES[i] = -Math.log(1 - (i + 0.5) / EXP_TABLE_SIZE);

export class Rng {
  readonly seed: string;
  private readonly gen: seedrandom.PRNG;

  constructor(seed: string | number) {
    this.seed = String(seed);
    this.gen = seedrandom.alea(this.seed);
  }

  /** A new independent stream whose seed is derived from this one's and the name. */
  fork(name: string): Rng {
    return new Rng(`${this.seed}/${name}`);
  }

  /** A float in [0, 1). */
  next(): number {
    return this.gen();
  }

  /** An integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) {
      throw new RangeError(`Rng.int: bad range [${lo}, ${hi}]`);
    }
    return lo + Math.floor(this.gen() * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.gen() < p;
  }

  /** A uniformly chosen element; throws on an empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Rng.pick: empty array");
    return items[Math.floor(this.gen() * items.length)] as T;
  }

  /**
   * An exponentially distributed value with the given mean, as an integer.
   * Drawn by inverse transform from a table of 4096 quantiles rather than
   * a logarithm per draw: network latency is drawn for every packet, and
   * the table is several times cheaper while matching the distribution to
   * within 1/4096 of probability mass (the tail is cut at about 9 means).
   */
  exponential(mean: number): number {
    return Math.round(EXP_QUANTILES[(this.gen() * EXP_TABLE_SIZE) | 0]! * mean);
  }

  /** A uniformly drawn integer in [lo, hi]; a shorthand used for durations. */
  between(lo: number, hi: number): number {
    return this.int(Math.round(lo), Math.round(hi));
  }

  /** A Fisher-Yates shuffle into a new array. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.gen() * (i + 1));
      const t = out[i] as T;
      out[i] = out[j] as T;
      out[j] = t;
    }
    return out;
  }

  /** A random 32-bit unsigned integer. */
  uint32(): number {
    return this.gen.int32() >>> 0;
  }
}
