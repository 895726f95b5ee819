import type { DiskConfig } from "../../../sim/disk.js";
import { World } from "../../../sim/world.js";
import { MessageStoreConfigSchema, type MessageStoreConfig } from "./config.js";
import { MessageStore } from "./message-store.js";
import type { MessageInput } from "./types.js";

/**
 * Helpers for the store's tests and benchmarks: a one-node world whose
 * process is a bare MessageStore, rebuilt (recovering from its disk) on
 * every start.
 */
export interface StoreHarness {
  world: World;
  cfg: MessageStoreConfig;
  /** The live store; replaced at each boot. */
  store: MessageStore;
  /** Stores in boot order. */
  boots: MessageStore[];
  /** Runs the simulation up to an absolute time in µs. */
  runUntil(us: number): void;
  /** Runs `fn` at an absolute time (an event owned by nobody, so it survives crashes). */
  at(us: number, fn: () => void): void;
  crash(mode: "process" | "power" | "disk"): void;
  restart(): MessageStore;
}

export function storeHarness(opts: { seed?: number | string; disk?: Partial<DiskConfig>; store?: Partial<MessageStoreConfig> } = {}): StoreHarness {
  const world = new World({ seed: opts.seed ?? 1, disk: opts.disk ?? {} });
  const cfg = MessageStoreConfigSchema.parse(opts.store ?? {});
  const boots: MessageStore[] = [];
  world.addNode("broker", (ctx) => {
    boots.push(new MessageStore(ctx, cfg));
    return { onMessage() {} };
  });
  world.start("broker");
  const h: StoreHarness = {
    world,
    cfg,
    get store() {
      return boots[boots.length - 1]!;
    },
    boots,
    runUntil(us) {
      world.sim.run({ untilUs: us });
    },
    at(us, fn) {
      world.sim.schedule(us, fn);
    },
    crash(mode) {
      world.crash("broker", mode);
    },
    restart() {
      world.start("broker");
      return boots[boots.length - 1]!;
    },
  };
  return h;
}

const encoder = new TextEncoder();

/** A message to `topic`/`queueId` whose body is `body-<n>` (padded to `bodyBytes` if given). */
export function testMessage(n: number, overrides: Partial<MessageInput> & { bodyBytes?: number } = {}): MessageInput {
  const text = `body-${n}`;
  let body = encoder.encode(text);
  if (overrides.bodyBytes !== undefined && overrides.bodyBytes > body.length) {
    const padded = new Uint8Array(overrides.bodyBytes).fill(0x61);
    padded.set(body);
    body = padded;
  }
  const { bodyBytes: _ignored, ...rest } = overrides;
  return {
    topic: "TopicTest",
    queueId: 0,
    body,
    properties: { UNIQ_KEY: `U${n}`, TAGS: "TagA", KEYS: `k${n}` },
    bornTimestampMs: 0,
    bornHost: "192.168.0.1:50000",
    storeHost: "10.0.0.1:10911",
    ...rest,
  };
}

export function bodyText(body: Uint8Array): string {
  return new TextDecoder().decode(body);
}
