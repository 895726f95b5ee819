import type { BrokerRuntime } from "./broker-runtime.js";
import { RequestCode, ResponseCode, type LockBatchBody, type LockBatchResponseBody, type WireMessageQueue } from "./protocol.js";
import { response } from "./remoting.js";

/**
 * RebalanceLockManager.REBALANCE_LOCK_MAX_LIVE_TIME (system property
 * rocketmq.broker.rebalance.lockMaxLiveTime, default 60000): a lock not
 * renewed for this long may be taken by another client.
 */
export const BROKER_LOCK_MAX_LIVE_TIME_MS = 60_000;

interface LockEntry {
  clientId: string;
  lastUpdateUs: number;
}

function lockKey(mq: WireMessageQueue): string {
  return `${mq.topic}@${mq.brokerName}#${mq.queueId}`;
}

/**
 * RebalanceLockManager's table, with no I/O: group → queue → holder. Every
 * call takes the current time, so tests drive it with plain numbers.
 * Invariant: at most one entry per (group, queue), hence at most one client
 * holds an unexpired lock on a queue at any time.
 */
export class RebalanceLockTable {
  private readonly groups = new Map<string, Map<string, LockEntry>>();

  constructor(private readonly maxLiveUs: number = BROKER_LOCK_MAX_LIVE_TIME_MS * 1000) {}

  /** LockEntry.isExpired: strictly more than the max live time since the last renewal. */
  private expired(e: LockEntry, nowUs: number): boolean {
    return nowUs - e.lastUpdateUs > this.maxLiveUs;
  }

  /**
   * RebalanceLockManager.tryLockBatch: grants (and renews) every queue that
   * is free, expired, or already held by `clientId`; returns the granted ones.
   */
  tryLockBatch(group: string, mqs: readonly WireMessageQueue[], clientId: string, nowUs: number): WireMessageQueue[] {
    let table = this.groups.get(group);
    if (table === undefined) this.groups.set(group, (table = new Map()));
    const granted: WireMessageQueue[] = [];
    for (const mq of mqs) {
      const key = lockKey(mq);
      const e = table.get(key);
      if (e === undefined || e.clientId === clientId || this.expired(e, nowUs)) {
        table.set(key, { clientId, lastUpdateUs: nowUs });
        granted.push(mq);
      }
    }
    return granted;
  }

  /** RebalanceLockManager.unlockBatch: releases only what `clientId` holds. */
  unlockBatch(group: string, mqs: readonly WireMessageQueue[], clientId: string): void {
    const table = this.groups.get(group);
    if (table === undefined) return;
    for (const mq of mqs) {
      const key = lockKey(mq);
      if (table.get(key)?.clientId === clientId) table.delete(key);
    }
  }

  /** The client holding an unexpired lock on the queue, if any. */
  holder(group: string, mq: WireMessageQueue, nowUs: number): string | undefined {
    const e = this.groups.get(group)?.get(lockKey(mq));
    return e === undefined || this.expired(e, nowUs) ? undefined : e.clientId;
  }
}

/**
 * RebalanceLockManager behind LOCK_BATCH_MQ / UNLOCK_BATCH_MQ
 * (AdminBrokerProcessor.lockBatchMQ / unlockBatchMQ), for orderly consumers.
 * Locks live in memory only, so a restarted broker has forgotten them. Only
 * a master grants locks: clients lock on brokerId 0, and a broker that is
 * not serving as master answers with an empty set rather than hand out a
 * lock its group's master does not know about.
 */
export function installRebalanceLockManager(rt: BrokerRuntime): void {
  const table = new RebalanceLockTable();
  rt.remoting.registerProcessor(RequestCode.LOCK_BATCH_MQ, (req) => {
    const body = req.body as LockBatchBody;
    const lockOKMQSet = rt.isMaster() ? table.tryLockBatch(body.consumerGroup, body.mqSet, body.clientId, rt.ctx.now) : [];
    const out: LockBatchResponseBody = { lockOKMQSet };
    return response(ResponseCode.SUCCESS, out, req);
  });
  rt.remoting.registerProcessor(RequestCode.UNLOCK_BATCH_MQ, (req) => {
    const body = req.body as LockBatchBody;
    table.unlockBatch(body.consumerGroup, body.mqSet, body.clientId);
    return response(ResponseCode.SUCCESS, null, req);
  });
}
