import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "./main.js";
import { parseProperties } from "./properties.js";

async function cli(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe("Java properties", () => {
  it("reads the forms java.util.Properties accepts, with line numbers", () => {
    const text = ["# comment", "! also a comment", "a=1", "b : two words ", "c three", "d = con\\", "   tinued", "e\\=x=y", "f=\\u0041\\t", "", "   g=indented"].join("\n");
    expect(parseProperties(text, "x")).toEqual([
      { key: "a", value: "1", line: 3 },
      { key: "b", value: "two words", line: 4 },
      { key: "c", value: "three", line: 5 },
      { key: "d", value: "continued", line: 6 },
      { key: "e=x", value: "y", line: 8 },
      { key: "f", value: "A", line: 9 },
      { key: "g", value: "indented", line: 11 },
    ]);
  });
});

describe("--broker-conf", () => {
  const conf = (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), "mqsim-conf-"));
    const f = join(dir, "broker.conf");
    writeFileSync(f, text);
    return f;
  };

  it("applies a real broker.conf: known keys take effect, others are warned about", async () => {
    const f = conf(["brokerClusterName = DefaultCluster", "brokerName = broker-a", "brokerId = 0", "deleteWhen = 04", "fileReservedTime = 48", "brokerRole = ASYNC_MASTER", "flushDiskType = SYNC_FLUSH"].join("\n"));
    const r = await cli("run", "rocketmq-single-async-flush", "--broker-conf", f, "--faults", "power-loss", "--seed", "2", "--duration", "30", "--json");
    expect(r.code).toBe(0);
    // SYNC_FLUSH from the file: the power loss no longer loses acknowledged messages.
    expect(JSON.parse(r.stdout).anomalies.map((a: { type: string }) => a.type)).not.toContain("lost-write");
    expect(r.stderr).toContain(`${f}:2: brokerName is defined by the scenario's cluster; ignored`);
    expect(r.stderr).toContain(`${f}:4: unknown key deleteWhen; ignored`);
  });

  it("names the key and the line of an invalid value, exit code 2", async () => {
    const f = conf(["brokerRole = ASYNC_MASTER", "flushDiskType = SOMETIMES"].join("\n"));
    const r = await cli("run", "rocketmq-single-async-flush", "--broker-conf", f);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`config key flushDiskType: .*\\(${f.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:2\\)`));
  });

  it("--set wins over the file", async () => {
    const f = conf("flushDiskType = SYNC_FLUSH\n");
    const a = JSON.parse((await cli("run", "rocketmq-single-async-flush", "--broker-conf", f, "--set", "flushDiskType=ASYNC_FLUSH", "--duration", "20", "--json")).stdout);
    const b = JSON.parse((await cli("run", "rocketmq-single-async-flush", "--duration", "20", "--json")).stdout);
    expect(a.traceHash).toBe(b.traceHash);
  });
});

describe("--server-properties", () => {
  it("applies a Kafka server.properties and names a bad value's line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mqsim-props-"));
    const good = join(dir, "server.properties");
    writeFileSync(good, ["broker.id=1", "log.dirs=/var/kafka", "min.insync.replicas=2", "unclean.leader.election.enable=false", "num.network.threads=3"].join("\n"));
    const r = await cli("run", "kafka-acks-all-isr1", "--server-properties", good, "--duration", "20", "--json");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${good}:1: broker.id is defined by the scenario's cluster; ignored`);
    expect(r.stderr).toContain(`${good}:5: unknown key num.network.threads; ignored`);
    const bad = join(dir, "bad.properties");
    writeFileSync(bad, ["min.insync.replicas=2", "unclean.leader.election.enable=sometimes"].join("\n"));
    const b = await cli("run", "kafka-acks-all-isr1", "--server-properties", bad);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/unclean\.leader\.election\.enable.*bad\.properties:2/);
    expect((await cli("run", "rocketmq-single-sync-flush", "--server-properties", good)).stderr).toMatch(/applies to Kafka scenarios/);
  });
});
