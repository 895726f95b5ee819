/**
 * The script of the trace page, run by the browser. It is plain ES2017 kept
 * in a string (the project compiles for Node without DOM types, and the page
 * must not load anything), so it avoids backquotes and dollar-brace; a test
 * compiles it with `new Function` and a browser test runs it.
 *
 * It draws on one canvas, only what lies in the visible time window, and
 * thins marks to one per lane, category and pixel column: a frame costs the
 * visible events, not the whole trace.
 */
export const PAGE_SCRIPT = String.raw`
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("trace-data").textContent);
  var lanes = data.lanes, kinds = data.kinds, rows = data.events;
  var N = rows.length, NL = lanes.length;
  var colors = data.colors;

  // ---- columns: typed arrays make the per-frame loops cheap ----
  var CAT = { NET: 0, OK: 1, FAIL: 2, INFO: 3, INVOKE: 4, POLL: 5, CRASH: 6, START: 7, PAUSE: 8, FAULT: 9, RUNNER: 10, STORE: 11, OTHER: 12 };
  var NCAT = 13;
  function categoryOf(kind) {
    if (kind.indexOf("net.") === 0) return CAT.NET;
    if (kind === "op.ok") return CAT.OK;
    if (kind === "op.fail") return CAT.FAIL;
    if (kind === "op.info") return CAT.INFO;
    if (kind === "op.invoke") return CAT.INVOKE;
    if (kind === "op.poll" || kind.indexOf("op.") === 0) return CAT.POLL;
    if (kind === "node.crash") return CAT.CRASH;
    if (kind === "node.start") return CAT.START;
    if (kind === "node.pause" || kind === "node.resume") return CAT.PAUSE;
    if (kind.indexOf("fault.") === 0) return CAT.FAULT;
    if (kind === "phase" || kind === "start" || kind === "verdict") return CAT.RUNNER;
    if (kind.indexOf("store.") === 0) return CAT.STORE;
    return CAT.OTHER;
  }
  var kindCat = kinds.map(categoryOf);
  var T = new Float64Array(N), L = new Uint16Array(N), K = new Uint16Array(N), C = new Uint8Array(N);
  for (var i = 0; i < N; i++) {
    var r = rows[i];
    T[i] = r[0]; L[i] = r[1]; K[i] = r[2]; C[i] = kindCat[r[2]];
  }
  // Messages: one event each (net.msg or net.drop) on the receiver's lane, at the time it arrived or was lost;
  // the arrow starts on the sender's lane at the time it was sent.
  var NA = data.arrows.length;
  var AE = new Int32Array(NA), AF = new Int32Array(NA), ASENT = new Float64Array(NA), ALOST = new Uint8Array(NA);
  var arrowOf = new Int32Array(N).fill(-1);
  // Delivered and lost messages apart, each in event order (so by arrival time), with its longest flight:
  // a drop can come long after the send (a reset after a timeout), which must not widen the scan for the others.
  var delivered = [], lostList = [];
  var maxLatency = 0, maxLostSpan = 0;
  for (var a = 0; a < NA; a++) {
    var ar = data.arrows[a];
    AE[a] = ar[0]; AF[a] = ar[1]; ASENT[a] = ar[2]; ALOST[a] = ar[3];
    arrowOf[ar[0]] = a;
    var flight = T[ar[0]] - ar[2];
    if (ar[3]) { lostList.push(a); if (flight > maxLostSpan) maxLostSpan = flight; }
    else { delivered.push(a); if (flight > maxLatency) maxLatency = flight; }
  }
  var DELIVERED = Int32Array.from(delivered), LOST = Int32Array.from(lostList);
  // Which anomaly examples each event explains, for the details panel.
  var linkedTo = new Map();
  data.anomalies.forEach(function (an, ai) {
    an.examples.forEach(function (ex, xi) {
      ex.events.forEach(function (e) {
        if (!linkedTo.has(e)) linkedTo.set(e, []);
        linkedTo.get(e).push([ai, xi]);
      });
    });
  });
  var nemesisLane = lanes.indexOf("nemesis");

  var startUs = N > 0 ? T[0] : 0;
  var endUs = N > 0 ? T[N - 1] : 1;
  if (endUs <= startUs) endUs = startUs + 1000;
  var fullSpan = endUs - startUs;
  var MIN_SPAN_US = 20;
  var view = { t0: 0, t1: 1 };
  function fit() {
    var pad = fullSpan * 0.01;
    setView(startUs - pad, endUs + pad);
  }

  // ---- layout ----
  // Few lanes get taller rows: a short trace should not look like a strip.
  var GUTTER = 150, AXIS = 36, LANE_H = NL <= 8 ? 36 : NL <= 16 ? 30 : 24;
  var canvas = document.getElementById("canvas");
  var ctx = canvas.getContext("2d");
  var box = document.getElementById("timeline");
  var tooltip = document.getElementById("tooltip");
  var cssW = 800, cssH = AXIS + NL * LANE_H + 12;
  function plotW() { return Math.max(50, cssW - GUTTER - 10); }
  function X(t) { return GUTTER + (t - view.t0) / (view.t1 - view.t0) * plotW(); }
  function tAt(x) { return view.t0 + (x - GUTTER) / plotW() * (view.t1 - view.t0); }
  function laneTop(l) { return AXIS + l * LANE_H; }
  function laneMid(l) { return AXIS + l * LANE_H + LANE_H / 2; }

  function resize() {
    cssW = Math.max(360, box.clientWidth);
    cssH = AXIS + NL * LANE_H + 12;
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    canvas.style.height = cssH + "px";
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    requestDraw();
  }

  function lowerBound(t) {
    var lo = 0, hi = N;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (T[mid] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function lowerBoundArrow(list, t) {
    var lo = 0, hi = list.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (T[AE[list[mid]]] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }

  // ---- formatting ----
  function decimalsFor(spanUs) {
    var d = Math.ceil(-Math.log10(Math.max(spanUs, 1) / 1e6));
    return Math.min(6, Math.max(0, d));
  }
  function fmtTime(us, decimals) { return (us / 1e6).toFixed(decimals) + " s"; }
  function fmtExact(us) { return (us / 1e6).toFixed(6) + " s"; }
  function fmtDuration(us) {
    if (us >= 1e6) return (us / 1e6).toFixed(3) + " s";
    if (us >= 1000) return (us / 1000).toFixed(3) + " ms";
    return us + " µs";
  }
  function niceStep(raw) {
    var p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1))));
    var m = raw / p;
    return Math.max(1, (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p);
  }
  function lineOf(i) {
    var o = { t: T[i], n: lanes[L[i]], k: kinds[K[i]] };
    if (rows[i].length > 3) o.d = rows[i][3];
    return JSON.stringify(o);
  }
  function shortDetails(i) {
    var d = rows[i][3];
    if (!d) return "";
    var s = JSON.stringify(d);
    return s.length > 140 ? s.slice(0, 137) + "..." : s;
  }
  function faultColor(kind) { return colors.faults[kind] || colors.defaultFault; }
  function phaseColor(p) { return colors.phases[p] || colors.defaultPhase; }

  // ---- patterns for outages ----
  function stripes(a, b, angle) {
    var c = document.createElement("canvas");
    c.width = 8; c.height = 8;
    var g = c.getContext("2d");
    g.fillStyle = b; g.fillRect(0, 0, 8, 8);
    g.strokeStyle = a; g.lineWidth = 3;
    g.beginPath();
    if (angle) { g.moveTo(-2, 10); g.lineTo(10, -2); g.moveTo(-2, 2); g.lineTo(2, -2); g.moveTo(6, 10); g.lineTo(10, 6); }
    else { g.moveTo(2, 0); g.lineTo(2, 8); }
    g.stroke();
    return ctx.createPattern(c, "repeat");
  }
  var downPattern = stripes("#495057", "#adb5bd", true);
  var pausePattern = stripes("#fcc419", "#fff9db", false);

  // ---- state ----
  var showArrows = true;
  var hl = new Uint8Array(N);
  var hlList = [];
  var hlMoments = [];
  var selected = -1;
  var selectedFault = null;
  var drawPending = false;
  function requestDraw() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(function () { drawPending = false; draw(); });
  }

  function setView(t0, t1) {
    var span = Math.max(MIN_SPAN_US, t1 - t0);
    var maxSpan = fullSpan * 1.5 + 1000;
    if (span > maxSpan) { var c = (t0 + t1) / 2; t0 = c - maxSpan / 2; span = maxSpan; }
    // Keep some of the run in view: panning past either end would show an empty canvas.
    var lo = startUs - span * 0.9, hi = endUs - span * 0.1;
    if (t0 < lo) t0 = lo;
    if (t0 > hi) t0 = hi;
    view.t0 = t0; view.t1 = t0 + span;
    var rangeEl = document.getElementById("range");
    var d = decimalsFor(span / 10);
    rangeEl.textContent = fmtTime(view.t0, d) + " – " + fmtTime(view.t1, d) + "  (" + fmtDuration(Math.round(span)) + ")";
    rangeEl.dataset.t0 = String(Math.round(view.t0));
    rangeEl.dataset.t1 = String(Math.round(view.t1));
    requestDraw();
  }
  function zoomAt(tc, factor) {
    var span = view.t1 - view.t0;
    var next = Math.max(MIN_SPAN_US, span * factor);
    setView(tc - (tc - view.t0) * (next / span), tc - (tc - view.t0) * (next / span) + next);
  }
  function panBy(fraction) {
    var span = view.t1 - view.t0;
    setView(view.t0 + span * fraction, view.t1 + span * fraction);
  }
  function showRange(tmin, tmax) {
    var pad = Math.max((tmax - tmin) * 0.15, 20000);
    setView(tmin - pad, tmax + pad);
  }
  function ensureVisible(t) {
    if (t < view.t0 || t > view.t1) {
      var span = view.t1 - view.t0;
      setView(t - span / 2, t + span / 2);
    }
  }

  // ---- drawing ----
  var lastX = new Int32Array(Math.max(1, NL) * NCAT);
  var buckets = [];
  for (var b = 0; b < NCAT; b++) buckets.push([]);
  var faultMarks = [];

  function draw() {
    var W = cssW, H = cssH, pw = plotW();
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, H);
    ctx.save();
    ctx.beginPath();
    ctx.rect(GUTTER, 0, pw + 10, H);
    ctx.clip();
    drawPhases(H);
    drawLaneStripes(W);
    drawGrid(H);
    drawFaults();
    drawOutages();
    if (showArrows) drawArrows();
    drawEvents();
    drawHighlights(H);
    ctx.restore();
    drawGutter(H);
  }

  function drawPhases(H) {
    ctx.font = "11px system-ui, sans-serif";
    data.phases.forEach(function (p) {
      if (p[2] < view.t0 || p[1] > view.t1) return;
      var x1 = Math.max(GUTTER, X(p[1])), x2 = Math.min(cssW, X(p[2]));
      ctx.fillStyle = phaseColor(p[0]);
      ctx.fillRect(x1, 0, Math.max(1, x2 - x1), H);
      ctx.fillStyle = "#adb5bd";
      ctx.fillRect(X(p[1]), 0, 1, H);
      if (x2 - x1 > 40) { ctx.fillStyle = "#868e96"; ctx.fillText(p[0], x1 + 4, 12); }
    });
  }

  function drawLaneStripes(W) {
    for (var l = 0; l < NL; l++) {
      if (l % 2 === 1) { ctx.fillStyle = "rgba(0,0,0,0.028)"; ctx.fillRect(GUTTER, laneTop(l), W, LANE_H); }
      ctx.fillStyle = "#e9ecef";
      ctx.fillRect(GUTTER, laneTop(l) + LANE_H - 1, W, 1);
    }
  }

  function drawGrid(H) {
    var span = view.t1 - view.t0;
    var step = niceStep(span / Math.max(1, plotW() / 110));
    var d = decimalsFor(step);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#495057";
    for (var t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      var x = Math.round(X(t)) + 0.5;
      ctx.fillStyle = "rgba(0,0,0,0.06)";
      ctx.fillRect(x, AXIS, 1, H - AXIS);
      ctx.fillStyle = "#868e96";
      ctx.fillRect(x, AXIS - 6, 1, 6);
      ctx.fillStyle = "#495057";
      ctx.fillText(fmtTime(t, d), x + 3, AXIS - 8);
    }
    ctx.fillStyle = "#ced4da";
    ctx.fillRect(GUTTER, AXIS - 1, cssW, 1);
  }

  function drawFaults() {
    ctx.font = "11px system-ui, sans-serif";
    data.faults.forEach(function (f) {
      if (f.endUs < view.t0 || f.startUs > view.t1) return;
      var x1 = X(f.startUs), x2 = Math.max(X(f.endUs), x1 + 2);
      var col = faultColor(f.kind);
      var isSel = selectedFault === f;
      f.nodes.forEach(function (l) {
        ctx.globalAlpha = isSel ? 0.4 : 0.22;
        ctx.fillStyle = col;
        ctx.fillRect(x1, laneTop(l) + 1, x2 - x1, LANE_H - 2);
        ctx.globalAlpha = 1;
        ctx.fillRect(x1, laneTop(l) + 1, 2, LANE_H - 2);
      });
      if (nemesisLane >= 0) {
        var y = laneTop(nemesisLane);
        ctx.globalAlpha = 0.5;
        ctx.fillStyle = col;
        ctx.fillRect(x1, y + 4, x2 - x1, LANE_H - 8);
        ctx.globalAlpha = 1;
        if (isSel) { ctx.strokeStyle = "#1971c2"; ctx.lineWidth = 2; ctx.strokeRect(x1, y + 4, x2 - x1, LANE_H - 8); }
        var label = "#" + f.index + " " + f.kind + (f.shape ? " (" + f.shape + ")" : "");
        var lx = Math.max(x1, GUTTER) + 4;
        if (x2 - lx > ctx.measureText(label).width + 4) { ctx.fillStyle = "#212529"; ctx.fillText(label, lx, y + LANE_H / 2 + 4); }
      }
    });
  }

  function drawOutages() {
    ctx.font = "11px system-ui, sans-serif";
    data.outages.forEach(function (o) {
      if (o[0] < 0 || o[4] < view.t0 || o[3] > view.t1) return;
      var x1 = X(o[3]), x2 = Math.max(X(o[4]), x1 + 2);
      var y = laneTop(o[0]) + LANE_H * 0.3, h = LANE_H * 0.4;
      ctx.fillStyle = o[1] === "crash" ? downPattern : pausePattern;
      ctx.fillRect(x1, y, x2 - x1, h);
      var label = o[1] === "crash" ? "down" + (o[2] ? " (" + o[2] + ")" : "") : "paused";
      var lx = Math.max(x1, GUTTER) + 4;
      if (x2 - lx > ctx.measureText(label).width + 8) {
        var w = ctx.measureText(label).width;
        ctx.fillStyle = "rgba(255,255,255,0.85)";
        ctx.fillRect(lx - 2, y - 1, w + 4, h + 2);
        ctx.fillStyle = "#212529";
        ctx.fillText(label, lx, y + h - 2);
      }
    });
  }

  // The messages in view: those sent before its end that arrive (or are lost) after its start.
  function visibleArrows(list, maxFlight, out) {
    var seen = new Map();
    for (var k = lowerBoundArrow(list, view.t0); k < list.length; k++) {
      var a = list[k], r = AE[a];
      if (T[r] > view.t1 + maxFlight) break;
      if (ASENT[a] > view.t1 || AF[a] < 0) continue;
      var x1 = X(ASENT[a]), y1 = laneMid(AF[a]), x2 = X(T[r]), y2 = laneMid(L[r]);
      // One arrow per lane pair and pixel column: at a coarse zoom thousands coincide.
      var key = AF[a] * 65536 + L[r];
      var px = (x1 | 0) * 100000 + (x2 | 0);
      if (seen.get(key) === px) continue;
      seen.set(key, px);
      out.push(x1, y1, x2, y2);
    }
  }
  function drawArrows() {
    var drawn = 0, heads = [];
    var arrows = [], lost = [];
    visibleArrows(DELIVERED, maxLatency, arrows);
    visibleArrows(LOST, maxLostSpan, lost);
    ctx.beginPath();
    for (var q = 0; q < arrows.length; q += 4) {
      ctx.moveTo(arrows[q], arrows[q + 1]);
      ctx.lineTo(arrows[q + 2], arrows[q + 3]);
      drawn++;
      if (heads.length < 4000 * 4) heads.push(arrows[q], arrows[q + 1], arrows[q + 2], arrows[q + 3]);
    }
    ctx.strokeStyle = drawn > 5000 ? "rgba(134,142,150,0.25)" : "rgba(134,142,150,0.6)";
    ctx.lineWidth = 1;
    ctx.stroke();
    if (drawn <= 4000) {
      ctx.beginPath();
      for (var h = 0; h < heads.length; h += 4) arrowHead(heads[h], heads[h + 1], heads[h + 2], heads[h + 3], 5);
      ctx.fillStyle = "rgba(134,142,150,0.8)";
      ctx.fill();
    }
    if (lost.length > 0) {
      // A lost message: a red dashed line from its send to a cross where, and when, the receiver lost it.
      ctx.beginPath();
      for (var k = 0; k < lost.length; k += 4) { ctx.moveTo(lost[k], lost[k + 1]); ctx.lineTo(lost[k + 2], lost[k + 3]); }
      ctx.strokeStyle = "rgba(224,49,49,0.7)";
      ctx.setLineDash([3, 2]);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.beginPath();
      for (var m = 0; m < lost.length; m += 4) {
        var ex = lost[m + 2], ey = lost[m + 3];
        ctx.moveTo(ex - 4, ey - 4); ctx.lineTo(ex + 4, ey + 4);
        ctx.moveTo(ex - 4, ey + 4); ctx.lineTo(ex + 4, ey - 4);
      }
      // Opaque and thick enough to read over a node's outage stripes, where most drops land.
      ctx.strokeStyle = "#e03131";
      ctx.lineWidth = 2;
      ctx.stroke();
      ctx.lineWidth = 1;
    }
  }
  function arrowHead(x1, y1, x2, y2, size) {
    var dx = x2 - x1, dy = y2 - y1, len = Math.sqrt(dx * dx + dy * dy);
    if (len < size * 2) return;
    var ux = dx / len, uy = dy / len;
    ctx.moveTo(x2, y2);
    ctx.lineTo(x2 - ux * size - uy * size * 0.5, y2 - uy * size + ux * size * 0.5);
    ctx.lineTo(x2 - ux * size + uy * size * 0.5, y2 - uy * size - ux * size * 0.5);
    ctx.closePath();
  }

  var CAT_STYLE = [
    { color: "#adb5bd", shape: "tick", h: 8 },
    { color: "#2f9e44", shape: "dot", r: 3.5 },
    { color: "#e03131", shape: "dot", r: 3.5 },
    { color: "#f59f00", shape: "dot", r: 3.5 },
    { color: "#91a7ff", shape: "dot", r: 2.5 },
    { color: "#9c36b5", shape: "square", r: 3 },
    { color: "#e03131", shape: "cross", r: 5 },
    { color: "#2f9e44", shape: "triangle", r: 5 },
    { color: "#f08c00", shape: "bar", h: 14 },
    { color: "#495057", shape: "diamond", r: 5 },
    { color: "#343a40", shape: "tick", h: 18 },
    { color: "#1c7ed6", shape: "tick", h: 12, w: 2 },
    { color: "#495057", shape: "tick", h: 12, w: 2 }
  ];

  function drawEvents() {
    lastX.fill(-1);
    for (var b = 0; b < NCAT; b++) buckets[b].length = 0;
    faultMarks.length = 0;
    var end = N;
    for (var i = lowerBound(view.t0); i < end; i++) {
      var t = T[i];
      if (t > view.t1) break;
      var c = C[i], l = L[i];
      var x = X(t);
      var xi = x | 0;
      var slot = l * NCAT + c;
      if (c !== CAT.FAULT) {
        if (lastX[slot] === xi) continue;
        lastX[slot] = xi;
        buckets[c].push(x, laneMid(l));
      } else {
        faultMarks.push(i);
      }
    }
    for (var c2 = 0; c2 < NCAT; c2++) {
      var pts = buckets[c2];
      if (pts.length === 0) continue;
      var st = CAT_STYLE[c2];
      ctx.beginPath();
      for (var p = 0; p < pts.length; p += 2) shape(st, pts[p], pts[p + 1]);
      if (st.shape === "cross") { ctx.strokeStyle = st.color; ctx.lineWidth = 2; ctx.stroke(); ctx.lineWidth = 1; }
      else { ctx.fillStyle = st.color; ctx.fill(); }
    }
    faultMarks.forEach(function (i) {
      var d = rows[i][3] || {};
      ctx.beginPath();
      shape(CAT_STYLE[CAT.FAULT], X(T[i]), laneMid(L[i]));
      ctx.fillStyle = faultColor(d.kind);
      ctx.fill();
      ctx.strokeStyle = "#212529";
      ctx.stroke();
    });
  }
  function shape(st, x, y) {
    switch (st.shape) {
      case "dot": ctx.moveTo(x + st.r, y); ctx.arc(x, y, st.r, 0, Math.PI * 2); break;
      case "square": ctx.rect(x - st.r, y - st.r, st.r * 2, st.r * 2); break;
      case "tick": ctx.rect(x - (st.w || 1) / 2, y - st.h / 2, st.w || 1, st.h); break;
      case "bar": ctx.rect(x - 1.5, y - st.h / 2, 3, st.h); break;
      case "cross": ctx.moveTo(x - st.r, y - st.r); ctx.lineTo(x + st.r, y + st.r); ctx.moveTo(x - st.r, y + st.r); ctx.lineTo(x + st.r, y - st.r); break;
      case "triangle": ctx.moveTo(x, y - st.r); ctx.lineTo(x + st.r, y + st.r * 0.8); ctx.lineTo(x - st.r, y + st.r * 0.8); ctx.closePath(); break;
      case "diamond": ctx.moveTo(x, y - st.r); ctx.lineTo(x + st.r, y); ctx.lineTo(x, y + st.r); ctx.lineTo(x - st.r, y); ctx.closePath(); break;
    }
  }

  function drawHighlights(H) {
    // Moments named by an anomaly (e.g. when a liveness check gave up).
    hlMoments.forEach(function (t) {
      if (t < view.t0 || t > view.t1) return;
      var x = X(t);
      ctx.strokeStyle = "#f08c00"; ctx.lineWidth = 1.5; ctx.setLineDash([5, 3]);
      ctx.beginPath(); ctx.moveTo(x, AXIS); ctx.lineTo(x, H); ctx.stroke();
      ctx.setLineDash([]); ctx.lineWidth = 1;
    });
    if (hlList.length > 0) {
      var lo = 0, hi = hlList.length;
      while (lo < hi) { var mid = (lo + hi) >> 1; if (T[hlList[mid]] < view.t0) lo = mid + 1; else hi = mid; }
      var guides = hlList.length <= 64;
      var lastPx = -1e9;
      ctx.lineWidth = 2;
      for (var j = lo; j < hlList.length; j++) {
        var i = hlList[j];
        if (T[i] > view.t1) break;
        var x = X(T[i]), y = laneMid(L[i]);
        if (guides && Math.abs(x - lastPx) > 1) {
          ctx.fillStyle = "rgba(245,159,0,0.35)";
          ctx.fillRect(x - 0.5, AXIS, 1, H - AXIS);
          lastPx = x;
        }
        ctx.beginPath();
        ctx.arc(x, y, 8, 0, Math.PI * 2);
        ctx.fillStyle = "rgba(255,212,59,0.45)";
        ctx.fill();
        ctx.strokeStyle = "#f08c00";
        ctx.stroke();
      }
      ctx.lineWidth = 1;
    }
    if (selected >= 0 && T[selected] >= view.t0 && T[selected] <= view.t1) {
      var sx = X(T[selected]), sy = laneMid(L[selected]);
      var a = arrowOf[selected];
      if (a >= 0 && AF[a] >= 0) {
        var fx = X(ASENT[a]), fy = laneMid(AF[a]);
        ctx.strokeStyle = "#1971c2"; ctx.lineWidth = 2;
        if (ALOST[a]) ctx.setLineDash([4, 3]);
        ctx.beginPath();
        ctx.moveTo(fx, fy); ctx.lineTo(sx, sy);
        ctx.stroke();
        ctx.setLineDash([]);
        if (!ALOST[a]) { ctx.beginPath(); arrowHead(fx, fy, sx, sy, 7); ctx.fillStyle = "#1971c2"; ctx.fill(); }
      }
      ctx.strokeStyle = "#1971c2"; ctx.lineWidth = 2.5;
      ctx.beginPath(); ctx.arc(sx, sy, 9, 0, Math.PI * 2); ctx.stroke();
      ctx.lineWidth = 1;
    }
  }

  function drawGutter(H) {
    ctx.fillStyle = "#f8f9fa";
    ctx.fillRect(0, 0, GUTTER, H);
    ctx.fillStyle = "#dee2e6";
    ctx.fillRect(GUTTER - 1, 0, 1, H);
    ctx.font = "12px system-ui, sans-serif";
    ctx.textAlign = "right";
    for (var l = 0; l < NL; l++) {
      var name = lanes[l];
      ctx.fillStyle = name === "nemesis" ? "#c92a2a" : name === "runner" ? "#868e96" : /^(producer|consumer|client)/.test(name) ? "#1864ab" : "#212529";
      var text = name.length > 20 ? name.slice(0, 19) + "…" : name;
      ctx.fillText(text, GUTTER - 8, laneMid(l) + 4);
    }
    ctx.textAlign = "left";
    ctx.fillStyle = "#868e96";
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText("time →", 8, AXIS - 8);
  }

  // ---- hit testing ----
  function hitEvent(x, y) {
    var lane = Math.floor((y - AXIS) / LANE_H);
    if (lane < 0 || lane >= NL || x < GUTTER) return -1;
    var best = -1, bestCost = 1e9, scanned = 0;
    for (var i = lowerBound(tAt(x - 7)); i < N && T[i] <= tAt(x + 7) && scanned < 50000; i++, scanned++) {
      if (L[i] !== lane) continue;
      // Prefer a meaningful event to a message tick under the same pixel.
      var cost = Math.abs(X(T[i]) - x) + (C[i] === CAT.NET ? 3 : 0) - (hl[i] ? 2 : 0);
      if (cost < bestCost) { bestCost = cost; best = i; }
    }
    return best;
  }
  function hitFault(x, y) {
    var lane = Math.floor((y - AXIS) / LANE_H);
    if (lane < 0 || lane >= NL || x < GUTTER) return null;
    var t = tAt(x), found = null;
    data.faults.forEach(function (f) {
      if (t >= f.startUs && t <= f.endUs && (lane === nemesisLane || f.nodes.indexOf(lane) >= 0)) found = f;
    });
    return found;
  }

  // ---- details panel ----
  var panel = document.getElementById("panel");
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function link(text, onClick) {
    var a = el("a", "", text);
    a.tabIndex = 0;
    a.addEventListener("click", onClick);
    return a;
  }
  function eventRow(i) {
    var row = el("div", "row", fmtExact(T[i]) + "  " + lanes[L[i]] + "  " + kinds[K[i]] + "  " + shortDetails(i));
    row.title = lineOf(i);
    row.addEventListener("click", function () { select(i, true); });
    return row;
  }
  function dl(pairs) {
    var d = el("dl");
    pairs.forEach(function (p) { d.appendChild(el("dt", "", p[0])); var dd = el("dd"); if (typeof p[1] === "string") dd.textContent = p[1]; else dd.appendChild(p[1]); d.appendChild(dd); });
    return d;
  }
  function laneNeighbour(i, dir) {
    for (var j = i + dir; j >= 0 && j < N; j += dir) if (L[j] === L[i]) return j;
    return -1;
  }

  function select(i, reveal) {
    selected = i;
    selectedFault = null;
    if (i < 0) { requestDraw(); return; }
    if (reveal) ensureVisible(T[i]);
    panel.textContent = "";
    panel.appendChild(el("h3", "", kinds[K[i]]));
    var pairs = [["node", lanes[L[i]]], ["time", fmtExact(T[i]) + " (" + T[i] + " µs)"], ["event", "#" + i + " of " + N + " shown"]];
    var a = arrowOf[i];
    if (a >= 0) {
      var d = rows[i][3] || {};
      var msg = el("span");
      msg.appendChild(document.createTextNode((d.type || "message") + ": "));
      // The sending end is not an event of its own: the link shows the whole flight, sender to receiver.
      var sender = AF[a] >= 0 ? lanes[AF[a]] : "?", sentAt = ASENT[a];
      msg.appendChild(link("sent by " + sender + " at " + fmtExact(sentAt), function () { showRange(sentAt, T[i]); }));
      if (ALOST[a]) msg.appendChild(document.createTextNode(" · lost after " + fmtDuration(T[i] - sentAt) + (d.reason ? " (" + d.reason + ")" : "")));
      else msg.appendChild(document.createTextNode(" · latency " + fmtDuration(T[i] - sentAt)));
      pairs.push(["message", msg]);
    }
    data.faults.forEach(function (f) {
      if (f.startEvent === i && f.endEvent >= 0) pairs.push(["fault", link("healed at " + fmtExact(f.endUs) + " (fault.end)", function () { select(f.endEvent, true); })]);
      if (f.endEvent === i) pairs.push(["fault", link("started at " + fmtExact(f.startUs) + " (fault.start)", function () { select(f.startEvent, true); })]);
    });
    data.outages.forEach(function (o) {
      if (o[5] === i && o[6] >= 0) pairs.push([o[1] === "crash" ? "down until" : "paused until", link(fmtExact(o[4]) + " (" + kinds[K[o[6]]] + ")", function () { select(o[6], true); })]);
      if (o[6] === i) pairs.push([o[1] === "crash" ? "down since" : "paused since", link(fmtExact(o[3]) + " (" + kinds[K[o[5]]] + ")", function () { select(o[5], true); })]);
    });
    panel.appendChild(dl(pairs));
    panel.appendChild(el("div", "hint", "The trace line:"));
    panel.appendChild(el("pre", "line", lineOf(i)));
    if (rows[i].length > 3) panel.appendChild(el("pre", "pretty", JSON.stringify(rows[i][3], null, 2)));
    var links = linkedTo.get(i);
    if (links) {
      panel.appendChild(el("div", "hint", "Explains:"));
      links.forEach(function (p) {
        var an = data.anomalies[p[0]];
        var row = el("div", "row", an.type + " example " + (p[1] + 1));
        row.addEventListener("click", function () { highlightAnomaly(p[0], p[1]); });
        panel.appendChild(row);
      });
    }
    var nav = el("div");
    var prev = laneNeighbour(i, -1), next = laneNeighbour(i, 1);
    if (prev >= 0) nav.appendChild(link("◀ previous on " + lanes[L[i]], function () { select(prev, true); }));
    if (prev >= 0 && next >= 0) nav.appendChild(document.createTextNode("  ·  "));
    if (next >= 0) nav.appendChild(link("next on " + lanes[L[i]] + " ▶", function () { select(next, true); }));
    panel.appendChild(nav);
    requestDraw();
  }

  function selectFault(f) {
    selected = -1;
    selectedFault = f;
    panel.textContent = "";
    panel.appendChild(el("h3", "", "fault #" + f.index + " " + f.kind));
    var pairs = [
      ["from", link(fmtExact(f.startUs), function () { select(f.startEvent, true); })],
      ["to", f.endEvent >= 0 ? link(fmtExact(f.endUs), function () { select(f.endEvent, true); }) : "still active at the end of the trace"],
      ["lasted", fmtDuration(f.endUs - f.startUs)],
      ["nodes", f.nodes.map(function (l) { return lanes[l]; }).join(", ")]
    ];
    if (f.shape) pairs.push(["shape", f.shape]);
    panel.appendChild(dl(pairs));
    requestDraw();
  }

  // ---- highlighting ----
  var countEl = document.getElementById("highlight-count");
  function setHighlight(list, moments, label) {
    hl.fill(0);
    list = Array.from(new Set(list)).sort(function (x, y) { return x - y; });
    list.forEach(function (i) { hl[i] = 1; });
    hlList = list;
    hlMoments = moments || [];
    countEl.textContent = list.length > 0 ? list.length + " event" + (list.length === 1 ? "" : "s") + " highlighted" + (label ? " (" + label + ")" : "") : label ? "no event matches " + label : "";
    document.body.dataset.highlighted = String(list.length);
    requestDraw();
  }
  function clearHighlight() {
    setHighlight([], [], "");
    markActive(null);
  }
  function markActive(elem) {
    var all = document.querySelectorAll("#anomalies .active");
    for (var j = 0; j < all.length; j++) all[j].classList.remove("active");
    if (elem) elem.classList.add("active");
  }
  function highlightAnomaly(ai, xi) {
    var an = data.anomalies[ai];
    if (!an) return;
    var evs = [], moments = [];
    an.examples.forEach(function (ex, j) {
      if (xi >= 0 && j !== xi) return;
      evs = evs.concat(ex.events);
      moments = moments.concat(ex.moments);
    });
    var label = an.type + (xi >= 0 ? " example " + (xi + 1) : "");
    setHighlight(evs, moments, label);
    markActive(xi >= 0 ? document.querySelector('.example[data-anomaly="' + ai + '"][data-example="' + xi + '"]') : document.querySelector('li.anomaly[data-anomaly="' + ai + '"]'));
    var times = hlList.map(function (i) { return T[i]; }).concat(hlMoments);
    if (times.length > 0) showRange(Math.min.apply(null, times), Math.max.apply(null, times));
    panel.textContent = "";
    panel.appendChild(el("h3", "", label));
    if (an.message) panel.appendChild(el("div", "", an.message));
    an.examples.forEach(function (ex, j) {
      if (xi >= 0 && j !== xi) return;
      panel.appendChild(el("div", "hint", "Example " + (j + 1) + ":"));
      panel.appendChild(el("pre", "", JSON.stringify(ex.example, null, 1)));
      if (ex.events.length === 0) panel.appendChild(el("div", "hint", "No event in this trace carries this example's value, key or offset."));
      ex.events.slice(0, 300).forEach(function (i) { panel.appendChild(eventRow(i)); });
      if (ex.events.length > 300) panel.appendChild(el("div", "hint", "and " + (ex.events.length - 300) + " more"));
    });
  }

  function search(q) {
    if (!q) { clearHighlight(); return; }
    var found = [];
    for (var i = 0; i < N && found.length < 10000; i++) {
      if (kinds[K[i]].indexOf(q) >= 0 || lanes[L[i]].indexOf(q) >= 0 || (rows[i].length > 3 && JSON.stringify(rows[i][3]).indexOf(q) >= 0)) found.push(i);
    }
    markActive(null);
    setHighlight(found, [], JSON.stringify(q));
    if (found.length > 0) {
      showRange(T[found[0]], T[found[found.length - 1]]);
      panel.textContent = "";
      panel.appendChild(el("h3", "", found.length + (found.length === 10000 ? "+" : "") + " events contain " + JSON.stringify(q)));
      found.slice(0, 300).forEach(function (i) { panel.appendChild(eventRow(i)); });
    }
  }

  // ---- input ----
  var drag = null;
  canvas.addEventListener("pointerdown", function (e) {
    drag = { x: e.offsetX, t0: view.t0, t1: view.t1, moved: false, id: e.pointerId };
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointermove", function (e) {
    if (drag) {
      var dx = e.offsetX - drag.x;
      if (Math.abs(dx) > 3) { drag.moved = true; canvas.classList.add("dragging"); tooltip.hidden = true; }
      if (drag.moved) {
        var dt = dx / plotW() * (drag.t1 - drag.t0);
        setView(drag.t0 - dt, drag.t1 - dt);
      }
      return;
    }
    var i = hitEvent(e.offsetX, e.offsetY);
    if (i >= 0) {
      tooltip.textContent = kinds[K[i]] + " · " + lanes[L[i]] + " · " + fmtExact(T[i]) + (rows[i].length > 3 ? "\n" + shortDetails(i) : "");
      tooltip.hidden = false;
      var left = Math.min(e.offsetX + 14, cssW - 300);
      tooltip.style.left = Math.max(0, left) + "px";
      tooltip.style.top = (e.offsetY + 14) + "px";
    } else {
      tooltip.hidden = true;
    }
  });
  function endDrag(e) {
    if (!drag) return;
    var wasDrag = drag.moved;
    drag = null;
    canvas.classList.remove("dragging");
    if (!wasDrag && e.type === "pointerup") {
      var i = hitEvent(e.offsetX, e.offsetY);
      if (i >= 0) select(i, false);
      else {
        var f = hitFault(e.offsetX, e.offsetY);
        if (f) selectFault(f);
        else select(-1, false);
      }
    }
  }
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("pointerleave", function () { if (!drag) tooltip.hidden = true; });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    var span = view.t1 - view.t0;
    if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      var delta = Math.abs(e.deltaX) > Math.abs(e.deltaY) ? e.deltaX : e.deltaY;
      setView(view.t0 + delta / plotW() * span, view.t1 + delta / plotW() * span);
    } else {
      zoomAt(tAt(e.offsetX), Math.exp(e.deltaY * 0.0015));
    }
  }, { passive: false });

  // Zoom buttons zoom around the selected event when it is in view, so that it stays put; else around the middle.
  function center() {
    if (selected >= 0 && T[selected] >= view.t0 && T[selected] <= view.t1) return T[selected];
    return (view.t0 + view.t1) / 2;
  }
  document.getElementById("zoom-in").addEventListener("click", function () { zoomAt(center(), 0.5); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoomAt(center(), 2); });
  document.getElementById("zoom-fit").addEventListener("click", fit);
  document.getElementById("pan-left").addEventListener("click", function () { panBy(-0.4); });
  document.getElementById("pan-right").addEventListener("click", function () { panBy(0.4); });
  document.getElementById("clear-highlight").addEventListener("click", clearHighlight);
  document.getElementById("show-arrows").addEventListener("change", function (e) { showArrows = e.target.checked; requestDraw(); });
  document.getElementById("search").addEventListener("keydown", function (e) {
    if (e.key === "Enter") search(e.target.value.trim());
  });
  document.addEventListener("keydown", function (e) {
    if (e.target && (e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA")) return;
    if (e.key === "+" || e.key === "=") zoomAt(center(), 0.5);
    else if (e.key === "-" || e.key === "_") zoomAt(center(), 2);
    else if (e.key === "0") fit();
    else if (e.key === "ArrowLeft") panBy(-0.2);
    else if (e.key === "ArrowRight") panBy(0.2);
    else if (e.key === "Escape") { clearHighlight(); select(-1, false); }
    else if ((e.key === "Enter" || e.key === " ") && e.target && e.target.dataset && e.target.dataset.anomaly !== undefined) { e.preventDefault(); e.target.click(); }
    else return;
  });
  var heads = document.querySelectorAll(".anomaly-head");
  for (var h = 0; h < heads.length; h++) {
    heads[h].addEventListener("click", function (e) { highlightAnomaly(Number(e.currentTarget.dataset.anomaly), -1); });
  }
  var exampleEls = document.querySelectorAll(".example");
  for (var x = 0; x < exampleEls.length; x++) {
    exampleEls[x].addEventListener("click", function (e) { highlightAnomaly(Number(e.currentTarget.dataset.anomaly), Number(e.currentTarget.dataset.example)); });
  }
  var planRows = document.querySelectorAll("tr[data-fault]");
  for (var pr = 0; pr < planRows.length; pr++) {
    planRows[pr].addEventListener("click", function (e) {
      var idx = Number(e.currentTarget.dataset.fault);
      var f = data.faults.filter(function (g) { return g.index === idx; })[0];
      if (!f) return;
      showRange(f.startUs, f.endUs);
      selectFault(f);
    });
  }

  window.addEventListener("resize", resize);
  fit();
  resize();
  // On load, mark every event linked to an anomaly so that the whole-run view already shows where they are.
  var linked = [];
  linkedTo.forEach(function (_, i) { linked.push(i); });
  if (linked.length > 0) {
    var moments = [];
    data.anomalies.forEach(function (an) { an.examples.forEach(function (ex) { moments = moments.concat(ex.moments); }); });
    setHighlight(linked, moments, "linked to anomalies");
  } else {
    document.body.dataset.highlighted = "0";
  }
  // A small handle for tests and for poking at a trace from the browser console.
  window.mqsimView = {
    data: data,
    range: function () { return { t0: view.t0, t1: view.t1 }; },
    positionOf: function (i) { return { x: X(T[i]), y: laneMid(L[i]) }; },
    select: function (i) { select(i, true); },
    highlighted: function () { return hlList.slice(); }
  };
  document.body.dataset.ready = "1";
})();
`;
