import type { ConsumerConfig } from "./config.js";
import { compareQueues, queueKey, type ClientInstance, type MessageQueue } from "./client.js";
import {
  RequestCode,
  ResponseCode,
  responseCodeName,
  type ConsumerSendMsgBackBody,
  type LockBatchBody,
  type LockBatchResponseBody,
  type PullMessageRequestBody,
  type PullMessageResponseBody,
  type PulledMessage,
  type WireMessageQueue,
} from "./protocol.js";

/** What the application's listener sees for one consumed batch. */
export interface ConsumedBatch {
  /** The queue the messages were pulled from (for a retried message, its `%RETRY%<group>` queue). */
  mq: MessageQueue;
  /** In queue order. A retried message carries its original topic again (resetRetryAndNamespace). */
  messages: PulledMessage[];
  /** True for the first batch handed over since this consumer was assigned the queue. */
  assigned: boolean;
}

export type ConsumeConcurrentlyStatus = "CONSUME_SUCCESS" | "RECONSUME_LATER";

export interface ConsumerListener {
  /**
   * Concurrent mode: the whole pulled batch. consumeMessageBatchMaxSize = 1
   * means one status per message, in batch order; undefined means all
   * CONSUME_SUCCESS.
   */
  consume?(batch: ConsumedBatch): readonly ConsumeConcurrentlyStatus[] | void;
  /**
   * Orderly mode: returns how many messages from the front were consumed
   * (SUCCESS); if fewer than batch.messages.length, the next one returned
   * SUSPEND_CURRENT_QUEUE_A_MOMENT.
   */
  consumeOrderly?(batch: ConsumedBatch): number;
}

export interface PushConsumerOptions {
  /** MessageListenerOrderly instead of MessageListenerConcurrently. */
  orderly?: boolean;
}

/** MixAll.RETRY_GROUP_TOPIC_PREFIX */
const RETRY_GROUP_TOPIC_PREFIX = "%RETRY%";
/** MessageConst.PROPERTY_RETRY_TOPIC: the topic a retried message was first sent to. */
const PROPERTY_RETRY_TOPIC = "RETRY_TOPIC";

/** MixAll.getRetryTopic */
function retryTopicOf(group: string): string {
  return RETRY_GROUP_TOPIC_PREFIX + group;
}

/** ConsumeMessageOrderlyService.REBALANCE_LOCK_INTERVAL (rocketmq.client.rebalance.lockInterval). */
export const REBALANCE_LOCK_INTERVAL_MS = 20_000;
/** ProcessQueue.REBALANCE_LOCK_MAX_LIVE_TIME (rocketmq.client.rebalance.lockMaxLiveTime). */
export const CLIENT_LOCK_MAX_LIVE_TIME_MS = 30_000;
/** RebalancePushImpl.UNLOCK_DELAY_TIME_MILLS (rocketmq.client.unlockDelayTimeMills). */
const UNLOCK_DELAY_TIME_MS = 20_000;
/** ConsumeMessageOrderlyService.start: lockMQPeriodically's initial delay. */
const LOCK_FIRST_DELAY_MS = 1_000;
/** RebalanceImpl.lock / lockAll / unlock: lockBatchMQ(addr, body, 1000). */
const LOCK_BATCH_TIMEOUT_MS = 1_000;
/** ConsumeMessageOrderlyService.ConsumeRequest.run: tryLockLaterAndReconsume(mq, pq, 100) when the lock is missing or expired. */
const TRY_LOCK_LATER_MS = 100;
/** ConsumeMessageOrderlyService.tryLockLaterAndReconsume: reconsume 10 ms after a lock success, 3000 ms after a failure. */
const RECONSUME_AFTER_LOCK_OK_MS = 10;
const RECONSUME_AFTER_LOCK_FAILED_MS = 3_000;
/** ConsumeMessageConcurrentlyService.submitConsumeRequestLater: a message whose send-back failed is re-consumed after 5 s. */
const CONCURRENT_RECONSUME_LATER_MS = 5_000;
/** DefaultMQPushConsumerImpl.sendMessageBack: consumerSendMessageBack(..., 5000, ...). */
const SEND_BACK_TIMEOUT_MS = 5_000;
/** DefaultMQPushConsumer.pullThresholdForQueue: cached messages per queue before pulling pauses. */
const PULL_THRESHOLD_FOR_QUEUE = 1_000;
/** DefaultMQPushConsumer.consumeConcurrentlyMaxSpan: offset span of cached messages before pulling pauses. */
const CONSUME_CONCURRENTLY_MAX_SPAN = 2_000;
/** DefaultMQPushConsumerImpl.PULL_TIME_DELAY_MILLS_WHEN_FLOW_CONTROL. */
const PULL_TIME_DELAY_MILLS_WHEN_FLOW_CONTROL = 50;
/** DefaultMQPushConsumerImpl.getMaxReconsumeTimes when maxReconsumeTimes = -1 (concurrent; SubscriptionGroupConfig.retryMaxTimes). */
const DEFAULT_MAX_RECONSUME_TIMES_CONCURRENT = 16;

interface ProcessQueue {
  readonly mq: MessageQueue;
  readonly key: string;
  /** Pulled from the group's retry topic: messages get their original topic back before the listener sees them. */
  readonly retry: boolean;
  /** Next offset to pull. */
  nextOffset: number;
  /** Highest offset pulled + 1 (ProcessQueue.queueOffsetMax + 1): the commit point when nothing is in flight. */
  pulledEnd: number;
  /**
   * ProcessQueue.msgTreeMap: queue offset → message not yet done. Concurrent
   * mode keeps only messages whose RECONSUME_LATER is unresolved (everything
   * else is consumed the moment it arrives); orderly mode keeps everything
   * pulled and not yet consumed. Invariant: keys were inserted in ascending
   * order (pulls move forward; a retried message keeps its slot), so the
   * first key is the smallest offset in flight.
   */
  readonly msgTree: Map<number, PulledMessage>;
  dropped: boolean;
  /** True until the first batch from this assignment is handed to the listener. */
  fresh: boolean;
  /** A pull request is in flight or scheduled. */
  pulling: boolean;
  /** Which broker id the broker suggested we pull from. */
  suggestBrokerId: number;
  /** Orderly: the master granted this client the queue's lock (ProcessQueue.locked). */
  locked: boolean;
  /** Orderly: when the last lock grant arrived (ProcessQueue.lastLockTimestamp), µs. */
  lastLockUs: number;
  /** Orderly: a consume task runs, is scheduled, or waits (ProcessQueue.consuming); at most one per queue. */
  consuming: boolean;
}

/**
 * DefaultMQPushConsumer in clustering mode: average rebalance over sorted
 * queues and sorted client ids (every 20 s and when the broker says the
 * group changed), a pull loop per assigned queue with broker-side long
 * polling, and a remote offset store that commits the smallest offset still
 * in flight and pushes it to the broker every 5 s. The group's retry topic
 * is subscribed too (copySubscription).
 *
 * Concurrent mode (ConsumeMessageConcurrentlyService) hands each pulled
 * batch to the listener at once; a RECONSUME_LATER message is sent back to
 * the broker, and re-consumed here after 5 s if that fails. Orderly mode
 * (ConsumeMessageOrderlyService) consumes a queue only while holding its
 * lock on the master, one task per queue, and suspends the queue when the
 * listener stops short.
 */
export class PushConsumer {
  private readonly pqs = new Map<string, ProcessQueue>();
  /** RemoteBrokerOffsetStore.offsetTable: queue key → offset to commit. */
  private readonly offsets = new Map<string, { mq: MessageQueue; offset: number }>();
  /** RebalanceImpl.subscriptionInner: topic → tags ("*": all). */
  private readonly subscriptions = new Map<string, string[] | "*">();
  /** topic → keys of the latest allocation, so a queue whose lock or offset answer comes late is not added once revoked. */
  private readonly allocated = new Map<string, Set<string>>();
  /** Keys whose lock or starting offset is being fetched. */
  private readonly adding = new Set<string>();
  /** Queues re-added after an offset move are not a new assignment: their jump must stay visible. */
  private readonly carryNotFresh = new Set<string>();
  private readonly orderly: boolean;
  private readonly retryTopic: string;
  private rebalancesInFlight = 0;
  /** A rebalance was asked for while one was under way: run again once it ends (ServiceThread.wakeup). */
  private rebalanceRequested = false;
  private started = false;
  private stopped = false;

  constructor(
    private readonly client: ClientInstance,
    private readonly cfg: ConsumerConfig,
    readonly group: string,
    private readonly listener: ConsumerListener,
    options: PushConsumerOptions = {},
  ) {
    this.orderly = options.orderly === true;
    this.retryTopic = retryTopicOf(group);
    if (this.orderly ? listener.consumeOrderly === undefined : listener.consume === undefined) {
      throw new Error(`PushConsumer ${group}: an ${this.orderly ? "orderly" : "concurrent"} consumer needs a ${this.orderly ? "consumeOrderly" : "consume"} listener`);
    }
    client.remoting.registerProcessor(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, (req) => {
      if ((req.body as { group: string }).group === this.group) this.rebalanceSoon();
      return null;
    });
    client.onRouteChanged((topic) => {
      if (this.subscriptions.has(topic)) this.rebalanceSoon();
    });
  }

  /**
   * DefaultMQPushConsumer.subscribe(topic, "tagA || tagB"): tags are
   * filtered on the broker by hash code and re-checked here by string. An
   * empty list means all, as "" does (FilterAPI.buildSubscriptionData).
   */
  subscribe(topic: string, tags: string[] | "*" = "*"): void {
    this.subscriptions.set(topic, tags === "*" || tags.length === 0 ? "*" : [...tags]);
    this.publishSubscriptions();
    if (this.started) this.fetchRoute(topic);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    // DefaultMQPushConsumerImpl.copySubscription: clustering consumers also read their retry topic.
    if (!this.subscriptions.has(this.retryTopic)) this.subscriptions.set(this.retryTopic, "*");
    this.publishSubscriptions();
    for (const t of this.subscriptions.keys()) this.fetchRoute(t);
    this.every(this.cfg.rebalanceWaitInterval, this.cfg.rebalanceWaitInterval, () => this.rebalance());
    const persistMs = this.client.cfg.persistConsumerOffsetInterval;
    this.every(persistMs, persistMs, () => this.persistAll());
    if (this.orderly) this.every(LOCK_FIRST_DELAY_MS, REBALANCE_LOCK_INTERVAL_MS, () => this.lockAll());
  }

  /**
   * DefaultMQPushConsumerImpl.shutdown: an orderly consumer releases its
   * locks, offsets are pushed once more, and the group is unregistered from
   * every broker so the others rebalance at once.
   */
  shutdown(): void {
    if (!this.started || this.stopped) return;
    this.stopped = true;
    if (this.orderly) this.unlockAll();
    this.persistAll();
    for (const pq of this.pqs.values()) pq.dropped = true;
    this.client.consumerGroups.delete(this.group);
    for (const ids of this.client.brokerAddrs.values()) {
      for (const addr of ids.values()) this.client.remoting.invokeOneway(addr, RequestCode.UNREGISTER_CLIENT, { clientId: this.client.clientId, consumerGroup: this.group });
    }
  }

  /** Queue key → the offset below which everything pulled was consumed (what the consumer commits). */
  consumedOffsets(): Map<string, number> {
    const out = new Map<string, number>();
    for (const pq of this.pqs.values()) if (!pq.dropped) out.set(pq.key, commitOffset(pq));
    return out;
  }

  /** Orderly: keys of the queues this live consumer holds a lock on that it still considers valid. */
  validLocks(): string[] {
    if (!this.client.ctx.alive || this.stopped) return [];
    return [...this.pqs.values()].filter((pq) => !pq.dropped && this.lockValid(pq)).map((pq) => pq.key);
  }

  private every(firstMs: number, periodMs: number, fn: () => void): void {
    const loop = (): void => {
      if (this.stopped) return;
      fn();
      this.client.ctx.after(periodMs * 1000, loop);
    };
    this.client.ctx.after(firstMs * 1000, loop);
  }

  private publishSubscriptions(): void {
    this.client.consumerGroups.set(this.group, [...this.subscriptions.keys()]);
  }

  private fetchRoute(topic: string): void {
    this.client.updateRoute(topic, (ok) => {
      if (ok) this.client.sendHeartbeatToAllBrokers();
      this.rebalanceSoon();
    });
  }

  private rebalanceSoon(): void {
    this.client.ctx.after(1_000, () => this.rebalance());
  }

  // ---- rebalance (RebalanceImpl / RebalancePushImpl) ----

  /** RebalanceImpl.doRebalance: rebalanceByTopic with AllocateMessageQueueAveragely for every subscribed topic. */
  private rebalance(): void {
    if (this.stopped) return;
    if (this.rebalancesInFlight > 0) {
      this.rebalanceRequested = true;
      return;
    }
    this.rebalanceRequested = false;
    for (const topic of this.subscriptions.keys()) {
      const mqAll = this.client.subscribeQueues(topic);
      const addr = this.client.anyBrokerForTopic(topic);
      if (mqAll.length === 0 || addr === undefined) {
        // The retry topic exists only once the broker created it: keep asking the NameServer.
        this.client.updateRoute(topic);
        continue;
      }
      this.rebalancesInFlight++;
      this.client.remoting.invoke(addr, RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: this.group }, this.client.cfg.mqClientApiTimeout, (resp, err) => {
        this.rebalancesInFlight--;
        if (!this.stopped && err === null && resp!.code === ResponseCode.SUCCESS) {
          const cidAll = [...(resp!.body as { consumerIdList: string[] }).consumerIdList].sort();
          this.updateProcessQueues(topic, allocateAveragely(mqAll, cidAll, this.client.clientId));
        }
        if (this.rebalancesInFlight === 0 && this.rebalanceRequested) this.rebalance();
      });
    }
  }

  /** RebalanceImpl.updateProcessQueueTableInRebalance. */
  private updateProcessQueues(topic: string, assigned: MessageQueue[]): void {
    const keys = new Set(assigned.map(queueKey));
    this.allocated.set(topic, keys);
    for (const pq of [...this.pqs.values()]) {
      if (pq.mq.topic === topic && !keys.has(pq.key)) this.removeQueue(pq);
    }
    for (const mq of assigned) {
      const key = queueKey(mq);
      if (this.pqs.has(key) || this.adding.has(key)) continue;
      this.adding.add(key);
      if (!this.orderly) {
        this.addQueue(mq, -1);
        continue;
      }
      // An orderly consumer takes a new queue only once its master granted the lock.
      this.lockOne(mq, (ok) => {
        if (ok) this.addQueue(mq, this.client.ctx.now);
        else this.adding.delete(key);
      });
    }
  }

  private addQueue(mq: MessageQueue, lockedAtUs: number): void {
    const key = queueKey(mq);
    this.computePullFromWhere(mq, (offset) => {
      this.adding.delete(key);
      if (this.stopped || this.pqs.has(key)) return;
      if (this.allocated.get(mq.topic)?.has(key) !== true) {
        // Revoked while its lock or offset was on the way: give the lock back at once.
        if (lockedAtUs >= 0) this.unlockOne(mq);
        return;
      }
      if (offset < 0) return;
      const fresh = !this.carryNotFresh.delete(key);
      const pq: ProcessQueue = {
        mq,
        key,
        retry: mq.topic === this.retryTopic,
        nextOffset: offset,
        pulledEnd: offset,
        msgTree: new Map(),
        dropped: false,
        fresh,
        pulling: false,
        suggestBrokerId: 0,
        locked: lockedAtUs >= 0,
        lastLockUs: lockedAtUs,
        consuming: false,
      };
      this.pqs.set(key, pq);
      this.offsets.set(key, { mq, offset });
      this.client.ctx.emit("consumer.assign", { group: this.group, mq: key, offset });
      this.pull(pq);
    });
  }

  /**
   * RebalancePushImpl.removeUnnecessaryMessageQueue: commit, forget the
   * offset, stop pulling; an orderly consumer then releases the lock, 20 s
   * later if messages were still cached (unlockDelay), so a consume task
   * that was running can finish before someone else takes the queue.
   */
  private removeQueue(pq: ProcessQueue): void {
    pq.dropped = true;
    this.persistOne(pq.mq);
    this.offsets.delete(pq.key);
    this.pqs.delete(pq.key);
    this.client.ctx.emit("consumer.revoke", { group: this.group, mq: pq.key });
    if (!this.orderly) return;
    if (pq.msgTree.size === 0) this.unlockOne(pq.mq);
    else this.client.ctx.after(UNLOCK_DELAY_TIME_MS * 1000, () => this.unlockOne(pq.mq));
  }

  /** RebalancePushImpl.computePullFromWhere: the committed offset, else by consumeFromWhere. */
  private computePullFromWhere(mq: MessageQueue, cb: (offset: number) => void): void {
    const addr = this.client.subscribeAddress(mq.brokerName, 0, true)?.addr ?? this.client.subscribeAddress(mq.brokerName, 0, false)?.addr;
    if (addr === undefined) {
      cb(-1);
      return;
    }
    const timeout = this.client.cfg.mqClientApiTimeout;
    this.client.remoting.invoke(addr, RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: this.group, topic: mq.topic, queueId: mq.queueId }, timeout, (resp, err) => {
      if (err !== null) return cb(-1);
      if (resp!.code === ResponseCode.SUCCESS) return cb((resp!.body as { offset: number }).offset);
      if (resp!.code !== ResponseCode.QUERY_NOT_FOUND) return cb(-1);
      // A retry topic is always read from its start, whatever consumeFromWhere says.
      if (this.cfg.consumeFromWhere === "CONSUME_FROM_FIRST_OFFSET" || mq.topic.startsWith(RETRY_GROUP_TOPIC_PREFIX)) return cb(0);
      // LAST_OFFSET (and TIMESTAMP, which the workload never needs): start at the queue's end.
      this.client.remoting.invoke(addr, RequestCode.GET_MAX_OFFSET, { topic: mq.topic, queueId: mq.queueId }, timeout, (r2, e2) => {
        if (e2 !== null || r2!.code !== ResponseCode.SUCCESS) return cb(-1);
        cb((r2!.body as { offset: number }).offset);
      });
    });
  }

  // ---- pulling (DefaultMQPushConsumerImpl.pullMessage) ----

  private pull(pq: ProcessQueue): void {
    if (pq.dropped || pq.pulling || this.stopped || !this.client.ctx.alive) return;
    if (this.flowControlled(pq)) {
      this.pullLater(pq, PULL_TIME_DELAY_MILLS_WHEN_FLOW_CONTROL);
      return;
    }
    // An orderly queue whose lock was lost (lockAll) waits for the next grant.
    if (this.orderly && !pq.locked) {
      this.pullLater(pq, this.cfg.pullTimeDelayMillsWhenException);
      return;
    }
    const target = this.client.subscribeAddress(pq.mq.brokerName, pq.suggestBrokerId, false);
    if (target === undefined) {
      this.pullLater(pq, this.cfg.pullTimeDelayMillsWhenException);
      return;
    }
    pq.pulling = true;
    const commit = this.offsets.get(pq.key)?.offset;
    const body: PullMessageRequestBody = {
      consumerGroup: this.group,
      topic: pq.mq.topic,
      queueId: pq.mq.queueId,
      queueOffset: pq.nextOffset,
      maxMsgNums: this.cfg.pullBatchSize,
      suspendTimeoutMs: this.cfg.brokerSuspendMaxTimeMillis,
      subscription: this.subscriptions.get(pq.mq.topic) ?? "*",
    };
    if (commit !== undefined && target.brokerId === 0) body.commitOffset = commit;
    this.client.remoting.invoke(target.addr, RequestCode.PULL_MESSAGE, body, this.cfg.consumerTimeoutMillisWhenSuspend, (resp, err) => {
      pq.pulling = false;
      if (pq.dropped) return;
      if (err !== null) this.pullLater(pq, this.cfg.pullTimeDelayMillsWhenException);
      else this.onPullResult(pq, resp!.code, resp!.body as PullMessageResponseBody | null);
    });
  }

  /** pullThresholdForQueue, and for concurrent consumers consumeConcurrentlyMaxSpan. */
  private flowControlled(pq: ProcessQueue): boolean {
    const n = pq.msgTree.size;
    if (n > PULL_THRESHOLD_FOR_QUEUE) return true;
    if (this.orderly || n < 2) return false;
    let last = 0;
    for (const k of pq.msgTree.keys()) last = k;
    return last - firstKey(pq)! > CONSUME_CONCURRENTLY_MAX_SPAN;
  }

  private onPullResult(pq: ProcessQueue, code: number, r: PullMessageResponseBody | null): void {
    switch (code) {
      case ResponseCode.SUCCESS:
        this.onFound(pq, r!);
        this.pullLater(pq, this.cfg.pullInterval);
        return;
      case ResponseCode.PULL_NOT_FOUND:
      case ResponseCode.PULL_RETRY_IMMEDIATELY:
        if (r !== null) {
          pq.nextOffset = r.nextBeginOffset;
          // correctTagsOffset: with nothing in flight, the committed offset follows the pull offset.
          if (pq.msgTree.size === 0) {
            pq.pulledEnd = Math.max(pq.pulledEnd, r.nextBeginOffset);
            this.setOffset(pq, pq.nextOffset);
          }
        }
        this.pullLater(pq, this.cfg.pullInterval);
        return;
      case ResponseCode.PULL_OFFSET_MOVED:
        this.onOffsetMoved(pq, r?.nextBeginOffset ?? pq.nextOffset);
        return;
      default:
        this.pullLater(pq, this.cfg.pullTimeDelayMillsWhenException);
    }
  }

  private onFound(pq: ProcessQueue, r: PullMessageResponseBody): void {
    pq.nextOffset = r.nextBeginOffset;
    pq.suggestBrokerId = r.suggestWhichBrokerId;
    if (r.messages.length === 0) return;
    pq.pulledEnd = Math.max(pq.pulledEnd, r.messages[r.messages.length - 1]!.queueOffset + 1);
    // PullAPIWrapper.processPullResult: the client re-checks tag strings, removing hash collisions.
    const tags = this.subscriptions.get(pq.mq.topic) ?? "*";
    const msgs = tags === "*" ? r.messages : r.messages.filter((m) => tags.includes(m.properties.TAGS ?? ""));
    if (msgs.length === 0) {
      this.commit(pq);
      return;
    }
    if (this.orderly) this.putOrderly(pq, msgs);
    else this.consumeConcurrently(pq, msgs);
  }

  /**
   * OFFSET_ILLEGAL: drop the queue, commit the broker's suggested offset,
   * and let the next rebalance take it up again from there
   * (DefaultMQPushConsumerImpl, after 10 s).
   */
  private onOffsetMoved(pq: ProcessQueue, next: number): void {
    this.client.ctx.emit("consumer.offset-moved", { group: this.group, mq: pq.key, from: pq.nextOffset, to: next });
    pq.dropped = true;
    this.client.ctx.after(10_000_000, () => {
      this.offsets.set(pq.key, { mq: pq.mq, offset: next });
      this.persistOne(pq.mq);
      if (this.pqs.get(pq.key) === pq) {
        this.pqs.delete(pq.key);
        if (this.orderly) this.unlockOne(pq.mq);
      }
      this.carryNotFresh.add(pq.key);
      this.rebalanceSoon();
    });
  }

  private pullLater(pq: ProcessQueue, delayMs: number): void {
    this.client.ctx.after(delayMs <= 0 ? 0 : delayMs * 1000, this.pullNow, pq);
  }

  /** `pull` as a timer callback taking its queue as the argument: no closure per pull. */
  private readonly pullNow = (pq: ProcessQueue): void => this.pull(pq);

  // ---- concurrent consumption (ConsumeMessageConcurrentlyService) ----

  /** Hands a freshly pulled batch to the listener; nothing is cached unless a message asks to be retried. */
  private consumeConcurrently(pq: ProcessQueue, msgs: PulledMessage[]): void {
    const statuses = this.listener.consume!({ mq: pq.mq, messages: this.forListener(pq, msgs), assigned: pq.fresh });
    pq.fresh = false;
    this.processConsumeResult(pq, msgs, statuses);
  }

  /**
   * ConsumeMessageConcurrentlyService.processConsumeResult (clustering):
   * each RECONSUME_LATER message is sent back and stays in flight until the
   * broker took it; the others are done.
   */
  private processConsumeResult(pq: ProcessQueue, msgs: readonly PulledMessage[], statuses: readonly ConsumeConcurrentlyStatus[] | void): void {
    if (statuses !== undefined && statuses.length !== msgs.length) {
      throw new Error(`PushConsumer ${this.group}: listener returned ${statuses.length} statuses for ${msgs.length} messages`);
    }
    if (statuses !== undefined || pq.msgTree.size > 0) {
      for (let i = 0; i < msgs.length; i++) {
        const m = msgs[i]!;
        if (statuses?.[i] === "RECONSUME_LATER") this.sendBackConcurrently(pq, m);
        else pq.msgTree.delete(m.queueOffset);
      }
    }
    this.commit(pq);
  }

  /** A failed send-back is re-consumed here 5 s later, one reconsume more, holding the committed offset back meanwhile. */
  private sendBackConcurrently(pq: ProcessQueue, m: PulledMessage): void {
    pq.msgTree.set(m.queueOffset, m);
    const max = this.cfg.maxReconsumeTimes === -1 ? DEFAULT_MAX_RECONSUME_TIMES_CONCURRENT : this.cfg.maxReconsumeTimes;
    this.sendMessageBack(pq, m, 0, max, (ok) => {
      if (pq.dropped) return;
      if (ok) {
        pq.msgTree.delete(m.queueOffset);
        this.commit(pq);
        return;
      }
      const again: PulledMessage = { ...m, reconsumeTimes: m.reconsumeTimes + 1 };
      pq.msgTree.set(m.queueOffset, again);
      this.client.ctx.after(CONCURRENT_RECONSUME_LATER_MS * 1000, () => this.reconsumeLocally(pq, again));
    });
  }

  /** submitConsumeRequestLater's task: a dropped queue's messages are left to the queue's next owner. */
  private reconsumeLocally(pq: ProcessQueue, m: PulledMessage): void {
    if (pq.dropped || this.stopped) return;
    const statuses = this.listener.consume!({ mq: pq.mq, messages: this.forListener(pq, [m]), assigned: false });
    this.processConsumeResult(pq, [m], statuses);
  }

  // ---- orderly consumption (ConsumeMessageOrderlyService) ----

  /** ProcessQueue.putMessage: cache in queue order, and start a consume task unless one is under way. */
  private putOrderly(pq: ProcessQueue, msgs: readonly PulledMessage[]): void {
    for (const m of msgs) pq.msgTree.set(m.queueOffset, m);
    if (pq.consuming) return;
    pq.consuming = true;
    this.consumeOrderly(pq);
  }

  /**
   * ConsumeMessageOrderlyService.ConsumeRequest.run: only with a valid lock;
   * everything cached goes to the listener in queue order, what it consumed
   * is committed (ProcessQueue.commit), and the first message it did not
   * consume suspends the queue.
   */
  private consumeOrderly(pq: ProcessQueue): void {
    if (pq.dropped || this.stopped) return;
    if (!this.lockValid(pq)) {
      this.tryLockLaterAndReconsume(pq, TRY_LOCK_LATER_MS);
      return;
    }
    if (pq.msgTree.size === 0) {
      pq.consuming = false;
      return;
    }
    const msgs = [...pq.msgTree.values()];
    const n = this.listener.consumeOrderly!({ mq: pq.mq, messages: this.forListener(pq, msgs), assigned: pq.fresh });
    pq.fresh = false;
    if (!Number.isInteger(n) || n < 0 || n > msgs.length) throw new Error(`PushConsumer ${this.group}: consumeOrderly returned ${n} for ${msgs.length} messages`);
    for (let i = 0; i < n; i++) pq.msgTree.delete(msgs[i]!.queueOffset);
    this.commit(pq);
    if (n === msgs.length) pq.consuming = false;
    else this.checkReconsumeTimes(pq, msgs[n]!);
  }

  /**
   * ConsumeMessageOrderlyService.checkReconsumeTimes: below the maximum the
   * queue is suspended; at it, the message goes to the DLQ (delay level −1)
   * and is skipped, unless that send fails.
   */
  private checkReconsumeTimes(pq: ProcessQueue, m: PulledMessage): void {
    // getMaxReconsumeTimes: -1 is Integer.MAX_VALUE for an orderly consumer, i.e. never.
    const max = this.cfg.maxReconsumeTimes;
    if (max < 0 || m.reconsumeTimes < max) {
      this.suspend(pq, m);
      return;
    }
    this.sendMessageBack(pq, m, -1, max, (ok) => {
      if (pq.dropped) return;
      if (!ok) {
        this.suspend(pq, m);
        return;
      }
      pq.msgTree.delete(m.queueOffset);
      this.commit(pq);
      this.consumeOrderly(pq);
    });
  }

  /** SUSPEND_CURRENT_QUEUE_A_MOMENT: makeMessageToConsumeAgain, then retry after suspendCurrentQueueTimeMillis. */
  private suspend(pq: ProcessQueue, m: PulledMessage): void {
    const again: PulledMessage = { ...m, reconsumeTimes: m.reconsumeTimes + 1 };
    pq.msgTree.set(m.queueOffset, again);
    this.client.ctx.emit("consumer.suspend", { group: this.group, mq: pq.key, offset: m.queueOffset, reconsumeTimes: again.reconsumeTimes });
    this.client.ctx.after(this.cfg.suspendCurrentQueueTimeMillis * 1000, () => this.consumeOrderly(pq));
  }

  /** ConsumeMessageOrderlyService.tryLockLaterAndReconsume. */
  private tryLockLaterAndReconsume(pq: ProcessQueue, delayMs: number): void {
    this.client.ctx.after(delayMs * 1000, () => {
      if (pq.dropped || this.stopped) return;
      this.lockOne(pq.mq, (ok) => {
        const retryMs = ok ? RECONSUME_AFTER_LOCK_OK_MS : RECONSUME_AFTER_LOCK_FAILED_MS;
        this.client.ctx.after(retryMs * 1000, () => this.consumeOrderly(pq));
      });
    });
  }

  /** ProcessQueue.isLocked && !isLockExpired (30 s after the last grant, well inside the broker's 60 s). */
  private lockValid(pq: ProcessQueue): boolean {
    return pq.locked && this.client.ctx.now - pq.lastLockUs <= CLIENT_LOCK_MAX_LIVE_TIME_MS * 1000;
  }

  // ---- queue locks (RebalanceImpl.lock / lockAll / unlock) ----

  /** RebalanceImpl.lock: one queue on its master; every queue granted in the answer is marked locked. */
  private lockOne(mq: MessageQueue, cb: (ok: boolean) => void): void {
    const key = queueKey(mq);
    this.lockBatch(mq.brokerName, [mq], (granted) => {
      if (granted !== null) this.markGranted(granted);
      const ok = granted?.has(key) === true;
      this.client.ctx.emit("consumer.lock", { group: this.group, mq: key, ok });
      cb(ok);
    });
  }

  /**
   * RebalanceImpl.lockAll: renews every cached queue, one request per
   * broker; a queue missing from the answer is no longer locked. Only
   * changes are traced, not the renewals.
   */
  private lockAll(): void {
    for (const [brokerName, mqs] of this.queuesByBroker()) {
      this.lockBatch(brokerName, mqs, (granted) => {
        if (granted === null) return;
        for (const key of this.markGranted(granted)) this.client.ctx.emit("consumer.lock", { group: this.group, mq: key, ok: true });
        for (const mq of mqs) {
          const pq = this.pqs.get(queueKey(mq));
          if (pq === undefined || granted.has(pq.key) || !pq.locked) continue;
          pq.locked = false;
          this.client.ctx.emit("consumer.lock", { group: this.group, mq: pq.key, ok: false });
        }
      });
    }
  }

  /** RebalanceImpl.unlockAll (at shutdown): one request per broker. */
  private unlockAll(): void {
    for (const [brokerName, mqs] of this.queuesByBroker()) {
      for (const mq of mqs) this.pqs.get(queueKey(mq))!.locked = false;
      this.unlockBatch(brokerName, mqs);
    }
  }

  /** RebalanceImpl.unlock(mq, oneway = true). */
  private unlockOne(mq: MessageQueue): void {
    this.unlockBatch(mq.brokerName, [mq]);
  }

  /** RebalanceImpl.buildProcessQueueTableByBrokerName. */
  private queuesByBroker(): Map<string, MessageQueue[]> {
    const byBroker = new Map<string, MessageQueue[]>();
    for (const pq of this.pqs.values()) {
      if (pq.dropped) continue;
      const list = byBroker.get(pq.mq.brokerName);
      if (list === undefined) byBroker.set(pq.mq.brokerName, [pq.mq]);
      else list.push(pq.mq);
    }
    return byBroker;
  }

  /** Marks the cached queues among `granted` locked as of now; returns those that were not locked before. */
  private markGranted(granted: ReadonlySet<string>): string[] {
    const newly: string[] = [];
    const now = this.client.ctx.now;
    for (const key of granted) {
      const pq = this.pqs.get(key);
      if (pq === undefined) continue;
      if (!pq.locked) newly.push(key);
      pq.locked = true;
      pq.lastLockUs = now;
    }
    return newly;
  }

  /** LOCK_BATCH_MQ to the group's master; `cb` gets the granted keys, or null when there was no answer. */
  private lockBatch(brokerName: string, mqs: readonly MessageQueue[], cb: (granted: Set<string> | null) => void): void {
    const addr = this.client.subscribeAddress(brokerName, 0, true)?.addr;
    if (addr === undefined) {
      cb(null);
      return;
    }
    const body: LockBatchBody = { consumerGroup: this.group, clientId: this.client.clientId, mqSet: mqs.map(wireQueue) };
    this.client.remoting.invoke(addr, RequestCode.LOCK_BATCH_MQ, body, LOCK_BATCH_TIMEOUT_MS, (resp, err) => {
      if (err !== null || resp!.code !== ResponseCode.SUCCESS) cb(null);
      else cb(new Set((resp!.body as LockBatchResponseBody).lockOKMQSet.map(queueKey)));
    });
  }

  /** UNLOCK_BATCH_MQ to the group's master, oneway. */
  private unlockBatch(brokerName: string, mqs: readonly MessageQueue[]): void {
    const addr = this.client.subscribeAddress(brokerName, 0, true)?.addr;
    if (addr === undefined) return;
    const body: LockBatchBody = { consumerGroup: this.group, clientId: this.client.clientId, mqSet: mqs.map(wireQueue) };
    this.client.remoting.invokeOneway(addr, RequestCode.UNLOCK_BATCH_MQ, body);
    this.client.ctx.emit("consumer.unlock", { group: this.group, mqs: mqs.map(queueKey) });
  }

  // ---- send-back (DefaultMQPushConsumerImpl.sendMessageBack) ----

  /**
   * CONSUMER_SEND_MSG_BACK to the master of the queue's broker. `cb(true)`
   * only for SUCCESS; an error, a timeout or any other code is a failure
   * (the real client would then try its internal producer, which is not
   * modelled).
   */
  private sendMessageBack(pq: ProcessQueue, m: PulledMessage, delayLevel: number, maxReconsumeTimes: number, cb: (ok: boolean) => void): void {
    const ctx = this.client.ctx;
    const body: ConsumerSendMsgBackBody = {
      group: this.group,
      offset: m.physicalOffset,
      delayLevel,
      // MessageClientExt.getMsgId: the producer's unique id when present, else the offset id.
      originMsgId: m.properties.UNIQ_KEY ?? m.msgId,
      originTopic: originalTopic(pq, m),
      maxReconsumeTimes,
    };
    const done = (ok: boolean, why: string): void => {
      ctx.emit("consumer.sendBack", { group: this.group, mq: pq.key, offset: m.queueOffset, reconsumeTimes: m.reconsumeTimes, delayLevel, ok, ...(ok ? {} : { error: why }) });
      cb(ok);
    };
    const addr = this.client.masterAddress(pq.mq.brokerName);
    if (addr === undefined) {
      ctx.after(0, () => done(false, `The broker[${pq.mq.brokerName}] not exist`));
      return;
    }
    this.client.remoting.invoke(addr, RequestCode.CONSUMER_SEND_MSG_BACK, body, SEND_BACK_TIMEOUT_MS, (resp, err) => {
      if (err !== null) done(false, err);
      else done(resp!.code === ResponseCode.SUCCESS, responseCodeName(resp!.code));
    });
  }

  // ---- offsets (RemoteBrokerOffsetStore) ----

  /** What the listener sees: messages of the retry topic carry their original topic again. */
  private forListener(pq: ProcessQueue, msgs: PulledMessage[]): PulledMessage[] {
    return pq.retry ? msgs.map((m) => ({ ...m, topic: originalTopic(pq, m) })) : msgs;
  }

  /** ProcessQueue.removeMessage's result: the smallest offset in flight, or everything pulled. */
  private commit(pq: ProcessQueue): void {
    this.setOffset(pq, commitOffset(pq));
  }

  private setOffset(pq: ProcessQueue, offset: number): void {
    const entry = this.offsets.get(pq.key);
    if (entry !== undefined) entry.offset = offset;
    else this.offsets.set(pq.key, { mq: pq.mq, offset });
  }

  private persistOne(mq: MessageQueue): void {
    const key = queueKey(mq);
    const entry = this.offsets.get(key);
    const addr = this.client.masterAddress(mq.brokerName);
    if (entry === undefined || addr === undefined) return;
    this.client.remoting.invokeOneway(addr, RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: this.group, topic: mq.topic, queueId: mq.queueId, commitOffset: entry.offset });
  }

  /** RemoteBrokerOffsetStore.persistAll: push every assigned queue's offset to its master. */
  private persistAll(): void {
    for (const pq of this.pqs.values()) if (!pq.dropped) this.persistOne(pq.mq);
  }
}

function firstKey(pq: ProcessQueue): number | undefined {
  // Usually empty (every commit asks): skip making an iterator then.
  if (pq.msgTree.size === 0) return undefined;
  for (const k of pq.msgTree.keys()) return k;
  return undefined;
}

function commitOffset(pq: ProcessQueue): number {
  return firstKey(pq) ?? pq.pulledEnd;
}

/** resetRetryAndNamespace: a message of the group's retry topic belongs to the topic named in RETRY_TOPIC. */
function originalTopic(pq: ProcessQueue, m: PulledMessage): string {
  return pq.retry ? (m.properties[PROPERTY_RETRY_TOPIC] ?? m.topic) : m.topic;
}

function wireQueue(mq: MessageQueue): WireMessageQueue {
  return { topic: mq.topic, brokerName: mq.brokerName, queueId: mq.queueId };
}

/** AllocateMessageQueueAveragely: a contiguous block per client, the first `mod` clients one larger. */
export function allocateAveragely(mqAll: readonly MessageQueue[], cidAll: readonly string[], currentCid: string): MessageQueue[] {
  const index = cidAll.indexOf(currentCid);
  if (index < 0 || mqAll.length === 0) return [];
  const sorted = [...mqAll].sort(compareQueues);
  const mod = sorted.length % cidAll.length;
  const averageSize = sorted.length <= cidAll.length ? 1 : mod > 0 && index < mod ? Math.floor(sorted.length / cidAll.length) + 1 : Math.floor(sorted.length / cidAll.length);
  const startIndex = mod > 0 && index < mod ? index * averageSize : index * averageSize + mod;
  const range = Math.min(averageSize, sorted.length - startIndex);
  const out: MessageQueue[] = [];
  for (let i = 0; i < range; i++) out.push(sorted[(startIndex + i) % sorted.length]!);
  return out;
}
