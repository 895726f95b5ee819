import { describe, expect, it } from "vitest";
import type { MessageQueue } from "./client.js";
import { parseRocketMqConfig } from "./config.js";
import { allocateAveragely, type ConsumeConcurrentlyStatus, type ConsumedBatch, type PushConsumer } from "./consumer.js";
import { RequestCode, ResponseCode, type ConsumerSendMsgBackBody, type PullMessageRequestBody } from "./protocol.js";
import { addPushConsumer, listenerCall, sendMessageBody, singleMasterWorld, type Intercept, type ListenerCall, type ReceivedRequest } from "./testing.js";

const queues = (n: number, broker = "broker-a"): MessageQueue[] => Array.from({ length: n }, (_, i) => ({ topic: "T", brokerName: broker, queueId: i }));
const ids = (mqs: MessageQueue[]) => mqs.map((q) => `${q.brokerName}#${q.queueId}`);

describe("AllocateMessageQueueAveragely", () => {
  it("gives each client a contiguous block, the first ones one larger", () => {
    const mqs = queues(8);
    const cids = ["c1", "c2", "c3"];
    expect(ids(allocateAveragely(mqs, cids, "c1"))).toEqual(["broker-a#0", "broker-a#1", "broker-a#2"]);
    expect(ids(allocateAveragely(mqs, cids, "c2"))).toEqual(["broker-a#3", "broker-a#4", "broker-a#5"]);
    expect(ids(allocateAveragely(mqs, cids, "c3"))).toEqual(["broker-a#6", "broker-a#7"]);
  });

  it("covers every queue exactly once, for any number of clients", () => {
    const mqs = [...queues(4, "broker-b"), ...queues(4, "broker-a")];
    for (let n = 1; n <= 10; n++) {
      const cids = Array.from({ length: n }, (_, i) => `c${i}`).sort();
      const all = cids.flatMap((c) => ids(allocateAveragely(mqs, cids, c)));
      expect(all.sort()).toEqual(ids(mqs).sort());
    }
  });

  it("gives nothing to a client that is not in the list", () => {
    expect(allocateAveragely(queues(4), ["c1"], "c9")).toEqual([]);
  });
});

// ---- a small world: one NameServer, one master, a bare sender, push consumers ----

const S = 1_000_000;

interface RigOptions {
  consumers: string[];
  /** Consumer name → the listener's answer for a batch (undefined: all CONSUME_SUCCESS). */
  answer?: (consumer: string, batch: ConsumedBatch) => ConsumeConcurrentlyStatus[] | void;
  subscriptions?: Record<string, string[] | "*">;
  config?: Record<string, unknown>;
  topics?: Array<{ topic: string; queues: number }>;
  intercept?: Intercept;
}

function rig(opts: RigOptions) {
  const cfg = parseRocketMqConfig({ consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET", ...opts.config });
  const { world, events, received, sender } = singleMasterWorld({ seed: 11, config: cfg, topics: opts.topics ?? [{ topic: "T", queues: 1 }], intercept: opts.intercept });
  const calls: ListenerCall[] = [];
  const consumers = new Map<string, PushConsumer>();
  for (const name of opts.consumers) {
    addPushConsumer(world, name, {
      config: cfg,
      nameServers: ["ns"],
      group: "G",
      subscriptions: opts.subscriptions ?? { T: "*" },
      listener: (ctx) => ({
        consume: (batch) => {
          calls.push(listenerCall(ctx.now, name, batch));
          return opts.answer?.(name, batch);
        },
      }),
      onStart: (consumer) => consumers.set(name, consumer),
    });
  }
  world.startAll();
  let seq = 0;
  return {
    world,
    events,
    calls,
    received,
    consumer: (name: string) => consumers.get(name)!,
    runUntil: (us: number) => world.sim.run({ untilUs: us }),
    at: (us: number, fn: () => void) => world.sim.schedule(us, fn),
    /** SEND_MESSAGE_V2 straight to a queue at `us`. */
    sendAt(us: number, value: string, o: { topic?: string; queueId?: number; properties?: Record<string, string> } = {}): void {
      world.sim.schedule(us, () => {
        const properties = { UNIQ_KEY: `u-${value}`, KEYS: value, ...o.properties };
        const body = sendMessageBody(value, { producerGroup: "PG", topic: o.topic ?? "T", queueId: o.queueId ?? 0, bornHost: "p", properties });
        sender().invoke("broker-a", RequestCode.SEND_MESSAGE_V2, body, 3_000, (resp) => expect(resp?.code).toBe(ResponseCode.SUCCESS));
        seq++;
      });
    },
    sent: () => seq,
  };
}

const sendBacks = (r: { received: ReceivedRequest[] }) => r.received.filter((q) => q.code === RequestCode.CONSUMER_SEND_MSG_BACK);
const committed = (r: { received: ReceivedRequest[] }, topic = "T") =>
  r.received.filter((q) => q.code === RequestCode.UPDATE_CONSUMER_OFFSET && (q.body as { topic: string }).topic === topic).map((q) => ({ timeUs: q.timeUs, offset: (q.body as { commitOffset: number }).commitOffset }));

describe("concurrent consumption: RECONSUME_LATER (ConsumeMessageConcurrentlyService)", () => {
  it("sends the failed message back with CONSUMER_SEND_MSG_BACK to the queue's master, and commits past it once the broker took it", () => {
    let physicalOffsetV1 = -1;
    const r = rig({
      consumers: ["c1"],
      answer: (_c, batch) =>
        batch.messages.map((m) => {
          if (m.queueOffset !== 1 || m.reconsumeTimes > 0) return "CONSUME_SUCCESS";
          physicalOffsetV1 = m.physicalOffset;
          return "RECONSUME_LATER";
        }),
      intercept: (req) => (req.code === RequestCode.CONSUMER_SEND_MSG_BACK ? { code: ResponseCode.SUCCESS } : "pass"),
    });
    for (let i = 0; i < 3; i++) r.sendAt(5 * S + i * 1000, `v${i}`);
    r.runUntil(20 * S);
    const consumed = r.calls.flatMap((c) => c.offsets);
    expect(consumed).toEqual([0, 1, 2]);
    const backs = sendBacks(r);
    expect(backs).toHaveLength(1);
    expect(backs[0]!.from).toBe("c1");
    // offset is the message's CommitLog offset (the broker finds the message by it), not its queue offset.
    expect(physicalOffsetV1).toBeGreaterThan(0);
    const body: ConsumerSendMsgBackBody = { group: "G", offset: physicalOffsetV1, delayLevel: 0, originMsgId: "u-v1", originTopic: "T", maxReconsumeTimes: 16 };
    expect(backs[0]!.body).toEqual(body);
    const traced = r.events.filter((e) => e.kind === "consumer.sendBack");
    expect(traced.map((e) => e.details)).toEqual([{ group: "G", mq: "T@broker-a#0", offset: 1, reconsumeTimes: 0, delayLevel: 0, ok: true }]);
    expect(r.consumer("c1").consumedOffsets().get("T@broker-a#0")).toBe(3);
    expect(committed(r).at(-1)?.offset).toBe(3);
  });

  it("carries the consumer's own maxReconsumeTimes, and the retried message's CommitLog offset", () => {
    const seen = new Map<number, number>();
    const r = rig({
      consumers: ["c1"],
      config: { maxReconsumeTimes: 3 },
      answer: (_c, batch) => batch.messages.map((m) => (seen.set(m.queueOffset, m.physicalOffset), "RECONSUME_LATER" as const)),
      intercept: (req) => (req.code === RequestCode.CONSUMER_SEND_MSG_BACK ? { code: ResponseCode.SUCCESS } : "pass"),
    });
    r.sendAt(5 * S, "v0");
    r.sendAt(5 * S + 1000, "v1");
    r.runUntil(20 * S);
    const bodies = sendBacks(r).map((q) => q.body as ConsumerSendMsgBackBody);
    expect(bodies.map((b) => [b.offset, b.maxReconsumeTimes, b.originMsgId])).toEqual([
      [seen.get(0), 3, "u-v0"],
      [seen.get(1), 3, "u-v1"],
    ]);
  });

  it("re-consumes a message locally 5 s after its send-back failed, one reconsume more, holding the committed offset back", () => {
    let backs = 0;
    const r = rig({
      consumers: ["c1"],
      answer: (_c, batch) => batch.messages.map((m) => (m.queueOffset === 1 && m.reconsumeTimes < 2 ? "RECONSUME_LATER" : "CONSUME_SUCCESS")),
      // The first send-back is refused, the second one times out (5 s), then the message succeeds here.
      intercept: (req) => (req.code !== RequestCode.CONSUMER_SEND_MSG_BACK ? "pass" : ++backs === 1 ? { code: ResponseCode.SYSTEM_ERROR } : "drop"),
    });
    for (let i = 0; i < 3; i++) r.sendAt(5 * S + i * 1000, `v${i}`);
    r.sendAt(12 * S, "v3");
    r.runUntil(40 * S);
    const forV1 = r.calls.filter((c) => c.offsets.includes(1));
    expect(forV1).toHaveLength(3);
    expect(forV1[0]!.reconsumeTimes[forV1[0]!.offsets.indexOf(1)]).toBe(0);
    // Re-consumed alone, from the queue it was pulled from.
    expect(forV1.slice(1).map((c) => [c.offsets, c.reconsumeTimes, c.mq])).toEqual([
      [[1], [1], "T@broker-a#0"],
      [[1], [2], "T@broker-a#0"],
    ]);
    const results = r.events.filter((e) => e.kind === "consumer.sendBack");
    expect(results.map((e) => [e.details!.ok, e.details!.error])).toEqual([
      [false, "SYSTEM_ERROR"],
      [false, "timeout"],
    ]);
    // submitConsumeRequestLater: exactly 5 s after each failure.
    expect(forV1[1]!.timeUs - results[0]!.timeUs).toBe(5 * S);
    expect(forV1[2]!.timeUs - results[1]!.timeUs).toBe(5 * S);
    // The timeout is the send-back's own 5 s.
    expect(results[1]!.timeUs - forV1[1]!.timeUs).toBeGreaterThanOrEqual(5 * S);
    // Meanwhile v2 and v3 were consumed, but every commit stayed at the message in flight.
    expect(r.calls.flatMap((c) => c.offsets).filter((o) => o !== 1)).toEqual([0, 2, 3]);
    expect(r.calls.find((c) => c.offsets.includes(3))!.timeUs).toBeLessThan(forV1[2]!.timeUs);
    const during = committed(r).filter((c) => c.timeUs > forV1[0]!.timeUs && c.timeUs < forV1[2]!.timeUs);
    expect(during.length).toBeGreaterThan(2);
    expect(during.every((c) => c.offset === 1)).toBe(true);
    expect(committed(r).at(-1)?.offset).toBe(4);
    expect(r.consumer("c1").consumedOffsets().get("T@broker-a#0")).toBe(4);
  });

  it("consumes the group's retry topic without being asked, giving its messages their original topic back", () => {
    const r = rig({ consumers: ["c1"], topics: [{ topic: "T", queues: 1 }, { topic: "%RETRY%G", queues: 1 }] });
    r.sendAt(5 * S, "r0", { topic: "%RETRY%G", properties: { RETRY_TOPIC: "T" } });
    r.sendAt(5 * S, "t0");
    r.runUntil(15 * S);
    const byMq = new Map(r.calls.map((c) => [c.mq, c.topics]));
    expect(byMq.get("%RETRY%G@broker-a#0")).toEqual(["T"]);
    expect(byMq.get("T@broker-a#0")).toEqual(["T"]);
    const pullTopics = new Set(r.received.filter((q) => q.code === RequestCode.PULL_MESSAGE).map((q) => (q.body as PullMessageRequestBody).topic));
    expect([...pullTopics].sort()).toEqual(["%RETRY%G", "T"]);
  });

  it("filters by tag per topic: on the broker by the subscription it pulls with, and again by string", () => {
    const r = rig({ consumers: ["c1"], subscriptions: { T: ["A"] } });
    r.sendAt(5 * S, "a0", { properties: { TAGS: "A" } });
    r.sendAt(5 * S + 1000, "b0", { properties: { TAGS: "B" } });
    r.sendAt(5 * S + 2000, "a1", { properties: { TAGS: "A" } });
    r.runUntil(15 * S);
    expect(r.calls.flatMap((c) => c.offsets)).toEqual([0, 2]);
    const pulls = r.received.filter((q) => q.code === RequestCode.PULL_MESSAGE).map((q) => q.body as PullMessageRequestBody);
    expect(pulls.find((p) => p.topic === "T")?.subscription).toEqual(["A"]);
    expect(r.consumer("c1").consumedOffsets().get("T@broker-a#0")).toBe(3);
  });
});

describe("concurrent consumption end to end with the broker's send-back", () => {
  it("a RECONSUME_LATER message comes back through %RETRY%G with its original topic, one reconsume more", () => {
    const r = rig({
      consumers: ["c1"],
      answer: (_c, batch) => batch.messages.map((m) => (m.reconsumeTimes === 0 && m.queueOffset === 0 && batch.mq.topic === "T" ? "RECONSUME_LATER" : "CONSUME_SUCCESS")),
    });
    r.sendAt(5 * S, "v0");
    r.runUntil(60 * S);
    expect(r.events.filter((e) => e.kind === "consumer.sendBack").map((e) => e.details!.ok)).toEqual([true]);
    const again = r.calls.filter((c) => c.mq === "%RETRY%G@broker-a#0");
    expect(again.map((c) => [c.topics, c.reconsumeTimes])).toEqual([[["T"], [1]]]);
    // Delay level 3 + 0 = 10 s at the earliest; the retry topic's route is found at a rebalance.
    expect(again[0]!.timeUs - r.calls[0]!.timeUs).toBeGreaterThanOrEqual(10 * S);
    expect(r.consumer("c1").consumedOffsets().get("%RETRY%G@broker-a#0")).toBe(1);
    expect(r.consumer("c1").consumedOffsets().get("T@broker-a#0")).toBe(1);
  });
});
