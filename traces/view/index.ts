// The trace viewers: read a trace file, render it as an HTML timeline or a Mermaid sequence diagram.
export { readTrace, traceRecords, type Trace, type TraceRecord, type ReadOptions } from "./read.js";
export { renderHtml, buildPageData, DEFAULT_HTML_MAX_EVENTS, type HtmlOptions, type PageData } from "./html.js";
export { renderMermaid, DEFAULT_MERMAID_MAX_EVENTS, type MermaidOptions } from "./mermaid.js";
export { linkAnomalies, type AnomalyLink, type ExampleLink } from "./anomalies.js";
export { buildTimeline, laneOrder, type Timeline, type Arrow, type FaultSpan, type Outage, type PhaseBand } from "./timeline.js";
export { selectEvents, type Selection } from "./select.js";
