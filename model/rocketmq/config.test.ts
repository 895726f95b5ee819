import { describe, expect, it } from "vitest";
import { ConfigError, parseRocketMqConfig, rocketMqConfigKeys } from "./config.js";

describe("RocketMQ config", () => {
  it("takes real key names flat and fills real defaults", () => {
    const c = parseRocketMqConfig({ flushDiskType: "SYNC_FLUSH", sendMsgTimeout: 5000 });
    expect(c.store.flushDiskType).toBe("SYNC_FLUSH");
    expect(c.store.syncFlushTimeout).toBe(5000);
    expect(c.store.brokerRole).toBe("ASYNC_MASTER");
    expect(c.producer.sendMsgTimeout).toBe(5000);
    expect(c.producer.retryTimesWhenSendFailed).toBe(2);
    expect(c.consumer.pullBatchSize).toBe(32);
    expect(c.version).toBe("4.9.8");
  });

  it("names an unknown key or a bad value", () => {
    expect(() => parseRocketMqConfig({ flushDiskTyp: "SYNC_FLUSH" })).toThrow(new ConfigError("unknown config key flushDiskTyp"));
    expect(() => parseRocketMqConfig({ flushDiskType: "SOMETIMES" })).toThrow(/config key flushDiskType/);
    expect(() => parseRocketMqConfig({ version: "3.2" })).toThrow(/config key version/);
  });

  it("lists every accepted key", () => {
    const keys = rocketMqConfigKeys();
    for (const k of ["version", "flushDiskType", "brokerRole", "sendMsgTimeout", "consumeFromWhere", "autoCreateTopicEnable"]) expect(keys).toContain(k);
  });

  it("has the HA keys with MessageStoreConfig's defaults, and takes 5.x's haMaxGapNotInSync for haSlaveFallbehindMax", () => {
    const c = parseRocketMqConfig({});
    expect(c.ha).toEqual({
      haListenPort: 10912,
      haSendHeartbeatInterval: 5000,
      haHousekeepingInterval: 20000,
      haTransferBatchSize: 32768,
      haSlaveFallbehindMax: 256 * 1024 * 1024,
      slaveTimeout: 3000,
      inSyncReplicas: 1,
    });
    expect(parseRocketMqConfig({ haMaxGapNotInSync: 1024 }).ha.haSlaveFallbehindMax).toBe(1024);
    expect(() => parseRocketMqConfig({ haMaxGapNotInSync: 1, haSlaveFallbehindMax: 2 })).toThrow(ConfigError);
    expect(() => parseRocketMqConfig({ inSyncReplicas: 0 })).toThrow(/config key inSyncReplicas/);
    for (const k of ["haListenPort", "slaveTimeout", "inSyncReplicas", "haMaxGapNotInSync"]) expect(rocketMqConfigKeys()).toContain(k);
  });
});
