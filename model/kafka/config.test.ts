import { describe, expect, it } from "vitest";
import { ConfigError } from "../cluster.js";
import { kafkaConfigKeys, NEVER, parseKafkaConfig } from "./config.js";

describe("Kafka configuration", () => {
  it("defaults follow Kafka 3.7", () => {
    const c = parseKafkaConfig({});
    expect(c.version).toBe("3.7");
    expect(c.producer.acks).toBe(-1);
    expect(c.producer.idempotence).toBe(true);
    expect(c.producer.retries).toBe(2_147_483_647);
    expect(c.producer["max.in.flight.requests.per.connection"]).toBe(5);
    expect(c.producer["linger.ms"]).toBe(0);
    expect(c.broker["min.insync.replicas"]).toBe(1);
    expect(c.broker["unclean.leader.election.enable"]).toBe(false);
    expect(c.broker["replica.lag.time.max.ms"]).toBe(30_000);
    expect(c.broker["log.flush.interval.messages"]).toBe(NEVER);
    expect(c.broker["log.flush.interval.ms"]).toBeUndefined();
    expect(c.consumer["auto.offset.reset"]).toBe("latest");
    expect(c.client["request.timeout.ms"]).toBe(30_000);
  });

  it("idempotence is silently off when acks, retries or in-flight settings conflict and it was not set (KAFKA-13598)", () => {
    expect(parseKafkaConfig({ acks: "1" }).producer.idempotence).toBe(false);
    expect(parseKafkaConfig({ acks: 1 }).producer.idempotence).toBe(false);
    expect(parseKafkaConfig({ retries: 0 }).producer.idempotence).toBe(false);
    expect(parseKafkaConfig({ "max.in.flight.requests.per.connection": 6 }).producer.idempotence).toBe(false);
    expect(parseKafkaConfig({ acks: "-1" }).producer.idempotence).toBe(true);
    expect(parseKafkaConfig({ "enable.idempotence": false }).producer.idempotence).toBe(false);
  });

  it("idempotence set explicitly with a conflicting setting is an error", () => {
    expect(() => parseKafkaConfig({ "enable.idempotence": true, acks: "1" })).toThrow(ConfigError);
  });

  it("accepts protocol versions with an IV suffix and rejects unmodelled ones", () => {
    expect(parseKafkaConfig({ "inter.broker.protocol.version": "1.1-IV0" }).version).toBe("1.1");
    expect(parseKafkaConfig({ "inter.broker.protocol.version": "0.10.2" }).version).toBe("0.10.2");
    expect(() => parseKafkaConfig({ "inter.broker.protocol.version": "2.4" })).toThrow(/inter.broker.protocol.version/);
  });

  it("an unknown key or a bad value names the key", () => {
    expect(() => parseKafkaConfig({ "min.insync.replica": 2 })).toThrow(/unknown config key min.insync.replica/);
    expect(() => parseKafkaConfig({ "min.insync.replicas": 0 })).toThrow(/min.insync.replicas/);
    expect(() => parseKafkaConfig({ acks: "2" })).toThrow(/acks/);
  });

  it("every key belongs to exactly one section", () => {
    const keys = kafkaConfigKeys();
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toContain("request.timeout.ms");
    expect(keys).toContain("unclean.leader.election.enable");
  });
});
