import type { NodeContext } from "../../sim/node.js";
import type { ClientConfig } from "./config.js";
import { PERM_READ, PERM_WRITE, RequestCode, ResponseCode, type HeartbeatBody, type TopicRouteData } from "./protocol.js";
import { Remoting } from "./remoting.js";

/** A queue of a topic on one broker group. */
export interface MessageQueue {
  topic: string;
  brokerName: string;
  queueId: number;
}

export function queueKey(mq: MessageQueue): string {
  // Every send and every consumed batch names its queue: build each key once.
  let byBroker = queueKeys.get(mq.topic);
  if (byBroker === undefined) queueKeys.set(mq.topic, (byBroker = new Map()));
  let byId = byBroker.get(mq.brokerName);
  if (byId === undefined) byBroker.set(mq.brokerName, (byId = []));
  if (mq.queueId >= 0 && mq.queueId < 1024 && Number.isInteger(mq.queueId)) return (byId[mq.queueId] ??= `${mq.topic}@${mq.brokerName}#${mq.queueId}`);
  return `${mq.topic}@${mq.brokerName}#${mq.queueId}`;
}

/** topic → broker name → queue id → key: a memo of queueKey, a pure function. */
const queueKeys = new Map<string, Map<string, string[]>>();

export function compareQueues(a: MessageQueue, b: MessageQueue): number {
  // MessageQueue.compareTo: topic, then broker name, then queue id.
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  if (a.brokerName !== b.brokerName) return a.brokerName < b.brokerName ? -1 : 1;
  return a.queueId - b.queueId;
}

/**
 * MQClientInstance: what the producers and consumers of one client process
 * share — the remoting client, the NameServer it talks to, the topic routes
 * and broker addresses, and the periodic route refresh and heartbeats.
 */
export class ClientInstance {
  readonly remoting: Remoting;
  readonly routes = new Map<string, TopicRouteData>();
  /** brokerName → brokerId → address */
  readonly brokerAddrs = new Map<string, Map<number, string>>();
  private namesrvIndex: number;
  readonly producerGroups = new Set<string>();
  readonly consumerGroups = new Map<string, string[]>();
  private readonly routeListeners: Array<(topic: string) => void> = [];
  /** One process may host several consumers (one per group): the broker's notification is handed to each. */
  private readonly consumerIdsListeners: Array<(group: string) => void> = [];

  constructor(
    readonly ctx: NodeContext,
    readonly cfg: ClientConfig,
    private readonly nameServers: readonly string[],
    readonly clientId: string,
  ) {
    this.remoting = new Remoting(ctx);
    // NettyRemotingClient starts from a random NameServer and sticks to it until it fails.
    this.namesrvIndex = ctx.rng.int(0, Math.max(0, nameServers.length - 1));
    this.remoting.registerProcessor(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, (req) => {
      const group = (req.body as { group: string }).group;
      for (const l of this.consumerIdsListeners) l(group);
      return null;
    });
  }

  /** ClientRemotingProcessor.notifyConsumerIdsChanged: the broker says a group's membership changed. */
  onConsumerIdsChanged(listener: (group: string) => void): void {
    this.consumerIdsListeners.push(listener);
  }

  onRouteChanged(listener: (topic: string) => void): void {
    this.routeListeners.push(listener);
  }

  start(): void {
    const refresh = (): void => {
      for (const topic of [...this.routes.keys()]) this.updateRoute(topic);
      this.ctx.after(this.cfg.pollNameServerInterval * 1000, refresh);
    };
    this.ctx.after(10_000, refresh);
    const heartbeat = (): void => {
      this.sendHeartbeatToAllBrokers();
      this.ctx.after(this.cfg.heartbeatBrokerInterval * 1000, heartbeat);
    };
    this.ctx.after(1_000_000, heartbeat);
  }

  /** GET_ROUTEINFO_BY_TOPIC from the current NameServer; moves to the next one when it fails. */
  updateRoute(topic: string, cb?: (ok: boolean) => void): void {
    if (this.nameServers.length === 0) {
      cb?.(false);
      return;
    }
    const ns = this.nameServers[this.namesrvIndex % this.nameServers.length]!;
    this.remoting.invoke(ns, RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic }, this.cfg.mqClientApiTimeout, (resp, err) => {
      if (err !== null) {
        this.namesrvIndex++;
        cb?.(false);
        return;
      }
      if (resp!.code !== ResponseCode.SUCCESS) {
        cb?.(false);
        return;
      }
      const route = resp!.body as TopicRouteData;
      const old = this.routes.get(topic);
      this.routes.set(topic, route);
      for (const bd of route.brokerDatas) {
        this.brokerAddrs.set(bd.brokerName, new Map(Object.entries(bd.brokerAddrs).map(([id, a]) => [Number(id), a])));
      }
      if (old === undefined || JSON.stringify(old) !== JSON.stringify(route)) {
        for (const l of this.routeListeners) l(topic);
      }
      cb?.(true);
    });
  }

  /** Writable queues on brokers that have a master (MQClientInstance.topicRouteData2TopicPublishInfo). */
  publishQueues(topic: string): MessageQueue[] {
    const route = this.routes.get(topic);
    if (route === undefined) return [];
    // Computed once per route object: every send asks, routes change every 30 s at most.
    const cached = this.publishCache.get(topic);
    if (cached !== undefined && cached.route === route) return cached.queues;
    const out: MessageQueue[] = [];
    const qds = [...route.queueDatas].sort((a, b) => (a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : 0));
    for (const qd of qds) {
      if ((qd.perm & PERM_WRITE) === 0) continue;
      const bd = route.brokerDatas.find((b) => b.brokerName === qd.brokerName);
      if (bd === undefined || bd.brokerAddrs[0] === undefined) continue;
      for (let i = 0; i < qd.writeQueueNums; i++) out.push({ topic, brokerName: qd.brokerName, queueId: i });
    }
    this.publishCache.set(topic, { route, queues: out });
    return out;
  }

  private readonly publishCache = new Map<string, { route: TopicRouteData; queues: MessageQueue[] }>();

  /** Readable queues of every broker group in the route (MQClientInstance.topicRouteData2TopicSubscribeInfo). */
  subscribeQueues(topic: string): MessageQueue[] {
    const route = this.routes.get(topic);
    if (route === undefined) return [];
    const out: MessageQueue[] = [];
    for (const qd of route.queueDatas) {
      if ((qd.perm & PERM_READ) === 0) continue;
      for (let i = 0; i < qd.readQueueNums; i++) out.push({ topic, brokerName: qd.brokerName, queueId: i });
    }
    return out.sort(compareQueues);
  }

  masterAddress(brokerName: string): string | undefined {
    return this.brokerAddrs.get(brokerName)?.get(0);
  }

  /**
   * MQClientInstance.findBrokerAddressInSubscribe: the suggested broker id,
   * or (unless onlyThisBroker) any other address of the group — which is how
   * a consumer falls back to a slave once the master left the route.
   */
  subscribeAddress(brokerName: string, brokerId: number, onlyThisBroker: boolean): { addr: string; brokerId: number } | undefined {
    const map = this.brokerAddrs.get(brokerName);
    if (map === undefined || map.size === 0) return undefined;
    const exact = map.get(brokerId);
    if (exact !== undefined) return { addr: exact, brokerId };
    if (onlyThisBroker) return undefined;
    const [id, addr] = [...map.entries()].sort((a, b) => a[0] - b[0])[0]!;
    return { addr, brokerId: id };
  }

  /** Any broker address serving the topic, for group queries (findBrokerAddrByTopic). */
  anyBrokerForTopic(topic: string): string | undefined {
    const route = this.routes.get(topic);
    if (route === undefined || route.brokerDatas.length === 0) return undefined;
    const bd = route.brokerDatas[this.ctx.rng.int(0, route.brokerDatas.length - 1)]!;
    const ids = Object.keys(bd.brokerAddrs).map(Number).sort((a, b) => a - b);
    return ids.length === 0 ? undefined : bd.brokerAddrs[ids[0]!];
  }

  sendHeartbeatToAllBrokers(): void {
    const body: HeartbeatBody = {
      clientId: this.clientId,
      producerGroups: [...this.producerGroups],
      consumerGroups: [...this.consumerGroups].map(([group, topics]) => ({ group, topics })),
    };
    for (const [, ids] of this.brokerAddrs) {
      for (const [id, addr] of ids) {
        // Producers only heartbeat masters; consumers heartbeat every broker (sendHeartbeatToAllBroker).
        if (id !== 0 && this.consumerGroups.size === 0) continue;
        this.remoting.invoke(addr, RequestCode.HEART_BEAT, body, this.cfg.mqClientApiTimeout, () => {});
      }
    }
  }
}
