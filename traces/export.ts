import type { History, HistoryOp, PollValue, SendValue } from "../invariants/index.js";
import { runScenario, type RunResult } from "../model/run.js";
import type { FaultPlan } from "../sim/faults.js";
import { traceLines } from "./view/read.js";

/**
 * Exports a run's client history in the formats other tools read:
 * - `jepsen`: an EDN history as jepsen.tests.kafka consumes it, one op map
 *   per line; queues/partitions become integer keys and values become
 *   integers (numbered in order of first appearance), since Jepsen's
 *   generators produce integers and its plots expect them.
 * - `openchaos`: the tab-separated history that OpenMessaging Chaos's
 *   QueueChecker and OrderChecker read, with the fault windows.
 *
 * The history is rebuilt by re-running the trace from its header (a run is a
 * pure function of scenario, seed and plan); the re-run must reproduce the
 * recorded hash, so the export is exactly the traced run's history.
 */
export type ExportFormat = "jepsen" | "openchaos";

export interface ExportedRun {
  result: RunResult;
  plan: FaultPlan;
}

export function rerunTrace(path: string): ExportedRun {
  let header = null;
  let footer = null;
  for (const r of traceLines(path)) {
    if (r.kind === "header") header = r.header;
    else if (r.kind === "footer") footer = r.footer;
  }
  if (header === null || footer === null) throw new Error(`${path}: not an mqsim trace`);
  const result = runScenario(header.scenario, { seed: header.seed, overrides: { plan: header.plan } });
  if (result.traceHash !== footer.hash) {
    throw new Error(`${path}: the trace does not reproduce with this mqsim (hash ${result.traceHash}, recorded ${footer.hash}); run \`mqsim replay\` to see where it diverges`);
  }
  return { result, plan: header.plan };
}

/** Integer ids in order of first appearance. */
class Numbering {
  private readonly ids = new Map<string, number>();
  id(s: string): number {
    let n = this.ids.get(s);
    if (n === undefined) {
      n = this.ids.size;
      this.ids.set(s, n);
    }
    return n;
  }
  entries(): Array<[string, number]> {
    return [...this.ids];
  }
}

/** Where each value was read first: an indeterminate send is exported at the queue it landed in. */
function firstReadKey(history: History): Map<string, string> {
  const out = new Map<string, string>();
  for (const op of history.ops) {
    if (op.f !== "poll" || op.type !== "ok") continue;
    for (const r of (op.value as PollValue).reads) if (!out.has(r.value)) out.set(r.value, r.key);
  }
  return out;
}

const kw = (s: string): string => `:${s}`;

/** The Jepsen EDN history, one op per line. */
export function toJepsen(history: History): string {
  const keys = new Numbering();
  const values = new Numbering();
  // Keys numbered in sorted order, so the mapping reads naturally.
  const allKeys = new Set<string>();
  for (const op of history.ops) {
    if (op.f === "send") allKeys.add((op.value as SendValue).key);
    if (op.f === "poll") for (const r of (op.value as PollValue).reads) allKeys.add(r.key);
  }
  for (const k of [...allKeys].sort()) keys.id(k);
  const readAt = firstReadKey(history);
  // The invoke of a send must name its key; RocketMQ picks the queue inside the client, so use the key it completed with.
  const completionKey = new Map<number, string>();
  const pendingSend = new Map<number, number>();
  for (const op of history.ops) {
    if (op.f !== "send") continue;
    if (op.type === "invoke") pendingSend.set(op.process, op.index);
    else {
      const inv = pendingSend.get(op.process);
      if (inv === undefined) continue;
      pendingSend.delete(op.process);
      const v = op.value as SendValue;
      completionKey.set(inv, op.type === "ok" ? v.key : (readAt.get(v.value) ?? v.key));
      completionKey.set(op.index, op.type === "ok" ? v.key : (readAt.get(v.value) ?? v.key));
    }
  }
  const lines: string[] = [];
  let index = 0;
  for (const op of history.ops) {
    let value: string;
    let f: string;
    let extra = "";
    if (op.f === "send") {
      const v = op.value as SendValue;
      const k = keys.id(completionKey.get(op.index) ?? v.key);
      const val = values.id(v.value);
      f = "send";
      value = op.type === "ok" && v.offset !== undefined ? `[[:send ${k} [${v.offset} ${val}]]]` : `[[:send ${k} ${val}]]`;
    } else if (op.f === "poll") {
      f = "poll";
      if (op.type === "invoke") value = "[[:poll]]";
      else {
        const pv = op.value as PollValue;
        const byKey = new Map<number, string[]>();
        for (const r of pv.reads) {
          const k = keys.id(r.key);
          let list = byKey.get(k);
          if (list === undefined) {
            list = [];
            byKey.set(k, list);
          }
          list.push(`[${r.offset} ${values.id(r.value)}]`);
        }
        value = `[[:poll {${[...byKey].map(([k, l]) => `${k} [${l.join(" ")}]`).join(", ")}}]]`;
        if (pv.rebalance !== undefined) {
          const ks = (l: string[]) => l.map((k) => keys.id(k)).join(" ");
          extra = `, :rebalance-log [{:type :revoked, :keys [${ks(pv.rebalance.revoked)}]} {:type :assigned, :keys [${ks(pv.rebalance.assigned)}]}]`;
        }
      }
    } else if (op.f === "assign" || op.f === "subscribe") {
      f = op.f;
      value = `[${(op.value as { keys: string[] }).keys.map((k) => keys.id(k)).join(" ")}]`;
    } else {
      continue;
    }
    const error = op.error !== undefined && op.type !== "invoke" ? `, :error ${JSON.stringify(op.error)}` : "";
    lines.push(`{:index ${index++}, :time ${op.timeUs * 1000}, :type ${kw(op.type)}, :process ${op.process}, :f ${kw(f)}, :value ${value}${error}${extra}}`);
  }
  const header = [
    `; mqsim history for jepsen.tests.kafka. Keys: ${keys.entries().map(([k, n]) => `${n}=${k}`).join(" ")}`,
    `; Values are numbered in order of first appearance (${values.entries().length} values).`,
  ];
  return header.join("\n") + "\n" + lines.join("\n") + "\n";
}

/** The OpenMessaging Chaos history (tab-separated), with fault windows. */
export function toOpenChaos(history: History, plan: FaultPlan): string {
  const rows: Array<{ ts: number; seq: number; text: string }> = [];
  let seq = 0;
  const push = (tsUs: number, cols: Array<string | number>): void => {
    rows.push({ ts: tsUs, seq: seq++, text: cols.join("\t") });
  };
  const ms = (us: number) => Math.floor(us / 1000);
  const sendInvoke = new Map<number, HistoryOp>();
  const sentAt = new Map<string, number>();
  for (const op of history.ops) {
    const client = `client-${op.process}`;
    if (op.f === "send") {
      const v = op.value as SendValue;
      if (op.type === "invoke") {
        sendInvoke.set(op.process, op);
        sentAt.set(v.value, op.timeUs);
        push(op.timeUs, [client, "enqueue", "REQUEST", v.value, v.key, ms(op.timeUs)]);
        continue;
      }
      const inv = sendInvoke.get(op.process);
      sendInvoke.delete(op.process);
      const status = op.type === "ok" ? "SUCCESS" : op.type === "fail" ? "FAILURE" : "UNKNOWN";
      const latency = inv === undefined ? 0 : ms(op.timeUs - inv.timeUs);
      const extra = op.type === "ok" ? `${v.key}@${v.offset ?? ""}` : (op.error ?? "");
      push(op.timeUs, [client, "enqueue", "RESPONSE", status, v.value, v.key, ms(op.timeUs), latency, extra, 0]);
    } else if (op.f === "poll" && op.type === "ok") {
      // A pull consumer dequeues one message at a time: one request/response pair per value read.
      for (const r of (op.value as PollValue).reads) {
        push(op.timeUs, [client, "dequeue", "REQUEST", "", r.key, ms(op.timeUs)]);
        const e2e = sentAt.has(r.value) ? ms(op.timeUs - sentAt.get(r.value)!) : 0;
        push(op.timeUs, [client, "dequeue", "RESPONSE", "SUCCESS", r.value, r.key, ms(op.timeUs), 0, `${r.key}@${r.offset}`, e2e]);
      }
    }
  }
  plan.forEach((f, i) => {
    push(f.atMs * 1000, ["fault", `${f.kind}#${i}`, "start", f.atMs]);
    push((f.atMs + f.durationMs) * 1000, ["fault", `${f.kind}#${i}`, "end", f.atMs + f.durationMs]);
  });
  rows.sort((a, b) => a.ts - b.ts || a.seq - b.seq);
  return rows.map((r) => r.text).join("\n") + "\n";
}

export function exportTrace(path: string, format: ExportFormat): string {
  const { result, plan } = rerunTrace(path);
  return format === "jepsen" ? toJepsen(result.history) : toOpenChaos(result.history, plan);
}
