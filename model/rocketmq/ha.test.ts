import { describe, expect, it } from "vitest";
import type { DiskConfig } from "../../sim/disk.js";
import type { TraceEvent } from "../../sim/kernel.js";
import type { Connection } from "../../sim/network.js";
import { World } from "../../sim/world.js";
import { broker, type BrokerHandle } from "./broker.js";
import { parseRocketMqConfig } from "./config.js";
import { isHaConnection } from "./ha.js";
import { RequestCode, ResponseCode, type HaFrame, type PullMessageRequestBody, type PullMessageResponseBody } from "./protocol.js";
import { testMessage } from "./store/testing.js";
import { bareClient, sendMessageBody, slaveConfig } from "./testing.js";

const S = 1_000_000;

interface Reply {
  code?: number;
  body?: unknown;
  error?: string | null;
  doneUs?: number;
}

/**
 * A master `m` and a slave `s` of broker group `g` (no NameServers: the
 * slave's master address is given), and a bare remoting client `c` to send
 * and pull with. Frames reaching the slave and reports reaching the master
 * are recorded.
 */
function pair(config: Record<string, unknown> = {}, opts: { disk?: Partial<DiskConfig> } = {}) {
  const world = new World({ seed: 7, ...(opts.disk ? { disk: opts.disk } : {}) });
  const cfg = parseRocketMqConfig({ brokerRole: "SYNC_MASTER", ...config });
  const slaveCfg = slaveConfig(cfg);
  const topics = [{ topic: "TopicTest", queues: 1 }];
  const handles: Record<string, BrokerHandle> = {};
  const framesToSlave: Array<{ timeUs: number; offset: number; bytes: number }> = [];
  const reportsToMaster: Array<{ timeUs: number; offset: number }> = [];
  const events: TraceEvent[] = [];
  world.addNode("m", (ctx) => {
    const h = broker({ brokerName: "g", brokerId: 0, nameServers: [], config: cfg, topics })(ctx);
    const inner = h.onMessage;
    h.onMessage = (conn: Connection, payload: unknown) => {
      if (isHaConnection(conn) && (payload as HaFrame).type === "ha.report") reportsToMaster.push({ timeUs: ctx.now, offset: (payload as HaFrame).offset });
      inner(conn, payload);
    };
    handles.m = h;
    return h;
  });
  world.addNode("s", (ctx) => {
    const h = broker({ brokerName: "g", brokerId: 1, nameServers: [], config: slaveCfg, topics, masterAddress: () => "m" })(ctx);
    const inner = h.onMessage;
    h.onMessage = (conn: Connection, payload: unknown) => {
      const f = payload as HaFrame;
      if (isHaConnection(conn) && f.type === "ha.transfer") framesToSlave.push({ timeUs: ctx.now, offset: f.offset, bytes: f.body.length });
      inner(conn, payload);
    };
    handles.s = h;
    return h;
  });
  const client = bareClient(world, "c");
  world.sim.onTrace((e) => events.push(e));
  world.startAll();
  let sent = 0;
  const p = {
    world,
    events,
    framesToSlave,
    reportsToMaster,
    get master(): BrokerHandle {
      return handles.m!;
    },
    get slave(): BrokerHandle {
      return handles.s!;
    },
    runUntil(us: number): void {
      world.sim.run({ untilUs: us });
    },
    at(us: number, fn: () => void): void {
      world.sim.schedule(us, fn);
    },
    /** Puts `n` messages straight into the master's store (no send processor). */
    putAt(us: number, n: number): void {
      p.at(us, () => {
        for (let i = 0; i < n; i++) expect(p.master.store.putMessage(testMessage(sent++)).status).toBe("PUT_OK");
      });
    },
    /** A SEND_MESSAGE_V2 from the client at `us`; the reply fills in later. */
    sendAt(us: number, timeoutMs = 20_000): Reply {
      const out: Reply = {};
      p.at(us, () => {
        const value = `v${sent++}`;
        const body = sendMessageBody(value, { producerGroup: "pg", topic: "TopicTest", queueId: 0, bornHost: "c", properties: { UNIQ_KEY: value, KEYS: value } });
        const startUs = world.sim.now;
        client().invoke("m", RequestCode.SEND_MESSAGE_V2, body, timeoutMs, (resp, err) => {
          out.code = resp?.code;
          out.body = resp?.body;
          out.error = err;
          out.doneUs = world.sim.now - startUs;
        });
      });
      return out;
    },
    pullAt(us: number, target: string, queueOffset: number): Reply {
      const out: Reply = {};
      p.at(us, () => {
        const body: PullMessageRequestBody = { consumerGroup: "cg", topic: "TopicTest", queueId: 0, queueOffset, maxMsgNums: 32, suspendTimeoutMs: 0, subscription: "*" };
        client().invoke(target, RequestCode.PULL_MESSAGE, body, 5_000, (resp, err) => {
          out.code = resp?.code;
          out.body = resp?.body;
          out.error = err;
        });
      });
      return out;
    },
    invokeAt(us: number, target: string, code: number, body: unknown): Reply {
      const out: Reply = {};
      p.at(us, () => {
        client().invoke(target, code, body, 5_000, (resp, err) => {
          out.code = resp?.code;
          out.body = resp?.body;
          out.error = err;
        });
      });
      return out;
    },
    ev(kind: string, node?: string): TraceEvent[] {
      return events.filter((e) => e.kind === kind && (node === undefined || e.node === node));
    },
    /** The slave's live HA connection to the master. */
    haConnection(): Connection {
      const c = world.net.openConnections().filter((x) => isHaConnection(x) && x.a.name === "s" && !x.closed);
      return c[c.length - 1]!;
    },
    commitLogsEqual(): boolean {
      const max = p.master.store.getMaxPhyOffset();
      if (p.slave.store.getMaxPhyOffset() !== max) return false;
      const a = p.master.store.readCommitLogBytes(0, max);
      const b = p.slave.store.readCommitLogBytes(0, max);
      return a !== null && b !== null && a.length === b.length && a.every((x, i) => x === b[i]);
    },
  };
  return p;
}

describe("HA replication (HAService / HAConnection / HAClient)", () => {
  it("streams the master's CommitLog, unflushed bytes included, to a slave that dispatches it", () => {
    const p = pair({ brokerRole: "ASYNC_MASTER", haTransferBatchSize: 1000 });
    p.putAt(7 * S, 40);
    p.runUntil(7.5 * S);
    // ASYNC_FLUSH has not flushed yet: the slave got the bytes from the master's page cache.
    expect(p.master.store.getFlushedWhere()).toBe(0);
    expect(p.commitLogsEqual()).toBe(true);
    expect(p.slave.store.getMaxOffsetInQueue("TopicTest", 0)).toBe(40);
    // Frames are bounded by haTransferBatchSize.
    expect(p.framesToSlave.filter((f) => f.bytes > 0).every((f) => f.bytes <= 1000)).toBe(true);
    expect(p.framesToSlave.filter((f) => f.bytes > 0).length).toBeGreaterThan(3);
  });

  it("4.9.8: the slave's first report on a connection waits a heartbeat interval; a first report of 0 starts from the master's last file", () => {
    const p = pair({ brokerRole: "ASYNC_MASTER", mappedFileSizeCommitLog: 4096 });
    p.putAt(1 * S, 60);
    p.runUntil(20 * S);
    const first = p.ev("ha.report", "m")[0]!;
    // Sent on the slave's loop turn 6 s after connecting (the first with more than 5 s since), plus network latency.
    expect(first.timeUs).toBeGreaterThanOrEqual(6 * S);
    expect(first.timeUs).toBeLessThan(6.05 * S);
    expect(first.details).toMatchObject({ offset: 0 });
    const lastFile = p.master.store.getMaxPhyOffset() - (p.master.store.getMaxPhyOffset() % 4096);
    expect(lastFile).toBeGreaterThan(0);
    expect(p.framesToSlave.find((f) => f.bytes > 0)!.offset).toBe(lastFile);
    expect(p.slave.store.getMinPhyOffset()).toBe(lastFile);
    expect(p.slave.store.getMaxPhyOffset()).toBe(p.master.store.getMaxPhyOffset());
  });

  it("idle: the master sends an empty frame every haSendHeartbeatInterval and the slave re-reports as often", () => {
    const p = pair({ brokerRole: "ASYNC_MASTER" });
    p.putAt(7 * S, 3);
    p.runUntil(60 * S);
    const heartbeats = p.framesToSlave.filter((f) => f.bytes === 0 && f.timeUs > 10 * S).map((f) => f.timeUs);
    expect(heartbeats.length).toBeGreaterThan(6);
    for (let i = 1; i < heartbeats.length; i++) {
      const gap = heartbeats[i]! - heartbeats[i - 1]!;
      // More than 5 s after the last write, checked by a loop that waits 100 ms when idle.
      expect(gap).toBeGreaterThan(5 * S);
      expect(gap).toBeLessThanOrEqual(5.2 * S);
    }
    const reports = p.reportsToMaster.filter((r) => r.timeUs > 10 * S).map((r) => r.timeUs);
    expect(reports.length).toBeGreaterThan(6);
    for (let i = 1; i < reports.length; i++) {
      const gap = reports[i]! - reports[i - 1]!;
      // Checked on a loop turn at least every second; network latency varies a little.
      expect(gap).toBeGreaterThan(5 * S);
      expect(gap).toBeLessThan(6.05 * S);
    }
    // Heartbeats carry the slave's own end: the continuity check passes, nothing reconnects.
    expect(p.ev("ha.connect", "s").length).toBe(1);
  });

  it("the slave re-reports right after each append", () => {
    const p = pair({ brokerRole: "ASYNC_MASTER" });
    p.putAt(7 * S, 5);
    p.putAt(8 * S, 5);
    p.runUntil(9 * S);
    const afterAppend = p.reportsToMaster.filter((r) => r.timeUs > 7 * S);
    expect(afterAppend.map((r) => r.offset)).toContain(p.master.store.getMaxPhyOffset());
    expect(afterAppend[0]!.timeUs).toBeLessThan(7.2 * S);
  });

  for (const version of ["4.9.8", "5.3.3"] as const) {
    it(`${version}: a frame at the wrong offset closes the connection; the slave reconnects and catches up`, () => {
      const p = pair({ brokerRole: "ASYNC_MASTER", version });
      p.putAt(7 * S, 5);
      p.runUntil(10 * S);
      const before = p.slave.store.getMaxPhyOffset();
      expect(before).toBe(p.master.store.getMaxPhyOffset());
      p.world.net.send(p.haConnection(), p.world.node("m"), { type: "ha.transfer", offset: before + 100, body: new Uint8Array(50) });
      p.runUntil(10.1 * S);
      expect(p.ev("ha.mismatch", "s")[0]!.details).toMatchObject({ slaveOffset: before, masterOffset: before + 100 });
      expect(p.slave.store.getMaxPhyOffset()).toBe(before);
      expect(p.ev("ha.close", "m").length).toBe(1);
      p.putAt(11 * S, 5);
      p.runUntil(30 * S);
      const reconnect = p.ev("ha.connect", "s")[1]!.timeUs;
      const report = p.ev("ha.report", "m")[1]!.timeUs;
      if (version === "4.9.8") {
        // Dials again at once; connectMaster resets lastWriteTimestamp, so the first report waits.
        expect(reconnect).toBeLessThan(10.01 * S);
        expect(report - reconnect).toBeGreaterThan(5 * S);
      } else {
        // closeMasterAndWait: 5 s; then it reports at once (its last report is older than the interval).
        expect(reconnect).toBeGreaterThan(15 * S);
        expect(report - reconnect).toBeLessThan(0.01 * S);
      }
      expect(p.commitLogsEqual()).toBe(true);
    });
  }

  it("the master drops a slave silent for more than haHousekeepingInterval; the slave reconnects when it wakes", () => {
    const p = pair({ brokerRole: "ASYNC_MASTER" });
    p.putAt(7 * S, 5);
    p.at(10 * S, () => p.world.pause("s"));
    p.at(40 * S, () => p.world.resume("s"));
    p.putAt(20 * S, 5);
    p.runUntil(60 * S);
    const lastReport = p.reportsToMaster.filter((r) => r.timeUs < 10 * S).at(-1)!.timeUs;
    const close = p.ev("ha.close", "m")[0]!;
    expect(close.details).toMatchObject({ reason: "housekeeping" });
    expect(close.timeUs).toBeGreaterThan(lastReport + 20 * S);
    expect(close.timeUs).toBeLessThan(lastReport + 20.01 * S);
    expect(p.master.ha.connectionCount).toBe(1);
    expect(p.ev("ha.connect", "s").length).toBe(2);
    expect(p.ev("ha.connect", "s")[1]!.timeUs).toBeGreaterThanOrEqual(40 * S);
    expect(p.commitLogsEqual()).toBe(true);
  });

  it("reconnects after a partition and catches up with what was written meanwhile", () => {
    const p = pair({ brokerRole: "ASYNC_MASTER" });
    p.putAt(7 * S, 5);
    let handle: ReturnType<typeof p.world.net.block> | null = null;
    p.at(10 * S, () => {
      handle = p.world.net.block([
        ["m", "s"],
        ["s", "m"],
      ]);
    });
    for (let t = 11; t < 50; t += 2) p.putAt(t * S, 3);
    p.at(50 * S, () => p.world.net.unblock(handle!));
    p.runUntil(49 * S);
    expect(p.slave.store.getMaxPhyOffset()).toBeLessThan(p.master.store.getMaxPhyOffset());
    expect(p.ev("ha.close", "m").length).toBeGreaterThan(0);
    p.runUntil(75 * S);
    expect(p.ev("ha.connect", "s").length).toBeGreaterThan(1);
    expect(p.commitLogsEqual()).toBe(true);
    expect(p.slave.store.getMaxOffsetInQueue("TopicTest", 0)).toBe(p.master.store.getMaxOffsetInQueue("TopicTest", 0));
  });
});

describe("SYNC_MASTER send statuses (CommitLog.submitReplicaRequest / handleHA)", () => {
  it("4.9.8: SEND_OK once the slave acknowledged; the slave has the message", () => {
    const p = pair();
    const r = p.sendAt(8 * S);
    p.runUntil(9 * S);
    expect(r.code).toBe(ResponseCode.SUCCESS);
    // One round trip to the slave and back, not a timeout.
    expect(r.doneUs!).toBeLessThan(0.05 * S);
    expect(p.commitLogsEqual()).toBe(true);
  });

  it("4.9.8: SLAVE_NOT_AVAILABLE at once when no slave is connected; the message is stored anyway", () => {
    const p = pair();
    p.at(8 * S, () => p.world.crash("s", "process"));
    const r = p.sendAt(9 * S);
    p.runUntil(10 * S);
    expect(p.master.ha.connectionCount).toBe(0);
    expect(r.code).toBe(ResponseCode.SLAVE_NOT_AVAILABLE);
    expect(r.doneUs!).toBeLessThan(0.05 * S);
    expect(p.master.store.getMaxOffsetInQueue("TopicTest", 0)).toBe(1);
  });

  it("4.9.8: SLAVE_NOT_AVAILABLE at once when the slave lags by haSlaveFallbehindMax or more", () => {
    const p = pair({ haSlaveFallbehindMax: 150 });
    p.at(8 * S, () => p.world.pause("s"));
    // Each message is about 110 bytes: the first ends within 150 bytes of what the slave acked, the second does not.
    const first = p.sendAt(9 * S);
    const second = p.sendAt(9.01 * S);
    p.runUntil(15 * S);
    expect(first.code).toBe(ResponseCode.FLUSH_SLAVE_TIMEOUT);
    expect(second.code).toBe(ResponseCode.SLAVE_NOT_AVAILABLE);
    expect(second.doneUs!).toBeLessThan(0.05 * S);
  });

  it("4.9.8: FLUSH_SLAVE_TIMEOUT after slaveTimeout when the slave is paused", () => {
    const p = pair();
    p.at(8 * S, () => p.world.pause("s"));
    const r = p.sendAt(9 * S);
    p.runUntil(15 * S);
    expect(r.code).toBe(ResponseCode.FLUSH_SLAVE_TIMEOUT);
    expect(r.doneUs!).toBeGreaterThanOrEqual(3 * S);
    expect(r.doneUs!).toBeLessThan(3.05 * S);
  });

  it("4.9.8: FLUSH_SLAVE_TIMEOUT when frames cannot reach the slave (one-way partition), though its reports still arrive", () => {
    const p = pair();
    p.at(8 * S, () => p.world.net.block([["m", "s"]]));
    const r = p.sendAt(9 * S);
    p.runUntil(15 * S);
    expect(p.master.ha.connectionCount).toBe(1);
    expect(r.code).toBe(ResponseCode.FLUSH_SLAVE_TIMEOUT);
    expect(p.slave.store.getMaxPhyOffset()).toBeLessThan(p.master.store.getMaxPhyOffset());
  });

  it("5.3.3 default (inSyncReplicas=1): PUT_OK without waiting, even with the slave paused", () => {
    const p = pair({ version: "5.3.3" });
    p.at(8 * S, () => p.world.pause("s"));
    const r = p.sendAt(9 * S);
    p.runUntil(10 * S);
    expect(r.code).toBe(ResponseCode.SUCCESS);
    expect(r.doneUs!).toBeLessThan(0.01 * S);
    expect(p.slave.store.getMaxPhyOffset()).toBe(0);
  });

  it("5.3.3 inSyncReplicas=2: waits for the slave's ack, FLUSH_SLAVE_TIMEOUT without it, never SLAVE_NOT_AVAILABLE", () => {
    const p = pair({ version: "5.3.3", inSyncReplicas: 2 });
    const ok = p.sendAt(8 * S);
    p.at(9 * S, () => p.world.pause("s"));
    const paused = p.sendAt(10 * S);
    p.at(15 * S, () => p.world.resume("s"));
    p.at(20 * S, () => p.world.crash("s", "process"));
    const gone = p.sendAt(21 * S);
    p.runUntil(30 * S);
    expect(ok.code).toBe(ResponseCode.SUCCESS);
    expect(paused.code).toBe(ResponseCode.FLUSH_SLAVE_TIMEOUT);
    expect(p.master.ha.connectionCount).toBe(0);
    expect(gone.code).toBe(ResponseCode.FLUSH_SLAVE_TIMEOUT);
    expect(gone.doneUs!).toBeGreaterThanOrEqual(3 * S);
  });

  it("SYNC_FLUSH and SYNC_MASTER both failing: the replica status wins over FLUSH_DISK_TIMEOUT", () => {
    const slowDisk = { fsyncLatencySpikeProbability: 1, fsyncLatencySpikeUs: 6_000_000 };
    const p = pair({ flushDiskType: "SYNC_FLUSH" }, { disk: slowDisk });
    const flushOnly = p.sendAt(8 * S);
    p.at(20 * S, () => p.world.pause("s"));
    const both = p.sendAt(21 * S);
    p.runUntil(40 * S);
    expect(flushOnly.code).toBe(ResponseCode.FLUSH_DISK_TIMEOUT);
    expect(both.code).toBe(ResponseCode.FLUSH_SLAVE_TIMEOUT);
    // The reply waits for both halves: the flush half times out after syncFlushTimeout (5 s).
    expect(both.doneUs!).toBeGreaterThanOrEqual(5 * S);
  });

  for (const version of ["4.9.8", "5.3.3"] as const) {
    it(`${version}: a master restarted with less than its slave acknowledges unreplicated data (known-bugs E3)`, () => {
      const p = pair(version === "4.9.8" ? {} : { version, inSyncReplicas: 2 });
      p.putAt(7 * S, 10);
      p.putAt(11 * S, 20);
      p.at(12 * S, () => p.world.crash("m", "power"));
      p.at(13 * S, () => p.world.start("m"));
      p.runUntil(29 * S);
      const masterMax = p.master.store.getMaxPhyOffset();
      const slaveMax = p.slave.store.getMaxPhyOffset();
      // The power loss took the master's unflushed tail; the slave had replicated all of it.
      expect(masterMax).toBeLessThan(slaveMax);
      // The slave's first report on its new connection is taken as is.
      expect(p.master.ha.pushedToSlaveMaxOffset).toBe(slaveMax);
      const r = p.sendAt(30 * S);
      p.runUntil(30.5 * S);
      expect(r.code).toBe(ResponseCode.SUCCESS);
      expect(r.doneUs!).toBeLessThan(0.01 * S);
      // SEND_OK, yet the slave holds other bytes where the master stored the message.
      const size = p.master.store.getMaxPhyOffset() - masterMax;
      const onMaster = p.master.store.readCommitLogBytes(masterMax, size)!;
      const onSlave = p.slave.store.readCommitLogBytes(masterMax, size)!;
      expect(onSlave.length).toBe(size);
      expect(onSlave.every((x, i) => x === onMaster[i])).toBe(false);
      p.runUntil(45 * S);
      if (version === "4.9.8") {
        // Later reports beyond the master's end are refused (#3015): the slave keeps reconnecting.
        expect(p.ev("ha.reject", "m").length).toBeGreaterThan(0);
        expect(p.ev("ha.connect", "s").filter((e) => e.timeUs > 30 * S).length).toBeGreaterThan(0);
      } else {
        expect(p.ev("ha.reject", "m")).toEqual([]);
      }
    });
  }

  it("once the master's end passes the slave's, the slave takes the master's bytes from its own end, mid-record", () => {
    const p = pair();
    p.putAt(7 * S, 10);
    p.putAt(11 * S, 20);
    p.at(12 * S, () => p.world.crash("m", "power"));
    p.at(13 * S, () => p.world.start("m"));
    for (let i = 0; i < 80; i++) p.sendAt(30 * S + i * 200_000);
    p.runUntil(29 * S);
    const slaveMaxBefore = p.slave.store.getMaxPhyOffset();
    const slaveQueueBefore = p.slave.store.getMaxOffsetInQueue("TopicTest", 0);
    p.runUntil(60 * S);
    expect(p.master.store.getMaxPhyOffset()).toBeGreaterThan(slaveMaxBefore);
    // Continuity holds byte-wise (the frame starts at the slave's end), so the slave appends...
    expect(p.slave.store.getMaxPhyOffset()).toBe(p.master.store.getMaxPhyOffset());
    // ...but its records stop lining up at the old end: nothing past it is dispatched.
    expect(p.slave.store.getMaxOffsetInQueue("TopicTest", 0)).toBe(slaveQueueBefore);
    expect(p.master.store.lookupMessageByOffset(slaveMaxBefore)).toBeNull();
  });
});

describe("reads from a slave (PullMessageProcessor) and SlaveSynchronize", () => {
  it("a slave answers pulls like a master", () => {
    const p = pair({ brokerRole: "ASYNC_MASTER" });
    p.putAt(7 * S, 5);
    const r = p.pullAt(8 * S, "s", 0);
    p.runUntil(9 * S);
    expect(r.code).toBe(ResponseCode.SUCCESS);
    const body = r.body as PullMessageResponseBody;
    expect(body.messages.map((m) => m.queueOffset)).toEqual([0, 1, 2, 3, 4]);
    expect(body.suggestWhichBrokerId).toBe(0);
  });

  it("an offset past a slave's end is not corrected there: PULL_RETRY_IMMEDIATELY, back to the master", () => {
    const p = pair({ brokerRole: "ASYNC_MASTER" });
    p.putAt(7 * S, 5);
    const onSlave = p.pullAt(8 * S, "s", 50);
    const onMaster = p.pullAt(8 * S, "m", 50);
    p.runUntil(9 * S);
    expect(onSlave.code).toBe(ResponseCode.PULL_RETRY_IMMEDIATELY);
    expect(onSlave.body).toMatchObject({ nextBeginOffset: 50, suggestWhichBrokerId: 0 });
    expect(onMaster.code).toBe(ResponseCode.PULL_OFFSET_MOVED);
    expect(onMaster.body).toMatchObject({ nextBeginOffset: 5 });
  });

  it("with slaveReadEnable, a consumer lagging past accessMessageInMemoryMaxRatio is sent to brokerId 1", () => {
    const small = { totalPhysicalMemorySizeBytes: 1000 };
    const on = pair({ brokerRole: "ASYNC_MASTER", slaveReadEnable: true, ...small });
    const off = pair({ brokerRole: "ASYNC_MASTER", ...small });
    for (const p of [on, off]) p.putAt(7 * S, 20);
    const lagging = [on.pullAt(8 * S, "m", 0), off.pullAt(8 * S, "m", 0)];
    const caughtUp = on.pullAt(8 * S, "m", 19);
    on.runUntil(9 * S);
    off.runUntil(9 * S);
    expect(lagging.map((r) => (r.body as PullMessageResponseBody).suggestWhichBrokerId)).toEqual([1, 0]);
    expect((caughtUp.body as PullMessageResponseBody).suggestWhichBrokerId).toBe(0);
  });

  it("copies consumer offsets and topic configs from the master every 10 s", () => {
    const p = pair({ brokerRole: "ASYNC_MASTER" });
    p.putAt(7 * S, 5);
    p.invokeAt(8 * S, "m", RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: "cg", topic: "TopicTest", queueId: 0, commitOffset: 4 });
    const before = p.invokeAt(12 * S, "s", RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: "cg", topic: "TopicTest", queueId: 0 });
    const after = p.invokeAt(14 * S, "s", RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: "cg", topic: "TopicTest", queueId: 0 });
    p.runUntil(15 * S);
    // The first sync runs 3 s after boot, then every 10 s: the 13 s round brought offset 4.
    expect(before.body).toEqual({ offset: 0 });
    expect(after.body).toEqual({ offset: 4 });
    const topics = p.invokeAt(16 * S, "s", RequestCode.GET_ALL_TOPIC_CONFIG, {});
    p.runUntil(17 * S);
    expect((topics.body as { topicConfigs: Array<{ topicName: string }> }).topicConfigs.map((t) => t.topicName).sort()).toEqual(["SCHEDULE_TOPIC_XXXX", "TBW102", "TopicTest"]);
  });
});
