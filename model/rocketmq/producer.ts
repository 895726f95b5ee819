import type { ProducerConfig, RocketMqVersion } from "./config.js";
import { queueKey, type ClientInstance, type MessageQueue } from "./client.js";
import { RequestCode, ResponseCode, responseCodeName, type SendMessageRequestBody, type SendMessageResponseBody } from "./protocol.js";
import type { RemotingError } from "./remoting.js";
import { TRANSACTION_PREPARED_TYPE } from "./store/codec.js";
import { PROPERTY_TRANSACTION_PREPARED } from "./transaction.js";

export type SendStatus = "SEND_OK" | "FLUSH_DISK_TIMEOUT" | "FLUSH_SLAVE_TIMEOUT" | "SLAVE_NOT_AVAILABLE";

export interface SendResult {
  status: SendStatus;
  mq: MessageQueue;
  queueOffset: number;
  msgId: string;
}

/**
 * How a send ended. `stored: "no"` means every attempt certainly failed
 * before anything was stored; `"maybe"` that some attempt may have been
 * stored (a timeout after the request left, a SYSTEM_ERROR).
 */
export type SendOutcome = { ok: true; result: SendResult } | { ok: false; stored: "no" | "maybe"; error: string };

export interface OutgoingMessage {
  topic: string;
  body: Uint8Array;
  properties: Record<string, string>;
  /** MessageSysFlag bits the caller sets itself; TRAN_MSG=true adds TRANSACTION_PREPARED_TYPE on its own. */
  sysFlag?: number;
}

/** Broker codes a sync send retries (DefaultMQProducer.retryResponseCodes). */
const RETRY_CODES = new Set<number>([ResponseCode.TOPIC_NOT_EXIST, ResponseCode.SERVICE_NOT_AVAILABLE, ResponseCode.SYSTEM_ERROR, ResponseCode.NO_PERMISSION, 207, 208]);

/** MQFaultStrategy tables: send latency (ms) → how long the broker is then avoided (ms). */
const LATENCY_TABLES: Record<RocketMqVersion, { latency: number[]; notAvailable: number[]; failedAs: number }> = {
  "4.9.8": { latency: [50, 100, 550, 1000, 2000, 3000, 15000], notAvailable: [0, 0, 30000, 60000, 120000, 180000, 600000], failedAs: 30000 },
  "5.3.3": { latency: [50, 100, 550, 1800, 3000, 5000, 15000], notAvailable: [0, 0, 2000, 5000, 6000, 10000, 30000], failedAs: 10000 },
};

/**
 * DefaultMQProducer's send path (DefaultMQProducerImpl.sendDefaultImpl):
 * one time budget for all attempts, round-robin queue choice that avoids
 * the last broker on retry, optional latency fault avoidance, and the real
 * split between results returned to the caller (any SendStatus) and
 * exceptions (retried for transport errors and a few broker codes).
 */
export class Producer {
  private sendWhichQueue: number;
  /** brokerName → avoided until (µs), when the latency fault strategy is on. */
  private readonly faultItems = new Map<string, number>();

  constructor(
    private readonly client: ClientInstance,
    private readonly cfg: ProducerConfig,
    private readonly version: RocketMqVersion,
    readonly group: string,
  ) {
    client.producerGroups.add(group);
    // ThreadLocalIndex starts at a random value per thread.
    this.sendWhichQueue = client.ctx.rng.int(0, 1 << 20);
  }

  /** The publish queues for a topic, fetching the route first if needed (tryToFindTopicPublishInfo). */
  private withRoute(topic: string, cb: (queues: MessageQueue[]) => void): void {
    const queues = this.client.publishQueues(topic);
    if (queues.length > 0) {
      cb(queues);
      return;
    }
    this.client.updateRoute(topic, () => cb(this.client.publishQueues(topic)));
  }

  private selectQueue(queues: MessageQueue[], lastBrokerName: string | null): MessageQueue {
    const now = this.client.ctx.now;
    if (this.cfg.sendLatencyFaultEnable) {
      for (let i = 0; i < queues.length; i++) {
        const mq = queues[Math.abs(++this.sendWhichQueue) % queues.length]!;
        if ((this.faultItems.get(mq.brokerName) ?? 0) <= now) return mq;
      }
    } else if (lastBrokerName !== null) {
      for (let i = 0; i < queues.length; i++) {
        const mq = queues[Math.abs(++this.sendWhichQueue) % queues.length]!;
        if (mq.brokerName !== lastBrokerName) return mq;
      }
    }
    return queues[Math.abs(++this.sendWhichQueue) % queues.length]!;
  }

  private updateFaultItem(brokerName: string, latencyMs: number, isolation: boolean): void {
    if (!this.cfg.sendLatencyFaultEnable) return;
    const t = LATENCY_TABLES[this.version];
    const lat = isolation ? t.failedAs : latencyMs;
    let avoid = 0;
    for (let i = t.latency.length - 1; i >= 0; i--) {
      if (lat >= t.latency[i]!) {
        avoid = t.notAvailable[i]!;
        break;
      }
    }
    this.faultItems.set(brokerName, this.client.ctx.now + avoid * 1000);
  }

  /** A synchronous send: up to 1 + retryTimesWhenSendFailed attempts within sendMsgTimeout. */
  sendSync(msg: OutgoingMessage, cb: (outcome: SendOutcome) => void): void {
    this.send(msg, 1 + this.cfg.retryTimesWhenSendFailed, false, cb);
  }

  /** An async send retries only transport failures (MQClientAPIImpl.onExceptionImpl). */
  sendAsync(msg: OutgoingMessage, cb: (outcome: SendOutcome) => void): void {
    this.send(msg, 1 + this.cfg.retryTimesWhenSendAsyncFailed, true, cb);
  }

  /** A oneway send: one attempt, no answer; never an acknowledgement. */
  sendOneway(msg: OutgoingMessage, cb: (outcome: SendOutcome) => void): void {
    const ctx = this.client.ctx;
    this.withRoute(msg.topic, (queues) => {
      if (queues.length === 0) {
        cb({ ok: false, stored: "no", error: "No route info of this topic" });
        return;
      }
      const mq = this.selectQueue(queues, null);
      const addr = this.client.masterAddress(mq.brokerName);
      if (addr === undefined) {
        cb({ ok: false, stored: "no", error: `The broker[${mq.brokerName}] not exist` });
        return;
      }
      this.client.remoting.invokeOneway(addr, RequestCode.SEND_MESSAGE_V2, this.requestBody(msg, mq, 0));
      ctx.emit("producer.send", { mq: queueKey(mq), mode: "oneway" });
      cb({ ok: false, stored: "maybe", error: "oneway" });
    });
  }

  /** Sends with a queue chosen by the caller (MessageQueueSelector): one attempt, no failover. */
  sendToQueue(msg: OutgoingMessage, select: (queues: MessageQueue[]) => MessageQueue, cb: (outcome: SendOutcome) => void): void {
    const begin = this.client.ctx.now;
    this.withRoute(msg.topic, (queues) => {
      if (queues.length === 0) {
        cb({ ok: false, stored: "no", error: "No route info of this topic" });
        return;
      }
      const left = this.cfg.sendMsgTimeout - (this.client.ctx.now - begin) / 1000;
      if (left <= 0) {
        cb({ ok: false, stored: "no", error: "sendSelectImpl call timeout" });
        return;
      }
      this.attempt(msg, select(queues), left, (r) => {
        if (r.kind === "result") cb(r.result.status === "SEND_OK" ? { ok: true, result: r.result } : { ok: false, stored: "maybe", error: r.result.status });
        else cb({ ok: false, stored: r.stored, error: r.error });
      });
    });
  }

  /**
   * A synchronous send that also hands back the last SendResult a broker
   * returned, whatever its status: sendDefaultImpl returns a non-SEND_OK
   * result to its caller (it is not an exception), and
   * sendMessageInTransaction needs it to end the transaction. `last` is
   * null when every attempt ended in an exception.
   */
  sendSyncWithResult(msg: OutgoingMessage, cb: (outcome: SendOutcome, last: SendResult | null) => void): void {
    this.sendImpl(msg, 1 + this.cfg.retryTimesWhenSendFailed, false, cb);
  }

  private send(msg: OutgoingMessage, timesTotal: number, asyncMode: boolean, cb: (outcome: SendOutcome) => void): void {
    // sendImpl also passes the last result, which cb does not take.
    this.sendImpl(msg, timesTotal, asyncMode, cb);
  }

  private sendImpl(msg: OutgoingMessage, timesTotal: number, asyncMode: boolean, done: (outcome: SendOutcome, last: SendResult | null) => void): void {
    const ctx = this.client.ctx;
    /** The last result a broker returned (any status): what sendDefaultImpl returns after its loop. */
    let lastResult: SendResult | null = null;
    const cb = (outcome: SendOutcome): void => done(outcome, lastResult);
    const begin = ctx.now;
    this.withRoute(msg.topic, (queues) => {
      if (queues.length === 0) {
        cb({ ok: false, stored: "no", error: `No route info of this topic: ${msg.topic}` });
        return;
      }
      let times = 0;
      let lastBroker: string | null = null;
      let maybeStored = false;
      let lastError = "";
      const next = (): void => {
        if (times >= timesTotal) {
          cb({ ok: false, stored: maybeStored ? "maybe" : "no", error: lastError });
          return;
        }
        times++;
        const live = this.client.publishQueues(msg.topic);
        const mq = this.selectQueue(live.length > 0 ? live : queues, lastBroker);
        lastBroker = mq.brokerName;
        const costMs = (ctx.now - begin) / 1000;
        if (costMs >= this.cfg.sendMsgTimeout) {
          // RemotingTooMuchRequestException("sendDefaultImpl call timeout")
          cb({ ok: false, stored: maybeStored ? "maybe" : "no", error: "sendDefaultImpl call timeout" });
          return;
        }
        const attemptStart = ctx.now;
        this.attempt(msg, mq, this.cfg.sendMsgTimeout - costMs, (r) => {
          const latencyMs = (ctx.now - attemptStart) / 1000;
          if (r.kind === "result") {
            lastResult = r.result;
            this.updateFaultItem(mq.brokerName, latencyMs, false);
            if (r.result.status !== "SEND_OK" && this.cfg.retryAnotherBrokerWhenNotStoreOK && !asyncMode) {
              maybeStored = true;
              lastError = r.result.status;
              next();
              return;
            }
            cb(r.result.status === "SEND_OK" ? { ok: true, result: r.result } : { ok: false, stored: "maybe", error: r.result.status });
            return;
          }
          this.updateFaultItem(mq.brokerName, latencyMs, true);
          if (r.stored === "maybe") maybeStored = true;
          lastError = r.error;
          // Async sends retry transport errors only; sync sends also retry some broker codes.
          if (r.retriable && (!asyncMode || r.transport)) next();
          else cb({ ok: false, stored: maybeStored ? "maybe" : "no", error: r.error });
        });
      };
      next();
    });
  }

  private requestBody(msg: OutgoingMessage, mq: MessageQueue, reconsumeTimes: number): SendMessageRequestBody {
    return {
      producerGroup: this.group,
      topic: msg.topic,
      queueId: mq.queueId,
      defaultTopicQueueNums: this.cfg.producerDefaultTopicQueueNums,
      body: msg.body,
      properties: msg.properties,
      bornTimestampMs: Math.floor(this.client.ctx.now / 1000),
      bornHost: this.client.ctx.name,
      flag: 0,
      reconsumeTimes,
      sysFlag: this.sysFlagOf(msg),
    };
  }

  /** sendKernelImpl: a message whose TRAN_MSG property parses as true is sent as a prepared (half) message. */
  private sysFlagOf(msg: OutgoingMessage): number {
    const tranMsg = msg.properties[PROPERTY_TRANSACTION_PREPARED];
    const prepared = tranMsg !== undefined && tranMsg.toLowerCase() === "true";
    return (msg.sysFlag ?? 0) | (prepared ? TRANSACTION_PREPARED_TYPE : 0);
  }

  /** sendKernelImpl: one request to the queue's master, mapped to a result or an exception. */
  private attempt(
    msg: OutgoingMessage,
    mq: MessageQueue,
    timeoutMs: number,
    cb: (r: { kind: "result"; result: SendResult } | { kind: "error"; stored: "no" | "maybe"; error: string; retriable: boolean; transport: boolean }) => void,
  ): void {
    const ctx = this.client.ctx;
    const addr = this.client.masterAddress(mq.brokerName);
    if (addr === undefined) {
      // MQClientException("The broker[...] not exist"): nothing was sent.
      cb({ kind: "error", stored: "no", error: `The broker[${mq.brokerName}] not exist`, retriable: true, transport: false });
      return;
    }
    this.client.remoting.invoke(addr, RequestCode.SEND_MESSAGE_V2, this.requestBody(msg, mq, 0), timeoutMs, (resp, err: RemotingError | null) => {
      if (err !== null) {
        const stored = err === "connect-failed" || err === "send-failed" ? "no" : "maybe";
        cb({ kind: "error", stored, error: err, retriable: true, transport: true });
        return;
      }
      const code = resp!.code;
      const body = resp!.body as SendMessageResponseBody | null;
      const status: SendStatus | null =
        code === ResponseCode.SUCCESS
          ? "SEND_OK"
          : code === ResponseCode.FLUSH_DISK_TIMEOUT
            ? "FLUSH_DISK_TIMEOUT"
            : code === ResponseCode.FLUSH_SLAVE_TIMEOUT
              ? "FLUSH_SLAVE_TIMEOUT"
              : code === ResponseCode.SLAVE_NOT_AVAILABLE
                ? "SLAVE_NOT_AVAILABLE"
                : null;
      if (status !== null && body !== null) {
        cb({ kind: "result", result: { status, mq, queueOffset: body.queueOffset, msgId: body.msgId } });
        return;
      }
      // MQBrokerException. SYSTEM_ERROR may hide a stored message (a DLedger quorum timeout).
      const stored = code === ResponseCode.SYSTEM_ERROR ? "maybe" : "no";
      cb({ kind: "error", stored, error: responseCodeName(code), retriable: RETRY_CODES.has(code), transport: false });
    });
  }
}
