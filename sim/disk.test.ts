import { describe, expect, it } from "vitest";
import { Disk, DiskConfigSchema, type DiskConfig } from "./disk.js";
import { Simulation } from "./kernel.js";
import { Rng } from "./rng.js";
import { seconds } from "./time.js";

function makeDisk(overrides: Partial<DiskConfig> = {}, seed = 1) {
  const sim = new Simulation();
  const disk = new Disk(sim, new Rng(seed), DiskConfigSchema.parse(overrides));
  return { sim, disk };
}

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const at = (sim: Simulation, t: number, fn: () => void) => sim.schedule(t, fn);

describe("disk: page cache and durability", () => {
  it("a process crash keeps everything: the page cache belongs to the kernel", () => {
    const { sim, disk } = makeDisk();
    disk.append("log", bytes(10_000, 7));
    sim.run({ untilUs: 1000 });
    // Nothing fsynced; nothing happens to the disk when only the process dies.
    expect(disk.readAll("log")).toEqual(bytes(10_000, 7));
    expect(disk.durableContent("log")).toBeNull();
  });

  it("power loss keeps exactly the fsynced bytes and drops the rest", () => {
    const { sim, disk } = makeDisk({ tearProbability: 0 });
    disk.append("log", bytes(8192, 1));
    let synced = false;
    disk.fsync("log", (r) => (synced = r.ok));
    sim.run();
    expect(synced).toBe(true);
    disk.append("log", bytes(5000, 2));
    disk.powerLoss();
    expect(disk.size("log")).toBe(8192);
    expect(disk.readAll("log")).toEqual(bytes(8192, 1));
  });

  it("fsync covers only pages dirty when it was issued, completes after the device latency, in order", () => {
    const { sim, disk } = makeDisk({ fsyncLatencyUs: 1000, tearProbability: 0 });
    const done: number[] = [];
    disk.append("log", bytes(4096, 1));
    disk.fsync("log", () => done.push(sim.now));
    disk.fsync("log", () => done.push(sim.now));
    at(sim, 500, () => disk.append("log", bytes(4096, 2)));
    sim.run({ untilUs: 2000 });
    expect(done).toEqual([1000, 1000]);
    disk.powerLoss();
    expect(disk.size("log")).toBe(4096);
  });

  it("a range fsync persists only the pages it covers", () => {
    const { sim, disk } = makeDisk({ tearProbability: 0 });
    disk.write("f", 0, bytes(3 * 4096, 9));
    disk.fsync("f", undefined, { offset: 0, length: 4096 });
    sim.run({ untilUs: 2000 });
    disk.powerLoss();
    expect(disk.readAll("f")).toEqual(bytes(4096, 9));
  });

  it("writeback makes pages durable once older than 30 s, at the flusher's 5 s wakeups", () => {
    const { sim, disk } = makeDisk({ tearProbability: 0 });
    at(sim, seconds(1), () => disk.append("log", bytes(100, 3)));
    // Dirty since 1 s: expires at 31 s; the flusher wakes at 5, 10, ..., 35 s.
    sim.run({ untilUs: seconds(34.9) });
    expect(disk.durableContent("log")?.length ?? 0).toBe(0);
    sim.run({ untilUs: seconds(35) });
    expect(disk.durableContent("log")).toEqual(bytes(100, 3));
    expect(disk.dirtyPages("log")).toEqual([]);
    // Once clean, the flusher stops waking: quiet time costs nothing.
    expect(sim.pending).toBe(0);
  });

  it("writeback knobs are honoured", () => {
    const { sim, disk } = makeDisk({ dirtyExpireUs: seconds(2), writebackIntervalUs: seconds(1), tearProbability: 0 });
    disk.append("log", bytes(10, 1));
    sim.run({ untilUs: seconds(1.9) });
    expect(disk.durableContent("log")?.length ?? 0).toBe(0);
    sim.run({ untilUs: seconds(2) });
    expect(disk.durableContent("log")).toEqual(bytes(10, 1));
  });

  it("power loss may tear the last page written: a whole-sector prefix of it survives", () => {
    const { sim, disk } = makeDisk({ tearProbability: 1 }, 5);
    disk.append("log", bytes(4096, 1));
    disk.fsync("log");
    sim.run();
    disk.append("log", bytes(4096, 2));
    disk.powerLoss();
    const size = disk.size("log");
    expect(size).toBeGreaterThan(4096);
    expect(size).toBeLessThan(8192);
    expect((size - 4096) % 512).toBe(0);
    expect(disk.readAll("log")).toEqual(new Uint8Array([...bytes(4096, 1), ...bytes(size - 4096, 2)]));
  });

  it("a torn page over old durable data mixes new sectors with old ones", () => {
    const { sim, disk } = makeDisk({ tearProbability: 1 }, 8);
    disk.write("f", 0, bytes(4096, 1));
    disk.fsync("f");
    sim.run();
    disk.write("f", 0, bytes(4096, 2));
    disk.powerLoss();
    const data = disk.readAll("f");
    expect(data.length).toBe(4096);
    const firstOld = data.indexOf(1);
    expect(firstOld).toBeGreaterThan(0);
    expect(firstOld % 512).toBe(0);
    expect(data.subarray(0, firstOld).every((b) => b === 2)).toBe(true);
    expect(data.subarray(firstOld).every((b) => b === 1)).toBe(true);
  });

  it("disk loss returns an empty disk", () => {
    const { sim, disk } = makeDisk();
    disk.append("a", bytes(10, 1));
    disk.fsync("a");
    sim.run();
    disk.wipe();
    expect(disk.list()).toEqual([]);
  });

  it("a rename without fsync can be undone by power loss; with a directory fsync it stays", () => {
    const { sim, disk } = makeDisk({ tearProbability: 0 });
    disk.write("state", 0, bytes(8, 1));
    disk.fsync("state");
    sim.run();
    disk.write("state.tmp", 0, bytes(8, 2));
    disk.rename("state.tmp", "state");
    disk.powerLoss();
    expect(disk.readAll("state")).toEqual(bytes(8, 1));
    expect(disk.exists("state.tmp")).toBe(false);

    disk.write("state.tmp", 0, bytes(8, 3));
    disk.rename("state.tmp", "state");
    disk.fsyncDir();
    disk.powerLoss();
    // The name is durable but the data never reached the platter: an empty file, as on ext4.
    expect(disk.exists("state")).toBe(true);
    expect(disk.size("state")).toBe(0);
  });

  it("the journal commits names at the next flusher wakeup", () => {
    const { sim, disk } = makeDisk({ tearProbability: 0 });
    disk.create("x");
    sim.run({ untilUs: seconds(5) });
    disk.powerLoss();
    expect(disk.exists("x")).toBe(true);
  });

  it("a failed fsync marks pages clean without making them durable", () => {
    const { sim, disk } = makeDisk({ fsyncFailureProbability: 1, tearProbability: 0 });
    disk.append("log", bytes(100, 1));
    let ok: boolean | null = null;
    disk.fsync("log", (r) => (ok = r.ok));
    sim.run({ untilUs: seconds(60) });
    expect(ok).toBe(false);
    expect(disk.dirtyPages("log")).toEqual([]);
    disk.powerLoss();
    // The journal committed the name, but the writeback never saw the pages again.
    expect(disk.size("log")).toBe(0);
  });

  it("truncation shrinks the file and becomes durable with the next fsync", () => {
    const { sim, disk } = makeDisk({ tearProbability: 0 });
    disk.append("log", bytes(10_000, 4));
    disk.fsync("log");
    sim.run();
    disk.truncate("log", 5000);
    expect(disk.size("log")).toBe(5000);
    disk.fsync("log");
    sim.run();
    disk.powerLoss();
    expect(disk.readAll("log")).toEqual(bytes(5000, 4));
  });

  it("slow-disk spikes delay fsync completion", () => {
    const { sim, disk } = makeDisk({ fsyncLatencyUs: 100, fsyncLatencySpikeProbability: 1, fsyncLatencySpikeUs: 300_000 });
    let doneAt = -1;
    disk.append("log", bytes(1, 1));
    disk.fsync("log", () => (doneAt = sim.now));
    sim.run();
    expect(doneAt).toBe(300_000);
    const issued = sim.now;
    disk.slowDown(issued + seconds(10), 1_000_000);
    disk.fsync("log", () => (doneAt = sim.now));
    sim.run();
    expect(doneAt - issued).toBe(300_000 + 1_000_000);
  });
});

describe("disk: truncation", () => {
  it("a durable truncation frees the old bytes: growing the file again never brings them back", () => {
    const { sim, disk } = makeDisk({ tearProbability: 0 });
    disk.write("log", 0, bytes(5 * 4096, 7));
    disk.fsync("log");
    sim.run({ untilUs: 1000 });
    disk.truncate("log", 4096);
    disk.fsync("log");
    sim.run({ untilUs: 2000 });
    // Grow to the old length; only the last page is made durable.
    disk.write("log", 4096, bytes(4 * 4096, 9));
    disk.fsync("log", undefined, { offset: 4 * 4096, length: 4096 });
    sim.run({ untilUs: 3000 });
    disk.powerLoss();
    const data = disk.readAll("log");
    expect(data.length).toBe(5 * 4096);
    expect(data.subarray(0, 4096).every((b) => b === 7)).toBe(true);
    // Pages 1..3 never reached the platter after the truncation: zeros, not the old 7s.
    expect(data.subarray(4096, 4 * 4096).every((b) => b === 0)).toBe(true);
    expect(data.subarray(4 * 4096).every((b) => b === 9)).toBe(true);
  });
});
