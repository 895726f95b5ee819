import type { ConsumerConfig } from "./config.js";
import { compareQueues, queueKey, type ClientInstance, type MessageQueue } from "./client.js";
import { RequestCode, ResponseCode, type PullMessageRequestBody, type PullMessageResponseBody, type PulledMessage } from "./protocol.js";

/** What the application's listener sees for one consumed batch. */
export interface ConsumedBatch {
  mq: MessageQueue;
  messages: PulledMessage[];
  /** Keys whose queue this consumer was newly assigned since its previous batch from that queue. */
  assigned: boolean;
}

export interface ConsumerListener {
  /** Called for each pulled batch; consumption succeeds at once (CONSUME_SUCCESS). */
  consume(batch: ConsumedBatch): void;
}

interface ProcessQueue {
  mq: MessageQueue;
  key: string;
  /** Next offset to pull. */
  nextOffset: number;
  /** Highest offset consumed + 1. */
  consumedOffset: number;
  dropped: boolean;
  /** True until the first batch from this assignment is handed to the listener. */
  fresh: boolean;
  /** A pull request is in flight or scheduled. */
  pulling: boolean;
  /** Which broker id the broker suggested we pull from. */
  suggestBrokerId: number;
}

/**
 * DefaultMQPushConsumer in clustering mode: average rebalance over sorted
 * queues and sorted client ids (every 20 s and when the broker says the
 * group changed), a pull loop per assigned queue with broker-side long
 * polling, and a remote offset store that commits what was consumed and
 * pushes it to the broker every 5 s.
 */
export class PushConsumer {
  private readonly pqs = new Map<string, ProcessQueue>();
  /** RemoteBrokerOffsetStore.offsetTable: queue key → offset to commit. */
  private readonly offsets = new Map<string, { mq: MessageQueue; offset: number }>();
  private readonly topics: string[] = [];
  private rebalancing = false;
  private started = false;

  constructor(
    private readonly client: ClientInstance,
    private readonly cfg: ConsumerConfig,
    readonly group: string,
    private readonly subscription: string[] | "*",
    private readonly listener: ConsumerListener,
  ) {
    client.remoting.registerProcessor(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, (req) => {
      if ((req.body as { group: string }).group === this.group) this.rebalanceSoon();
      return null;
    });
    client.onRouteChanged((topic) => {
      if (this.topics.includes(topic)) this.rebalanceSoon();
    });
  }

  subscribe(topic: string): void {
    if (!this.topics.includes(topic)) this.topics.push(topic);
    this.client.consumerGroups.set(this.group, [...this.topics]);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const ctx = this.client.ctx;
    for (const t of this.topics) {
      this.client.updateRoute(t, () => {
        this.client.sendHeartbeatToAllBrokers();
        this.rebalanceSoon();
      });
    }
    const rebalanceLoop = (): void => {
      this.rebalance();
      ctx.after(this.cfg.rebalanceWaitInterval * 1000, rebalanceLoop);
    };
    ctx.after(this.cfg.rebalanceWaitInterval * 1000, rebalanceLoop);
    const persistLoop = (): void => {
      this.persistAll();
      ctx.after(this.client.cfg.persistConsumerOffsetInterval * 1000, persistLoop);
    };
    ctx.after(this.client.cfg.persistConsumerOffsetInterval * 1000, persistLoop);
  }

  /** Queue key → highest offset consumed + 1, for the runner's drain check. */
  consumedOffsets(): Map<string, number> {
    const out = new Map<string, number>();
    for (const pq of this.pqs.values()) if (!pq.dropped) out.set(pq.key, pq.consumedOffset);
    return out;
  }

  private rebalanceSoon(): void {
    this.client.ctx.after(1_000, () => this.rebalance());
  }

  /** RebalanceImpl.rebalanceByTopic with AllocateMessageQueueAveragely. */
  private rebalance(): void {
    if (this.rebalancing) return;
    for (const topic of this.topics) {
      const mqAll = this.client.subscribeQueues(topic);
      const addr = this.client.anyBrokerForTopic(topic);
      if (mqAll.length === 0 || addr === undefined) {
        this.client.updateRoute(topic);
        continue;
      }
      this.rebalancing = true;
      this.client.remoting.invoke(addr, RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: this.group }, this.client.cfg.mqClientApiTimeout, (resp, err) => {
        this.rebalancing = false;
        if (err !== null || resp!.code !== ResponseCode.SUCCESS) return;
        const cidAll = [...(resp!.body as { consumerIdList: string[] }).consumerIdList].sort();
        const mine = allocateAveragely(mqAll, cidAll, this.client.clientId);
        this.updateProcessQueues(topic, mine);
      });
    }
  }

  private updateProcessQueues(topic: string, assigned: MessageQueue[]): void {
    const keys = new Set(assigned.map(queueKey));
    for (const [key, pq] of [...this.pqs]) {
      if (pq.mq.topic !== topic || keys.has(key)) continue;
      // Removed from this consumer: commit what was consumed, then stop pulling it.
      pq.dropped = true;
      this.persistOne(pq.mq);
      this.pqs.delete(key);
      this.client.ctx.emit("consumer.revoke", { group: this.group, mq: key });
    }
    for (const mq of assigned) {
      const key = queueKey(mq);
      if (this.pqs.has(key)) continue;
      this.computePullFromWhere(mq, (offset) => {
        if (offset < 0 || this.pqs.has(key)) return;
        const fresh = !this.carryNotFresh.delete(key);
        const pq: ProcessQueue = { mq, key, nextOffset: offset, consumedOffset: offset, dropped: false, fresh, pulling: false, suggestBrokerId: 0 };
        this.pqs.set(key, pq);
        this.offsets.set(key, { mq, offset });
        this.client.ctx.emit("consumer.assign", { group: this.group, mq: key, offset });
        this.pull(pq);
      });
    }
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
      if (this.cfg.consumeFromWhere === "CONSUME_FROM_FIRST_OFFSET") return cb(0);
      // LAST_OFFSET (and TIMESTAMP, which the workload never needs): start at the queue's end.
      this.client.remoting.invoke(addr, RequestCode.GET_MAX_OFFSET, { topic: mq.topic, queueId: mq.queueId }, timeout, (r2, e2) => {
        if (e2 !== null || r2!.code !== ResponseCode.SUCCESS) return cb(-1);
        cb((r2!.body as { offset: number }).offset);
      });
    });
  }

  private pull(pq: ProcessQueue): void {
    if (pq.dropped || pq.pulling || !this.client.ctx.alive) return;
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
      subscription: this.subscription,
      ...(commit !== undefined && target.brokerId === 0 ? { commitOffset: commit } : {}),
    };
    this.client.remoting.invoke(target.addr, RequestCode.PULL_MESSAGE, body, this.cfg.consumerTimeoutMillisWhenSuspend, (resp, err) => {
      pq.pulling = false;
      if (pq.dropped) return;
      if (err !== null) {
        this.pullLater(pq, this.cfg.pullTimeDelayMillsWhenException);
        return;
      }
      const r = resp!.body as PullMessageResponseBody | null;
      switch (resp!.code) {
        case ResponseCode.SUCCESS: {
          pq.nextOffset = r!.nextBeginOffset;
          pq.suggestBrokerId = r!.suggestWhichBrokerId;
          // PullAPIWrapper.processPullResult: the client re-checks tag strings, removing hash collisions.
          const msgs = this.subscription === "*" ? r!.messages : r!.messages.filter((m) => (this.subscription as string[]).includes(m.properties.TAGS ?? ""));
          if (r!.messages.length > 0) {
            const last = r!.messages[r!.messages.length - 1]!.queueOffset + 1;
            if (msgs.length > 0) {
              this.listener.consume({ mq: pq.mq, messages: msgs, assigned: pq.fresh });
              pq.fresh = false;
            }
            pq.consumedOffset = Math.max(pq.consumedOffset, last);
            // Consumption finished at once, so nothing is in flight: commit up to the batch's end.
            this.offsets.set(pq.key, { mq: pq.mq, offset: pq.consumedOffset });
          }
          this.pullLater(pq, this.cfg.pullInterval);
          return;
        }
        case ResponseCode.PULL_NOT_FOUND:
        case ResponseCode.PULL_RETRY_IMMEDIATELY:
          if (r !== null) {
            pq.nextOffset = r.nextBeginOffset;
            // correctTagsOffset: with nothing in flight, the committed offset follows the pull offset.
            pq.consumedOffset = Math.max(pq.consumedOffset, r.nextBeginOffset);
            this.offsets.set(pq.key, { mq: pq.mq, offset: pq.nextOffset });
          }
          this.pullLater(pq, this.cfg.pullInterval);
          return;
        case ResponseCode.PULL_OFFSET_MOVED: {
          // OFFSET_ILLEGAL: drop the queue, commit the broker's suggested offset, and let the next
          // rebalance take it up again from there (DefaultMQPushConsumerImpl, after 10 s).
          const next = r?.nextBeginOffset ?? pq.nextOffset;
          this.client.ctx.emit("consumer.offset-moved", { group: this.group, mq: pq.key, from: pq.nextOffset, to: next });
          pq.dropped = true;
          this.client.ctx.after(10_000_000, () => {
            this.offsets.set(pq.key, { mq: pq.mq, offset: next });
            this.persistOne(pq.mq);
            if (this.pqs.get(pq.key) === pq) this.pqs.delete(pq.key);
            this.carryNotFresh.add(pq.key);
            this.rebalanceSoon();
          });
          return;
        }
        default:
          this.pullLater(pq, this.cfg.pullTimeDelayMillsWhenException);
      }
    });
  }

  /** Queues re-added after an offset move are not a new assignment: their jump must stay visible. */
  private readonly carryNotFresh = new Set<string>();

  private pullLater(pq: ProcessQueue, delayMs: number): void {
    if (delayMs <= 0) {
      this.client.ctx.after(0, () => this.pull(pq));
      return;
    }
    this.client.ctx.after(delayMs * 1000, () => this.pull(pq));
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
