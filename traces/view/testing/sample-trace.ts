// A synthetic but faithful RocketMQ-shaped trace for the viewer's tests: one
// name server, one broker with ASYNC_FLUSH, one producer, one consumer. A
// power loss hits the broker in the middle of the workload; the writes it
// acknowledged from the page cache but had not flushed are cut by recovery,
// and the footer reports them as lost writes. The event kinds and detail
// shapes are those the simulator emits (sim/world.ts, sim/faults.ts,
// sim/network.ts, model/rocketmq/cluster.ts).
import { writeFileSync } from "node:fs";
import { ScenarioSchema } from "../../../model/scenario.js";
import { RunningHash, hashEvent } from "../../../sim/hash.js";
import type { TraceEventLine, TraceFooter, TraceHeader } from "../../format.js";
import type { Trace } from "../read.js";

export interface SampleOptions {
  /** Producer sends; each costs about seven events. */
  sends?: number;
  /** Put this text in one event's details, to test escaping. */
  injectText?: string;
}

const SEND_INTERVAL_US = 50_000;
const FLUSH_INTERVAL_US = 200_000;
const START_US = 3_000_000;

export function sampleTrace(opts: SampleOptions = {}): Trace {
  const sends = opts.sends ?? 12;
  const scenario = ScenarioSchema.parse({
    name: "sample-single-async-flush",
    description: "One master, ASYNC_FLUSH, power loss (synthetic sample)",
    system: "rocketmq",
    cluster: { nameServers: 1, brokers: [{ name: "broker-a" }], producers: 1, consumers: 1 },
    config: { flushDiskType: "ASYNC_FLUSH" },
    expect: ["lost-write"],
  });
  const workloadEndUs = START_US + (sends + 2) * SEND_INTERVAL_US;
  const crashUs = START_US + Math.floor(sends / 2) * SEND_INTERVAL_US + 20_000;
  const downUs = Math.max(150_000, Math.floor(sends / 6) * SEND_INTERVAL_US);
  const header: TraceHeader = {
    type: "header",
    format: 1,
    mqsim: "0.1.0",
    scenario,
    seed: 7,
    plan: [{ atMs: Math.round(crashUs / 1000), kind: "power-loss", durationMs: downUs / 1000, targets: ["@random"] }],
  };

  const events: Array<TraceEventLine & { seq: number }> = [];
  const e = (t: number, n: string, k: string, d?: Record<string, unknown>): void => {
    events.push(d === undefined ? { t, n, k, seq: events.length } : { t, n, k, d, seq: events.length });
  };
  // One event per message, as the simulator writes it: on the receiver when it arrives (net.msg), or when it is lost (net.drop).
  const message = (t: number, from: string, to: string, type: string, latencyUs: number, delivered: boolean): number => {
    if (delivered) e(t + latencyUs, to, "net.msg", { from, conn: 1, sentUs: t, type });
    else e(t + latencyUs, to, "net.drop", { from, conn: 1, sentUs: t, type, reason: "machine-down" });
    return t + latencyUs;
  };

  e(0, "runner", "start", { scenario: scenario.name, seed: header.seed, faults: 1 });
  e(0, "runner", "phase", { phase: "workload" });
  for (const n of ["namesrv-1", "broker-a", "producer-1", "consumer-1"]) e(0, n, "node.start", { boot: 1, incarnation: 1 });
  const registered = message(1000, "broker-a", "namesrv-1", "REGISTER_BROKER", 500, true);
  e(registered, "namesrv-1", "namesrv.register", { broker: "broker-a:10911", brokerName: "broker-a", brokerId: 0 });

  // The broker's commit log: what was appended, and how far it was flushed.
  let physical = 0;
  let flushed = 0;
  const queueOffsets = [0, 0, 0, 0];
  const appended: Array<{ offset: number; end: number; key: string; queueId: number; queueOffset: number; value: string }> = [];
  const lost: Array<{ key: string; value: string; offset: number }> = [];
  let lastFlushUs = 0;
  let recovered = false;
  let polledUpTo = 0;
  const recover = (): void => {
    recovered = true;
    // Recovery keeps only what reached the disk: the page cache died with the power.
    for (const a of appended.filter((x) => x.end > flushed)) {
      lost.push({ key: a.key, value: a.value, offset: a.queueOffset });
      queueOffsets[a.queueId]!--;
    }
    appended.splice(0, appended.length, ...appended.filter((x) => x.end <= flushed));
    e(crashUs + downUs, "broker-a", "node.start", { boot: 2, incarnation: 2 });
    e(crashUs + downUs + 10, "broker-a", "store.recover", { mode: "abnormal", maxOffset: flushed, truncatedFrom: flushed });
    physical = flushed;
  };
  for (let i = 1; i <= sends; i++) {
    const t = START_US + i * SEND_INTERVAL_US;
    const value = `producer-1:${i}`;
    const queueId = i % 4;
    const key = `TopicTest@broker-a#${queueId}`;
    // Flushes happen on the broker's own schedule while it is up.
    const up = t < crashUs || t >= crashUs + downUs;
    while (lastFlushUs + FLUSH_INTERVAL_US <= t) {
      lastFlushUs += FLUSH_INTERVAL_US;
      const brokerUp = lastFlushUs < crashUs || lastFlushUs >= crashUs + downUs;
      if (brokerUp && physical > flushed) {
        flushed = physical;
        e(lastFlushUs, "broker-a", "store.flush", { flushedWhere: flushed });
      }
    }
    if (!recovered && t >= crashUs + downUs) recover();
    e(t, "producer-1", "op.invoke", { process: 0, f: "send", value });
    e(t, "producer-1", "producer.send", { mq: key, broker: "broker-a:10911" });
    if (!up) {
      message(t, "producer-1", "broker-a", "SEND_MESSAGE", 400, false);
      e(t + 3_000_000, "producer-1", "op.info", { process: 0, f: "send", value, error: "timeout" });
      continue;
    }
    const arrived = message(t, "producer-1", "broker-a", "SEND_MESSAGE", 400, true);
    const queueOffset = queueOffsets[queueId]!++;
    const d: Record<string, unknown> = { topic: "TopicTest", queueId, queueOffset, offset: physical, size: 200 };
    if (i === 2 && opts.injectText !== undefined) d.note = opts.injectText;
    e(arrived, "broker-a", "store.append", d);
    appended.push({ offset: physical, end: physical + 200, key, queueId, queueOffset, value });
    physical += 200;
    const acked = message(arrived + 50, "broker-a", "producer-1", "SEND_MESSAGE_REPLY", 450, true);
    e(acked, "producer-1", "op.ok", { process: 0, f: "send", value, key, offset: queueOffset });
    // The consumer reads what was flushed (a simplification: it never sees what recovery cut).
    if (i % 3 === 0) {
      const pulled = message(t + 10_000, "consumer-1", "broker-a", "PULL_MESSAGE", 300, true);
      const back = message(pulled + 20, "broker-a", "consumer-1", "PULL_MESSAGE_REPLY", 300, true);
      const readable = appended.filter((a) => a.end <= flushed && a.offset >= polledUpTo);
      if (readable.length > 0) {
        const byKey = new Map<string, number[]>();
        for (const a of readable) byKey.set(a.key, [...(byKey.get(a.key) ?? []), a.queueOffset]);
        for (const [k, offsets] of byKey) e(back, "consumer-1", "op.poll", { process: 1, key: k, offsets: [offsets[0], offsets[offsets.length - 1]], n: offsets.length });
        polledUpTo = readable[readable.length - 1]!.end;
      }
    }
  }
  if (!recovered) recover();
  e(crashUs, "broker-a", "node.crash", { mode: "power" });
  e(crashUs, "nemesis", "fault.start", { index: 0, kind: "power-loss", nodes: ["broker-a"], durationMs: downUs / 1000 });
  e(crashUs + downUs, "nemesis", "fault.end", { index: 0, kind: "power-loss", nodes: ["broker-a"] });
  e(workloadEndUs + 4_000_000, "runner", "phase", { phase: "heal" });
  e(workloadEndUs + 4_000_000, "runner", "phase", { phase: "drain" });
  e(workloadEndUs + 4_500_000, "runner", "phase", { phase: "drained" });
  const anomalies = lost.length > 0 ? [{ type: "lost-write" as const, count: lost.length, examples: lost.slice(0, 8).map((l, k) => ({ ...l, process: 0, sendIndex: k })), message: `${lost.length} acknowledged value(s) never read after the final drain` }] : [];
  e(workloadEndUs + 4_500_000, "runner", "verdict", { verdict: lost.length > 0 ? "fail" : "pass", anomalies: anomalies.map((a) => ({ type: a.type, count: a.count })) });

  // The simulator emits in time order, ties in emission order.
  events.sort((a, b) => a.t - b.t || a.seq - b.seq);
  const plain: TraceEventLine[] = events.map(({ t, n, k, d }) => (d === undefined ? { t, n, k } : { t, n, k, d }));
  const hash = new RunningHash();
  for (const ev of plain) if (!ev.k.startsWith("net.")) hashEvent(hash, ev.t, ev.n, ev.k, ev.d);
  const footer: TraceFooter = { type: "footer", events: plain.length, hash: hash.digest(), verdict: lost.length > 0 ? "fail" : "pass", outcome: "drained", anomalies };
  return { header, events: plain, footer };
}

/** The canonical line of an event, as the simulator's kernel writes it. */
export function eventLine(ev: TraceEventLine): string {
  return ev.d === undefined ? `{"t":${ev.t},"n":${JSON.stringify(ev.n)},"k":${JSON.stringify(ev.k)}}` : `{"t":${ev.t},"n":${JSON.stringify(ev.n)},"k":${JSON.stringify(ev.k)},"d":${JSON.stringify(ev.d)}}`;
}

export function traceText(trace: Trace): string {
  return [JSON.stringify(trace.header), ...trace.events.map(eventLine), JSON.stringify(trace.footer)].join("\n") + "\n";
}

export function writeTrace(path: string, trace: Trace): void {
  writeFileSync(path, traceText(trace));
}

/** A trace around literal events: the sample's header, a footer with the right count and hash, and the given anomalies. */
export function literalTrace(events: TraceEventLine[], anomalies: TraceFooter["anomalies"] = [], description?: string): Trace {
  const base = sampleTrace({ sends: 1 });
  const header: TraceHeader = description === undefined ? base.header : { ...base.header, scenario: { ...base.header.scenario, description } };
  const hash = new RunningHash();
  for (const ev of events) if (!ev.k.startsWith("net.")) hashEvent(hash, ev.t, ev.n, ev.k, ev.d);
  const verdict = anomalies.some((a) => header.scenario.expect.includes(a.type)) ? "fail" : "pass";
  return { header, events, footer: { type: "footer", events: events.length, hash: hash.digest(), verdict, outcome: "drained", anomalies } };
}
