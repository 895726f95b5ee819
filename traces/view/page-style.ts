/**
 * Colours shared by the stylesheet (legend, plan table) and the page script
 * (the canvas), kept in one place so that the legend always tells the truth.
 */
export const FAULT_COLORS: Record<string, string> = {
  "process-crash": "#e8590c",
  "power-loss": "#c92a2a",
  "power-loss-all": "#862e9c",
  "disk-loss": "#5c940d",
  partition: "#1971c2",
  pause: "#f08c00",
  clog: "#0c8599",
  "slow-disk": "#a61e4d",
};
export const DEFAULT_FAULT_COLOR = "#868e96";

export const PHASE_COLORS: Record<string, string> = {
  workload: "#ffffff",
  heal: "#fff9db",
  drain: "#e7f5ff",
  drained: "#ebfbee",
  "drain-timeout": "#ffe3e3",
};
export const DEFAULT_PHASE_COLOR = "#f8f9fa";

const faultRules = Object.entries(FAULT_COLORS)
  .map(([kind, color]) => `[data-kind="${kind}"]{--fault:${color}}`)
  .join("\n");
const phaseRules = Object.entries(PHASE_COLORS)
  .map(([phase, color]) => `.lg .bar.phase[data-phase="${phase}"]{background:${color}}`)
  .join("\n");

// System fonts only: the page must not load anything from the network.
export const PAGE_STYLE = `
*{box-sizing:border-box}
html,body{margin:0;padding:0}
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#212529;background:#f1f3f5;display:flex;flex-direction:column;min-height:100vh}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
header#summary{background:#fff;padding:10px 16px 6px;border-bottom:1px solid #dee2e6}
h1{font-size:18px;margin:0 0 4px}
h2{font-size:14px;margin:8px 0 4px}
.hint{color:#868e96;font-weight:normal;font-size:12px}
.verdict{display:inline-block;padding:1px 8px;border-radius:4px;color:#fff;font-size:13px;vertical-align:middle}
.verdict.pass{background:#2f9e44}.verdict.fail{background:#e03131}.verdict.error{background:#862e9c}
.facts{color:#495057}
.desc{margin:4px 0;color:#495057}
details.plan summary{cursor:pointer;font-weight:600;margin:6px 0 2px}
details.plan table{border-collapse:collapse;font-size:12px;display:block;max-height:30vh;overflow:auto}
details.plan td,details.plan th{padding:1px 8px 1px 0;text-align:left;white-space:nowrap}
details.plan tr[data-fault]{cursor:pointer}
details.plan tr[data-fault]:hover{background:#f1f3f5}
[data-kind]{--fault:#868e96}
${faultRules}
.fault-chip{border-left:10px solid var(--fault);padding-left:4px}
#anomalies>ul{list-style:none;margin:0;padding:0;max-height:40vh;overflow:auto}
#anomalies li.anomaly{margin:2px 0 6px}
.anomaly-head{cursor:pointer;display:inline-block;padding:2px 6px;border-radius:4px;border:1px solid #dee2e6;background:#fff}
.anomaly-head:hover,.example:hover{background:#fff3bf}
li.anomaly.active>.anomaly-head,.example.active{background:#ffec99;border-color:#f59f00}
.atype{font-weight:700;color:#c92a2a}
li.anomaly:not(.violation) .atype{color:#e8590c}
.count{color:#495057}
.tag{font-size:11px;padding:0 5px;border-radius:3px;margin-left:4px}
.tag.violation{background:#ffe3e3;color:#c92a2a}.tag.finding{background:#fff4e6;color:#d9480f}
.msg{color:#495057;margin-left:6px}
ol.examples{margin:2px 0 0;padding:0 0 0 28px;font-size:12px}
.example{cursor:pointer;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;padding:0 4px;border-radius:3px;border:1px solid transparent}
.example .n{color:#868e96}
.more{color:#868e96;list-style:none}
.none{color:#2f9e44;margin:0}
.cap-note{background:#fff4e6;border:1px solid #ffd8a8;padding:4px 8px;border-radius:4px;margin:6px 0}
#toolbar{display:flex;gap:6px;align-items:center;padding:6px 16px;background:#e9ecef;border-bottom:1px solid #dee2e6;position:sticky;top:0;z-index:2;flex-wrap:wrap}
#toolbar button{font:inherit;min-width:30px;padding:2px 8px;border:1px solid #adb5bd;border-radius:4px;background:#fff;cursor:pointer}
#toolbar button:hover{background:#f8f9fa}
.range{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;min-width:260px;color:#343a40}
.hl-count{color:#e67700;font-weight:600}
#main{display:flex;flex:1;min-height:300px;align-items:stretch}
#timeline{flex:1;position:relative;overflow:hidden;background:#fff;min-width:300px}
#canvas{display:block;cursor:grab;width:100%}
#canvas.dragging{cursor:grabbing}
#tooltip{position:absolute;pointer-events:none;background:rgba(33,37,41,.92);color:#fff;padding:3px 6px;border-radius:3px;font-size:12px;max-width:420px;white-space:pre-wrap;z-index:3}
#panel{width:380px;flex:none;background:#fff;border-left:1px solid #dee2e6;padding:8px 12px;overflow:auto;max-height:calc(100vh - 40px);position:sticky;top:40px}
#panel h3{margin:4px 0;font-size:14px}
#panel pre{white-space:pre-wrap;word-break:break-all;background:#f8f9fa;border:1px solid #e9ecef;padding:6px;border-radius:4px;font-size:12px;margin:4px 0}
#panel .row{cursor:pointer;font-size:12px;padding:1px 3px;border-radius:3px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
#panel .row:hover{background:#fff3bf}
#panel a{color:#1971c2;cursor:pointer;text-decoration:underline}
#panel dl{display:grid;grid-template-columns:auto 1fr;gap:1px 8px;margin:4px 0;font-size:12px}
#panel dt{color:#868e96}
#panel dd{margin:0;word-break:break-all}
#legend{padding:6px 16px;background:#fff;border-top:1px solid #dee2e6;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;color:#495057}
.lg{display:inline-flex;align-items:center;gap:4px}
.lg .dot{display:inline-block;width:9px;height:9px;border-radius:50%}
.lg .dot.op-ok{background:#2f9e44}.lg .dot.op-fail{background:#e03131}.lg .dot.op-info{background:#f59f00}.lg .dot.op-invoke{background:#91a7ff}.lg .dot.op-poll{background:#9c36b5}
.lg .dot.store{background:#1c7ed6;border-radius:1px}.lg .dot.other{background:#495057;border-radius:1px;width:3px}
.lg .bar{display:inline-block;width:18px;height:9px;border:1px solid #ced4da}
.lg .bar.down{background:repeating-linear-gradient(45deg,#495057 0 3px,#adb5bd 3px 6px)}
.lg .bar.paused{background:repeating-linear-gradient(90deg,#ffe066 0 3px,#fff9db 3px 6px)}
.lg .bar.fault{background:var(--fault);opacity:.45}
${phaseRules}
.lg .line{display:inline-block;width:18px;height:0;border-top:1px solid #868e96}
.lg .line.lost{border-top:1px dashed #e03131}
footer.foot{padding:4px 16px 10px;color:#868e96;font-size:11px;background:#fff}
`;
