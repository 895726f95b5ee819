import { describe, expect, it } from "vitest";
import { bridgeEdges, isolateEdges, majoritiesRingEdges, oneWayEdges, reachable, splitEdges } from "./partition.js";
import { recordingWorld } from "./testing/recorder.js";

const FIVE = ["n1", "n2", "n3", "n4", "n5"];

describe("connections", () => {
  it("deliver in FIFO order per connection despite jittered latency", () => {
    const { ctx, sim, messages } = recordingWorld(["a", "b"], { network: { latencyUsMin: 100, latencyUsMean: 5_000, latencyUsMax: 50_000 } });
    const conn = ctx("a").connect("b");
    for (let i = 0; i < 500; i++) ctx("a").send(conn, i);
    sim.run();
    expect(messages("b")).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });

  it("let the acceptor answer on the same connection", () => {
    const { world, sim, seen } = recordingWorld(["a", "b"]);
    const conn = world.node("a").ctx!.connect("b");
    world.node("a").ctx!.send(conn, "hello");
    sim.run();
    world.node("b").ctx!.send(conn, "hi");
    sim.run();
    expect(seen.map((s) => `${s.node}:${s.what}`)).toEqual(["b:accept", "b:msg", "a:msg"]);
  });

  it("hold packets during a partition and deliver them, in order, when it heals in time", () => {
    const { world, ctx, sim, messages, closes } = recordingWorld(["a", "b"]);
    const conn = ctx("a").connect("b");
    ctx("a").send(conn, 0);
    sim.run();
    const cut = world.net.block(splitEdges(["a"], ["b"]));
    for (let i = 1; i <= 3; i++) ctx("a").send(conn, i);
    sim.run({ untilUs: sim.now + 10_000_000 });
    expect(messages("b")).toEqual([0]);
    world.net.unblock(cut);
    sim.run({ untilUs: sim.now + 60_000_000 });
    expect(messages("b")).toEqual([0, 1, 2, 3]);
    expect(closes()).toEqual([]);
  });

  it("reset at both ends when data stays unacknowledged past the timeout", () => {
    const { world, ctx, sim, messages, closes } = recordingWorld(["a", "b"], { network: { retransmitGiveUpUs: 5_000_000 } });
    const conn = ctx("a").connect("b");
    ctx("a").send(conn, 0);
    sim.run();
    const t0 = sim.now;
    world.net.block(splitEdges(["a"], ["b"]));
    ctx("a").send(conn, 1);
    sim.run({ untilUs: t0 + 20_000_000 });
    expect(closes().map((c) => [c.node, c.reason, c.t - t0])).toEqual([
      ["a", "timeout", 5_000_000],
      ["b", "timeout", 5_000_000],
    ]);
    world.net.healAll();
    sim.run();
    expect(messages("b")).toEqual([0]);
    expect(ctx("a").send.bind(ctx("a"))).toBeDefined();
    expect(world.net.send(conn, world.node("a"), 2)).toBe(false);
  });

  it("an idle connection survives a long partition (no data, no timeout), as TCP without keepalive does", () => {
    const { world, ctx, sim, closes } = recordingWorld(["a", "b"], { network: { retransmitGiveUpUs: 5_000_000 } });
    ctx("a").connect("b");
    sim.run();
    const cut = world.net.block(splitEdges(["a"], ["b"]));
    sim.run({ untilUs: sim.now + 60_000_000 });
    world.net.unblock(cut);
    sim.run();
    expect(closes()).toEqual([]);
  });

  it("a process crash resets the peer after one trip; a power loss leaves it to time out", () => {
    const r1 = recordingWorld(["a", "b"]);
    const c1 = r1.ctx("a").connect("b");
    r1.ctx("a").send(c1, "x");
    r1.sim.run();
    const t1 = r1.sim.now;
    r1.world.crash("b", "process");
    r1.sim.run();
    const close1 = r1.closes("a");
    expect(close1).toHaveLength(1);
    expect(close1[0]).toMatchObject({ reason: "reset" });
    expect(close1[0]!.t - t1).toBeLessThan(25_000);

    const r2 = recordingWorld(["a", "b"], { network: { retransmitGiveUpUs: 8_000_000 } });
    const c2 = r2.ctx("a").connect("b");
    r2.ctx("a").send(c2, "x");
    r2.sim.run();
    r2.world.crash("b", "power");
    r2.sim.run({ untilUs: r2.sim.now + 60_000_000 });
    expect(r2.closes("a")).toEqual([]); // nothing was sent: nothing noticed
    const t2 = r2.sim.now;
    r2.ctx("a").send(c2, "y");
    r2.sim.run({ untilUs: t2 + 60_000_000 });
    // The stall starts when the unanswered packet reaches the dead machine, one trip after the send.
    const close2 = r2.closes("a");
    expect(close2.map((c) => c.reason)).toEqual(["timeout"]);
    expect(close2[0]!.t - t2).toBeGreaterThanOrEqual(8_000_000);
    expect(close2[0]!.t - t2).toBeLessThan(8_025_000);
  });

  it("a message to a restarted process is answered by a reset, and the new incarnation never sees it", () => {
    const { world, ctx, sim, messages, closes } = recordingWorld(["a", "b"]);
    const conn = ctx("a").connect("b");
    sim.run();
    world.crash("b", "power");
    world.start("b");
    ctx("a").send(conn, "stale");
    sim.run();
    expect(messages("b")).toEqual([]);
    expect(closes("a").map((c) => c.reason)).toEqual(["reset"]);
  });

  it("connecting to a dead process is refused; to a dead machine or across a partition it times out", () => {
    const { world, ctx, sim, closes } = recordingWorld(["a", "b", "c", "d"], { network: { connectTimeoutUs: 3_000_000 } });
    world.crash("b", "process");
    world.crash("c", "power");
    world.net.block(splitEdges(["a"], ["d"]));
    const t0 = sim.now;
    ctx("a").connect("b");
    ctx("a").connect("c");
    ctx("a").connect("d");
    sim.run({ untilUs: 10_000_000 });
    const got = closes("a")
      .map((c) => [c.peer, c.reason, c.t - t0 >= 3_000_000])
      .sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    expect(got).toEqual([
      ["b", "refused", false],
      ["c", "connect-timeout", true],
      ["d", "connect-timeout", true],
    ]);
  });

  it("a paused process buffers: messages reach it in order after it resumes, and nothing resets", () => {
    const { world, ctx, sim, seen, closes } = recordingWorld(["a", "b"]);
    const conn = ctx("a").connect("b");
    sim.run();
    world.pause("b");
    for (let i = 0; i < 5; i++) ctx("a").send(conn, i);
    sim.run({ untilUs: sim.now + 100_000_000 });
    expect(seen.filter((s) => s.what === "msg")).toEqual([]);
    const resumedAt = sim.now;
    world.resume("b");
    sim.run();
    const got = seen.filter((s) => s.what === "msg");
    expect(got.map((s) => (s as { payload: unknown }).payload)).toEqual([0, 1, 2, 3, 4]);
    expect(got.every((s) => s.t === resumedAt)).toBe(true);
    expect(closes()).toEqual([]);
  });

  it("a one-way cut delivers the open direction, then resets because acknowledgements are lost", () => {
    const { world, ctx, sim, messages, closes } = recordingWorld(["a", "b"], { network: { retransmitGiveUpUs: 4_000_000 } });
    const conn = ctx("a").connect("b");
    sim.run();
    world.net.block(oneWayEdges(["b"], ["a"]));
    ctx("a").send(conn, "through");
    ctx("b").send(conn, "held");
    sim.run({ untilUs: sim.now + 1_000_000 });
    expect(messages("b")).toEqual(["through"]);
    expect(messages("a")).toEqual([]);
    sim.run({ untilUs: sim.now + 10_000_000 });
    expect(closes().map((c) => c.reason)).toEqual(["timeout", "timeout"]);
  });

  it("a clog delays a path without loss or reordering", () => {
    const { world, ctx, sim, seen } = recordingWorld(["a", "b"]);
    const conn = ctx("a").connect("b");
    sim.run();
    world.net.clog("a", "b", sim.now + 2_000_000);
    const t0 = sim.now;
    ctx("a").send(conn, 1);
    ctx("a").send(conn, 2);
    sim.run();
    const msgs = seen.filter((s) => s.what === "msg");
    expect(msgs.map((m) => (m as { payload: unknown }).payload)).toEqual([1, 2]);
    expect(msgs.every((m) => m.t - t0 >= 2_000_000)).toBe(true);
  });
});

describe("partition shapes", () => {
  const view = (edges: ReturnType<typeof splitEdges>) => {
    const r = reachable(FIVE, edges);
    return Object.fromEntries(FIVE.map((n) => [n, [...r.get(n)!].sort().join(",")]));
  };

  it("isolate one node", () => {
    expect(view(isolateEdges("n3", FIVE))).toEqual({ n1: "n1,n2,n4,n5", n2: "n1,n2,n4,n5", n3: "n3", n4: "n1,n2,n4,n5", n5: "n1,n2,n4,n5" });
  });

  it("halves", () => {
    expect(view(splitEdges(["n1", "n2"], ["n3", "n4", "n5"]))).toEqual({ n1: "n1,n2", n2: "n1,n2", n3: "n3,n4,n5", n4: "n3,n4,n5", n5: "n3,n4,n5" });
  });

  it("bridge: the middle node sees both sides, the sides do not see each other", () => {
    expect(view(bridgeEdges(["n1", "n2"], ["n4", "n5"]))).toEqual({ n1: "n1,n2,n3", n2: "n1,n2,n3", n3: "n1,n2,n3,n4,n5", n4: "n3,n4,n5", n5: "n3,n4,n5" });
  });

  it("majorities-ring: every node sees a majority and no two see the same one", () => {
    const v = view(majoritiesRingEdges(FIVE));
    for (const n of FIVE) expect(v[n]!.split(",")).toHaveLength(3);
    expect(new Set(Object.values(v)).size).toBe(5);
    expect(v.n1).toBe("n1,n2,n5");
  });

  it("one-way: only the listed direction is cut", () => {
    const r = reachable(FIVE, oneWayEdges(["n1"], ["n2"]));
    expect(r.get("n1")!.has("n2")).toBe(false);
    expect(r.get("n2")!.has("n1")).toBe(true);
  });

  it("each shape heals completely through the network", () => {
    const { world, ctx, sim, messages } = recordingWorld(FIVE);
    const shapes = [isolateEdges("n1", FIVE), splitEdges(["n1", "n2"], ["n3", "n4", "n5"]), bridgeEdges(["n1"], ["n2"]), majoritiesRingEdges(FIVE), oneWayEdges(["n1"], ["n2", "n3"])];
    for (const edges of shapes) {
      const h = world.net.block(edges);
      world.net.unblock(h);
    }
    for (const n of FIVE) for (const m of FIVE) if (n !== m) expect(world.net.isBlocked(world.node(n), world.node(m))).toBe(false);
    const conn = ctx("n1").connect("n5");
    ctx("n1").send(conn, "ok");
    sim.run();
    expect(messages("n5")).toEqual(["ok"]);
  });

  it("overlapping partitions nest: healing one leaves the other in force", () => {
    const { world } = recordingWorld(FIVE);
    const h1 = world.net.block(isolateEdges("n1", FIVE));
    const h2 = world.net.block(splitEdges(["n1", "n2"], ["n3"]));
    world.net.unblock(h1);
    expect(world.net.isBlocked(world.node("n1"), world.node("n3"))).toBe(true);
    expect(world.net.isBlocked(world.node("n1"), world.node("n4"))).toBe(false);
    world.net.unblock(h2);
    expect(world.net.isBlocked(world.node("n1"), world.node("n3"))).toBe(false);
  });
});

describe("datagrams", () => {
  it("are lost, duplicated and reordered at the configured rates, the same way for the same seed", () => {
    const run = (seed: number) => {
      const { ctx, sim, seen } = recordingWorld(["a", "b"], { seed, network: { datagramLossProbability: 0.2, datagramDuplicateProbability: 0.1, latencyUsMean: 5_000 } });
      for (let i = 0; i < 5000; i++) ctx("a").sendDatagram("b", i);
      sim.run();
      return seen.filter((s) => s.what === "datagram").map((s) => (s as { payload: number }).payload);
    };
    const got = run(11);
    expect(run(11)).toEqual(got);
    const distinct = new Set(got);
    const lost = 5000 - distinct.size;
    const dups = got.length - distinct.size;
    expect(lost / 5000).toBeGreaterThan(0.17);
    expect(lost / 5000).toBeLessThan(0.23);
    expect(dups / distinct.size).toBeGreaterThan(0.07);
    expect(dups / distinct.size).toBeLessThan(0.13);
    let inversions = 0;
    for (let i = 1; i < got.length; i++) if (got[i]! < got[i - 1]!) inversions++;
    expect(inversions).toBeGreaterThan(100);
    expect(run(12)).not.toEqual(got);
  });

  it("never cross a partition", () => {
    const { world, ctx, sim, seen } = recordingWorld(["a", "b"]);
    world.net.block(splitEdges(["a"], ["b"]));
    for (let i = 0; i < 10; i++) ctx("a").sendDatagram("b", i);
    sim.run();
    expect(seen).toEqual([]);
  });
});
