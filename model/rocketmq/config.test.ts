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
});
