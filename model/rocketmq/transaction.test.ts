import { describe, expect, it } from "vitest";
import type { TraceEvent } from "../../sim/kernel.js";
import type { Connection } from "../../sim/network.js";
import { World } from "../../sim/world.js";
import { broker, type BrokerHandle } from "./broker.js";
import { ClientInstance } from "./client.js";
import { parseRocketMqConfig } from "./config.js";
import { nameServer } from "./namesrv.js";
import { RequestCode, type EndTransactionBody, type RemotingRequest } from "./protocol.js";
import { createMessageId, parseHost, TRANSACTION_COMMIT_TYPE, TRANSACTION_NOT_TYPE, TRANSACTION_PREPARED_TYPE, transactionType } from "./store/codec.js";
import type { MessageStore } from "./store/message-store.js";
import { bodyText, testMessage } from "./store/testing.js";
import { bareClient, fakeRuntime, masterSwitch, readQueue } from "./testing.js";
import { commitLogOffsetOfMessageId, TransactionProducer, type LocalTransactionState, type TransactionSendOutcome } from "./transaction-producer.js";
import {
  installTransactionService,
  prepareHalfMessage,
  RMQ_SYS_TRANS_HALF_TOPIC,
  RMQ_SYS_TRANS_OP_HALF_TOPIC,
  TRANS_CHECK_MAX_TIME_TOPIC,
  type TransactionServiceHandle,
} from "./transaction.js";

const S = 1_000_000;
const TOPIC = "TopicTest";
const QUEUES = 4;
const encoder = new TextEncoder();

interface WorldOptions {
  config?: Record<string, unknown>;
  seed?: number;
  /** END_TRANSACTION requests the broker never receives (lost on the way). */
  dropEnd?: (body: EndTransactionBody, from: string, incarnation: number) => boolean;
}

/**
 * A NameServer, one master `broker-a` (TopicTest with 4 queues) and one
 * producer process with a TransactionProducer of group `pg`, whose check
 * listener is the test's `onCheck`. The producer learns its route and
 * heartbeats once at start, so the broker can reach it from the first
 * round on; after that it heartbeats every 30 s.
 */
function txWorld(opts: WorldOptions = {}) {
  const cfg = parseRocketMqConfig(opts.config ?? {});
  const world = new World({ seed: opts.seed ?? 1 });
  const events: TraceEvent[] = [];
  world.sim.onTrace((e) => {
    if (e.kind !== "net.msg") events.push(e);
  });
  let brokerHandle: BrokerHandle | null = null;
  let producer: TransactionProducer | null = null;
  const h = {
    world,
    events,
    onCheck: (() => "UNKNOW") as (msg: { body: Uint8Array; properties: Record<string, string> }) => LocalTransactionState,
    get broker(): BrokerHandle {
      return brokerHandle!;
    },
    get producer(): TransactionProducer {
      return producer!;
    },
    runUntil(us: number): void {
      world.sim.run({ untilUs: us });
    },
    at(us: number, fn: () => void): void {
      world.sim.schedule(us, fn);
    },
    /** Sends `value` in a transaction at `us`; the outcome fills in later. */
    sendAt(us: number, value: string, local: LocalTransactionState): { outcome?: TransactionSendOutcome } {
      const out: { outcome?: TransactionSendOutcome } = {};
      h.at(us, () => h.producer.sendMessageInTransaction({ topic: TOPIC, body: encoder.encode(value), properties: { UNIQ_KEY: value, KEYS: value } }, () => local, (o) => (out.outcome = o)));
      return out;
    },
    /** Bodies of TopicTest's messages, over every queue: what consumers can read. */
    visible(): string[] {
      const out: string[] = [];
      for (let q = 0; q < QUEUES; q++) for (const m of readQueue(h.broker.store, TOPIC, q)) out.push(bodyText(m.body));
      return out;
    },
    ofKind(kind: string): TraceEvent[] {
      return events.filter((e) => e.kind === kind);
    },
    /** Times (s) of the broker's checks. */
    checkTimes(): number[] {
      return h.ofKind("txn.check").map((e) => e.timeUs / S);
    },
  };
  world.addNode("ns", nameServer({ version: cfg.version }));
  world.addNode("broker-a", (ctx) => {
    const b = broker({ brokerName: "broker-a", brokerId: 0, nameServers: ["ns"], config: cfg, topics: [{ topic: TOPIC, queues: QUEUES }] })(ctx);
    const inner = b.onMessage;
    b.onMessage = (conn: Connection, payload: unknown) => {
      const req = payload as RemotingRequest;
      if (req.type === "req" && req.code === RequestCode.END_TRANSACTION && opts.dropEnd !== undefined) {
        const peer = conn.peerOf(ctx.node);
        if (opts.dropEnd(req.body as EndTransactionBody, peer.name, peer.incarnation)) return;
      }
      inner(conn, payload);
    };
    brokerHandle = b;
    return b;
  });
  world.addNode(
    "producer",
    (ctx) => {
      const client = new ClientInstance(ctx, cfg.client, ["ns"], `producer@${ctx.incarnation}`);
      const p = new TransactionProducer(client, cfg.producer, cfg.version, "pg");
      p.setCheckListener((m) => h.onCheck(m));
      producer = p;
      client.start();
      const learnRoute = (): void =>
        client.updateRoute(TOPIC, () => {
          if (client.publishQueues(TOPIC).length > 0) client.sendHeartbeatToAllBrokers();
          else ctx.after(100_000, learnRoute);
        });
      learnRoute();
      return client.remoting.handlers();
    },
    { kind: "client" },
  );
  world.startAll();
  return h;
}

describe("transactional messages: the producer's outcome", () => {
  it("COMMIT: the message becomes visible exactly once, an op record ends the half, and nobody is asked", () => {
    const w = txWorld();
    const r = w.sendAt(2 * S, "t1", "COMMIT_MESSAGE");
    w.runUntil(5 * S);
    expect(r.outcome).toMatchObject({ kind: "sent", localState: "COMMIT_MESSAGE", result: { status: "SEND_OK", queueOffset: 0 } });
    expect(w.visible()).toEqual(["t1"]);
    const sent = r.outcome as Extract<TransactionSendOutcome, { kind: "sent" }>;
    // The committed message keeps the half's CommitLog offset as preparedTransactionOffset, and every property of the half.
    const committed = readQueue(w.broker.store, TOPIC, sent.result.mq.queueId)[0]!;
    expect(committed.preparedTransactionOffset).toBe(commitLogOffsetOfMessageId(sent.result.msgId));
    expect(transactionType(committed.sysFlag)).toBe(TRANSACTION_COMMIT_TYPE);
    expect(committed.properties).toMatchObject({ TRAN_MSG: "true", PGROUP: "pg", REAL_TOPIC: TOPIC });
    const halves = readQueue(w.broker.store, RMQ_SYS_TRANS_HALF_TOPIC, 0);
    expect(halves.map((m) => [m.properties.REAL_TOPIC, m.properties.PGROUP, m.properties.TRAN_MSG])).toEqual([[TOPIC, "pg", "true"]]);
    expect(readQueue(w.broker.store, RMQ_SYS_TRANS_OP_HALF_TOPIC, 0).map((m) => [bodyText(m.body), m.properties.TAGS])).toEqual([["0", "d"]]);
    expect(w.broker.transactions.pendingHalf()).toBe(0);
    w.runUntil(200 * S);
    expect(w.checkTimes()).toEqual([]);
    expect(w.visible()).toEqual(["t1"]);
  });

  it("ROLLBACK: the message never becomes visible; the op record alone ends the half", () => {
    const w = txWorld();
    const r = w.sendAt(2 * S, "t1", "ROLLBACK_MESSAGE");
    w.runUntil(5 * S);
    expect(r.outcome).toMatchObject({ kind: "sent", localState: "ROLLBACK_MESSAGE" });
    expect(readQueue(w.broker.store, RMQ_SYS_TRANS_OP_HALF_TOPIC, 0).map((m) => bodyText(m.body))).toEqual(["0"]);
    expect(w.broker.transactions.pendingHalf()).toBe(0);
    w.runUntil(200 * S);
    expect(w.visible()).toEqual([]);
    expect(w.checkTimes()).toEqual([]);
  });

  it("a half message is stored in RMQ_SYS_TRANS_HALF_TOPIC queue 0 with its destination in properties, and reads as pending", () => {
    const w = txWorld();
    w.sendAt(2 * S, "t1", "UNKNOW");
    w.runUntil(5 * S);
    const [half] = readQueue(w.broker.store, RMQ_SYS_TRANS_HALF_TOPIC, 0);
    expect(half!.properties).toMatchObject({ TRAN_MSG: "true", PGROUP: "pg", REAL_TOPIC: TOPIC, UNIQ_KEY: "t1" });
    expect(Number(half!.properties.REAL_QID)).toBeLessThan(QUEUES);
    expect(transactionType(half!.sysFlag)).toBe(TRANSACTION_NOT_TYPE);
    expect(w.visible()).toEqual([]);
    expect(w.broker.transactions.pendingHalf()).toBe(1);
    expect(w.ofKind("txn.end").map((e) => e.details?.outcome)).toEqual(["UNKNOW"]);
  });

  it("an END_TRANSACTION that names another group or queue offset than the half's changes nothing (checkPrepareMessage)", () => {
    const w = txWorld();
    const r = w.sendAt(2 * S, "t1", "UNKNOW");
    const rogue = bareClient(w.world, "rogue");
    w.at(1 * S, () => w.world.start("rogue"));
    w.at(3 * S, () => {
      const sent = r.outcome as Extract<TransactionSendOutcome, { kind: "sent" }>;
      const end: EndTransactionBody = {
        producerGroup: "pg",
        tranStateTableOffset: sent.result.queueOffset,
        commitLogOffset: commitLogOffsetOfMessageId(sent.result.msgId),
        commitOrRollback: "COMMIT",
        fromTransactionCheck: false,
        msgId: sent.result.msgId,
        transactionId: "t1",
      };
      rogue().invokeOneway("broker-a", RequestCode.END_TRANSACTION, { ...end, producerGroup: "other" });
      rogue().invokeOneway("broker-a", RequestCode.END_TRANSACTION, { ...end, tranStateTableOffset: 5 });
      rogue().invokeOneway("broker-a", RequestCode.END_TRANSACTION, { ...end, commitLogOffset: 1 << 20 });
    });
    w.runUntil(5 * S);
    expect(w.ofKind("txn.end").map((e) => e.details?.error)).toEqual([undefined, "The producer group wrong", "The transaction state table offset wrong", "Find prepared transaction message failed"]);
    expect(w.visible()).toEqual([]);
    expect(w.broker.transactions.pendingHalf()).toBe(1);
  });
});

describe("the check loop (TransactionalMessageCheckService)", () => {
  it("asks first at the first round at least transactionTimeOut after the half, then once per interval, until an answer", () => {
    const w = txWorld();
    let asked = 0;
    const answers: LocalTransactionState[] = ["UNKNOW", "UNKNOW", "COMMIT_MESSAGE"];
    w.onCheck = () => answers[asked++]!;
    // At the 60 s round the half is 3 s old (< transactionTimeOut = 6 s): not asked until 120 s.
    w.sendAt(57 * S, "t1", "UNKNOW");
    w.runUntil(300 * S);
    expect(w.checkTimes()).toEqual([120, 180, 240]);
    expect(w.ofKind("txn.check").map((e) => e.details?.checkTimes)).toEqual([1, 2, 3]);
    expect(w.visible()).toEqual(["t1"]);
    expect(w.broker.transactions.pendingHalf()).toBe(0);
    // Every check appended a copy of the half; the third copy's op record ended it.
    expect(readQueue(w.broker.store, RMQ_SYS_TRANS_HALF_TOPIC, 0).map((m) => m.properties.TRANSACTION_CHECK_TIMES)).toEqual([undefined, "1", "2", "3"]);
    expect(readQueue(w.broker.store, RMQ_SYS_TRANS_OP_HALF_TOPIC, 0).map((m) => bodyText(m.body))).toEqual(["3"]);
  });

  it("a half old enough at the first round is asked then", () => {
    const w = txWorld();
    w.onCheck = () => "COMMIT_MESSAGE";
    w.sendAt(2 * S, "t1", "UNKNOW");
    w.runUntil(200 * S);
    expect(w.checkTimes()).toEqual([60]);
    expect(w.visible()).toEqual(["t1"]);
  });

  it("a half nobody resolves is asked exactly transactionCheckMax times, then moved to TRANS_CHECK_MAX_TIME_TOPIC, never visible", () => {
    const w = txWorld();
    w.sendAt(2 * S, "t1", "UNKNOW");
    w.runUntil(30 * S);
    expect(w.broker.transactions.pendingHalf()).toBe(1);
    w.runUntil(20 * 60 * S);
    expect(w.checkTimes()).toEqual(Array.from({ length: 15 }, (_, i) => 60 * (i + 1)));
    const discards = w.ofKind("txn.discard");
    expect(discards.map((e) => [e.timeUs / S, e.details?.checkTimes])).toEqual([[16 * 60, 15]]);
    expect(readQueue(w.broker.store, TRANS_CHECK_MAX_TIME_TOPIC, 0).map((m) => bodyText(m.body))).toEqual(["t1"]);
    expect(w.visible()).toEqual([]);
    expect(w.broker.transactions.pendingHalf()).toBe(0);
  });

  it("5.3.3 checks every 30 s, 4.9.8 every 60 s", () => {
    const times = (version: string): number[] => {
      const w = txWorld({ config: { version } });
      w.sendAt(35 * S, "t1", "UNKNOW");
      w.runUntil(200 * S);
      return w.checkTimes().slice(0, 3);
    };
    expect(times("5.3.3")).toEqual([60, 90, 120]);
    expect(times("4.9.8")).toEqual([60, 120, 180]);
  });

  it("an explicit transactionCheckInterval and transactionCheckMax are honoured", () => {
    const w = txWorld({ config: { transactionCheckInterval: 10_000, transactionCheckMax: 3 } });
    w.sendAt(2 * S, "t1", "UNKNOW");
    w.runUntil(100 * S);
    expect(w.checkTimes()).toEqual([10, 20, 30]);
    expect(w.ofKind("txn.discard").map((e) => e.timeUs / S)).toEqual([40]);
  });
});

describe("lost END_TRANSACTION and crashes", () => {
  it("END_TRANSACTION lost on the way: the check commits the message, once", () => {
    const w = txWorld({ dropEnd: (b) => !b.fromTransactionCheck });
    w.onCheck = () => "COMMIT_MESSAGE";
    const r = w.sendAt(2 * S, "t1", "COMMIT_MESSAGE");
    w.runUntil(50 * S);
    expect(r.outcome).toMatchObject({ kind: "sent", localState: "COMMIT_MESSAGE" });
    expect(w.visible()).toEqual([]);
    w.runUntil(300 * S);
    expect(w.checkTimes()).toEqual([60]);
    expect(w.visible()).toEqual(["t1"]);
  });

  it("the producer dies after the half's SEND_OK: its restarted incarnation answers the check", () => {
    // The first incarnation's END_TRANSACTION never arrives: it died before sending it.
    const w = txWorld({ dropEnd: (_b, from, incarnation) => from === "producer" && incarnation === 0 });
    w.onCheck = (m) => (bodyText(m.body) === "t1" ? "COMMIT_MESSAGE" : "UNKNOW");
    w.sendAt(2 * S, "t1", "COMMIT_MESSAGE");
    w.at(2 * S + 200_000, () => w.world.crash("producer", "process"));
    w.at(10 * S, () => w.world.start("producer"));
    w.runUntil(300 * S);
    const checks = w.ofKind("txn.check");
    expect(checks.map((e) => [e.timeUs / S, e.details?.producer])).toEqual([[60, "producer"]]);
    expect(w.visible()).toEqual(["t1"]);
  });

  it("power loss with the op record still in the page cache: the half is asked again, and a rolled-back message never becomes visible", () => {
    const w = txWorld();
    w.onCheck = () => "ROLLBACK_MESSAGE";
    w.sendAt(2 * S, "t1", "UNKNOW");
    w.runUntil(60 * S + 100_000);
    expect(w.checkTimes()).toEqual([60]);
    expect(w.broker.store.getMaxOffsetInQueue(RMQ_SYS_TRANS_OP_HALF_TOPIC, 0)).toBe(1);
    w.world.crash("broker-a", "power");
    w.at(65 * S, () => w.world.start("broker-a"));
    w.runUntil(66 * S);
    // The op record, the copy the check appended and the check offset were all in the page cache.
    expect(w.broker.store.getMaxOffsetInQueue(RMQ_SYS_TRANS_OP_HALF_TOPIC, 0)).toBe(0);
    expect(w.broker.transactions.pendingHalf()).toBe(1);
    w.runUntil(400 * S);
    const after = w.ofKind("txn.check").filter((e) => e.timeUs > 65 * S);
    expect(after.length).toBeGreaterThan(0);
    expect(w.ofKind("txn.end").filter((e) => e.timeUs > 65 * S && e.details?.outcome === "ROLLBACK").length).toBeGreaterThan(0);
    expect(w.visible()).toEqual([]);
    expect(w.broker.transactions.pendingHalf()).toBe(0);
  });

  it("5.3.3 batches op records (transactionOpBatchInterval): a broker process crash right after a commit loses the op record, so the half is asked again and a COMMIT answer duplicates the message; 4.9.8's op record is in the page cache and survives", () => {
    const run = (version: string) => {
      const w = txWorld({ config: { version } });
      w.onCheck = () => "COMMIT_MESSAGE";
      w.sendAt(2 * S, "t1", "COMMIT_MESSAGE");
      w.at(4 * S, () => w.world.crash("broker-a", "process"));
      w.at(5 * S, () => w.world.start("broker-a"));
      w.runUntil(200 * S);
      return { checks: w.checkTimes().length, visible: w.visible() };
    };
    expect(run("4.9.8")).toEqual({ checks: 0, visible: ["t1"] });
    const v5 = run("5.3.3");
    expect(v5.checks).toBe(1);
    expect(v5.visible).toEqual(["t1", "t1"]);
  });

  it("5.3.3 writes the op record at the batch service's first wake-up at least transactionOpBatchInterval after the commit", () => {
    const w = txWorld({ config: { version: "5.3.3" } });
    w.sendAt(2 * S, "t1", "ROLLBACK_MESSAGE");
    w.runUntil(5_900_000);
    expect(w.broker.store.getMaxOffsetInQueue(RMQ_SYS_TRANS_OP_HALF_TOPIC, 0)).toBe(0);
    expect(w.broker.transactions.pendingHalf()).toBe(1);
    w.runUntil(6_100_000);
    expect(readQueue(w.broker.store, RMQ_SYS_TRANS_OP_HALF_TOPIC, 0).map((m) => bodyText(m.body))).toEqual(["0,"]);
    expect(w.broker.transactions.pendingHalf()).toBe(0);
  });
});

describe("roles", () => {
  /**
   * The service on a hand-made runtime whose role the test flips; no
   * producer is connected. `putDelayUs` makes the send-path put answer
   * that much later, as a DLedger put answers once committed.
   */
  function standalone(master: boolean, opts: { config?: Record<string, unknown>; putDelayUs?: number } = {}) {
    const world = new World({ seed: 5 });
    const cfg = parseRocketMqConfig(opts.config ?? {});
    const events: TraceEvent[] = [];
    world.sim.onTrace((e) => events.push(e));
    let store: MessageStore | null = null;
    let handle: TransactionServiceHandle | null = null;
    const role = masterSwitch(master);
    world.addNode("b", (ctx) => {
      const delayUs = opts.putDelayUs;
      const rt = fakeRuntime({
        ctx,
        cfg,
        role,
        put:
          delayUs === undefined
            ? undefined
            : (s, msg, cb) => {
                const r = s.putMessage(msg);
                ctx.after(delayUs, () => cb(r.status, r.appendResult));
              },
      });
      store = rt.store;
      handle = installTransactionService(rt);
      return { onMessage() {} };
    });
    world.start("b");
    return {
      world,
      events,
      get store() {
        return store!;
      },
      get handle() {
        return handle!;
      },
      setMaster: (m: boolean) => role.set(m),
      checks: () => events.filter((e) => e.kind === "txn.check").map((e) => e.timeUs / S),
    };
  }

  it("runs only on a master, stops when the broker stops being one, and restarts one interval after it becomes one again", () => {
    const h = standalone(false);
    h.store.putMessage(prepareHalfMessage({ ...testMessage(1), properties: { UNIQ_KEY: "U1", PGROUP: "pg", TRAN_MSG: "true" }, sysFlag: TRANSACTION_PREPARED_TYPE }));
    h.world.sim.run({ untilUs: 200 * S });
    expect(h.checks()).toEqual([]);
    expect(h.handle.pendingHalf()).toBe(0);
    h.world.sim.schedule(230 * S, () => h.setMaster(true));
    h.world.sim.schedule(400 * S, () => h.setMaster(false));
    h.world.sim.run({ untilUs: 600 * S });
    // A check with no producer channel still counts: the copy carries the new check count.
    expect(h.checks()).toEqual([290, 350]);
    expect(h.handle.pendingHalf()).toBe(0);
  });

  it("in DLedger mode the round waits for each put-back to commit before it asks and moves on", () => {
    const h = standalone(true, { config: { enableDLegerCommitLog: true }, putDelayUs: 5_000 });
    for (let n = 1; n <= 3; n++) h.store.putMessage(prepareHalfMessage({ ...testMessage(n), properties: { UNIQ_KEY: `U${n}`, PGROUP: "pg", TRAN_MSG: "true" }, sysFlag: TRANSACTION_PREPARED_TYPE }));
    h.world.sim.run({ untilUs: 61 * S });
    expect(h.checks()).toEqual([60.005, 60.01, 60.015]);
    // The copies were stored during the round, which stops at the first of them.
    expect(h.store.getMaxOffsetInQueue(RMQ_SYS_TRANS_HALF_TOPIC, 0)).toBe(6);
    expect(h.handle.pendingHalf()).toBe(3);
    // The next round starts one interval after this one ended (ServiceThread.waitForRunning after onWaitEnd).
    h.world.sim.run({ untilUs: 121 * S });
    expect(h.checks()).toEqual([60.005, 60.01, 60.015, 120.02, 120.025, 120.03]);
  });
});

describe("helpers", () => {
  it("prepareHalfMessage moves the destination to properties and resets the transaction type (5.x also copies UNIQ_KEY)", () => {
    const msg = { ...testMessage(1, { topic: "T", queueId: 3 }), sysFlag: TRANSACTION_PREPARED_TYPE };
    const h4 = prepareHalfMessage(msg);
    expect([h4.topic, h4.queueId, h4.sysFlag, h4.properties.REAL_TOPIC, h4.properties.REAL_QID, h4.properties.__transactionId__]).toEqual([RMQ_SYS_TRANS_HALF_TOPIC, 0, TRANSACTION_NOT_TYPE, "T", "3", undefined]);
    expect(prepareHalfMessage(msg, "5.3.3").properties.__transactionId__).toBe("U1");
    expect(msg.properties).not.toHaveProperty("REAL_TOPIC");
  });

  it("commitLogOffsetOfMessageId reads back the offset createMessageId wrote", () => {
    for (const offset of [0, 1, 4096, 2 ** 32 + 17, 123_456_789_012]) expect(commitLogOffsetOfMessageId(createMessageId(parseHost("broker-a"), offset))).toBe(offset);
    expect(commitLogOffsetOfMessageId("not-an-id")).toBe(-1);
  });
});
