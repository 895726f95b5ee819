import { describe, expect, it } from "vitest";
import { World } from "../../sim/world.js";
import { broker } from "./broker.js";
import { parseRocketMqConfig } from "./config.js";
import { BROKER_LOCK_MAX_LIVE_TIME_MS, RebalanceLockTable } from "./lock-manager.js";
import { RequestCode, ResponseCode, type LockBatchBody, type LockBatchResponseBody, type WireMessageQueue } from "./protocol.js";
import { bareClient, slaveConfig } from "./testing.js";

const S = 1_000_000;
const q = (queueId: number): WireMessageQueue => ({ topic: "T", brokerName: "b", queueId });
const ids = (mqs: WireMessageQueue[]) => mqs.map((m) => m.queueId);

describe("RebalanceLockTable (RebalanceLockManager)", () => {
  it("grants free queues, and refuses a queue another client holds", () => {
    const t = new RebalanceLockTable();
    expect(ids(t.tryLockBatch("G", [q(0), q(1)], "c1", 0))).toEqual([0, 1]);
    expect(ids(t.tryLockBatch("G", [q(1), q(2)], "c2", 1 * S))).toEqual([2]);
    expect(t.holder("G", q(1), 1 * S)).toBe("c1");
    // Groups are independent.
    expect(ids(t.tryLockBatch("H", [q(1)], "c2", 1 * S))).toEqual([1]);
  });

  it("expires a lock 60 s after its last renewal (lockMaxLiveTime), not before", () => {
    const t = new RebalanceLockTable();
    const maxLiveUs = BROKER_LOCK_MAX_LIVE_TIME_MS * 1000;
    expect(maxLiveUs).toBe(60 * S);
    t.tryLockBatch("G", [q(0)], "c1", 0);
    // Renewed by its holder at 30 s: the 60 s count restarts.
    expect(ids(t.tryLockBatch("G", [q(0)], "c1", 30 * S))).toEqual([0]);
    expect(ids(t.tryLockBatch("G", [q(0)], "c2", 30 * S + maxLiveUs))).toEqual([]);
    expect(t.holder("G", q(0), 30 * S + maxLiveUs)).toBe("c1");
    expect(t.holder("G", q(0), 30 * S + maxLiveUs + 1)).toBeUndefined();
    expect(ids(t.tryLockBatch("G", [q(0)], "c2", 30 * S + maxLiveUs + 1))).toEqual([0]);
    expect(t.holder("G", q(0), 30 * S + maxLiveUs + 1)).toBe("c2");
  });

  it("unlocks only what the asking client holds", () => {
    const t = new RebalanceLockTable();
    t.tryLockBatch("G", [q(0), q(1)], "c1", 0);
    t.unlockBatch("G", [q(0)], "c2");
    expect(t.holder("G", q(0), 1)).toBe("c1");
    t.unlockBatch("G", [q(0)], "c1");
    expect(t.holder("G", q(0), 1)).toBeUndefined();
    expect(ids(t.tryLockBatch("G", [q(0), q(1)], "c2", 2))).toEqual([0]);
  });
});

/** A master `m`, a slave `s` of group `b`, and a bare remoting client `c`. */
function brokers() {
  const world = new World({ seed: 3 });
  const cfg = parseRocketMqConfig({});
  const slaveCfg = slaveConfig(cfg);
  const topics = [{ topic: "T", queues: 4 }];
  world.addNode("m", broker({ brokerName: "b", brokerId: 0, nameServers: [], config: cfg, topics }));
  world.addNode("s", broker({ brokerName: "b", brokerId: 1, nameServers: [], config: slaveCfg, topics, masterAddress: () => "m" }));
  const client = bareClient(world, "c");
  world.startAll();
  const call = (addr: string, code: number, body: LockBatchBody): LockBatchResponseBody | null => {
    let out: LockBatchResponseBody | null | undefined;
    client().invoke(addr, code, body, 1_000, (resp, err) => {
      expect(err).toBeNull();
      expect(resp!.code).toBe(ResponseCode.SUCCESS);
      out = resp!.body as LockBatchResponseBody | null;
    });
    world.sim.run({ untilUs: world.sim.now + 100_000 });
    expect(out).not.toBeUndefined();
    return out!;
  };
  const lock = (addr: string, clientId: string, mqs: WireMessageQueue[]) => ids(call(addr, RequestCode.LOCK_BATCH_MQ, { consumerGroup: "G", clientId, mqSet: mqs })!.lockOKMQSet);
  const unlock = (addr: string, clientId: string, mqs: WireMessageQueue[]) => call(addr, RequestCode.UNLOCK_BATCH_MQ, { consumerGroup: "G", clientId, mqSet: mqs });
  return { world, lock, unlock };
}

describe("LOCK_BATCH_MQ / UNLOCK_BATCH_MQ on a broker", () => {
  it("a master grants locks exclusively and releases them on unlock", () => {
    const b = brokers();
    b.world.sim.run({ untilUs: 1 * S });
    expect(b.lock("m", "c1", [q(0), q(1)])).toEqual([0, 1]);
    expect(b.lock("m", "c2", [q(0), q(1), q(2)])).toEqual([2]);
    expect(b.unlock("m", "c1", [q(1)])).toBeNull();
    expect(b.lock("m", "c2", [q(0), q(1)])).toEqual([1]);
  });

  it("a slave grants nothing", () => {
    const b = brokers();
    b.world.sim.run({ untilUs: 1 * S });
    expect(b.lock("s", "c1", [q(0), q(1)])).toEqual([]);
  });

  it("a lock not renewed for 60 s goes to the next client that asks", () => {
    const b = brokers();
    b.world.sim.run({ untilUs: 1 * S });
    expect(b.lock("m", "c1", [q(0)])).toEqual([0]);
    b.world.sim.run({ untilUs: 59 * S });
    expect(b.lock("m", "c2", [q(0)])).toEqual([]);
    b.world.sim.run({ untilUs: 62 * S });
    expect(b.lock("m", "c2", [q(0)])).toEqual([0]);
    expect(b.lock("m", "c1", [q(0)])).toEqual([]);
  });

  it("keeps locks in memory only: a restarted master has forgotten them", () => {
    const b = brokers();
    b.world.sim.run({ untilUs: 1 * S });
    expect(b.lock("m", "c1", [q(0)])).toEqual([0]);
    b.world.crash("m", "process");
    b.world.start("m");
    b.world.sim.run({ untilUs: 3 * S });
    expect(b.lock("m", "c2", [q(0)])).toEqual([0]);
  });
});
