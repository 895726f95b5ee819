import type { Fault } from "../../sim/faults.js";
import type { TraceEventLine } from "../format.js";
import { linkAnomalies, type AnomalyLink } from "./anomalies.js";
import { PAGE_SCRIPT } from "./page-script.js";
import { DEFAULT_FAULT_COLOR, DEFAULT_PHASE_COLOR, FAULT_COLORS, PAGE_STYLE, PHASE_COLORS } from "./page-style.js";
import type { Trace } from "./read.js";
import { selectEvents } from "./select.js";
import { buildTimeline, type Timeline } from "./timeline.js";

export interface HtmlOptions {
  /**
   * At most this many events are embedded (node, fault, phase and
   * anomaly-related events are kept even beyond it). A page stays usable up
   * to a few hundred thousand events; beyond that the browser spends seconds
   * just parsing the data.
   */
  maxEvents?: number;
  /** Shown in the page title and header, e.g. the trace file name. */
  source?: string;
}

export const DEFAULT_HTML_MAX_EVENTS = 200_000;

/**
 * The data the page script reads, embedded as JSON. Events are rows
 * `[timeUs, lane, kind, details?]` with lanes and kinds as indices into
 * `lanes` and `kinds`: repeating the strings would triple the size of a
 * large page.
 */
export interface PageData {
  meta: {
    scenario: string;
    seed: number;
    verdict: string;
    outcome: string;
    totalEvents: number;
    embeddedEvents: number;
    dropped: Record<string, number>;
  };
  lanes: string[];
  kinds: string[];
  events: Array<[number, number, number] | [number, number, number, Record<string, unknown>]>;
  /**
   * One per message: [its event (net.msg or net.drop, on the receiver's lane, at
   * the time it arrived or was lost), sender lane, time sent in µs, 1 if lost].
   */
  arrows: Array<[number, number, number, 0 | 1]>;
  faults: Array<{ index: number; kind: string; nodes: number[]; shape?: string; startUs: number; endUs: number; startEvent: number; endEvent: number }>;
  /** [lane, "crash" | "pause", mode, startUs, endUs, startEvent, endEvent]. */
  outages: Array<[number, string, string, number, number, number, number]>;
  phases: Array<[string, number, number]>;
  anomalies: AnomalyLink[];
  colors: { faults: Record<string, string>; defaultFault: string; phases: Record<string, string>; defaultPhase: string };
}

/** Renders a trace as one self-contained HTML page: no network, no external fonts or scripts. */
export function renderHtml(trace: Trace, opts: HtmlOptions = {}): string {
  const data = buildPageData(trace, opts.maxEvents ?? DEFAULT_HTML_MAX_EVENTS);
  const { header, footer } = trace;
  const title = `mqsim · ${header.scenario.name} · seed ${header.seed}${opts.source ? ` · ${opts.source}` : ""}`;
  return [
    "<!DOCTYPE html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // A page from a file must not reach out: this policy makes any attempt fail loudly instead of leaking.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">`,
    `<title>${escapeHtml(title)}</title>`,
    `<style>${PAGE_STYLE}</style>`,
    "</head>",
    "<body>",
    renderHeader(trace, data, opts.source),
    '<div id="toolbar">',
    '<button id="zoom-in" title="Zoom in (+)">+</button>',
    '<button id="zoom-out" title="Zoom out (−)">−</button>',
    '<button id="zoom-fit" title="Whole run (0)">fit</button>',
    '<button id="pan-left" title="Earlier (←)">◀</button>',
    '<button id="pan-right" title="Later (→)">▶</button>',
    '<span id="range" class="range"></span>',
    '<label><input type="checkbox" id="show-arrows" checked> messages</label>',
    '<input id="search" type="search" placeholder="find in events (Enter)" size="26">',
    '<span id="highlight-count" class="hl-count"></span>',
    '<button id="clear-highlight" title="Clear the highlight (Esc)">clear</button>',
    "</div>",
    '<div id="main">',
    '<div id="timeline"><canvas id="canvas"></canvas><div id="tooltip" hidden></div></div>',
    '<aside id="panel"><p class="hint">Click an event for its details, or an anomaly above to see the events that explain it. Wheel to zoom, drag to pan.</p></aside>',
    "</div>",
    renderLegend(data),
    `<footer class="foot">trace hash ${escapeHtml(footer.hash)} · mqsim ${escapeHtml(header.mqsim)} · trace format ${header.format}</footer>`,
    `<script type="application/json" id="trace-data">${embedJson(data)}</script>`,
    `<script>${PAGE_SCRIPT}</script>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

/** Selects, links and packs the events for the page. Exported for tests. */
export function buildPageData(trace: Trace, maxEvents: number): PageData {
  const { header, events, footer } = trace;
  const fullLinks = linkAnomalies(events, footer.anomalies, header.scenario.expect);
  const mustKeep = new Set<number>();
  for (const a of fullLinks) for (const ex of a.examples) for (const i of ex.events) mustKeep.add(i);
  const selection = selectEvents(events, maxEvents, mustKeep);

  // Renumber: anomaly links were found on the full trace, the page holds the kept events only.
  const renumber = new Map<number, number>();
  const kept: TraceEventLine[] = selection.kept.map((i, j) => {
    renumber.set(i, j);
    return events[i]!;
  });
  const anomalies = fullLinks.map((a) => ({
    ...a,
    examples: a.examples.map((ex) => ({ ...ex, events: ex.events.map((i) => renumber.get(i)!) })),
  }));

  const timeline: Timeline = buildTimeline(kept);
  const laneIndex = new Map(timeline.lanes.map((n, i) => [n, i]));
  const kinds: string[] = [];
  const kindIndex = new Map<string, number>();
  const packed: PageData["events"] = kept.map((ev) => {
    let k = kindIndex.get(ev.k);
    if (k === undefined) {
      k = kinds.length;
      kinds.push(ev.k);
      kindIndex.set(ev.k, k);
    }
    const lane = laneIndex.get(ev.n)!;
    return ev.d === undefined ? [ev.t, lane, k] : [ev.t, lane, k, ev.d];
  });
  const laneOf = (n: string): number => laneIndex.get(n) ?? -1;
  return {
    meta: {
      scenario: header.scenario.name,
      seed: header.seed,
      verdict: footer.verdict,
      outcome: footer.outcome,
      totalEvents: events.length,
      embeddedEvents: kept.length,
      dropped: selection.dropped,
    },
    lanes: timeline.lanes,
    kinds,
    events: packed,
    arrows: timeline.arrows.map((a) => [a.event, laneOf(a.from), a.sentUs, a.lost ? 1 : 0]),
    faults: timeline.faults.map((f) => ({
      index: f.index,
      kind: f.kind,
      nodes: f.nodes.map(laneOf).filter((l) => l >= 0),
      ...(f.shape !== undefined ? { shape: f.shape } : {}),
      startUs: f.startUs,
      endUs: f.endUs,
      startEvent: f.startEvent,
      endEvent: f.endEvent,
    })),
    outages: timeline.outages.map((o) => [laneOf(o.node), o.what, o.mode ?? "", o.startUs, o.endUs, o.startEvent, o.endEvent]),
    phases: timeline.phases.map((p) => [p.phase, p.startUs, p.endUs]),
    anomalies,
    colors: { faults: FAULT_COLORS, defaultFault: DEFAULT_FAULT_COLOR, phases: PHASE_COLORS, defaultPhase: DEFAULT_PHASE_COLOR },
  };
}

/**
 * JSON that is safe inside a script element: `<` becomes `\u003c`, so no
 * `</script>` or `<!--` in a detail can end the element early. JSON.parse
 * reads the escape back as `<`.
 */
export function embedJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function formatSeconds(us: number): string {
  return `${(us / 1_000_000).toFixed(3)} s`;
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s` : `${ms} ms`;
}

function renderHeader(trace: Trace, data: PageData, source: string | undefined): string {
  const { header, footer } = trace;
  const s = header.scenario;
  const verdictClass = footer.verdict === "pass" ? "pass" : footer.verdict === "fail" ? "fail" : "error";
  const facts = [
    `seed <b>${header.seed}</b>`,
    escapeHtml(s.system),
    `outcome <b>${escapeHtml(footer.outcome)}</b>`,
    `${footer.events.toLocaleString("en-US")} events`,
    s.expect.length > 0 ? `must not show: ${s.expect.map(escapeHtml).join(", ")}` : "no guarantee checked",
  ];
  if (source) facts.push(escapeHtml(source));
  const parts = [
    '<header id="summary">',
    `<h1><span class="scenario">${escapeHtml(s.name)}</span> <span id="verdict" class="verdict ${verdictClass}">${escapeHtml(footer.verdict.toUpperCase())}</span></h1>`,
    `<div class="facts">${facts.join(" · ")}</div>`,
    s.description ? `<p class="desc">${escapeHtml(s.description)}</p>` : "",
    renderPlan(header.plan, trace.events),
    renderAnomalies(data.anomalies),
  ];
  if (data.meta.embeddedEvents < data.meta.totalEvents) {
    const dropped = Object.entries(data.meta.dropped)
      .map(([tier, n]) => `${n.toLocaleString("en-US")} ${tier}`)
      .join(", ");
    parts.push(
      `<p id="cap-note" class="cap-note">Showing ${data.meta.embeddedEvents.toLocaleString("en-US")} of ${data.meta.totalEvents.toLocaleString("en-US")} events: dropped ${dropped} events, thinned evenly over the run. Node, fault and phase events and the events linked to anomalies are all kept.</p>`,
    );
  }
  parts.push("</header>");
  return parts.join("\n");
}

function renderPlan(plan: readonly Fault[], events: readonly TraceEventLine[]): string {
  if (plan.length === 0) return '<details class="plan"><summary>Fault plan: none</summary></details>';
  // What each planned fault actually hit, from the nemesis's own log.
  const outcome = new Map<number, string>();
  for (const ev of events) {
    if (ev.n !== "nemesis" || typeof ev.d?.index !== "number") continue;
    if (ev.k === "fault.start" && Array.isArray(ev.d.nodes)) outcome.set(ev.d.index, `hit ${ev.d.nodes.join(", ")}`);
    if (ev.k === "fault.skip") outcome.set(ev.d.index, `skipped${typeof ev.d.reason === "string" ? ` (${ev.d.reason})` : ""}`);
  }
  const rows = plan.map((f, i) => {
    const where = [f.targets.length > 0 ? f.targets.join(", ") : "", f.shape ?? "", f.groups ? f.groups.map((g) => `[${g.join(" ")}]`).join(" / ") : ""].filter((x) => x !== "").join(" ");
    return `<tr data-fault="${i}"><td>#${i}</td><td>${formatSeconds(f.atMs * 1000)}</td><td><span class="fault-chip" data-kind="${escapeHtml(f.kind)}">${escapeHtml(f.kind)}</span></td><td>${formatMs(f.durationMs)}</td><td>${escapeHtml(where)}</td><td>${escapeHtml(outcome.get(i) ?? "not reached")}</td></tr>`;
  });
  const kinds = [...new Set(plan.map((f) => f.kind))].join(", ");
  return [
    // A long plan starts folded so that the timeline stays near the top of the page.
    `<details class="plan"${plan.length <= 8 ? " open" : ""}><summary>Fault plan: ${plan.length} fault${plan.length === 1 ? "" : "s"} (${escapeHtml(kinds)})</summary>`,
    "<table><thead><tr><th></th><th>at</th><th>kind</th><th>for</th><th>targets</th><th>what happened</th></tr></thead><tbody>",
    ...rows,
    "</tbody></table></details>",
  ].join("\n");
}

/** A one-line summary of an example: its scalar fields, then nested ones as short JSON. */
export function summarizeExample(example: unknown): string {
  if (example === null || typeof example !== "object") return JSON.stringify(example) ?? String(example);
  const parts = Object.entries(example as Record<string, unknown>).map(([k, v]) => {
    const text = typeof v === "string" ? v : JSON.stringify(v) ?? String(v);
    return `${k}=${text.length > 80 ? `${text.slice(0, 77)}...` : text}`;
  });
  return parts.join(" ");
}

function renderAnomalies(anomalies: readonly AnomalyLink[]): string {
  if (anomalies.length === 0) return '<section id="anomalies"><h2>Anomalies</h2><p class="none">None found.</p></section>';
  const items = anomalies.map((a, ai) => {
    const examples = a.examples.map((ex, xi) => {
      const n = ex.events.length;
      return `<li class="example" data-anomaly="${ai}" data-example="${xi}" tabindex="0">${escapeHtml(summarizeExample(ex.example))} <span class="n">(${n === 0 ? "no matching event" : `${n} event${n === 1 ? "" : "s"}`})</span></li>`;
    });
    const tag = a.violation ? '<span class="tag violation">violation</span>' : '<span class="tag finding">finding</span>';
    const more = a.count > a.examples.length ? `<li class="more">and ${a.count - a.examples.length} more</li>` : "";
    return [
      `<li class="anomaly${a.violation ? " violation" : ""}" data-anomaly="${ai}">`,
      `<div class="anomaly-head" data-anomaly="${ai}" tabindex="0"><span class="atype">${escapeHtml(a.type)}</span> <span class="count">×${a.count}</span> ${tag}${a.message ? ` <span class="msg">${escapeHtml(a.message)}</span>` : ""}</div>`,
      `<ol class="examples">${examples.join("")}${more}</ol>`,
      "</li>",
    ].join("");
  });
  return `<section id="anomalies"><h2>Anomalies <span class="hint">(click one to highlight the events that explain it)</span></h2><ul>${items.join("\n")}</ul></section>`;
}

function renderLegend(data: PageData): string {
  const faultKinds = [...new Set(data.faults.map((f) => f.kind))];
  const phases = [...new Set(data.phases.map((p) => p[0]))];
  const chips = [
    '<span class="lg"><i class="dot op-ok"></i>op ok</span>',
    '<span class="lg"><i class="dot op-fail"></i>op fail</span>',
    '<span class="lg"><i class="dot op-info"></i>op info (indeterminate)</span>',
    '<span class="lg"><i class="dot op-invoke"></i>op invoke</span>',
    '<span class="lg"><i class="dot op-poll"></i>poll</span>',
    '<span class="lg"><i class="dot store"></i>store</span>',
    '<span class="lg"><i class="dot other"></i>other event</span>',
    '<span class="lg"><i class="bar down"></i>node down</span>',
    '<span class="lg"><i class="bar paused"></i>paused</span>',
    '<span class="lg"><i class="line msg"></i>message</span>',
    '<span class="lg"><i class="line lost"></i>message lost</span>',
    ...faultKinds.map((k) => `<span class="lg"><i class="bar fault" data-kind="${escapeHtml(k)}"></i>${escapeHtml(k)}</span>`),
    ...phases.map((p) => `<span class="lg"><i class="bar phase" data-phase="${escapeHtml(p)}"></i>${escapeHtml(p)} phase</span>`),
  ];
  return `<div id="legend">${chips.join(" ")}</div>`;
}
