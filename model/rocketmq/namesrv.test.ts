import { describe, expect, it } from "vitest";
import type { NodeContext, ProcessHandlers } from "../../sim/node.js";
import { World } from "../../sim/world.js";
import { nameServer } from "./namesrv.js";
import { RequestCode, ResponseCode, type RegisterBrokerBody, type TopicRouteData } from "./protocol.js";
import { Remoting } from "./remoting.js";
import { bareClient } from "./testing.js";

/** A broker stand-in that registers once at boot and then stays silent. */
function registersOnce(ctx: NodeContext): ProcessHandlers {
  const r = new Remoting(ctx);
  const body: RegisterBrokerBody = {
    clusterName: "c",
    brokerName: "broker-a",
    brokerId: 0,
    brokerAddr: ctx.name,
    haServerAddr: ctx.name,
    topicConfigs: [{ topicName: "T", readQueueNums: 4, writeQueueNums: 4, perm: 6 }],
  };
  r.invoke("ns", RequestCode.REGISTER_BROKER, body, 3000, () => {});
  return r.handlers();
}

function setup() {
  const world = new World({ seed: 1 });
  world.addNode("ns", nameServer({ version: "4.9.8" }));
  world.addNode("broker-a", registersOnce);
  let route: TopicRouteData | null | undefined;
  const client = bareClient(world, "client");
  world.startAll();
  const lookup = (): TopicRouteData | null => {
    route = undefined;
    client().invoke("ns", RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "T" }, 3000, (resp) => {
      route = resp !== null && resp.code === ResponseCode.SUCCESS ? (resp.body as TopicRouteData) : null;
    });
    world.sim.run({ untilUs: world.sim.now + 100_000 });
    return route ?? null;
  };
  return { world, lookup };
}

describe("NameServer", () => {
  it("serves the route a broker registered", () => {
    const { world, lookup } = setup();
    world.sim.run({ untilUs: 1_000_000 });
    const route = lookup();
    expect(route?.queueDatas).toEqual([{ brokerName: "broker-a", readQueueNums: 4, writeQueueNums: 4, perm: 6 }]);
    expect(route?.brokerDatas[0]?.brokerAddrs).toEqual({ 0: "broker-a" });
  });

  it("expires a broker that stopped registering after 120 s, at the next 10 s scan (4.x)", () => {
    const { world, lookup } = setup();
    world.sim.run({ untilUs: 1_000_000 });
    world.pause("broker-a"); // the channel stays open; only the heartbeats stop
    world.sim.run({ untilUs: 120_000_000 });
    expect(lookup()).not.toBeNull();
    world.sim.run({ untilUs: 126_000_000 });
    expect(lookup()).toBeNull();
  });

  it("drops a broker at once when its channel closes", () => {
    const { world, lookup } = setup();
    world.sim.run({ untilUs: 1_000_000 });
    world.crash("broker-a", "process");
    world.sim.run({ untilUs: 1_100_000 });
    expect(lookup()).toBeNull();
  });

  it("keeps a powered-off broker until its route expires (no reset reaches it)", () => {
    const { world, lookup } = setup();
    world.sim.run({ untilUs: 1_000_000 });
    world.crash("broker-a", "power");
    world.sim.run({ untilUs: 60_000_000 });
    expect(lookup()).not.toBeNull();
    world.sim.run({ untilUs: 140_000_000 });
    expect(lookup()).toBeNull();
  });
});
