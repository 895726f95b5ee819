import type { HistoryBuilder, PollRead, SendValue, TxnOutcome } from "../../invariants/index.js";
import { dlqTopic, retryTopic } from "../../invariants/index.js";
import type { NodeContext, ProcessHandlers } from "../../sim/node.js";
import type { Rng } from "../../sim/rng.js";
import type { RocketMqFeatures, Workload } from "../scenario.js";
import { asciiBytes, asciiString } from "./text.js";
import { ClientInstance, queueKey, type MessageQueue } from "./client.js";
import type { RocketMqConfig } from "./config.js";
import { PushConsumer, type ConsumedBatch, type ConsumeConcurrentlyStatus } from "./consumer.js";
import type { OutgoingMessage, SendOutcome } from "./producer.js";
import { RequestCode, ResponseCode, type PulledMessage } from "./protocol.js";
import { javaStringHashCode } from "./store/codec.js";
import { parseDelayLevels } from "./store/config.js";
import { TransactionProducer, type LocalTransactionState } from "./transaction-producer.js";

/**
 * The feature workload (scenario rocketmq-features). Producers mix plain
 * tagged and keyed sends with delayed, transactional and ordered ones;
 * every consumer process runs four consumers:
 * - the main group, concurrent, subscribed to the plain topic with "*",
 *   whose listener fails some messages (RECONSUME_LATER → retry topic →
 *   eventually the DLQ);
 * - a tag group subscribed to `tagFilter` only;
 * - an orderly group on the ordered topic, which sometimes answers
 *   SUSPEND_CURRENT_QUEUE_A_MOMENT;
 * - a reader of the main group's DLQ (an operator consuming dead letters).
 * A message's fate is decided by its producer and carried in properties
 * (`mqsim.fail`, `mqsim.suspend`, `mqsim.txn`), the application's own data:
 * every consumer, redelivery and transaction check reads the same answer.
 */

/** Properties the workload's application logic reads back. */
const PROP_FAIL = "mqsim.fail";
const PROP_SUSPEND = "mqsim.suspend";
const PROP_TXN = "mqsim.txn";
/** A message whose consumption always fails: more failures than any maxReconsumeTimes allows. */
const ALWAYS = 1_000_000;

type TxnPlan = "commit" | "rollback" | "checkCommit" | "checkRollback" | "neverResolved";

/** What the feature workload needs from the cluster that runs it. */
export interface FeatureHost {
  readonly history: HistoryBuilder;
  readonly config: RocketMqConfig;
  readonly workload: Workload;
  readonly features: RocketMqFeatures;
  readonly nameServers: readonly string[];
  /** True once the workload phase ended: producers stop. */
  workloadOver(): boolean;
  sendStarted(): void;
  sendFinished(): void;
  registerConsumer(c: PushConsumer, topics: readonly string[]): void;
  /**
   * The application's transaction table (its database, outside the
   * simulated machines): message value → what its local transaction
   * decided. A check may reach any producer of the group, so all share it.
   */
  readonly txnDecisions: Map<string, LocalTransactionState>;
}

/** The consumer groups of the feature workload, derived from the scenario's consumer group. */
export function featureGroups(w: Workload): { main: string; tag: string; order: string; dlq: string } {
  return { main: w.consumerGroup, tag: `${w.consumerGroup}_tag`, order: `${w.consumerGroup}_order`, dlq: `${w.consumerGroup}_dlq` };
}

function pickWeighted<T extends string>(rng: Rng, weights: Record<T, number>): T {
  const entries = Object.entries(weights) as Array<[T, number]>;
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let x = rng.next() * total;
  for (const [k, w] of entries) {
    if (x < w) return k;
    x -= w;
  }
  return entries[entries.length - 1]![0];
}

/** How many deliveries of a plain message fail before one succeeds. */
function drawFailures(rng: Rng, f: RocketMqFeatures): number {
  if (rng.next() < f.poison) return ALWAYS;
  if (rng.next() >= f.consumeFailure) return 0;
  let n = 1;
  while (n < 16 && rng.next() < f.refail) n++;
  return n;
}

/** A producer process of the feature workload. */
export function featureProducerProcess(host: FeatureHost, ctx: NodeContext): ProcessHandlers {
  const w = host.workload;
  const f = host.features;
  const client = new ClientInstance(ctx, host.config.client, host.nameServers, `${ctx.name}@${ctx.incarnation}`);
  const txnProducer = new TransactionProducer(client, host.config.producer, host.config.version, w.producerGroup);
  txnProducer.setCheckListener((msg) => checkAnswer(msg));
  const producer = txnProducer.producer;
  client.start();
  const rng = ctx.rng.fork("features");
  const delays = parseDelayLevels(host.config.store.messageDelayLevel);
  let seq = 0;
  let process = host.history.newProcess();
  const intervalUs = Math.max(1, Math.round(1_000_000 / w.rate));
  const endUs = Math.round(w.durationSeconds * 1_000_000);
  /** Values this producer got SEND_OK for with a KEYS entry, for the admin's lookups. */
  const keyed: string[] = [];

  /**
   * checkLocalTransaction: looks the transaction up in the application's
   * table. One that never ran (its half send failed) rolled back; one left
   * UNKNOW resolves as its plan says (or stays UNKNOW forever).
   */
  function checkAnswer(msg: PulledMessage): LocalTransactionState {
    const value = msg.properties.UNIQ_KEY ?? asciiString(msg.body);
    const decided = host.txnDecisions.get(value);
    if (decided === undefined) return "ROLLBACK_MESSAGE";
    if (decided !== "UNKNOW") return decided;
    const plan = msg.properties[PROP_TXN] as TxnPlan | undefined;
    return plan === "checkCommit" ? "COMMIT_MESSAGE" : plan === "checkRollback" ? "ROLLBACK_MESSAGE" : "UNKNOW";
  }

  const record = (proc: number, type: "ok" | "fail" | "info", value: SendValue, error?: string): void => {
    host.history.complete(proc, type, value, ctx.now, error);
    ctx.emit(`op.${type}`, { process: proc, f: "send", value: value.value, ...(value.key === undefined ? {} : { key: value.key }), ...(error === undefined ? {} : { error }) });
  };

  /** Completes a send op from a SendOutcome; returns the process to use next (a new one after `info`). */
  const finish = (proc: number, base: SendValue, o: SendOutcome, withOffset: boolean): number => {
    if (o.ok) {
      const key = queueKey(o.result.mq);
      record(proc, "ok", { ...base, key, ...(withOffset ? { offset: o.result.queueOffset } : {}) });
      return proc;
    }
    if (o.stored === "no") {
      record(proc, "fail", base, o.error);
      return proc;
    }
    record(proc, "info", base, o.error);
    return host.history.newProcess();
  };

  const sendPlain = (value: string, done: () => void): void => {
    const tag = f.tags[rng.int(0, f.tags.length - 1)]!;
    const delayed = rng.next() < f.delayed;
    const level = delayed ? rng.int(1, Math.min(f.maxDelayLevel, delays.length)) : 0;
    const failures = drawFailures(rng, f);
    const properties: Record<string, string> = { TAGS: tag, UNIQ_KEY: value, [PROP_FAIL]: String(failures) };
    // Only messages stored under their own topic at once are indexed there; a delayed one is first
    // indexed under SCHEDULE_TOPIC_XXXX, so only undelayed messages carry a key to look up.
    if (!delayed) properties.KEYS = value;
    if (delayed) properties.DELAY = String(level);
    const base: SendValue = { key: w.topic, value, tag, ...(delayed ? { delayMs: delays[level - 1]! } : { keys: [value] }) };
    const proc = process;
    host.history.invoke(proc, "send", base, ctx.now);
    ctx.emit("op.invoke", { process: proc, f: "send", value });
    host.sendStarted();
    producer.sendSync({ topic: w.topic, body: asciiBytes(value), properties }, (o) => {
      host.sendFinished();
      // A delayed message's SEND_OK offset is in SCHEDULE_TOPIC_XXXX, not in its real queue.
      process = finish(proc, base, o, !delayed);
      if (o.ok && !delayed) keyed.push(value);
      done();
    });
  };

  const sendOrdered = (value: string, done: () => void): void => {
    const orderId = rng.int(0, f.orderIds - 1);
    const suspends = rng.next() < f.orderlySuspend ? rng.int(1, 3) : 0;
    const msg: OutgoingMessage = { topic: f.orderedTopic, body: asciiBytes(value), properties: { KEYS: `order-${orderId}`, UNIQ_KEY: value, [PROP_SUSPEND]: String(suspends) } };
    const base: SendValue = { key: f.orderedTopic, value, ordered: true };
    const proc = process;
    host.history.invoke(proc, "send", base, ctx.now);
    ctx.emit("op.invoke", { process: proc, f: "send", value });
    host.sendStarted();
    // SelectMessageQueueByHash: hash(orderId) % queues, one attempt, no failover.
    const select = (queues: MessageQueue[]): MessageQueue => queues[Math.abs(javaStringHashCode(String(orderId))) % queues.length]!;
    producer.sendToQueue(msg, select, (o) => {
      host.sendFinished();
      process = finish(proc, base, o, true);
      done();
    });
  };

  const sendTransactional = (value: string, done: () => void): void => {
    const plan = pickWeighted<TxnPlan>(rng, f.txnOutcomes);
    const tag = f.tags[rng.int(0, f.tags.length - 1)]!;
    const msg: OutgoingMessage = { topic: w.topic, body: asciiBytes(value), properties: { TAGS: tag, UNIQ_KEY: value, [PROP_TXN]: plan, [PROP_FAIL]: "0" } };
    // Each transaction is its own logical client: it completes only when its outcome is known.
    const proc = host.history.newProcess();
    const base: SendValue = { key: w.topic, value, tag };
    host.history.invoke(proc, "send", base, ctx.now);
    ctx.emit("op.invoke", { process: proc, f: "send", value, txn: plan });
    host.sendStarted();
    const local = (): LocalTransactionState => {
      const state: LocalTransactionState = plan === "commit" ? "COMMIT_MESSAGE" : plan === "rollback" ? "ROLLBACK_MESSAGE" : "UNKNOW";
      host.txnDecisions.set(value, state);
      return state;
    };
    txnProducer.sendMessageInTransaction(msg, local, (o) => {
      host.sendFinished();
      if (o.kind === "error") {
        // The local transaction never ran: a half that was stored anyway is rolled back by its check.
        record(proc, o.stored === "no" ? "fail" : "info", { ...base, txn: { outcome: "rollback" } }, o.error);
      } else if (o.result.status !== "SEND_OK") {
        // Stored as a half, but the producer ends it with ROLLBACK (and so does any check).
        record(proc, "fail", { ...base, txn: { outcome: "rollback" } }, o.result.status);
      } else {
        const key = queueKey(o.result.mq);
        const outcome: TxnOutcome = o.localState === "COMMIT_MESSAGE" ? "commit" : o.localState === "ROLLBACK_MESSAGE" ? "rollback" : txnFinalOutcome(plan);
        record(proc, "ok", { ...base, key, txn: { outcome } });
      }
      done();
    });
  };

  const sendOne = (): void => {
    if (host.workloadOver() || ctx.now >= endUs) return;
    const startedUs = ctx.now;
    const value = `${ctx.name}:${++seq}`;
    const next = (): void => void ctx.at(Math.max(ctx.now, startedUs + intervalUs), sendOne);
    const x = rng.next();
    if (x < f.ordered) sendOrdered(value, next);
    else if (x < f.ordered + f.transactional) sendTransactional(value, next);
    else sendPlain(value, next);
  };
  ctx.at(Math.max(ctx.now, Math.round(w.startDelaySeconds * 1_000_000)), sendOne);

  // The admin's query by key (mqadmin queryMsgByKey): every broker of the topic's route, master first.
  let lookupProcess = host.history.newProcess();
  const lookupOne = (): void => {
    if (host.workloadOver() || ctx.now >= endUs) return;
    ctx.after(Math.round(f.lookupIntervalSeconds * 1_000_000), lookupOne);
    if (keyed.length === 0 || host.history.busy(lookupProcess)) return;
    const msgKey = keyed[rng.int(0, keyed.length - 1)]!;
    queryByKey(client, w.topic, msgKey, lookupProcess, host, ctx, () => {
      // Jepsen: after an indeterminate result the client continues as a new process.
      lookupProcess = host.history.newProcess();
    });
  };
  ctx.at(Math.max(ctx.now, Math.round(w.startDelaySeconds * 1_000_000)), lookupOne);
  return client.remoting.handlers();
}

/**
 * The outcome the history records for a transaction whose local state was
 * UNKNOW: what its check will answer. A transaction no check ever resolves
 * stays "unknown" (never required, never forbidden).
 */
function txnFinalOutcome(plan: TxnPlan): TxnOutcome {
  if (plan === "checkCommit") return "commit";
  if (plan === "checkRollback") return "rollback";
  return "unknown";
}

/** QUERY_MESSAGE to every broker group of the topic (its master, else any replica); one `lookup` op. */
function queryByKey(client: ClientInstance, topic: string, msgKey: string, proc: number, host: FeatureHost, ctx: NodeContext, onInfo: () => void): void {
  const route = client.routes.get(topic);
  const targets: string[] = [];
  for (const bd of route?.brokerDatas ?? []) {
    const ids = Object.keys(bd.brokerAddrs).map(Number).sort((a, b) => a - b);
    if (ids.length > 0) targets.push(bd.brokerAddrs[ids[0]!]!);
  }
  if (targets.length === 0) return;
  host.history.invoke(proc, "lookup", { topic, msgKey, found: [] }, ctx.now);
  const found: string[] = [];
  let left = targets.length;
  let failed = false;
  for (const addr of targets) {
    client.remoting.invoke(addr, RequestCode.QUERY_MESSAGE, { topic, key: msgKey, maxNum: 32 }, client.cfg.mqClientApiTimeout, (resp, err) => {
      if (err !== null || (resp!.code !== ResponseCode.SUCCESS && resp!.code !== ResponseCode.QUERY_NOT_FOUND)) failed = true;
      else for (const m of (resp!.body as { messages: Array<{ body: Uint8Array; properties: Record<string, string> }> }).messages) {
        // MQAdminImpl.queryMessage re-checks the keys: the index hashes them and collides.
        if ((m.properties.KEYS ?? "").split(" ").includes(msgKey)) found.push(asciiString(m.body));
      }
      if (--left > 0) return;
      // A broker that did not answer makes the lookup indeterminate: its part of the index is unknown.
      host.history.complete(proc, failed ? "info" : "ok", { topic, msgKey, found: [...new Set(found)] }, ctx.now, failed ? "query failed" : undefined);
      ctx.emit("op.lookup", { process: proc, msgKey, found: found.length, ok: !failed });
      if (failed) onInfo();
    });
  }
}

/** A consumer process of the feature workload: the four consumers on one client instance. */
export function featureConsumerProcess(host: FeatureHost, ctx: NodeContext): ProcessHandlers {
  const w = host.workload;
  const f = host.features;
  const groups = featureGroups(w);
  const client = new ClientInstance(ctx, host.config.client, host.nameServers, `${ctx.name}@${ctx.incarnation}`);
  const h = host.history;
  // One history process per consume path: a local re-consume or a retry is another consume task.
  const procs = { main: h.newProcess(), mainRetry: h.newProcess(), tag: h.newProcess(), order: h.newProcess(), dlq: h.newProcess() };

  const readsOf = (batch: ConsumedBatch, messages: readonly PulledMessage[], dlq: boolean): PollRead[] => {
    const key = queueKey(batch.mq);
    const pulledTopic = batch.mq.topic;
    const special = pulledTopic !== w.topic && pulledTopic !== f.orderedTopic;
    return messages.map((m) => ({
      key,
      offset: m.queueOffset,
      value: asciiString(m.body),
      ...(m.properties.TAGS === undefined ? {} : { tag: m.properties.TAGS }),
      ...(m.reconsumeTimes > 0 ? { reconsumeTimes: m.reconsumeTimes } : {}),
      ...(special ? { topic: pulledTopic } : {}),
      ...(dlq ? { dlq: true } : {}),
    }));
  };
  const poll = (proc: number, group: string, batch: ConsumedBatch, reads: PollRead[], subscription?: { topic: string; tags: string[] | "*" }): void => {
    if (reads.length === 0) return;
    const key = queueKey(batch.mq);
    const value = { group, reads, ...(subscription === undefined ? {} : { subscription }), ...(batch.assigned ? { rebalance: { assigned: [key], revoked: [] } } : {}) };
    h.invoke(proc, "poll", { group, reads: [] }, ctx.now);
    h.complete(proc, "ok", value, ctx.now);
    ctx.emit("op.poll", { process: proc, group, key, offsets: [reads[0]!.offset, reads[reads.length - 1]!.offset], n: reads.length });
  };

  /**
   * Which logical process records a main-group read. First deliveries from
   * the plain topic share one process, so a consumer that skips or goes
   * back there is caught. A local re-consume (the send-back failed; the
   * same message again 5 s later, one reconsumeTimes more) is another
   * consume task, so it gets a process of its own; so does a retry-topic
   * message consumed again after its own send-back failed.
   */
  const lastRetryOffset = new Map<string, number>();
  const mainProcess = (batch: ConsumedBatch, m: PulledMessage): number => {
    if (batch.mq.topic === w.topic) return m.reconsumeTimes === 0 ? procs.main : -1;
    const key = queueKey(batch.mq);
    const last = lastRetryOffset.get(key) ?? -1;
    if (m.queueOffset <= last) return -1;
    lastRetryOffset.set(key, m.queueOffset);
    return procs.mainRetry;
  };

  // The main group: fails a message while its reconsumeTimes is below the failures it carries.
  const main = new PushConsumer(client, host.config.consumer, groups.main, {
    consume: (batch): ConsumeConcurrentlyStatus[] => {
      const reads = readsOf(batch, batch.messages, false);
      const subscription = { topic: w.topic, tags: "*" as const };
      // Consecutive reads of one process form one poll; a fresh process (-1) polls alone.
      let run: { proc: number; reads: PollRead[] } | null = null;
      const flush = (): void => {
        if (run !== null) poll(run.proc === -1 ? h.newProcess() : run.proc, groups.main, batch, run.reads, subscription);
        run = null;
      };
      batch.messages.forEach((m, i) => {
        const proc = mainProcess(batch, m);
        if (run === null || run.proc !== proc || proc === -1) {
          flush();
          run = { proc, reads: [] };
        }
        run.reads.push(reads[i]!);
      });
      flush();
      return batch.messages.map((m, i) => {
        const failures = Number(m.properties[PROP_FAIL] ?? "0");
        if (m.reconsumeTimes >= failures) return "CONSUME_SUCCESS";
        h.event(h.newProcess(), "consume-fail", { group: groups.main, key: reads[i]!.key, offset: m.queueOffset, value: reads[i]!.value, reconsumeTimes: m.reconsumeTimes }, ctx.now);
        return "RECONSUME_LATER";
      });
    },
  });
  main.subscribe(w.topic, "*");

  const tag = new PushConsumer(client, host.config.consumer, groups.tag, {
    consume: (batch) => {
      poll(procs.tag, groups.tag, batch, readsOf(batch, batch.messages, false), { topic: w.topic, tags: [...f.tagFilter] });
    },
  });
  tag.subscribe(w.topic, [...f.tagFilter]);

  // The orderly group: a message suspends the queue while its reconsumeTimes is below its suspends.
  const order = new PushConsumer(
    client,
    host.config.consumer,
    groups.order,
    {
      consumeOrderly: (batch): number => {
        let n = 0;
        for (const m of batch.messages) {
          if (m.reconsumeTimes < Number(m.properties[PROP_SUSPEND] ?? "0")) break;
          n++;
        }
        poll(procs.order, groups.order, batch, readsOf(batch, batch.messages.slice(0, n), false));
        return n;
      },
    },
    { orderly: true },
  );
  order.subscribe(f.orderedTopic, "*");

  const dlq = new PushConsumer(client, { ...host.config.consumer, consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET" }, groups.dlq, {
    consume: (batch) => {
      poll(procs.dlq, groups.dlq, batch, readsOf(batch, batch.messages, true));
    },
  });
  dlq.subscribe(dlqTopic(groups.main), "*");

  client.start();
  for (const [c, topics] of [
    [main, [w.topic, retryTopic(groups.main)]],
    [tag, [w.topic, retryTopic(groups.tag)]],
    [order, [f.orderedTopic, retryTopic(groups.order)]],
    [dlq, [dlqTopic(groups.main)]],
  ] as const) {
    c.start();
    host.registerConsumer(c, topics);
  }
  return client.remoting.handlers();
}
