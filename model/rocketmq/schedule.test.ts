import { describe, expect, it } from "vitest";
import type { TraceEvent } from "../../sim/kernel.js";
import type { NodeContext } from "../../sim/node.js";
import { World } from "../../sim/world.js";
import { broker, type BrokerHandle } from "./broker.js";
import type { BrokerPutStatus } from "./broker-runtime.js";
import { readConfigFile } from "./config-file.js";
import { parseRocketMqConfig, type RocketMqConfig } from "./config.js";
import { PERM_READ, PERM_WRITE } from "./protocol.js";
import { DELAY_OFFSET_FILE, correctDeliverTimestamp, installScheduleService, type DelayOffsetFile, type ScheduleServiceHandle } from "./schedule.js";
import { SCHEDULE_TOPIC } from "./store/codec.js";
import { parseDelayLevels } from "./store/config.js";
import type { MessageStore } from "./store/message-store.js";
import { bodyText, testMessage } from "./store/testing.js";
import type { AppendResult, DecodedMessage, MessageInput } from "./store/types.js";
import { fakeRuntime, masterSwitch, readQueue } from "./testing.js";

const S = 1_000_000;
const MS = 1_000;
/** The default messageDelayLevel, ms per level (index 0 = level 1). */
const DELAYS = parseDelayLevels(parseRocketMqConfig({}).store.messageDelayLevel);

/** A message for `topic`/`queueId` carrying DELAY = level; its UNIQ_KEY is U<n>. */
function delayed(n: number, level: number, topic = "TopicTest", queueId = 0): MessageInput {
  return testMessage(n, { topic, queueId, flag: 7, reconsumeTimes: 2, bornTimestampMs: 1234, properties: { UNIQ_KEY: `U${n}`, TAGS: "TagA", KEYS: `k${n}`, DELAY: String(level) } });
}

interface Harness {
  world: World;
  readonly store: MessageStore;
  readonly schedule: ScheduleServiceHandle;
  /** Timers the schedule service set (every ctx.after it called), over all boots. */
  readonly timersSet: number;
  events: TraceEvent[];
  deliveries(): TraceEvent[];
  runUntil(us: number): void;
  at(us: number, fn: () => void): void;
  /** Puts a delayed message straight into the store; returns its delivery time (ms), as the ConsumeQueue tag holds it. */
  putDelayed(msg: MessageInput): number;
  setMaster(master: boolean): void;
}

/**
 * One node whose process is a bare MessageStore with the schedule service
 * installed on a hand-made BrokerRuntime: `isMaster` is the test's to flip,
 * `put` stands for the broker's send-path put (the store's own put,
 * answered at once, unless the test says otherwise), and every timer the
 * service sets is counted.
 */
function standalone(opts: { master?: boolean; put?: (ctx: NodeContext, store: MessageStore, msg: MessageInput, cb: (s: BrokerPutStatus, ar: AppendResult | null) => void) => void; config?: Record<string, unknown> } = {}): Harness {
  const world = new World({ seed: 3 });
  const cfg: RocketMqConfig = parseRocketMqConfig(opts.config ?? {});
  const role = masterSwitch(opts.master ?? true);
  let store: MessageStore | null = null;
  let schedule: ScheduleServiceHandle | null = null;
  let timersSet = 0;
  const events: TraceEvent[] = [];
  world.sim.onTrace((e) => events.push(e));
  world.addNode("b", (ctx) => {
    const counting = Object.create(ctx) as NodeContext;
    counting.after = (us, fn, arg) => {
      timersSet++;
      return ctx.after(us, fn, arg);
    };
    const put = opts.put;
    const rt = fakeRuntime({ ctx, serviceCtx: counting, cfg, role, put: put === undefined ? undefined : (s, msg, cb) => put(ctx, s, msg, cb) });
    store = rt.store;
    schedule = installScheduleService(rt);
    expect(rt.topicConfig(SCHEDULE_TOPIC)).toEqual({ topicName: SCHEDULE_TOPIC, readQueueNums: 18, writeQueueNums: 18, perm: PERM_READ | PERM_WRITE });
    return { onMessage() {} };
  });
  world.start("b");
  const h: Harness = {
    world,
    get store() {
      return store!;
    },
    get schedule() {
      return schedule!;
    },
    get timersSet() {
      return timersSet;
    },
    events,
    deliveries: () => events.filter((e) => e.kind === "schedule.deliver"),
    runUntil: (us) => void world.sim.run({ untilUs: us }),
    at: (us, fn) => void world.sim.schedule(us, fn),
    putDelayed(msg) {
      const r = store!.putMessage(msg);
      expect(r.status).toBe("PUT_OK");
      const level = Number(msg.properties.DELAY);
      return r.appendResult!.storeTimestamp + DELAYS[level - 1]!;
    },
    setMaster: (m) => role.set(m),
  };
  return h;
}

describe("ScheduleMessageService: delivery time", () => {
  it("a delayed message is invisible in its real topic until its time, then delivered on the first 100 ms poll at or after it", () => {
    const h = standalone();
    let deliverMs = 0;
    // The service started at 0; level tasks first ran at 1 s and found their queues empty.
    h.at(2_345_600, () => (deliverMs = h.putDelayed(delayed(1, 2))));
    h.runUntil(7_344_999);
    expect(deliverMs).toBe(2345 + 5000);
    expect(h.store.getMaxOffsetInQueue("TopicTest", 0)).toBe(0);
    expect(h.store.getMaxOffsetInQueue(SCHEDULE_TOPIC, 1)).toBe(1);
    expect(h.schedule.pending()).toBe(1);
    h.runUntil(7_399_999);
    expect(h.store.getMaxOffsetInQueue("TopicTest", 0)).toBe(0);
    h.runUntil(7_500_000);
    // The real task polls every 100 ms from its first run at 1 s: 7.3 s is too early, 7.4 s delivers.
    expect(h.deliveries().map((e) => e.timeUs)).toEqual([7_400_000]);
    const [m] = readQueue(h.store, "TopicTest", 0);
    expect(m!.storeTimestamp).toBe(7400);
    expect(m!.storeTimestamp - deliverMs).toBeLessThan(100);
    expect(h.schedule.pending()).toBe(0);
  });

  it("messageTimeup: real topic and queue back, DELAY gone, WAIT=false; body, flag, born time, reconsumeTimes and other properties kept", () => {
    const h = standalone();
    h.at(1.5 * S, () => h.putDelayed(delayed(1, 1, "TopicOther", 3)));
    h.runUntil(4 * S);
    const [m] = readQueue(h.store, "TopicOther", 3);
    expect(m).toBeDefined();
    expect(bodyText(m!.body)).toBe("body-1");
    expect([m!.flag, m!.reconsumeTimes, m!.bornTimestamp, m!.sysFlag]).toEqual([7, 2, 1234, 0]);
    expect(m!.properties).toEqual({ UNIQ_KEY: "U1", TAGS: "TagA", KEYS: "k1", REAL_TOPIC: "TopicOther", REAL_QID: "3", WAIT: "false" });
    expect(h.deliveries()[0]!.details).toEqual({ level: 1, offset: 0, topic: "TopicOther", queueId: 3 });
  });

  it("per level: in queue order, each on its own clock; a short level overtakes a long one", () => {
    const h = standalone();
    const due = new Map<string, number>();
    for (let i = 0; i < 5; i++) {
      h.at(2 * S + i * 150 * MS, () => due.set(`U${i}`, h.putDelayed(delayed(i, 3, "TopicTest", 1))));
      h.at(2 * S + i * 150 * MS + 70 * MS, () => due.set(`U${10 + i}`, h.putDelayed(delayed(10 + i, 1, "TopicTest", 2))));
    }
    h.runUntil(20 * S);
    const level3 = readQueue(h.store, "TopicTest", 1);
    const level1 = readQueue(h.store, "TopicTest", 2);
    expect(level3.map((m) => m.properties.UNIQ_KEY)).toEqual(["U0", "U1", "U2", "U3", "U4"]);
    expect(level1.map((m) => m.properties.UNIQ_KEY)).toEqual(["U10", "U11", "U12", "U13", "U14"]);
    // Every level-1 message was delivered before any level-3 one, though put after some of them.
    expect(level1[4]!.storeTimestamp).toBeLessThan(level3[0]!.storeTimestamp);
    for (const m of [...level1, ...level3]) {
      const d = due.get(m.properties.UNIQ_KEY!)!;
      expect(m.storeTimestamp).toBeGreaterThanOrEqual(d);
      expect(m.storeTimestamp).toBeLessThan(d + 100);
    }
  });

  it("correctDeliverTimestamp: a time further ahead than the level's delay counts as now", () => {
    expect(correctDeliverTimestamp(1000, 11_000, 10_000)).toBe(11_000);
    expect(correctDeliverTimestamp(1000, 11_001, 10_000)).toBe(1000);
  });
});

describe("ScheduleMessageService: puts", () => {
  it("a failed put is retried 100 ms later at the same offset; the level keeps its order", () => {
    let failures = 3;
    const h = standalone({
      put: (_ctx, store, msg, cb) => {
        if (failures > 0) {
          failures--;
          cb("OS_PAGECACHE_BUSY", null);
          return;
        }
        const r = store.putMessage(msg);
        cb(r.status, r.appendResult);
      },
    });
    h.at(1.5 * S, () => {
      h.putDelayed(delayed(1, 1));
      h.putDelayed(delayed(2, 1));
    });
    h.runUntil(5 * S);
    // Due at 2.5 s; the poll at 2.5 s fails, then 2.6 s and 2.7 s, and 2.8 s delivers both.
    expect(h.events.filter((e) => e.kind === "schedule.putFailed").map((e) => [e.timeUs, e.details!.offset])).toEqual([
      [2.5 * S, 0],
      [2.6 * S, 0],
      [2.7 * S, 0],
    ]);
    expect(h.deliveries().map((e) => [e.timeUs, e.details!.offset])).toEqual([
      [2.8 * S, 0],
      [2.8 * S, 1],
    ]);
    expect(readQueue(h.store, "TopicTest", 0).map((m) => m.properties.UNIQ_KEY)).toEqual(["U1", "U2"]);
  });

  it("a put answered later (DLedger's commit) holds the level until it is answered", () => {
    const h = standalone({
      put: (ctx, store, msg, cb) => {
        ctx.after(7 * MS, () => {
          const r = store.putMessage(msg);
          cb(r.status, r.appendResult);
        });
      },
    });
    h.at(1.5 * S, () => {
      for (let i = 0; i < 3; i++) h.putDelayed(delayed(i, 1));
    });
    h.runUntil(5 * S);
    expect(h.deliveries().map((e) => e.timeUs)).toEqual([2.507 * S, 2.514 * S, 2.521 * S]);
    expect(readQueue(h.store, "TopicTest", 0).map((m) => m.properties.UNIQ_KEY)).toEqual(["U0", "U1", "U2"]);
  });
});

describe("ScheduleMessageService: masters only", () => {
  it("does nothing on a slave; starts on becoming master (first run 1 s later); stops and persists on losing it", () => {
    const h = standalone({ master: false });
    h.at(1 * S, () => h.putDelayed(delayed(1, 1)));
    h.runUntil(30 * S);
    expect(h.deliveries()).toEqual([]);
    expect(h.schedule.pending()).toBe(0);
    h.at(30 * S, () => h.setMaster(true));
    h.runUntil(32 * S);
    expect(h.deliveries().map((e) => e.timeUs)).toEqual([31 * S]);
    h.at(32 * S, () => {
      h.setMaster(false);
      h.putDelayed(delayed(2, 1));
    });
    h.runUntil(60 * S);
    expect(h.deliveries().length).toBe(1);
    expect(readConfigFile<DelayOffsetFile>(h.world.node("b").disk, DELAY_OFFSET_FILE)).toEqual({ offsetTable: { "1": 1 } });
    // Master again: the table is loaded and the level goes on from offset 1.
    h.at(60 * S, () => h.setMaster(true));
    h.runUntil(62 * S);
    expect(h.deliveries().map((e) => [e.timeUs, e.details!.offset])).toEqual([
      [31 * S, 0],
      [61 * S, 1],
    ]);
  });

  it("pending counts stored but undelivered messages over all levels", () => {
    const h = standalone();
    h.at(1.5 * S, () => {
      for (let i = 0; i < 4; i++) h.putDelayed(delayed(i, 3));
      h.putDelayed(delayed(9, 18));
    });
    h.runUntil(2 * S);
    expect(h.schedule.pending()).toBe(5);
    h.runUntil(12 * S);
    expect(h.schedule.pending()).toBe(1);
  });
});

describe("ScheduleMessageService: cost", () => {
  it("an idle master sets no polling timers: three hours cost the level tasks' first runs and the 10 s offset persists", () => {
    const h = standalone();
    h.runUntil(3 * 3600 * S);
    // 18 first runs + one persist per flushDelayOffsetInterval (10 s): 18 + 1080. Polling every
    // 100 ms on 18 levels would be 18 × 10 × 10800 = 1,944,000.
    expect(h.timersSet).toBeLessThanOrEqual(18 + 3 * 360 + 1);
    const before = h.timersSet;
    let due = 0;
    h.at(3 * 3600 * S + 123_456, () => (due = h.putDelayed(delayed(1, 3))));
    h.runUntil(3 * 3600 * S + 20 * S);
    // Woken by the dispatch, it sleeps until the poll that sees the message due.
    const [d] = h.deliveries();
    expect(d!.timeUs).toBeGreaterThanOrEqual(due * MS);
    expect(d!.timeUs).toBeLessThan(due * MS + 100 * MS);
    expect(h.timersSet - before).toBeLessThanOrEqual(2 + 2 + 1);
  });
});

// ---- the service inside a broker process: crashes and power loss ----

interface BrokerRun {
  world: World;
  readonly handle: BrokerHandle;
  events: TraceEvent[];
  runUntil(us: number): void;
  at(us: number, fn: () => void): void;
  /** UNIQ_KEY → delivery time (ms) of every delayed message put. */
  due: Map<string, number>;
  putDelayedAt(us: number, n: number, level: number): void;
  realTopic(): DecodedMessage[];
}

function brokerRun(config: Record<string, unknown> = {}): BrokerRun {
  const world = new World({ seed: 11 });
  const cfg = parseRocketMqConfig(config);
  let handle: BrokerHandle | null = null;
  const events: TraceEvent[] = [];
  world.sim.onTrace((e) => events.push(e));
  world.addNode("b", (ctx) => {
    const h = broker({ brokerName: "b", brokerId: 0, nameServers: [], config: cfg, topics: [{ topic: "TopicTest", queues: 1 }] })(ctx);
    handle = h;
    return h;
  });
  world.start("b");
  const due = new Map<string, number>();
  const r: BrokerRun = {
    world,
    get handle() {
      return handle!;
    },
    events,
    runUntil: (us) => void world.sim.run({ untilUs: us }),
    at: (us, fn) => void world.sim.schedule(us, fn),
    due,
    putDelayedAt(us, n, level) {
      r.at(us, () => {
        const p = handle!.store.putMessage(delayed(n, level));
        expect(p.status).toBe("PUT_OK");
        due.set(`U${n}`, p.appendResult!.storeTimestamp + DELAYS[level - 1]!);
      });
    },
    realTopic: () => readQueue(handle!.store, "TopicTest", 0),
  };
  return r;
}

/** UNIQ_KEY → how many copies the real topic holds. */
function copies(messages: DecodedMessage[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of messages) out.set(m.properties.UNIQ_KEY!, (out.get(m.properties.UNIQ_KEY!) ?? 0) + 1);
  return out;
}

/** No copy of any message is stored in its real topic before its delivery time. */
function expectNeverEarly(r: BrokerRun): void {
  for (const m of r.realTopic()) expect(m.storeTimestamp).toBeGreaterThanOrEqual(r.due.get(m.properties.UNIQ_KEY!)!);
}

describe("ScheduleMessageService: delayOffset.json and crashes", () => {
  it("a process crash after delivery but before delayOffset.json is written redelivers (duplicates), never early", () => {
    const r = brokerRun();
    for (let i = 0; i < 5; i++) r.putDelayedAt(1 * S, i, 4); // 30 s: due at 31 s
    r.putDelayedAt(1 * S, 9, 5); // 1 min: due at 61 s
    r.runUntil(35 * S);
    expect(copies(r.realTopic())).toEqual(new Map(["U0", "U1", "U2", "U3", "U4"].map((k) => [k, 1])));
    // Persisted at 10, 20 and 30 s, before the deliveries at 31 s.
    expect(readConfigFile<DelayOffsetFile>(r.world.node("b").disk, DELAY_OFFSET_FILE)).toEqual({ offsetTable: {} });
    r.world.crash("b", "process");
    r.at(36 * S, () => r.world.start("b"));
    r.runUntil(90 * S);
    // The new boot starts from offset 0 and delivers the five again at its first run (37 s); U9 waits for 61 s.
    expect(copies(r.realTopic())).toEqual(new Map([...["U0", "U1", "U2", "U3", "U4"].map((k): [string, number] => [k, 2]), ["U9", 1]]));
    const u9 = r.realTopic().find((m) => m.properties.UNIQ_KEY === "U9")!;
    expect(u9.storeTimestamp).toBeGreaterThanOrEqual(r.due.get("U9")!);
    expect(u9.storeTimestamp).toBeLessThan(r.due.get("U9")! + 100);
    expectNeverEarly(r);
  });

  it("a process crash after delayOffset.json was written redelivers nothing", () => {
    const r = brokerRun();
    for (let i = 0; i < 5; i++) r.putDelayedAt(1 * S, i, 4);
    r.runUntil(45 * S);
    expect(readConfigFile<DelayOffsetFile>(r.world.node("b").disk, DELAY_OFFSET_FILE)).toEqual({ offsetTable: { "4": 5 } });
    r.world.crash("b", "process");
    r.at(46 * S, () => r.world.start("b"));
    r.runUntil(90 * S);
    expect([...copies(r.realTopic()).values()]).toEqual([1, 1, 1, 1, 1]);
  });

  it("a clean shutdown persists the table: nothing is redelivered after it", () => {
    const r = brokerRun();
    for (let i = 0; i < 5; i++) r.putDelayedAt(1 * S, i, 4);
    r.at(35 * S, () => r.handle.shutdown(() => r.world.crash("b", "process")));
    r.runUntil(40 * S);
    expect(readConfigFile<DelayOffsetFile>(r.world.node("b").disk, DELAY_OFFSET_FILE)).toEqual({ offsetTable: { "4": 5 } });
    r.at(40 * S, () => r.world.start("b"));
    r.runUntil(90 * S);
    expect([...copies(r.realTopic()).values()]).toEqual([1, 1, 1, 1, 1]);
  });

  it("power loss: the unsynced delayOffset.json is lost while the flushed deliveries survive, so they are redelivered, never early", () => {
    const r = brokerRun();
    for (let i = 0; i < 5; i++) r.putDelayedAt(1 * S, i, 4);
    r.putDelayedAt(1 * S, 9, 6); // 2 min: due at 121 s
    // Delivered at 31 s and flushed by the 10 s thorough CommitLog flush; delayOffset.json written at
    // 40 s without fsync, its pages not yet written back (30 s dirty expiry).
    r.runUntil(45 * S);
    expect(r.handle.store.getFlushedWhere()).toBe(r.handle.store.getMaxPhyOffset());
    r.world.crash("b", "power");
    const kept = readConfigFile<DelayOffsetFile>(r.world.node("b").disk, DELAY_OFFSET_FILE);
    expect(kept?.offsetTable["4"] ?? 0).toBe(0);
    r.at(46 * S, () => r.world.start("b"));
    r.runUntil(150 * S);
    expect(copies(r.realTopic())).toEqual(new Map([...["U0", "U1", "U2", "U3", "U4"].map((k): [string, number] => [k, 2]), ["U9", 1]]));
    expectNeverEarly(r);
  });
});
