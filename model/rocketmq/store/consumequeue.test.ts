import { describe, expect, it } from "vitest";
import { Disk, DiskConfigSchema } from "../../../sim/disk.js";
import { Simulation } from "../../../sim/kernel.js";
import { Rng } from "../../../sim/rng.js";
import { readInt32, readInt64 } from "./codec.js";
import { ConsumeQueue } from "./consumequeue.js";

function makeDisk(): Disk {
  return new Disk(new Simulation(), new Rng(1), DiskConfigSchema.parse({}));
}

const DIR = "store/consumequeue/T/0";
const name = (off: number) => `${DIR}/${String(off).padStart(20, "0")}`;

describe("ConsumeQueue", () => {
  it("writes 20-byte units (offset 8, size 4, tags code 8) with unit n at byte 20n", () => {
    const disk = makeDisk();
    const cq = new ConsumeQueue(disk, "store", "T", 0, 6000);
    expect(cq.putMessagePositionInfo(0, 100, 7, 0)).toBe("appended");
    expect(cq.putMessagePositionInfo(100, 150, -5, 1)).toBe("appended");
    expect(cq.putMessagePositionInfo(250, 90, 2 ** 40, 2)).toBe("appended");
    const data = disk.readAll(name(0));
    expect(data.length).toBe(60);
    expect([readInt64(data, 20), readInt32(data, 28), readInt64(data, 32)]).toEqual([100, 150, -5]);
    expect(readInt64(data, 52)).toBe(2 ** 40);
    expect(cq.getMaxOffsetInQueue()).toBe(3);
    expect(cq.getMinOffsetInQueue()).toBe(0);
    expect(cq.getMaxPhysicOffset()).toBe(340);
  });

  it("skips units already present as duplicates", () => {
    const disk = makeDisk();
    const cq = new ConsumeQueue(disk, "store", "T", 0, 6000);
    cq.putMessagePositionInfo(0, 100, 0, 0);
    cq.putMessagePositionInfo(100, 100, 0, 1);
    // Its message ends at or below maxPhysicOffset.
    expect(cq.putMessagePositionInfo(0, 100, 0, 0)).toBe("duplicate");
    // Beyond maxPhysicOffset, but its slot is already written.
    expect(cq.putMessagePositionInfo(500, 100, 0, 1)).toBe("duplicate");
    expect(cq.getMaxOffsetInQueue()).toBe(2);
  });

  it("appends a unit whose queue offset skips ahead where the queue ends, as the real one does", () => {
    const cq = new ConsumeQueue(makeDisk(), "store", "T", 0, 6000);
    cq.putMessagePositionInfo(0, 100, 0, 0);
    expect(cq.putMessagePositionInfo(100, 100, 0, 5)).toBe("out-of-order");
    expect(cq.getMaxOffsetInQueue()).toBe(2);
  });

  it("rolls files named by their first byte", () => {
    const disk = makeDisk();
    const cq = new ConsumeQueue(disk, "store", "T", 0, 60);
    for (let i = 0; i < 7; i++) cq.putMessagePositionInfo(i * 100, 100, 0, i);
    expect(disk.list(`${DIR}/`)).toEqual([name(0), name(60), name(120)]);
    expect(cq.getMaxOffsetInQueue()).toBe(7);
    expect(cq.rollNextFile(4)).toBe(6);
    // A read never leaves the file holding its first unit.
    expect(cq.getIndexBuffer(4, 100)!.length).toBe(40);
    expect(cq.getIndexBuffer(7, 100)).toBeNull();
  });

  it("pads a queue that starts mid-way with blank units and starts reading at its first real unit", () => {
    const disk = makeDisk();
    const cq = new ConsumeQueue(disk, "store", "T", 0, 60);
    cq.putMessagePositionInfo(1000, 100, 0, 5);
    expect(disk.list(`${DIR}/`)).toEqual([name(60)]);
    expect(cq.getMinOffsetInQueue()).toBe(5);
    expect(cq.getMaxOffsetInQueue()).toBe(6);
    const data = disk.readAll(name(60));
    expect([readInt64(data, 0), readInt32(data, 8)]).toEqual([0, 0x7fffffff]);
    expect(readInt64(data, 40)).toBe(1000);
  });

  it("recovers up to the first unit with size <= 0 and truncates after it", () => {
    const disk = makeDisk();
    const cq = new ConsumeQueue(disk, "store", "T", 0, 60);
    for (let i = 0; i < 8; i++) cq.putMessagePositionInfo(i * 100, 100, 0, i);
    // Zero unit 5 (in the second file).
    disk.write(name(60), 40, new Uint8Array(20));
    const again = new ConsumeQueue(disk, "store", "T", 0, 60);
    again.load();
    again.recover();
    expect(again.getMaxOffsetInQueue()).toBe(5);
    expect(again.getMaxPhysicOffset()).toBe(500);
    expect(disk.list(`${DIR}/`)).toEqual([name(0), name(60)]);
  });

  it("trims units pointing at or past a CommitLog offset (truncateDirtyLogicFiles)", () => {
    const disk = makeDisk();
    const cq = new ConsumeQueue(disk, "store", "T", 0, 60);
    for (let i = 0; i < 8; i++) cq.putMessagePositionInfo(i * 100, 100, 0, i);
    cq.truncateDirtyLogicFiles(450);
    expect(cq.getMaxOffsetInQueue()).toBe(5);
    expect(cq.getMaxPhysicOffset()).toBe(500);
    expect(disk.list(`${DIR}/`)).toEqual([name(0), name(60)]);
    cq.truncateDirtyLogicFiles(0);
    expect(cq.getMaxOffsetInQueue()).toBe(0);
    expect(disk.list(`${DIR}/`)).toEqual([]);
  });

  it("moves its minimum past units below the CommitLog's first byte (correctMinOffset)", () => {
    const cq = new ConsumeQueue(makeDisk(), "store", "T", 0, 6000);
    for (let i = 0; i < 4; i++) cq.putMessagePositionInfo(i * 100, 100, 0, i);
    cq.correctMinOffset(250);
    expect(cq.getMinOffsetInQueue()).toBe(3);
  });
});
