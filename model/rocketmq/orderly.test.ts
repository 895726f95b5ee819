import { describe, expect, it } from "vitest";
import { queueKey } from "./client.js";
import { parseRocketMqConfig } from "./config.js";
import { CLIENT_LOCK_MAX_LIVE_TIME_MS, REBALANCE_LOCK_INTERVAL_MS, type ConsumedBatch, type PushConsumer } from "./consumer.js";
import { BROKER_LOCK_MAX_LIVE_TIME_MS } from "./lock-manager.js";
import { RequestCode, ResponseCode, type ConsumerSendMsgBackBody, type LockBatchBody } from "./protocol.js";
import { addPushConsumer, listenerCall, sendMessageBody, singleMasterWorld, type Intercept, type ListenerCall } from "./testing.js";

const S = 1_000_000;

interface RigOptions {
  consumers: string[];
  /** Consumers not started at time 0 (started by the test). */
  later?: string[];
  queues?: number;
  config?: Record<string, unknown>;
  /** How many messages from the front the listener consumes (default: all). */
  answer?: (consumer: string, batch: ConsumedBatch) => number;
  intercept?: Intercept;
}

/**
 * One NameServer, one master with topic T, a bare sender, and orderly push
 * consumers of group G. At every listener call, no other live consumer may
 * consider the queue's lock its own: that is the orderly guarantee.
 */
function rig(opts: RigOptions) {
  const cfg = parseRocketMqConfig({ consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET", ...opts.config });
  const { world, events, received, sender } = singleMasterWorld({
    seed: 5,
    config: cfg,
    topics: [{ topic: "T", queues: opts.queues ?? 2 }],
    passThrough: [RequestCode.HEART_BEAT, RequestCode.PULL_MESSAGE],
    intercept: opts.intercept,
  });
  const calls: ListenerCall[] = [];
  const overlaps: string[] = [];
  const consumers = new Map<string, PushConsumer>();
  for (const name of [...opts.consumers, ...(opts.later ?? [])]) {
    addPushConsumer(world, name, {
      config: cfg,
      nameServers: ["ns"],
      group: "G",
      subscriptions: { T: "*" },
      listener: (ctx) => ({
        consumeOrderly: (batch) => {
          const call = listenerCall(ctx.now, name, batch);
          for (const [other, c] of consumers) if (other !== name && c.validLocks().includes(call.mq)) overlaps.push(`${name} and ${other} on ${call.mq} at ${ctx.now}`);
          calls.push(call);
          return opts.answer?.(name, batch) ?? batch.messages.length;
        },
      }),
      options: { orderly: true },
      onStart: (consumer) => consumers.set(name, consumer),
    });
  }
  for (const n of ["ns", "broker-a", "p", ...opts.consumers]) world.start(n);
  let seq = 0;
  const r = {
    world,
    events,
    calls,
    received,
    overlaps,
    consumer: (name: string) => consumers.get(name)!,
    runUntil: (us: number) => world.sim.run({ untilUs: us }),
    at: (us: number, fn: () => void) => world.sim.schedule(us, fn),
    /** SEND_MESSAGE_V2 straight to a queue at `us`. */
    sendAt(us: number, queueId: number): void {
      world.sim.schedule(us, () => {
        const value = `v${seq++}`;
        const body = sendMessageBody(value, { producerGroup: "PG", topic: "T", queueId, bornHost: "p", properties: { UNIQ_KEY: value } });
        sender().invoke("broker-a", RequestCode.SEND_MESSAGE_V2, body, 3_000, (resp) => expect(resp?.code).toBe(ResponseCode.SUCCESS));
      });
    },
    /** One message to every queue every `everyMs`, from `fromUs` to `toUs`. */
    steadyLoad(fromUs: number, toUs: number, everyMs: number): void {
      for (let t = fromUs; t < toUs; t += everyMs * 1000) for (let q = 0; q < (opts.queues ?? 2); q++) r.sendAt(t, q);
    },
    /** Offsets each consumer was handed per queue, in call order. */
    consumed(consumer: string, mq: string): number[] {
      return calls.filter((c) => c.consumer === consumer && c.mq === mq).flatMap((c) => c.offsets);
    },
    /** When the broker last received a LOCK_BATCH_MQ naming `mq` from `from`. */
    lastLockRequest(from: string, mq: string): number {
      const locks = received.filter((q) => q.code === RequestCode.LOCK_BATCH_MQ && q.from === from && (q.body as LockBatchBody).mqSet.some((m) => queueKey(m) === mq));
      return locks[locks.length - 1]!.timeUs;
    },
  };
  return r;
}

const Q0 = "T@broker-a#0";
const Q1 = "T@broker-a#1";

describe("orderly consumption: locks (RebalanceImpl.lock, RebalanceLockManager)", () => {
  it("locks a newly assigned queue on its master before pulling or consuming it", () => {
    const r = rig({ consumers: ["c1"] });
    r.steadyLoad(3 * S, 10 * S, 500);
    r.runUntil(12 * S);
    for (const mq of [Q0, Q1]) {
      const lock = r.events.find((e) => e.kind === "consumer.lock" && e.details?.mq === mq)!;
      expect(lock.details).toMatchObject({ group: "G", ok: true });
      const assign = r.events.find((e) => e.kind === "consumer.assign" && e.details?.mq === mq)!;
      expect(assign.timeUs).toBeGreaterThanOrEqual(lock.timeUs);
      expect(r.calls.find((c) => c.mq === mq)!.timeUs).toBeGreaterThan(lock.timeUs);
    }
    const firstLock = r.received.find((q) => q.code === RequestCode.LOCK_BATCH_MQ)!;
    expect(firstLock.body).toMatchObject({ consumerGroup: "G", clientId: "c1@0" });
    // Every message, in queue order, once.
    expect(r.consumed("c1", Q0)).toEqual([...Array(14).keys()]);
    expect(r.consumed("c1", Q1)).toEqual([...Array(14).keys()]);
  });

  it("renews every lock each 20 s (lockAll), in one request per broker", () => {
    const r = rig({ consumers: ["c1"] });
    r.runUntil(65 * S);
    const renewals = r.received.filter((q) => q.code === RequestCode.LOCK_BATCH_MQ && (q.body as LockBatchBody).mqSet.length > 1);
    // Depending on when the first rebalance ended, the run 1 s after start already finds the queues, or not.
    expect(renewals.length).toBeGreaterThanOrEqual(3);
    // The group's retry queue (subscribed automatically, created at the first heartbeat) is locked too.
    for (const q of renewals) expect((q.body as LockBatchBody).mqSet.map(queueKey).sort()).toEqual(["%RETRY%G@broker-a#0", Q0, Q1]);
    const times = renewals.map((q) => q.timeUs);
    for (let i = 1; i < times.length; i++) expect(Math.abs(times[i]! - times[i - 1]! - REBALANCE_LOCK_INTERVAL_MS * 1000)).toBeLessThan(10_000);
  });

  it("a crashed consumer's queues move to the other only once the broker's lock expired (60 s), never while both hold it", () => {
    const r = rig({ consumers: ["c1", "c2"], queues: 4 });
    r.steadyLoad(3 * S, 150 * S, 200);
    r.at(40 * S, () => r.world.crash("c1", "process"));
    r.runUntil(160 * S);
    expect(r.overlaps).toEqual([]);
    const c1Queues = [...new Set(r.calls.filter((c) => c.consumer === "c1").map((c) => c.mq))].sort();
    expect(c1Queues).toEqual([Q0, Q1]);
    for (const mq of c1Queues) {
      const lastLock = r.lastLockRequest("c1", mq);
      // c2 asked for it in between, and the broker refused.
      const refused = r.events.filter((e) => e.kind === "consumer.lock" && e.node === "c2" && e.details?.mq === mq && e.details.ok === false);
      expect(refused.some((e) => e.timeUs > 40 * S && e.timeUs < lastLock + BROKER_LOCK_MAX_LIVE_TIME_MS * 1000)).toBe(true);
      expect(lastLock).toBeLessThan(40 * S);
      const takeover = r.calls.find((c) => c.consumer === "c2" && c.mq === mq)!;
      // Not before the broker's lock expired; soon after it (the next rebalance, every 20 s).
      expect(takeover.timeUs).toBeGreaterThan(lastLock + BROKER_LOCK_MAX_LIVE_TIME_MS * 1000);
      expect(takeover.timeUs).toBeLessThan(lastLock + BROKER_LOCK_MAX_LIVE_TIME_MS * 1000 + 25 * S);
      // c2 resumes from c1's last committed offset: nothing skipped, in order from there.
      const byC1 = r.consumed("c1", mq);
      const byC2 = r.consumed("c2", mq);
      expect(byC2[0]!).toBeLessThanOrEqual(byC1[byC1.length - 1]! + 1);
      expect(byC2).toEqual([...Array(byC2.length).keys()].map((i) => byC2[0]! + i));
    }
    // c2 kept its own queues all along.
    expect(r.consumed("c2", "T@broker-a#2").length).toBeGreaterThan(600);
  });

  it("a revoked queue is unlocked at once, so a new member takes it without waiting for expiry", () => {
    const r = rig({ consumers: ["c1"], later: ["c2"] });
    r.steadyLoad(3 * S, 60 * S, 200);
    r.at(30 * S, () => r.world.start("c2"));
    r.runUntil(70 * S);
    expect(r.overlaps).toEqual([]);
    const unlock = r.events.find((e) => e.kind === "consumer.unlock" && e.node === "c1")!;
    expect(unlock.details).toMatchObject({ group: "G", mqs: [Q1] });
    const takeover = r.calls.find((c) => c.consumer === "c2")!;
    expect(takeover.mq).toBe(Q1);
    // c2's first lock attempt may still race c1's unlock; then its next rebalance (20 s) takes the queue,
    // long before c1's lock would have expired on the broker.
    expect(takeover.timeUs).toBeLessThan(30 * S + 22 * S);
    expect(takeover.timeUs).toBeLessThan(r.lastLockRequest("c1", Q1) + BROKER_LOCK_MAX_LIVE_TIME_MS * 1000);
    const byC1 = r.consumed("c1", Q1);
    const byC2 = r.consumed("c2", Q1);
    // The handover persisted the offset before unlocking: c2 starts right after c1's last message.
    expect(byC2[0]).toBe(byC1[byC1.length - 1]! + 1);
    expect([...byC1, ...byC2]).toEqual([...Array(byC1.length + byC2.length).keys()]);
  });

  it("shutdown releases every lock and unregisters, so the other member takes over within seconds", () => {
    const r = rig({ consumers: ["c1"], later: ["c2"] });
    r.steadyLoad(3 * S, 60 * S, 200);
    r.at(5 * S, () => r.world.start("c2"));
    r.at(40 * S, () => r.consumer("c1").shutdown());
    r.runUntil(65 * S);
    expect(r.overlaps).toEqual([]);
    const c1Queues = [...new Set(r.calls.filter((c) => c.consumer === "c1" && c.timeUs > 30 * S).map((c) => c.mq))];
    expect(c1Queues).toEqual([Q0]);
    expect(r.calls.filter((c) => c.consumer === "c1" && c.timeUs > 40 * S)).toEqual([]);
    const unlocked = r.events.find((e) => e.kind === "consumer.unlock" && e.node === "c1" && e.timeUs === 40 * S)?.details as { group: string; mqs: string[] };
    expect(unlocked.group).toBe("G");
    expect(unlocked.mqs.filter((k) => !k.startsWith("%RETRY%"))).toEqual([Q0]);
    const takeover = r.calls.find((c) => c.consumer === "c2" && c.mq === Q0)!;
    expect(takeover.timeUs).toBeGreaterThan(40 * S);
    expect(takeover.timeUs).toBeLessThan(43 * S);
    // The offset pushed at shutdown is where c2 starts: nothing skipped.
    const byC1 = r.consumed("c1", Q0);
    expect(r.consumed("c2", Q0)[0]).toBeLessThanOrEqual(byC1[byC1.length - 1]! + 1);
  });

  it("stops consuming 30 s after its last lock grant when renewals fail, and resumes once one succeeds", () => {
    const r = rig({
      consumers: ["c1"],
      queues: 1,
      // The master ignores this client's lock requests between 25 s and 80 s.
      intercept: (req, _from, now) => (req.code === RequestCode.LOCK_BATCH_MQ && now > 25 * S && now < 80 * S ? "drop" : "pass"),
    });
    r.steadyLoad(3 * S, 100 * S, 500);
    r.runUntil(100 * S);
    const grants = r.received.filter((q) => q.code === RequestCode.LOCK_BATCH_MQ && q.timeUs <= 25 * S);
    const lastGrant = grants[grants.length - 1]!.timeUs;
    const expiry = lastGrant + CLIENT_LOCK_MAX_LIVE_TIME_MS * 1000;
    const inGap = r.calls.filter((c) => c.timeUs > expiry + 10_000 && c.timeUs < 80 * S);
    expect(inGap).toEqual([]);
    expect(r.calls.some((c) => c.timeUs > expiry - 1 * S && c.timeUs <= expiry)).toBe(true);
    // tryLockLaterAndReconsume retries every ~3 s, so consumption resumes soon after 80 s, in order.
    const resumed = r.calls.find((c) => c.timeUs >= 80 * S)!;
    expect(resumed.timeUs).toBeLessThan(84 * S);
    expect(r.consumed("c1", Q0)).toEqual([...Array(r.consumed("c1", Q0).length).keys()]);
  });
});

describe("orderly consumption: SUSPEND_CURRENT_QUEUE_A_MOMENT (ConsumeMessageOrderlyService)", () => {
  it("retries the rest after suspendCurrentQueueTimeMillis, in order, blocking the queue, one reconsume more for the failed message", () => {
    let failures = 0;
    const r = rig({
      consumers: [],
      later: ["c1"],
      queues: 1,
      // Offset 1 fails twice; everything else succeeds.
      answer: (_c, batch) => {
        const i = batch.messages.findIndex((m) => m.queueOffset === 1);
        if (i >= 0 && failures < 2) {
          // The first failure also makes a message arrive while the queue is suspended: it must wait behind offset 1.
          if (failures++ === 0) r.sendAt(r.world.sim.now + 500_000, 0);
          return i;
        }
        return batch.messages.length;
      },
    });
    // Stored before the consumer starts, so its first pull gets all three at once.
    for (let i = 0; i < 3; i++) r.sendAt(100_000, 0);
    r.at(1 * S, () => r.world.start("c1"));
    r.runUntil(15 * S);
    expect(r.calls.map((c) => [c.offsets, c.reconsumeTimes])).toEqual([
      [[0, 1, 2], [0, 0, 0]],
      [[1, 2, 3], [1, 0, 0]],
      [[1, 2, 3], [2, 0, 0]],
    ]);
    expect(r.calls[1]!.timeUs - r.calls[0]!.timeUs).toBe(1 * S);
    expect(r.calls[2]!.timeUs - r.calls[1]!.timeUs).toBe(1 * S);
    const suspends = r.events.filter((e) => e.kind === "consumer.suspend");
    expect(suspends.map((e) => e.details)).toEqual([
      { group: "G", mq: Q0, offset: 1, reconsumeTimes: 1 },
      { group: "G", mq: Q0, offset: 1, reconsumeTimes: 2 },
    ]);
    expect(r.consumer("c1").consumedOffsets().get(Q0)).toBe(4);
  });

  it("commits what was consumed before the suspended message, and nothing past it", () => {
    const r = rig({
      consumers: [],
      later: ["c1"],
      queues: 1,
      answer: (_c, batch) => {
        const i = batch.messages.findIndex((m) => m.queueOffset === 2);
        return i >= 0 ? i : batch.messages.length;
      },
    });
    for (let i = 0; i < 5; i++) r.sendAt(100_000, 0);
    r.at(1 * S, () => r.world.start("c1"));
    r.runUntil(20 * S);
    expect(r.consumer("c1").consumedOffsets().get(Q0)).toBe(2);
    const commits = r.received
      .filter((q) => q.code === RequestCode.UPDATE_CONSUMER_OFFSET && (q.body as { topic: string }).topic === "T")
      .map((q) => (q.body as { commitOffset: number }).commitOffset);
    expect(commits.at(-1)).toBe(2);
    expect(Math.max(...commits)).toBe(2);
  });

  it("at maxReconsumeTimes sends the message to the DLQ (delay level −1) and moves on", () => {
    const r = rig({
      consumers: [],
      later: ["c1"],
      queues: 1,
      config: { maxReconsumeTimes: 2 },
      answer: (_c, batch) => {
        const i = batch.messages.findIndex((m) => m.queueOffset === 1);
        return i >= 0 ? i : batch.messages.length;
      },
      intercept: (req) => (req.code === RequestCode.CONSUMER_SEND_MSG_BACK ? { code: ResponseCode.SUCCESS } : "pass"),
    });
    for (let i = 0; i < 3; i++) r.sendAt(100_000, 0);
    r.at(1 * S, () => r.world.start("c1"));
    r.runUntil(15 * S);
    // Consumed three times (reconsumeTimes 0, 1, 2), then dead-lettered and skipped.
    expect(r.calls.map((c) => c.offsets)).toEqual([[0, 1, 2], [1, 2], [1, 2], [2]]);
    const backs = r.received.filter((q) => q.code === RequestCode.CONSUMER_SEND_MSG_BACK);
    expect(backs).toHaveLength(1);
    expect(backs[0]!.body).toMatchObject({ group: "G", delayLevel: -1, originTopic: "T", maxReconsumeTimes: 2, originMsgId: "v1" } satisfies Partial<ConsumerSendMsgBackBody>);
    expect(r.consumer("c1").consumedOffsets().get(Q0)).toBe(3);
  });

  it("keeps suspending when the DLQ send-back fails", () => {
    const r = rig({
      consumers: ["c1"],
      queues: 1,
      config: { maxReconsumeTimes: 0 },
      answer: (_c, batch) => (batch.messages[0]!.queueOffset === 0 ? 0 : batch.messages.length),
      intercept: (req) => (req.code === RequestCode.CONSUMER_SEND_MSG_BACK ? { code: ResponseCode.SYSTEM_ERROR } : "pass"),
    });
    r.sendAt(5 * S, 0);
    r.sendAt(5 * S, 0);
    r.runUntil(9 * S);
    expect(r.calls.length).toBeGreaterThanOrEqual(3);
    expect(r.calls.every((c) => c.offsets[0] === 0)).toBe(true);
    expect(r.consumer("c1").consumedOffsets().get(Q0)).toBe(0);
  });
});
