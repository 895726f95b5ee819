import type { TraceEvent } from "../../sim/kernel.js";
import type { Connection } from "../../sim/network.js";
import type { NodeContext, ProcessFactory } from "../../sim/node.js";
import { World } from "../../sim/world.js";
import { broker, type BrokerOptions } from "./broker.js";
import type { BrokerPutStatus, BrokerRuntime } from "./broker-runtime.js";
import { ClientInstance, queueKey } from "./client.js";
import type { RocketMqConfig } from "./config.js";
import { PushConsumer, type ConsumedBatch, type ConsumerListener, type PushConsumerOptions } from "./consumer.js";
import { nameServer } from "./namesrv.js";
import { PERM_READ, PERM_WRITE, RequestCode, type RemotingRequest, type SendMessageRequestBody, type TopicConfig } from "./protocol.js";
import { Remoting, response } from "./remoting.js";
import { MessageStore } from "./store/message-store.js";
import type { AppendResult, DecodedMessage, MessageInput } from "./store/types.js";

/**
 * Helpers for the RocketMQ model's tests: small worlds' nodes (a broker
 * that records what it is asked, a bare remoting client, push consumers,
 * a NameServer + master + sender world), wire bodies and store reads, and
 * a hand-made BrokerRuntime for testing one broker-side service alone.
 * Nothing here asserts (no vitest): the tests do. Each helper adds its
 * nodes at the call, so the caller keeps the order nodes are added in.
 */

// ---- nodes ----

/** The config of a slave of the same group as `cfg`'s broker (brokerRole SLAVE, all else equal). */
export function slaveConfig(cfg: RocketMqConfig): RocketMqConfig {
  return { ...cfg, store: { ...cfg.store, brokerRole: "SLAVE" as const } };
}

/**
 * Adds a client node `name` whose process is a bare Remoting (one per
 * boot), to send requests with. Returns the live boot's Remoting.
 */
export function bareClient(world: World, name: string): () => Remoting {
  let remoting: Remoting | null = null;
  world.addNode(
    name,
    (ctx) => {
      remoting = new Remoting(ctx);
      return remoting.handlers();
    },
    { kind: "client" },
  );
  return () => remoting!;
}

/** A request as a recording broker received it. */
export interface ReceivedRequest {
  timeUs: number;
  /** The sending node. */
  from: string;
  code: number;
  body: unknown;
}

/** What a recording broker does with a request before its own processors see it. */
export type Intercept = (req: RemotingRequest, from: string, nowUs: number) => "pass" | "drop" | { code: number };

export interface RecordingOptions {
  /** Where every request that is not passed through is appended, over all boots. */
  received: ReceivedRequest[];
  /** Request codes handed to the broker as they come, neither recorded nor intercepted (default: HEART_BEAT). */
  passThrough?: readonly number[];
  /** Pass (the default), drop with no answer, or answer at once with a code and no body. */
  intercept?: Intercept;
}

/** A broker process whose incoming requests are recorded, and each passed on, dropped or answered as `rec.intercept` says. */
export function recordingBroker(opts: BrokerOptions, rec: RecordingOptions): ProcessFactory {
  const passThrough = rec.passThrough ?? [RequestCode.HEART_BEAT];
  return (ctx) => {
    const h = broker(opts)(ctx);
    const inner = h.onMessage;
    h.onMessage = (conn: Connection, payload: unknown) => {
      const req = payload as RemotingRequest;
      if (req.type !== "req" || passThrough.includes(req.code)) return inner(conn, payload);
      const from = conn.peerOf(ctx.node).name;
      rec.received.push({ timeUs: ctx.now, from, code: req.code, body: req.body });
      const verdict = rec.intercept?.(req, from, ctx.now) ?? "pass";
      if (verdict === "pass") inner(conn, payload);
      else if (verdict !== "drop") ctx.send(conn, response(verdict.code, null, req));
    };
    return h;
  };
}

export interface SingleMasterWorld {
  world: World;
  /** Every trace event, from the start. */
  events: TraceEvent[];
  /** What the master received (see recordingBroker). */
  received: ReceivedRequest[];
  /** The sender's live Remoting. */
  sender: () => Remoting;
}

/**
 * A world of a NameServer "ns" (4.9.8), a recording master "broker-a"
 * registered with it, and a bare sender "p", added in that order and not
 * started: the test adds its clients after them.
 */
export function singleMasterWorld(
  o: { seed: number; config: RocketMqConfig; topics: BrokerOptions["topics"] } & Pick<RecordingOptions, "passThrough" | "intercept">,
): SingleMasterWorld {
  const world = new World({ seed: o.seed });
  const events: TraceEvent[] = [];
  const received: ReceivedRequest[] = [];
  world.sim.onTrace((e) => events.push(e));
  world.addNode("ns", nameServer({ version: "4.9.8" }));
  world.addNode(
    "broker-a",
    recordingBroker({ brokerName: "broker-a", brokerId: 0, nameServers: ["ns"], config: o.config, topics: o.topics }, { received, passThrough: o.passThrough, intercept: o.intercept }),
  );
  const sender = bareClient(world, "p");
  return { world, events, received, sender };
}

export interface PushConsumerNodeOptions {
  config: RocketMqConfig;
  nameServers: readonly string[];
  group: string;
  /** Topic → tags ("*": all), subscribed before the consumer starts. */
  subscriptions: Record<string, string[] | "*">;
  /** Each boot's listener; `ctx` is that boot's. */
  listener: (ctx: NodeContext) => ConsumerListener;
  options?: PushConsumerOptions;
  /** Called with each boot's consumer once it started. */
  onStart?: (consumer: PushConsumer) => void;
}

/** One call of a consumer's listener, as a test records it. */
export interface ListenerCall {
  timeUs: number;
  consumer: string;
  /** The queue's key (see queueKey). */
  mq: string;
  offsets: number[];
  topics: string[];
  reconsumeTimes: number[];
}

/** What `consumer`'s listener was handed at `nowUs`. */
export function listenerCall(nowUs: number, consumer: string, batch: ConsumedBatch): ListenerCall {
  return {
    timeUs: nowUs,
    consumer,
    mq: queueKey(batch.mq),
    offsets: batch.messages.map((m) => m.queueOffset),
    topics: batch.messages.map((m) => m.topic),
    reconsumeTimes: batch.messages.map((m) => m.reconsumeTimes),
  };
}

/** Adds a client node `name` running one push consumer, client id `<name>@<incarnation>`. */
export function addPushConsumer(world: World, name: string, o: PushConsumerNodeOptions): void {
  world.addNode(
    name,
    (ctx) => {
      const client = new ClientInstance(ctx, o.config.client, o.nameServers, `${name}@${ctx.incarnation}`);
      const consumer = new PushConsumer(client, o.config.consumer, o.group, o.listener(ctx), o.options);
      for (const [topic, tags] of Object.entries(o.subscriptions)) consumer.subscribe(topic, tags);
      client.start();
      consumer.start();
      o.onStart?.(consumer);
      return client.remoting.handlers();
    },
    { kind: "client" },
  );
}

/** A SEND_MESSAGE_V2 body carrying `value` (UTF-8), with no flag, sysFlag, reconsume count or born time. */
export function sendMessageBody(
  value: string,
  f: { producerGroup: string; topic: string; queueId: number; bornHost: string; properties: Record<string, string> },
): SendMessageRequestBody {
  return {
    producerGroup: f.producerGroup,
    topic: f.topic,
    queueId: f.queueId,
    defaultTopicQueueNums: 4,
    body: new TextEncoder().encode(value),
    properties: f.properties,
    bornTimestampMs: 0,
    bornHost: f.bornHost,
    flag: 0,
    reconsumeTimes: 0,
    sysFlag: 0,
  };
}

/** Every message of a queue, in queue order. */
export function readQueue(store: MessageStore, topic: string, queueId: number): DecodedMessage[] {
  const out: DecodedMessage[] = [];
  for (let offset = 0; ; ) {
    const r = store.getMessage("test", topic, queueId, offset, 32);
    if (r.status !== "FOUND") return out;
    out.push(...r.messages);
    offset = r.nextBeginOffset;
  }
}

// ---- a hand-made BrokerRuntime ----

/** A broker's role as a test sets it, kept across boots; each boot's runtime listens anew. */
export interface MasterSwitch {
  readonly master: boolean;
  /** Sets the role and tells the listeners of the latest boot. */
  set(master: boolean): void;
  /** A new boot: forgets the listeners of the previous one. */
  reset(): void;
  listen(listener: (master: boolean) => void): void;
}

export function masterSwitch(initial: boolean): MasterSwitch {
  let master = initial;
  let listeners: Array<(m: boolean) => void> = [];
  return {
    get master() {
      return master;
    },
    set(m) {
      master = m;
      for (const l of listeners) l(m);
    },
    reset() {
      listeners = [];
    },
    listen(l) {
      listeners.push(l);
    },
  };
}

export type FakePut = (store: MessageStore, msg: MessageInput, cb: (status: BrokerPutStatus, appendResult: AppendResult | null) => void) => void;

export interface FakeRuntimeOptions {
  /** The node's context: the store's and the remoting's. */
  ctx: NodeContext;
  /** What the service sees as `rt.ctx` (default `ctx`), e.g. one that counts timers. */
  serviceCtx?: NodeContext;
  cfg: RocketMqConfig;
  brokerName?: string;
  role: MasterSwitch;
  /** The send path's put (default: the store's own put, answered at once). */
  put?: FakePut;
}

/**
 * A BrokerRuntime for one boot of a node whose process is a bare
 * MessageStore (made here, from `cfg.store`): topics live in a map,
 * `isMaster` and role changes follow `role`, and no producer or consumer
 * is connected. Call once per boot.
 */
export function fakeRuntime(o: FakeRuntimeOptions): BrokerRuntime {
  const { ctx, cfg, role } = o;
  const store = new MessageStore(ctx, cfg.store);
  role.reset();
  const topics = new Map<string, TopicConfig>();
  const put: FakePut =
    o.put ??
    ((s, msg, cb) => {
      const r = s.putMessage(msg);
      cb(r.status, r.appendResult);
    });
  return {
    ctx: o.serviceCtx ?? ctx,
    cfg,
    brokerName: o.brokerName ?? "b",
    remoting: new Remoting(ctx),
    store,
    isMaster: () => role.master,
    onRoleChange: (l) => role.listen(l),
    ensureTopic: (topic, queues, perm = PERM_READ | PERM_WRITE) => {
      const tc = topics.get(topic) ?? { topicName: topic, readQueueNums: queues, writeQueueNums: queues, perm };
      topics.set(topic, tc);
      return tc;
    },
    topicConfig: (topic) => topics.get(topic),
    putMessage: (msg, cb) => put(store, msg, cb),
    producerChannels: () => [],
    consumerIds: () => [],
    onShutdown: () => {},
  };
}
