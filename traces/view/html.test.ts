import { describe, expect, it } from "vitest";
import { buildPageData, renderHtml, type PageData } from "./html.js";
import { PAGE_SCRIPT } from "./page-script.js";
import { literalTrace, sampleTrace } from "./testing/sample-trace.js";

/** The JSON the page embeds, read back the way the page script reads it. */
function embedded(html: string): PageData {
  const m = /<script type="application\/json" id="trace-data">([\s\S]*?)<\/script>/.exec(html);
  expect(m).not.toBeNull();
  return JSON.parse(m![1]!) as PageData;
}

describe("renderHtml", () => {
  it("is one self-contained page: nothing fetched from the network, no linked files", () => {
    const html = renderHtml(sampleTrace());
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).not.toMatch(/<link/i);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/@import/i);
    expect(html).not.toMatch(/<script[^>]+src=/i);
  });

  it("embeds every event, the lanes, the arrows and the anomaly links as JSON", () => {
    const trace = sampleTrace();
    const data = embedded(renderHtml(trace));
    expect(data.meta).toMatchObject({ scenario: "sample-single-async-flush", seed: 7, verdict: "fail", totalEvents: trace.events.length, embeddedEvents: trace.events.length });
    expect(data.events.length).toBe(trace.events.length);
    expect(data.lanes).toEqual(["namesrv-1", "broker-a", "producer-1", "consumer-1", "nemesis", "runner"]);
    // Rows decode back to the events.
    data.events.forEach((row, i) => {
      const ev = trace.events[i]!;
      expect([row[0], data.lanes[row[1]], data.kinds[row[2]], row[3]]).toEqual([ev.t, ev.n, ev.k, ev.d]);
    });
    // One arrow per message event: from the sender's lane at the send time to the event on the receiver's lane.
    const messages = trace.events.flatMap((e, i) => (e.k === "net.msg" || e.k === "net.drop" ? [i] : []));
    expect(data.arrows.map(([event]) => event)).toEqual(messages);
    for (const [event, from, sentUs, lost] of data.arrows) {
      const ev = trace.events[event]!;
      expect([data.lanes[from], sentUs, lost]).toEqual([ev.d!.from, ev.d!.sentUs, ev.k === "net.drop" ? 1 : 0]);
      expect(sentUs).toBeLessThanOrEqual(ev.t);
    }
    expect(data.arrows.some(([, , , lost]) => lost === 1)).toBe(true);
    expect(data.faults).toHaveLength(1);
    expect(data.anomalies[0]!.type).toBe("lost-write");
    for (const ex of data.anomalies[0]!.examples) {
      const value = (ex.example as { value: string }).value;
      expect(ex.events.some((i) => data.events[i]![3]?.value === value && data.kinds[data.events[i]![2]] === "op.ok")).toBe(true);
    }
  });

  it("escapes </script> and markup in details and in the header", () => {
    const nasty = "</script><script>alert(1)</script><!--";
    const trace = sampleTrace({ injectText: nasty });
    const withDescription = { ...trace, header: { ...trace.header, scenario: { ...trace.header.scenario, description: "<img src=x onerror=alert(1)>" } } };
    const html = renderHtml(withDescription);
    // Exactly the two closing tags the page itself has: the data block and the script.
    expect(html.match(/<\/script>/gi)?.length).toBe(2);
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    const data = embedded(html);
    expect(data.events.some((row) => row[3]?.note === nasty)).toBe(true);
  });

  it("lists the anomalies with their examples, and the fault plan", () => {
    const html = renderHtml(sampleTrace());
    expect(html).toMatch(/<span class="atype">lost-write<\/span> <span class="count">×3<\/span> <span class="tag violation">violation<\/span>/);
    expect(html).toContain('data-anomaly="0" data-example="2"');
    expect(html).toContain("Fault plan: 1 fault (power-loss)");
    expect(html).toContain("hit broker-a");
    expect(html).not.toContain('id="cap-note"');
  });

  it("caps the embedded events, says so, and keeps node, fault, phase and anomaly events", () => {
    const trace = sampleTrace({ sends: 200 });
    const html = renderHtml(trace, { maxEvents: 300 });
    const data = embedded(html);
    expect(html).toMatch(new RegExp(`id="cap-note"[^>]*>Showing ${data.meta.embeddedEvents} of ${trace.events.length.toLocaleString("en-US")} events`));
    expect(data.meta.embeddedEvents).toBeLessThanOrEqual(300 + 40);
    const kinds = data.events.map((row) => data.kinds[row[2]]!);
    const count = (k: string, list: readonly string[]): number => list.filter((x) => x === k).length;
    const all = trace.events.map((e) => e.k);
    for (const k of ["node.start", "node.crash", "fault.start", "fault.end", "phase", "store.recover"]) expect(count(k, kinds)).toBe(count(k, all));
    // The anomaly links were renumbered into the embedded events.
    for (const ex of data.anomalies[0]!.examples) {
      const value = (ex.example as { value: string }).value;
      expect(ex.events.length).toBeGreaterThan(0);
      expect(ex.events.filter((i) => data.events[i]![3]?.value === value).length).toBeGreaterThanOrEqual(2);
    }
  });

  it("draws a trace with no events, no faults and no anomalies", () => {
    const data = buildPageData(literalTrace([]), 10);
    expect(data).toMatchObject({ lanes: [], events: [], arrows: [], faults: [], anomalies: [] });
    expect(renderHtml(literalTrace([]))).toContain("None found.");
  });
});

describe("the page script", () => {
  it("compiles, and stays free of template syntax that would have been interpolated", () => {
    expect(() => new Function(PAGE_SCRIPT)).not.toThrow();
    expect(PAGE_SCRIPT).not.toContain("`");
  });
});
