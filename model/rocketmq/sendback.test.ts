import { describe, expect, it } from "vitest";
import type { TraceEvent } from "../../sim/kernel.js";
import { World } from "../../sim/world.js";
import { broker, type BrokerHandle } from "./broker.js";
import { parseRocketMqConfig } from "./config.js";
import { PERM_READ, PERM_WRITE, RequestCode, ResponseCode, type AllTopicConfigBody, type ConsumerSendMsgBackBody } from "./protocol.js";
import { sendBackRoute } from "./sendback.js";
import { SCHEDULE_TOPIC } from "./store/codec.js";
import { parseDelayLevels } from "./store/config.js";
import type { MessageStore } from "./store/message-store.js";
import { bodyText, testMessage } from "./store/testing.js";
import type { DecodedMessage, MessageInput } from "./store/types.js";
import { bareClient, readQueue, slaveConfig } from "./testing.js";

const S = 1_000_000;
const MS = 1_000;
const DELAYS = parseDelayLevels(parseRocketMqConfig({}).store.messageDelayLevel);
const RETRY = "%RETRY%g";
const DLQ = "%DLQ%g";

interface Reply {
  code?: number;
  remark?: string | undefined;
  body?: unknown;
  error?: string | null;
}

/**
 * A master `m` (and, if asked, a slave `s` of the same group) with no
 * NameServers, and a bare remoting client `c`.
 */
function cluster(opts: { slave?: boolean } = {}) {
  const world = new World({ seed: 5 });
  const cfg = parseRocketMqConfig({});
  const topics = [{ topic: "TopicTest", queues: 1 }];
  const handles: Record<string, BrokerHandle> = {};
  const events: TraceEvent[] = [];
  world.sim.onTrace((e) => events.push(e));
  world.addNode("m", (ctx) => (handles.m = broker({ brokerName: "g", brokerId: 0, nameServers: [], config: cfg, topics })(ctx)));
  if (opts.slave) {
    const slaveCfg = slaveConfig(cfg);
    world.addNode("s", (ctx) => (handles.s = broker({ brokerName: "g", brokerId: 1, nameServers: [], config: slaveCfg, topics, masterAddress: () => "m" })(ctx)));
  }
  const client = bareClient(world, "c");
  world.startAll();
  const c = {
    world,
    events,
    get store(): MessageStore {
      return handles.m!.store;
    },
    runUntil: (us: number) => void world.sim.run({ untilUs: us }),
    /** Runs until `cond` holds (checked after every event), within a bound. */
    runUntilTrue(cond: () => boolean, maxUs: number): void {
      const r = world.sim.run({ until: cond, untilUs: world.sim.now + maxUs });
      expect(r.reason).toBe("condition");
    },
    /** Puts a message straight into the master's store; returns it as stored. */
    put(msg: MessageInput): DecodedMessage {
      const r = handles.m!.store.putMessage(msg);
      expect(r.status).toBe("PUT_OK");
      return handles.m!.store.lookupMessageByOffset(r.appendResult!.wroteOffset)!;
    },
    /** CONSUMER_SEND_MSG_BACK from the client, sent now; the reply fills in later. */
    sendBack(target: string, fields: Partial<ConsumerSendMsgBackBody> & { offset: number }): Reply {
      const out: Reply = {};
      const body: ConsumerSendMsgBackBody = { group: "g", delayLevel: 0, originMsgId: "CLIENT-ID", originTopic: "TopicTest", maxReconsumeTimes: 16, ...fields };
      world.sim.schedule(world.sim.now, () =>
        client().invoke(target, RequestCode.CONSUMER_SEND_MSG_BACK, body, 3_000, (resp, err) => {
          out.code = resp?.code;
          out.remark = resp?.remark;
          out.error = err;
        }),
      );
      return out;
    },
    invoke(target: string, code: number, body: unknown): Reply {
      const out: Reply = {};
      world.sim.schedule(world.sim.now, () =>
        client().invoke(target, code, body, 3_000, (resp, err) => {
          out.code = resp?.code;
          out.body = resp?.body;
          out.error = err;
        }),
      );
      return out;
    },
    queue: (topic: string, queueId = 0): DecodedMessage[] => readQueue(handles.m!.store, topic, queueId),
  };
  return c;
}

describe("sendBackRoute (asyncConsumerSendMsgBack's rule)", () => {
  it("level 0 becomes 3 + reconsumeTimes; reconsumeTimes >= max or a negative level goes to the DLQ; a given level is kept", () => {
    expect(sendBackRoute(0, 0, 16)).toEqual({ to: "retry", level: 3 });
    expect(sendBackRoute(1, 0, 16)).toEqual({ to: "retry", level: 4 });
    expect(sendBackRoute(15, 0, 16)).toEqual({ to: "retry", level: 18 });
    expect(sendBackRoute(16, 0, 16)).toEqual({ to: "dlq", level: 0 });
    expect(sendBackRoute(0, -1, 16)).toEqual({ to: "dlq", level: 0 });
    expect(sendBackRoute(0, 5, 16)).toEqual({ to: "retry", level: 5 });
    expect(sendBackRoute(2, 0, 2)).toEqual({ to: "dlq", level: 0 });
  });
});

describe("CONSUMER_SEND_MSG_BACK", () => {
  it("reconsumeTimes 0 → level 3: via SCHEDULE_TOPIC_XXXX queue 2 into %RETRY%g 10 s later, reconsumeTimes 1, RETRY_TOPIC and ORIGIN_MESSAGE_ID set", () => {
    const c = cluster();
    c.runUntil(2 * S);
    const original = c.put(testMessage(1, { flag: 3, bornTimestampMs: 777 }));
    const reply = c.sendBack("m", { offset: original.physicalOffset });
    c.runUntil(2.1 * S);
    expect(reply.code).toBe(ResponseCode.SUCCESS);
    const [held] = c.queue(SCHEDULE_TOPIC, 2);
    expect(held!.properties).toMatchObject({ DELAY: "3", REAL_TOPIC: RETRY, REAL_QID: "0", RETRY_TOPIC: "TopicTest", ORIGIN_MESSAGE_ID: original.msgId, WAIT: "false" });
    expect(held!.reconsumeTimes).toBe(1);
    const sentMs = held!.storeTimestamp;
    expect(c.queue(RETRY)).toEqual([]);
    c.runUntil(13 * S);
    const [retried] = c.queue(RETRY);
    expect(retried).toBeDefined();
    expect(retried!.storeTimestamp - sentMs).toBeGreaterThanOrEqual(DELAYS[2]!);
    expect(retried!.storeTimestamp - sentMs).toBeLessThan(DELAYS[2]! + 100);
    expect(bodyText(retried!.body)).toBe("body-1");
    expect([retried!.reconsumeTimes, retried!.flag, retried!.bornTimestamp]).toEqual([1, 3, 777]);
    expect(retried!.properties).toMatchObject({ UNIQ_KEY: "U1", TAGS: "TagA", RETRY_TOPIC: "TopicTest", ORIGIN_MESSAGE_ID: original.msgId });
    expect(retried!.properties.DELAY).toBeUndefined();
    const ev = c.events.find((e) => e.kind === "broker.sendBack")!;
    expect(ev.details).toEqual({ group: "g", originMsgId: original.msgId, reconsumeTimes: 0, to: "retry", level: 3, status: "PUT_OK" });
  });

  it("reconsumeTimes 15 → level 18 (2 h); 16 → %DLQ%g at once with reconsumeTimes 17", () => {
    const c = cluster();
    c.runUntil(2 * S);
    const fifteen = c.put(testMessage(15, { reconsumeTimes: 15 }));
    const sixteen = c.put(testMessage(16, { reconsumeTimes: 16, properties: { UNIQ_KEY: "U16", ORIGIN_MESSAGE_ID: "FIRST", RETRY_TOPIC: "Orig" } }));
    const r15 = c.sendBack("m", { offset: fifteen.physicalOffset });
    const r16 = c.sendBack("m", { offset: sixteen.physicalOffset });
    c.runUntil(3 * S);
    expect([r15.code, r16.code]).toEqual([ResponseCode.SUCCESS, ResponseCode.SUCCESS]);
    expect(c.queue(SCHEDULE_TOPIC, 17).map((m) => m.properties.UNIQ_KEY)).toEqual(["U15"]);
    const [dead] = c.queue(DLQ);
    expect(dead!.properties).toMatchObject({ UNIQ_KEY: "U16", ORIGIN_MESSAGE_ID: "FIRST", RETRY_TOPIC: "Orig", DELAY: "0" });
    expect(dead!.reconsumeTimes).toBe(17);
    c.runUntil(2 * S + DELAYS[17]! * MS - 200 * MS);
    expect(c.queue(RETRY)).toEqual([]);
    c.runUntil(2 * S + DELAYS[17]! * MS + 300 * MS);
    expect(c.queue(RETRY).map((m) => [m.properties.UNIQ_KEY, m.reconsumeTimes])).toEqual([["U15", 16]]);
  });

  it("delayLevel −1 sends even a first failure to the DLQ; a client maxReconsumeTimes replaces 16", () => {
    const c = cluster();
    c.runUntil(2 * S);
    const a = c.put(testMessage(1));
    const b = c.put(testMessage(2, { reconsumeTimes: 2 }));
    c.sendBack("m", { offset: a.physicalOffset, delayLevel: -1 });
    c.sendBack("m", { offset: b.physicalOffset, maxReconsumeTimes: 2 });
    c.runUntil(3 * S);
    expect(c.queue(DLQ).map((m) => [m.properties.UNIQ_KEY, m.reconsumeTimes])).toEqual([
      ["U1", 1],
      ["U2", 3],
    ]);
    expect(c.store.getMaxOffsetInQueue(SCHEDULE_TOPIC, 2)).toBe(0);
  });

  it("creates %RETRY%g and %DLQ%g with one readable, writable queue", () => {
    const c = cluster();
    c.runUntil(2 * S);
    const a = c.put(testMessage(1));
    c.sendBack("m", { offset: a.physicalOffset, delayLevel: -1 });
    c.runUntil(2.5 * S);
    const r = c.invoke("m", RequestCode.GET_ALL_TOPIC_CONFIG, {});
    c.runUntil(3 * S);
    const configs = (r.body as AllTopicConfigBody).topicConfigs;
    for (const topic of [RETRY, DLQ]) {
      expect(configs.find((tc) => tc.topicName === topic)).toEqual({ topicName: topic, readQueueNums: 1, writeQueueNums: 1, perm: PERM_READ | PERM_WRITE });
    }
    expect(configs.find((tc) => tc.topicName === SCHEDULE_TOPIC)?.readQueueNums).toBe(18);
  });

  it("an unknown offset is SYSTEM_ERROR; a slave answers SYSTEM_ERROR SERVICE_NOT_AVAILABLE and stores nothing", () => {
    const c = cluster({ slave: true });
    c.runUntil(2 * S);
    const a = c.put(testMessage(1));
    const unknown = c.sendBack("m", { offset: 9_999_999 });
    const toSlave = c.sendBack("s", { offset: a.physicalOffset });
    c.runUntil(3 * S);
    expect([unknown.code, unknown.remark]).toEqual([ResponseCode.SYSTEM_ERROR, "look message by offset failed, 9999999"]);
    expect([toSlave.code, toSlave.remark]).toEqual([ResponseCode.SYSTEM_ERROR, "SERVICE_NOT_AVAILABLE"]);
    expect(c.store.getMaxOffsetInQueue(SCHEDULE_TOPIC, 2)).toBe(0);
  });

  it("sixteen failures wait 10 s, 30 s, 1 m, ..., 2 h (4 h 45 m 40 s in all); the seventeenth goes to the DLQ", () => {
    const c = cluster();
    c.runUntil(2 * S);
    const original = c.put(testMessage(1));
    let current = original;
    const waitsMs: number[] = [];
    for (let i = 0; i < 16; i++) {
      const before = c.store.getMaxOffsetInQueue(RETRY, 0);
      const sentUs = c.world.sim.now;
      const reply = c.sendBack("m", { offset: current.physicalOffset });
      c.runUntilTrue(() => c.store.getMaxOffsetInQueue(RETRY, 0) > before, 3 * 3600 * S);
      expect(reply.code).toBe(ResponseCode.SUCCESS);
      waitsMs.push(Math.round((c.world.sim.now - sentUs) / MS));
      current = c.queue(RETRY)[before]!;
      expect([current.reconsumeTimes, current.properties.ORIGIN_MESSAGE_ID, current.properties.RETRY_TOPIC]).toEqual([i + 1, original.msgId, "TopicTest"]);
    }
    // Each wait is the level's delay, plus at most one 100 ms poll, the network and the dispatch.
    waitsMs.forEach((w, i) => {
      expect(w).toBeGreaterThanOrEqual(DELAYS[i + 2]!);
      expect(w).toBeLessThan(DELAYS[i + 2]! + 120);
    });
    const totalMs = DELAYS.slice(2).reduce((a, b) => a + b, 0);
    expect(totalMs).toBe(((4 * 60 + 45) * 60 + 40) * 1000);
    const last = c.sendBack("m", { offset: current.physicalOffset });
    c.runUntilTrue(() => c.store.getMaxOffsetInQueue(DLQ, 0) > 0, 1 * S);
    c.runUntil(c.world.sim.now + 100 * MS);
    expect(last.code).toBe(ResponseCode.SUCCESS);
    expect(c.queue(DLQ).map((m) => [m.properties.UNIQ_KEY, m.reconsumeTimes])).toEqual([["U1", 17]]);
  });
});
