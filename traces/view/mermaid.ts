import type { TraceEventLine } from "../format.js";
import { linkAnomalies } from "./anomalies.js";
import { summarizeExample } from "./html.js";
import type { Trace } from "./read.js";
import { laneOrder } from "./timeline.js";

export interface MermaidOptions {
  /** Events beyond this are cut (with a note saying so): a sequence diagram stops being readable long before. */
  maxEvents?: number;
}

export const DEFAULT_MERMAID_MAX_EVENTS = 300;

/** Words that start a block in Mermaid's sequence syntax; a participant id equal to one would end the diagram early. */
const KEYWORDS = new Set(["end", "loop", "alt", "else", "opt", "par", "and", "rect", "critical", "option", "break", "note", "participant", "actor", "activate", "deactivate", "autonumber", "box", "title", "create", "destroy", "links", "link"]);

/**
 * Renders the start of a trace as a Mermaid sequence diagram: one
 * participant per node, an arrow per message (from its net.msg, where it
 * arrived, labelled with the message type; a cross from its net.drop, where
 * it was lost, with the reason), and notes for faults, crashes, client operations, other steps
 * and, at the end, the anomalies. Events that explain an anomaly are marked
 * with ⚠ and the anomaly's type.
 */
export function renderMermaid(trace: Trace, opts: MermaidOptions = {}): string {
  const maxEvents = opts.maxEvents ?? DEFAULT_MERMAID_MAX_EVENTS;
  const { header, footer } = trace;
  const head = trace.events.slice(0, maxEvents);
  const cut = trace.events.length > head.length;
  const lanes = laneOrder(head);
  const ids = participantIds(lanes);
  const id = (node: string): string => ids.get(node) ?? sanitizeId(node);
  const first = lanes[0] ?? "runner";
  const last = lanes[lanes.length - 1] ?? first;
  const overAll = first === last ? id(first) : `${id(first)},${id(last)}`;
  const over = (nodes: readonly string[], fallback: string): string => {
    const known = nodes.filter((n) => ids.has(n)).sort((a, b) => lanes.indexOf(a) - lanes.indexOf(b));
    if (known.length === 0) return id(fallback);
    const a = known[0]!;
    const b = known[known.length - 1]!;
    return a === b ? id(a) : `${id(a)},${id(b)}`;
  };

  const marks = new Map<number, string[]>();
  for (const a of linkAnomalies(head, footer.anomalies, header.scenario.expect)) {
    for (const ex of a.examples) {
      for (const i of ex.events) {
        const list = marks.get(i) ?? [];
        if (!list.includes(a.type)) list.push(a.type);
        marks.set(i, list);
      }
    }
  }

  const out: string[] = ["sequenceDiagram", `    %% mqsim ${header.mqsim}: ${header.scenario.name} seed ${header.seed}, verdict ${footer.verdict}, outcome ${footer.outcome}`];
  for (const node of lanes) out.push(`    participant ${id(node)} as ${text(node)}`);
  head.forEach((ev, i) => {
    const mark = marks.has(i) ? `⚠ ${marks.get(i)!.join(", ")}: ` : "";
    // Seconds to the microsecond: the diagram is for short traces, where sub-millisecond order matters.
    const at = `${(ev.t / 1_000_000).toFixed(6)}s `;
    const d = ev.d ?? {};
    switch (ev.k) {
      case "net.msg":
      case "net.drop": {
        // One event per message, on the receiver, where it arrived or was lost; one without a sender becomes a note.
        if (typeof d.from !== "string") break;
        const type = typeof d.type === "string" ? d.type : "message";
        if (ev.k === "net.msg") out.push(`    ${id(d.from)}->>${id(ev.n)}: ${text(mark + type)}`);
        else out.push(`    ${id(d.from)}-x${id(ev.n)}: ${text(`${mark}${type} (lost${typeof d.reason === "string" ? `: ${d.reason}` : ""})`)}`);
        return;
      }
      case "phase":
        out.push(`    Note over ${overAll}: ${text(`${at}${mark}phase ${String(d.phase)}`)}`);
        return;
      case "fault.start":
      case "fault.end": {
        const nodes = Array.isArray(d.nodes) ? d.nodes.filter((n): n is string => typeof n === "string") : [];
        out.push(`    Note over ${over(nodes, ev.n)}: ${text(at + mark + describe(ev))}`);
        return;
      }
      default:
        break;
    }
    out.push(`    Note over ${id(ev.n)}: ${text(at + mark + describe(ev))}`);
  });
  if (cut) out.push(`    Note over ${overAll}: ${text(`cut: showing the first ${head.length} of ${trace.events.length} events`)}`);
  for (const a of footer.anomalies) {
    const tag = header.scenario.expect.includes(a.type) ? "violation" : "finding";
    const example = a.examples.length > 0 ? `; e.g. ${summarizeExample(a.examples[0])}` : "";
    out.push(`    Note over ${overAll}: ${text(`⚠ ${a.type} ×${a.count} (${tag})${a.message ? `: ${a.message}` : ""}${example}`)}`);
  }
  return out.join("\n") + "\n";
}

/** A short, human sentence for one event. */
function describe(ev: TraceEventLine): string {
  const d = ev.d ?? {};
  const s = (x: unknown): string => (typeof x === "string" ? x : JSON.stringify(x) ?? String(x));
  switch (ev.k) {
    case "fault.start":
      return `fault #${s(d.index)} ${s(d.kind)}${d.shape !== undefined ? ` (${s(d.shape)})` : ""} starts on ${Array.isArray(d.nodes) ? d.nodes.join(", ") : "?"}${typeof d.durationMs === "number" ? ` for ${d.durationMs} ms` : ""}`;
    case "fault.end":
      return `fault #${s(d.index)} ${s(d.kind)} heals`;
    case "fault.skip":
      return `fault #${s(d.index)} ${s(d.kind)} skipped${d.reason !== undefined ? ` (${s(d.reason)})` : ""}`;
    case "node.crash":
      return `crash${d.mode !== undefined ? ` (${s(d.mode)})` : ""}`;
    case "node.start":
      return `start${d.boot !== undefined ? ` (boot ${s(d.boot)})` : ""}`;
    case "node.pause":
      return "paused";
    case "node.resume":
      return "resumed";
    case "op.invoke":
      return `invoke ${s(d.f)} ${s(d.value)}`;
    case "op.ok":
      return `ok ${s(d.f)} ${s(d.value)}${d.key !== undefined ? ` at ${s(d.key)}` : ""}${d.offset !== undefined ? ` offset ${s(d.offset)}` : ""}`;
    case "op.fail":
    case "op.info":
      return `${ev.k.slice(3)} ${s(d.f)} ${s(d.value)}${d.error !== undefined ? `: ${s(d.error)}` : ""}`;
    case "op.poll": {
      const range = Array.isArray(d.offsets) ? ` offsets ${s(d.offsets[0])}..${s(d.offsets[1])}` : "";
      return `poll ${s(d.key)}${range}${d.n !== undefined ? ` (${s(d.n)})` : ""}`;
    }
    default: {
      const fields = Object.entries(d)
        .map(([k, v]) => `${k}=${s(v)}`)
        .join(" ");
      const line = fields === "" ? ev.k : `${ev.k} ${fields}`;
      return line.length > 100 ? `${line.slice(0, 97)}...` : line;
    }
  }
}

function sanitizeId(node: string): string {
  let id = node.replace(/[^A-Za-z0-9_]/g, "_");
  if (!/^[A-Za-z_]/.test(id)) id = `n_${id}`;
  if (KEYWORDS.has(id.toLowerCase())) id = `${id}_`;
  return id;
}

/** Mermaid ids for node names: letters, digits and underscores only (a dash would be read as an arrow), unique. */
function participantIds(nodes: readonly string[]): Map<string, string> {
  const ids = new Map<string, string>();
  const used = new Set<string>();
  for (const node of nodes) {
    let id = sanitizeId(node);
    for (let k = 2; used.has(id); k++) id = `${sanitizeId(node)}_${k}`;
    used.add(id);
    ids.set(node, id);
  }
  return ids;
}

/**
 * Text for a message or note. Mermaid reads `;` as a statement end, `#...;`
 * as an entity and `<...>` as markup, so those become numeric entities;
 * newlines would end the statement.
 */
function text(s: string): string {
  return s.replace(/[#;<>]/g, (c) => `#${c.charCodeAt(0)};`).replace(/[\r\n]+/g, " ");
}
