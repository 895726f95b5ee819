import type { Connection } from "../../sim/network.js";
import type { NodeContext, ProcessHandlers } from "../../sim/node.js";
import { RequestCode, ResponseCode, type BrokerData, type QueueData, type RegisterBrokerBody, type TopicRouteData } from "./protocol.js";
import { Remoting, response } from "./remoting.js";

export interface NameServerOptions {
  /** RocketMQ line: 4.x scans for dead brokers every 10 s, 5.x every 5 s. */
  version: "4.9.8" | "5.3.3";
}

/** RouteInfoManager.BROKER_CHANNEL_EXPIRED_TIME. */
const BROKER_CHANNEL_EXPIRED_TIME_MS = 120_000;

interface BrokerLive {
  lastUpdateUs: number;
  conn: Connection;
  brokerName: string;
  brokerId: number;
}

/**
 * The NameServer: stateless (nothing on disk), rebuilt from broker
 * registrations. Each broker registers with every NameServer; a broker is
 * dropped from routes when it has not registered for 120 s, or at once when
 * its channel closes (RouteInfoManager.onChannelDestroy).
 */
export function nameServer(opts: NameServerOptions) {
  return (ctx: NodeContext): ProcessHandlers => {
    const remoting = new Remoting(ctx);
    const brokerAddrTable = new Map<string, BrokerData>();
    /** topic → brokerName → QueueData */
    const topicQueueTable = new Map<string, Map<string, QueueData>>();
    const brokerLiveTable = new Map<string, BrokerLive>();

    const removeBroker = (addr: string, why: string): void => {
      const live = brokerLiveTable.get(addr);
      if (live === undefined) return;
      brokerLiveTable.delete(addr);
      const bd = brokerAddrTable.get(live.brokerName);
      if (bd !== undefined) {
        delete bd.brokerAddrs[live.brokerId];
        if (Object.keys(bd.brokerAddrs).length === 0) {
          brokerAddrTable.delete(live.brokerName);
          // With no address left, the broker's queues leave every topic route.
          for (const [topic, qs] of topicQueueTable) {
            qs.delete(live.brokerName);
            if (qs.size === 0) topicQueueTable.delete(topic);
          }
        }
      }
      ctx.emit("namesrv.remove-broker", { broker: addr, why });
    };

    remoting.registerProcessor(RequestCode.REGISTER_BROKER, (req, conn) => {
      const body = req.body as RegisterBrokerBody;
      let bd = brokerAddrTable.get(body.brokerName);
      if (bd === undefined) {
        bd = { cluster: body.clusterName, brokerName: body.brokerName, brokerAddrs: {} };
        brokerAddrTable.set(body.brokerName, bd);
      }
      // A broker that changed role (a slave promoted to master) re-registers under its new id.
      for (const [id, addr] of Object.entries(bd.brokerAddrs)) {
        if (addr === body.brokerAddr && Number(id) !== body.brokerId) delete bd.brokerAddrs[Number(id)];
      }
      bd.brokerAddrs[body.brokerId] = body.brokerAddr;
      // Only the master's topic configs define the queues (RouteInfoManager.registerBroker).
      if (body.brokerId === 0) {
        for (const tc of body.topicConfigs) {
          let qs = topicQueueTable.get(tc.topicName);
          if (qs === undefined) {
            qs = new Map();
            topicQueueTable.set(tc.topicName, qs);
          }
          qs.set(body.brokerName, { brokerName: body.brokerName, readQueueNums: tc.readQueueNums, writeQueueNums: tc.writeQueueNums, perm: tc.perm });
        }
      }
      const fresh = !brokerLiveTable.has(body.brokerAddr);
      brokerLiveTable.set(body.brokerAddr, { lastUpdateUs: ctx.now, conn, brokerName: body.brokerName, brokerId: body.brokerId });
      if (fresh) ctx.emit("namesrv.register", { broker: body.brokerAddr, brokerName: body.brokerName, brokerId: body.brokerId });
      return response(ResponseCode.SUCCESS, null, req);
    });

    remoting.registerProcessor(RequestCode.UNREGISTER_BROKER, (req) => {
      removeBroker((req.body as { brokerAddr: string }).brokerAddr, "unregister");
      return response(ResponseCode.SUCCESS, null, req);
    });

    remoting.registerProcessor(RequestCode.GET_ROUTEINFO_BY_TOPIC, (req) => {
      const topic = (req.body as { topic: string }).topic;
      const qs = topicQueueTable.get(topic);
      if (qs === undefined || qs.size === 0) return response(ResponseCode.TOPIC_NOT_EXIST, null, req, `No topic route info in name server for the topic: ${topic}`);
      const queueDatas = [...qs.values()].map((q) => ({ ...q }));
      const brokerDatas: BrokerData[] = [];
      for (const q of queueDatas) {
        const bd = brokerAddrTable.get(q.brokerName);
        if (bd !== undefined) brokerDatas.push({ cluster: bd.cluster, brokerName: bd.brokerName, brokerAddrs: { ...bd.brokerAddrs } });
      }
      const route: TopicRouteData = { queueDatas, brokerDatas };
      return response(ResponseCode.SUCCESS, route, req);
    });

    remoting.onChannelClose((conn) => {
      for (const [addr, live] of brokerLiveTable) {
        if (live.conn === conn) removeBroker(addr, "channel-closed");
      }
    });

    // RouteInfoManager.scanNotActiveBroker: 4.x every 10 s after 5 s; 5.x every 5 s (scanNotActiveBrokerInterval).
    const scanIntervalUs = opts.version === "4.9.8" ? 10_000_000 : 5_000_000;
    const scan = (): void => {
      for (const [addr, live] of [...brokerLiveTable]) {
        if (live.lastUpdateUs + BROKER_CHANNEL_EXPIRED_TIME_MS * 1000 < ctx.now) {
          ctx.close(live.conn);
          removeBroker(addr, "expired");
        }
      }
      ctx.after(scanIntervalUs, scan);
    };
    ctx.after(5_000_000, scan);

    return remoting.handlers();
  };
}
