import { describe, expect, it } from "vitest";
import { Rng } from "./rng.js";

describe("Rng", () => {
  it("is a pure function of its seed", () => {
    const a = new Rng(42);
    const b = new Rng("42");
    const xs = Array.from({ length: 100 }, () => a.next());
    const ys = Array.from({ length: 100 }, () => b.next());
    expect(xs).toEqual(ys);
    expect(new Rng(43).next()).not.toBe(new Rng(42).next());
  });

  it("forks independent named streams: drawing from one does not move another", () => {
    const root1 = new Rng(7);
    const root2 = new Rng(7);
    const net1 = root1.fork("network");
    const disk1 = root1.fork("disk");
    for (let i = 0; i < 10; i++) disk1.next();
    const net2 = root2.fork("network");
    expect(Array.from({ length: 5 }, () => net1.next())).toEqual(Array.from({ length: 5 }, () => net2.next()));
    expect(root1.fork("a").next()).not.toBe(root1.fork("b").next());
  });

  it("draws integers inclusively within range and covers it", () => {
    const r = new Rng(1);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = r.int(3, 7);
      expect(v).toBeGreaterThanOrEqual(3);
      expect(v).toBeLessThanOrEqual(7);
      seen.add(v);
    }
    expect([...seen].sort()).toEqual([3, 4, 5, 6, 7]);
    expect(() => r.int(5, 4)).toThrow(RangeError);
  });

  it("draws exponential values with about the requested mean", () => {
    const r = new Rng(9);
    let sum = 0;
    const n = 50_000;
    for (let i = 0; i < n; i++) sum += r.exponential(1000);
    expect(sum / n).toBeGreaterThan(950);
    expect(sum / n).toBeLessThan(1050);
  });

  it("shuffles into a permutation and picks members", () => {
    const r = new Rng(3);
    const items = [1, 2, 3, 4, 5, 6];
    expect(r.shuffle(items).sort()).toEqual(items);
    expect(items).toContain(r.pick(items));
    expect(() => r.pick([])).toThrow(RangeError);
  });
});
