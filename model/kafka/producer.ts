import type { Timer } from "../../sim/kernel.js";
import type { NodeContext } from "../../sim/node.js";
import { US_PER_MS } from "../../sim/time.js";
import { backoffUs, type ClientMetadata } from "./client-metadata.js";
import type { ClientConfig, ProducerConfig } from "./config.js";
import { brokerNode, type InitProducerIdResponse, type KafkaError, type ProduceBatch, type ProduceResponse } from "./protocol.js";
import { encodeBatch, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE } from "./records.js";
import type { Rpc, RpcError } from "./rpc.js";

/**
 * How one record's send ended, in Jepsen's terms (anomalies.md §1): `ok`
 * with its offset (unknown with acks=0); `fail` for the errors Jepsen's
 * Kafka client treats as definite; `info` for everything else — timeouts,
 * network errors, NotLeaderOrFollower (KAFKA-13574) — which may or may not
 * have been written.
 */
export type SendOutcome = { type: "ok"; offset: number | undefined } | { type: "fail" | "info"; error: string };

export type SendCallback = (outcome: SendOutcome) => void;

/** Errors Jepsen's client maps to a definite failure (redpanda workload/queue.clj). */
const DEFINITE_ERRORS = new Set<string>(["UNKNOWN_TOPIC_OR_PARTITION", "OUT_OF_ORDER_SEQUENCE_NUMBER", "INVALID_PRODUCER_EPOCH"]);

/** Broker errors the client retries (RetriableException subclasses), with whether the batch may have been written. */
const RETRIABLE: Partial<Record<KafkaError, { maybeWritten: boolean; refreshMetadata: boolean }>> = {
  NOT_LEADER_OR_FOLLOWER: { maybeWritten: true, refreshMetadata: true },
  FENCED_LEADER_EPOCH: { maybeWritten: false, refreshMetadata: true },
  UNKNOWN_LEADER_EPOCH: { maybeWritten: false, refreshMetadata: true },
  UNKNOWN_TOPIC_OR_PARTITION: { maybeWritten: false, refreshMetadata: true },
  LEADER_NOT_AVAILABLE: { maybeWritten: false, refreshMetadata: true },
  NOT_ENOUGH_REPLICAS: { maybeWritten: false, refreshMetadata: false },
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: { maybeWritten: true, refreshMetadata: false },
  REQUEST_TIMED_OUT: { maybeWritten: true, refreshMetadata: false },
  CORRUPT_MESSAGE: { maybeWritten: false, refreshMetadata: false },
};

interface ProducerBatch {
  tp: string;
  /** The records' values and completion callbacks, index for index. */
  values: string[];
  callbacks: SendCallback[];
  sizeBytes: number;
  createdUs: number;
  /** Attempts sent so far. */
  attempts: number;
  /** Assigned when first drained (idempotent producers); kept across retries. */
  baseSequence: number;
  producerId: number;
  producerEpoch: number;
  /** The encoded batch, built once when first drained and resent as is. */
  encoded: ProduceBatch | null;
  retryAtUs: number;
  /** Some attempt may have been written (a timeout, a lost connection, an error after append). */
  maybeWritten: boolean;
  lastError: string;
  inFlight: boolean;
  done: boolean;
}

interface PartitionQueue {
  /** Batches waiting to be sent, in sequence order. */
  queue: ProducerBatch[];
  inFlight: ProducerBatch[];
  nextSequence: number;
  lastAckedSequence: number;
}

/** Per-record overhead in a batch, for batch.size accounting (DefaultRecord's fixed part, roughly). */
const RECORD_OVERHEAD_BYTES = 10;
const BATCH_OVERHEAD_BYTES = 61;

/**
 * KafkaProducer with its RecordAccumulator and Sender: records append to an
 * open batch per partition (batch.size, linger.ms); the sender drains at
 * most one batch per partition into one request per leader, with at most
 * max.in.flight.requests.per.connection requests in flight per broker.
 * Retriable errors retry (retries, exponential backoff) until
 * delivery.timeout.ms; leadership errors refresh the metadata.
 *
 * With idempotence the producer first gets a producer id, numbers each
 * partition's batches, resends a failed batch with its original sequence,
 * and sends a retried batch only once nothing before it is in flight, as
 * RecordAccumulator.shouldStopDrainBatchesForPartition does. A definite
 * sequence error, or a batch given up after its sequence was assigned,
 * resets the producer id before anything else is sent (the pre-KIP-360
 * recovery), after which deduplication starts afresh.
 *
 * Simplified: in-flight batches are not expired while their request is
 * outstanding (request.timeout.ms, 30 s, ends that first); expiry is
 * checked when a batch is queued again.
 */
export class KafkaProducer {
  private readonly partitions = new Map<string, PartitionQueue>();
  private readonly inFlightPerNode = new Map<number, number>();
  private producerId = NO_PRODUCER_ID;
  private producerEpoch = NO_PRODUCER_EPOCH;
  private pidRequested = false;
  private pidFailures = 0;
  /** Set when sequences are in doubt: stop sending, wait for in-flight requests, then get a new producer id. */
  private resetPending = false;
  private wake: Timer | null = null;
  private running = false;
  private rerun = false;
  /** Records not yet completed, for the drain check. */
  pendingRecords = 0;
  /** Batches waiting in the accumulator (not in flight): when none wait, a sender pass has nothing to do. */
  private queuedBatches = 0;

  constructor(
    private readonly ctx: NodeContext,
    private readonly rpc: Rpc,
    private readonly metadata: ClientMetadata,
    private readonly cfg: ProducerConfig,
    private readonly client: ClientConfig,
  ) {
    metadata.onUpdate(() => this.run());
    if (cfg.idempotence) this.initProducerId();
  }

  /** Appends a record to its partition's open batch and lets the sender run. */
  send(tp: string, value: string, cb: SendCallback): void {
    let pq = this.partitions.get(tp);
    if (pq === undefined) {
      pq = { queue: [], inFlight: [], nextSequence: 0, lastAckedSequence: -1 };
      this.partitions.set(tp, pq);
    }
    const size = value.length + RECORD_OVERHEAD_BYTES;
    const last = pq.queue[pq.queue.length - 1];
    this.pendingRecords++;
    if (last !== undefined && last.encoded === null && last.sizeBytes + size <= this.cfg["batch.size"]) {
      last.values.push(value);
      last.callbacks.push(cb);
      last.sizeBytes += size;
    } else {
      this.queuedBatches++;
      pq.queue.push({
        tp,
        values: [value],
        callbacks: [cb],
        sizeBytes: BATCH_OVERHEAD_BYTES + size,
        createdUs: this.ctx.now,
        attempts: 0,
        baseSequence: NO_SEQUENCE,
        producerId: NO_PRODUCER_ID,
        producerEpoch: NO_PRODUCER_EPOCH,
        encoded: null,
        retryAtUs: 0,
        maybeWritten: false,
        lastError: "",
        inFlight: false,
        done: false,
      });
    }
    if (this.metadata.leaderOf(tp) === undefined) this.metadata.requestUpdate();
    this.run();
  }

  // ---- producer id ----------------------------------------------------------------

  private initProducerId(): void {
    if (this.pidRequested || this.producerId !== NO_PRODUCER_ID) return;
    this.pidRequested = true;
    const target = this.metadata.anyBroker();
    this.rpc.call(brokerNode(target), "InitProducerId", {}, this.client["request.timeout.ms"] * US_PER_MS, (body, err) => {
      this.pidRequested = false;
      const r = body as InitProducerIdResponse | null;
      if (err !== null || r === null || r.error !== "NONE") {
        this.pidFailures++;
        this.ctx.after(backoffUs(this.client, this.pidFailures, this.ctx.rng.next()), () => this.initProducerId());
        return;
      }
      this.pidFailures = 0;
      this.producerId = r.producerId;
      this.producerEpoch = r.producerEpoch;
      this.resetPending = false;
      this.ctx.emit("kafka.producer.pid", { producerId: r.producerId });
      // Sequences restart at 0 under the new id; batches not yet acknowledged get new ones when drained.
      for (const pq of this.partitions.values()) {
        pq.nextSequence = 0;
        pq.lastAckedSequence = -1;
        for (const b of pq.queue) {
          b.baseSequence = NO_SEQUENCE;
          b.encoded = null;
        }
      }
      this.run();
    });
  }

  private resetProducerId(): void {
    if (!this.cfg.idempotence || this.resetPending) return;
    this.resetPending = true;
    this.producerId = NO_PRODUCER_ID;
    this.ctx.emit("kafka.producer.reset");
    this.run();
  }

  private totalInFlight(): number {
    let n = 0;
    for (const v of this.inFlightPerNode.values()) n += v;
    return n;
  }

  // ---- sender ---------------------------------------------------------------------

  /** One pass of Sender.sendProducerData; re-entrant calls are folded into one more pass. */
  run(): void {
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = true;
    do {
      this.rerun = false;
      this.sendOnce();
    } while (this.rerun);
    this.running = false;
  }

  private sendOnce(): void {
    if (this.queuedBatches === 0 && !(this.cfg.idempotence && this.producerId === NO_PRODUCER_ID)) return;
    const now = this.ctx.now;
    let nextWakeUs = Number.POSITIVE_INFINITY;
    this.expireBatches(now);
    if (this.cfg.idempotence && this.producerId === NO_PRODUCER_ID) {
      if (!this.resetPending || this.totalInFlight() === 0) this.initProducerId();
      return;
    }
    const lingerUs = this.cfg["linger.ms"] * US_PER_MS;
    const deliveryUs = this.cfg["delivery.timeout.ms"] * US_PER_MS;
    let requests: Map<number, ProducerBatch[]> | null = null;
    for (const pq of this.partitions.values()) {
      const batch = pq.queue[0];
      if (batch === undefined) continue;
      const info = this.metadata.leaderOf(batch.tp);
      if (info === undefined || info.leader < 0) {
        nextWakeUs = Math.min(nextWakeUs, batch.createdUs + deliveryUs);
        this.metadata.requestUpdate();
        continue;
      }
      if (batch.retryAtUs > now) {
        nextWakeUs = Math.min(nextWakeUs, batch.retryAtUs);
        continue;
      }
      const full = batch.sizeBytes >= this.cfg["batch.size"] || pq.queue.length > 1;
      if (batch.attempts === 0 && !full && now < batch.createdUs + lingerUs) {
        nextWakeUs = Math.min(nextWakeUs, batch.createdUs + lingerUs);
        continue;
      }
      // Whatever stays queued must still expire on time (the delivery timeout).
      nextWakeUs = Math.min(nextWakeUs, batch.createdUs + deliveryUs);
      if (this.cfg.idempotence) {
        // A retried batch goes only when it is the first of its partition in flight, so that
        // sequences reach the leader in order (shouldStopDrainBatchesForPartition).
        if (batch.baseSequence !== NO_SEQUENCE && pq.inFlight.some((b) => b.baseSequence < batch.baseSequence)) continue;
      }
      const node = info.leader;
      let list = requests?.get(node);
      if (list === undefined) {
        // A new request to this broker needs a free slot of max.in.flight.requests.per.connection.
        if ((this.inFlightPerNode.get(node) ?? 0) >= this.cfg["max.in.flight.requests.per.connection"]) continue;
        requests ??= new Map();
        requests.set(node, (list = []));
      }
      list.push(batch);
    }
    if (requests !== null) for (const [node, batches] of requests) this.sendRequest(node, batches);
    this.scheduleWake(nextWakeUs);
  }

  private sendRequest(node: number, batches: ProducerBatch[]): void {
    const now = this.ctx.now;
    const partitions: Array<{ tp: string; batch: ProduceBatch }> = [];
    for (const b of batches) {
      const pq = this.partitions.get(b.tp)!;
      pq.queue.shift();
      this.queuedBatches--;
      if (b.encoded === null) {
        if (this.cfg.idempotence) {
          b.baseSequence = pq.nextSequence;
          pq.nextSequence += b.values.length;
          b.producerId = this.producerId;
          b.producerEpoch = this.producerEpoch;
        }
        const fields = {
          producerId: b.producerId,
          producerEpoch: b.producerEpoch,
          baseSequence: b.baseSequence,
          timestampMs: Math.floor(now / US_PER_MS),
          values: b.values,
        };
        b.encoded = { bytes: encodeBatch(fields), fields };
      }
      b.attempts++;
      b.inFlight = true;
      b.retryAtUs = 0;
      insertBySequence(pq.inFlight, b);
      partitions.push({ tp: b.tp, batch: b.encoded });
    }
    const acks = this.cfg.acks;
    const timeoutMs = this.client["request.timeout.ms"];
    const peer = brokerNode(node);
    if (acks === 0) {
      // acks=0: the request is written to the socket and each record completes at once, offset unknown.
      this.rpc.send(peer, "Produce", { acks, timeoutMs, partitions });
      for (const b of batches) this.complete(b, { type: "ok", offset: undefined });
      return;
    }
    this.inFlightPerNode.set(node, (this.inFlightPerNode.get(node) ?? 0) + 1);
    this.rpc.call(peer, "Produce", { acks, timeoutMs, partitions }, timeoutMs * US_PER_MS, (body, err) => {
      this.inFlightPerNode.set(node, (this.inFlightPerNode.get(node) ?? 1) - 1);
      if (err !== null) {
        for (const b of batches) this.onTransportError(b, err);
      } else {
        const resp = body as ProduceResponse;
        for (const b of batches) {
          const r = resp.partitions.find((x) => x.tp === b.tp);
          if (r === undefined) this.onBrokerError(b, "NETWORK_EXCEPTION");
          else if (r.error === "NONE") this.onSuccess(b, r.baseOffset);
          else this.onBrokerError(b, r.error);
        }
      }
      this.run();
    });
  }

  private onSuccess(b: ProducerBatch, baseOffset: number): void {
    const pq = this.partitions.get(b.tp)!;
    if (b.baseSequence !== NO_SEQUENCE && b.producerId === this.producerId) {
      pq.lastAckedSequence = Math.max(pq.lastAckedSequence, b.baseSequence + b.values.length - 1);
    }
    this.removeInFlight(b);
    b.done = true;
    for (let i = 0; i < b.callbacks.length; i++) {
      this.pendingRecords--;
      b.callbacks[i]!({ type: "ok", offset: baseOffset + i });
    }
  }

  private onTransportError(b: ProducerBatch, err: RpcError): void {
    // A request that never reached the broker wrote nothing; a timeout or broken connection may have.
    if (err !== "connect-failed") b.maybeWritten = true;
    this.metadata.requestUpdate();
    this.retryOrFail(b, err === "timeout" ? "REQUEST_TIMEOUT" : err === "connect-failed" ? "NETWORK_EXCEPTION_NOT_SENT" : "NETWORK_EXCEPTION", err === "connect-failed");
  }

  private onBrokerError(b: ProducerBatch, error: KafkaError | "NETWORK_EXCEPTION"): void {
    if (error === "OUT_OF_ORDER_SEQUENCE_NUMBER" && this.cfg.idempotence) {
      const pq = this.partitions.get(b.tp)!;
      if (b.producerId === this.producerId && b.baseSequence !== pq.lastAckedSequence + 1) {
        // An earlier batch of this partition failed, so this one arrived out of order: retry it
        // after that one (TransactionManager.canRetry).
        this.retryOrFail(b, error, false);
        return;
      }
      this.fail(b, error);
      this.resetProducerId();
      return;
    }
    if (error === "NETWORK_EXCEPTION") {
      b.maybeWritten = true;
      this.retryOrFail(b, error, false);
      return;
    }
    const spec = RETRIABLE[error];
    if (spec === undefined) {
      this.fail(b, error);
      if (error === "INVALID_PRODUCER_EPOCH") this.resetProducerId();
      return;
    }
    if (spec.maybeWritten) b.maybeWritten = true;
    if (spec.refreshMetadata) this.metadata.requestUpdate();
    this.retryOrFail(b, error, false);
  }

  /** Requeues a failed attempt in sequence order, or gives up (retries exhausted, delivery timeout). */
  private retryOrFail(b: ProducerBatch, error: string, notSent: boolean): void {
    const now = this.ctx.now;
    b.lastError = error;
    this.removeInFlight(b);
    // An attempt that never left the client is not a retry (NetworkClient never sent it).
    if (notSent) b.attempts--;
    if (b.attempts > this.cfg.retries) {
      this.fail(b, error);
      return;
    }
    if (now >= b.createdUs + this.cfg["delivery.timeout.ms"] * US_PER_MS) {
      this.fail(b, "TIMEOUT");
      return;
    }
    b.retryAtUs = now + backoffUs(this.client, Math.max(1, b.attempts), this.ctx.rng.next());
    const pq = this.partitions.get(b.tp)!;
    this.queuedBatches++;
    if (this.cfg.idempotence && b.baseSequence !== NO_SEQUENCE) insertBySequence(pq.queue, b);
    else pq.queue.unshift(b);
  }

  /** Delivery timeout for batches waiting in the accumulator (RecordAccumulator.expiredBatches). */
  private expireBatches(now: number): void {
    const limitUs = this.cfg["delivery.timeout.ms"] * US_PER_MS;
    for (const pq of this.partitions.values()) {
      while (pq.queue.length > 0 && now >= pq.queue[0]!.createdUs + limitUs) {
        const b = pq.queue.shift()!;
        this.queuedBatches--;
        this.fail(b, "TIMEOUT");
      }
    }
  }

  private fail(b: ProducerBatch, error: string): void {
    if (b.done) return;
    b.done = true;
    this.removeInFlight(b);
    const pq = this.partitions.get(b.tp)!;
    const i = pq.queue.indexOf(b);
    if (i >= 0) {
      pq.queue.splice(i, 1);
      this.queuedBatches--;
    }
    // A batch given up with its sequence assigned leaves a gap the broker would reject:
    // the sequences are in doubt, so the producer id is reset.
    if (this.cfg.idempotence && b.baseSequence !== NO_SEQUENCE && b.producerId === this.producerId) this.resetProducerId();
    const definite = DEFINITE_ERRORS.has(error);
    this.complete(b, definite ? { type: "fail", error } : { type: "info", error });
  }

  private complete(b: ProducerBatch, outcome: SendOutcome): void {
    b.done = true;
    this.removeInFlight(b);
    for (const cb of b.callbacks) {
      this.pendingRecords--;
      cb(outcome);
    }
  }

  private removeInFlight(b: ProducerBatch): void {
    b.inFlight = false;
    const pq = this.partitions.get(b.tp);
    if (pq === undefined) return;
    const i = pq.inFlight.indexOf(b);
    if (i >= 0) pq.inFlight.splice(i, 1);
  }

  private scheduleWake(atUs: number): void {
    if (atUs === Number.POSITIVE_INFINITY) return;
    if (this.wake !== null && this.wake.fn !== null && this.wake.time <= atUs) return;
    this.ctx.cancel(this.wake);
    this.wake = this.ctx.at(Math.max(this.ctx.now, atUs), () => {
      this.wake = null;
      this.run();
    });
  }
}

/** Inserts a batch keeping sequence order (batches without a sequence go last, in arrival order). */
function insertBySequence(list: ProducerBatch[], b: ProducerBatch): void {
  if (b.baseSequence === NO_SEQUENCE) {
    list.push(b);
    return;
  }
  let i = list.length;
  while (i > 0) {
    const prev = list[i - 1]!;
    if (prev.baseSequence !== NO_SEQUENCE && prev.baseSequence < b.baseSequence) break;
    if (prev.baseSequence === NO_SEQUENCE || prev.baseSequence > b.baseSequence) {
      i--;
      continue;
    }
    break;
  }
  list.splice(i, 0, b);
}
