import { describe, expect, it } from "vitest";
import { Simulation, type EventOwner } from "./kernel.js";
import { seconds } from "./time.js";

describe("Simulation", () => {
  it("orders events by time, then by scheduling order for equal times", () => {
    const sim = new Simulation();
    const seen: string[] = [];
    sim.schedule(20, () => seen.push("c"));
    sim.schedule(10, () => seen.push("a"));
    sim.schedule(20, () => seen.push("d"));
    sim.schedule(10, () => seen.push("b"));
    for (let i = 0; i < 50; i++) sim.schedule(30, (k: number) => seen.push(`t${k}`), i);
    sim.run();
    expect(seen.slice(0, 4)).toEqual(["a", "b", "c", "d"]);
    expect(seen.slice(4)).toEqual(Array.from({ length: 50 }, (_, i) => `t${i}`));
  });

  it("breaks ties by sequence even for events scheduled from inside handlers", () => {
    const sim = new Simulation();
    const seen: number[] = [];
    sim.schedule(5, () => {
      sim.schedule(5, () => seen.push(2));
      sim.schedule(5, () => seen.push(3));
    });
    sim.schedule(5, () => seen.push(1));
    sim.run();
    expect(seen).toEqual([1, 2, 3]);
  });

  it("cancels timers", () => {
    const sim = new Simulation();
    const seen: string[] = [];
    const t = sim.schedule(10, () => seen.push("cancelled"));
    sim.schedule(5, () => sim.cancel(t));
    sim.schedule(20, () => seen.push("kept"));
    const r = sim.run();
    expect(seen).toEqual(["kept"]);
    expect(r.events).toBe(2);
  });

  it("rejects times in the past and non-integer times", () => {
    const sim = new Simulation();
    sim.schedule(10, () => {
      expect(() => sim.schedule(5, () => {})).toThrow(RangeError);
    });
    sim.run();
    expect(() => sim.schedule(10.5, () => {})).toThrow(RangeError);
  });

  it("says why it stopped: time limit, event budget, quiescence, condition", () => {
    const sim = new Simulation();
    let n = 0;
    const tick = (): void => {
      n++;
      sim.after(1000, tick);
    };
    sim.after(0, tick);
    expect(sim.run({ untilUs: 10_500 }).reason).toBe("time-limit");
    expect(sim.now).toBe(10_500);
    expect(n).toBe(11);
    expect(sim.run({ maxEvents: 5 })).toMatchObject({ reason: "event-budget", events: 5 });
    expect(sim.run({ until: () => n >= 20 })).toMatchObject({ reason: "condition" });
    const quiet = new Simulation();
    quiet.schedule(7, () => {});
    expect(quiet.run()).toEqual({ reason: "quiescent", events: 1, nowUs: 7 });
  });

  it("skips idle time: ten quiet hours cost two events", () => {
    const sim = new Simulation();
    let fired = 0;
    sim.after(seconds(3600 * 10), () => fired++);
    sim.after(seconds(3600 * 10) + 1, () => fired++);
    const r = sim.run();
    expect(r.events).toBe(2);
    expect(fired).toBe(2);
    expect(sim.now).toBe(seconds(36_000) + 1);
  });

  it("drops events of an owner's old incarnation and defers those of a paused owner", () => {
    const sim = new Simulation();
    const owner: EventOwner = { incarnation: 0, paused: false, deferred: [] };
    const seen: string[] = [];
    sim.schedule(10, () => seen.push("old-incarnation"), undefined, owner);
    sim.schedule(5, () => {
      owner.incarnation++; // a crash
      sim.schedule(20, () => seen.push("new-incarnation"), undefined, owner);
      sim.schedule(25, () => seen.push("while-paused-1"), undefined, owner);
      sim.schedule(26, () => seen.push("while-paused-2"), undefined, owner);
    });
    sim.schedule(21, () => {
      owner.paused = true;
    });
    sim.schedule(100, () => {
      owner.paused = false;
      sim.resumeDeferred(owner);
    });
    sim.schedule(100, () => seen.push("after-resume"));
    sim.run();
    expect(seen).toEqual(["new-incarnation", "after-resume", "while-paused-1", "while-paused-2"]);
  });

  it("hashes every emitted event and tells listeners the canonical line", () => {
    const a = new Simulation();
    const b = new Simulation();
    const lines: string[] = [];
    a.onTrace((_e, line) => lines.push(line));
    for (const sim of [a, b]) {
      sim.schedule(3, () => sim.emit("n1", "hello", { x: 1 }));
      sim.schedule(4, () => sim.emit("n2", "bye"));
      sim.run();
    }
    expect(lines).toEqual(['{"t":3,"n":"n1","k":"hello","d":{"x":1}}', '{"t":4,"n":"n2","k":"bye"}']);
    expect(a.traceDigest).toBe(b.traceDigest);
    const c = new Simulation();
    c.schedule(3, () => c.emit("n1", "hello", { x: 2 }));
    c.schedule(4, () => c.emit("n2", "bye"));
    c.run();
    expect(c.traceDigest).not.toBe(a.traceDigest);
  });
});

describe("event hash", () => {
  it("is the same whether or not lines are produced, and can be checked from the lines alone", async () => {
    const { hashEvent, RunningHash } = await import("./hash.js");
    const withLines = new Simulation();
    const lines: string[] = [];
    withLines.onTraceLine((l) => lines.push(l));
    const without = new Simulation();
    for (const sim of [withLines, without]) {
      sim.schedule(5, () => sim.emit("n1", "a", { x: 1, s: "é\"q", arr: [1, -2, 2.5, null, true], nested: { k: undefined, z: false } }));
      sim.schedule(6, () => sim.emit("n2", "b"));
      sim.schedule(7, () => sim.emitTransport("n2", "net.msg", { from: "n1" }));
      sim.run();
    }
    expect(withLines.traceDigest).toBe(without.traceDigest);
    expect(lines).toHaveLength(3);
    const h = new RunningHash();
    for (const l of lines) {
      const e = JSON.parse(l) as { t: number; n: string; k: string; d?: unknown };
      if (!e.k.startsWith("net.")) hashEvent(h, e.t, e.n, e.k, e.d);
    }
    expect(h.digest()).toBe(withLines.traceDigest);
  });

  it("tells apart values that differ only in JSON type or nesting", async () => {
    const { hashEvent, RunningHash } = await import("./hash.js");
    const digest = (d: unknown) => {
      const h = new RunningHash();
      hashEvent(h, 1, "n", "k", d);
      return h.digest();
    };
    const variants = [{ a: 1 }, { a: "1" }, { a: [1] }, { a: { b: 1 } }, { a: 1, b: 2 }, { b: 1 }, { a: true }, { a: null }, { a: -1 }, { a: 1.5 }];
    expect(new Set(variants.map(digest)).size).toBe(variants.length);
  });
});
