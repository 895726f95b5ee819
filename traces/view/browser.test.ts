// The rendered page in a real browser: it must load with no error, show the
// anomaly, highlight the events behind it, zoom, pan and show an event's
// line. Uses Debian's Chromium through playwright-core (no browser download);
// skipped where that Chromium is not installed.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderHtml } from "./html.js";
import { sampleTrace } from "./testing/sample-trace.js";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
/** Where the screenshot goes, for a person to look at. */
const SCREENSHOT_PATH = join(tmpdir(), "mqsim-view-browser.png");

describe.skipIf(!hasChromium)(hasChromium ? "the trace page in Chromium" : `the trace page in Chromium (skipped: ${CHROMIUM} is not installed)`, () => {
  let dir = "";
  let browser: Browser | undefined;
  let page: Page;
  const problems: string[] = [];
  const trace = sampleTrace({ sends: 60 });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mqsim-view-browser-"));
    const file = join(dir, "trace.html");
    writeFileSync(file, renderHtml(trace, { source: "trace.jsonl" }));
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    // Any request other than the file itself means the page is not self-contained.
    page.on("request", (req) => {
      if (!req.url().startsWith("file://")) problems.push(`request: ${req.url()}`);
    });
    await page.goto(`file://${file}`);
    await page.waitForSelector("body[data-ready='1']", { timeout: 20_000 });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Calls the page's test handle (`window.mqsimView`). Expressions are passed
   * as strings: this project type-checks without the DOM library.
   */
  const view = <T>(expression: string): Promise<T> => page.evaluate(`window.mqsimView.${expression}`) as Promise<T>;
  const range = (): Promise<{ t0: number; t1: number }> => view("range()");

  it("shows the verdict and the anomaly", async () => {
    await expect(page.locator("#verdict").textContent()).resolves.toBe("FAIL");
    const head = page.locator(".anomaly-head").first();
    expect(await head.isVisible()).toBe(true);
    expect(await head.textContent()).toContain("lost-write");
  });

  it("highlights and zooms to the events that explain the anomaly when it is clicked", async () => {
    await page.click("#zoom-fit");
    const before = await range();
    await page.locator(".anomaly-head").first().click();
    const count = await page.locator("#highlight-count").textContent();
    expect(count).toMatch(/^\d+ events? highlighted \(lost-write\)$/);
    const highlighted = await view<number[]>("highlighted()");
    expect(highlighted.length).toBeGreaterThan(0);
    expect(Number(count!.split(" ")[0])).toBe(highlighted.length);
    // The kinds of the highlighted events: the write and what undid it.
    const kinds = await view<string[]>(`highlighted().map((i) => window.mqsimView.data.kinds[window.mqsimView.data.events[i][2]])`);
    expect(kinds).toEqual(expect.arrayContaining(["op.ok", "store.append", "node.crash", "store.recover"]));
    const after = await range();
    expect(after.t1 - after.t0).toBeLessThan(before.t1 - before.t0);
    // The panel lists them, one clickable row each.
    expect(await page.locator("#panel .row").count()).toBeGreaterThanOrEqual(highlighted.length);
  });

  it("zooms with the buttons and the wheel, and pans by dragging", async () => {
    await page.click("#zoom-fit");
    const full = await range();
    await page.click("#zoom-in");
    const zoomed = await range();
    expect(zoomed.t1 - zoomed.t0).toBeCloseTo((full.t1 - full.t0) / 2, -1);
    expect(await page.locator("#range").textContent()).not.toBe("");
    await page.click("#zoom-out");
    const back = await range();
    expect(back.t1 - back.t0).toBeCloseTo(full.t1 - full.t0, -1);

    const box = (await page.locator("#canvas").boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + 60);
    await page.mouse.wheel(0, -400);
    await page.waitForFunction(`window.mqsimView.range().t1 - window.mqsimView.range().t0 < ${back.t1 - back.t0}`);
    const wheeled = await range();

    await page.mouse.move(box.x + box.width / 2, box.y + 60);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 - 200, box.y + 60, { steps: 5 });
    await page.mouse.up();
    const panned = await range();
    expect(panned.t0).toBeGreaterThan(wheeled.t0);
    expect(panned.t1 - panned.t0).toBeCloseTo(wheeled.t1 - wheeled.t0, -1);
  });

  it("shows an event's trace line when it is clicked", async () => {
    const crash = trace.events.findIndex((e) => e.k === "node.crash");
    await page.locator(".anomaly-head").first().click();
    const at = await view<{ x: number; y: number }>(`positionOf(${crash})`);
    const box = (await page.locator("#canvas").boundingBox())!;
    await page.mouse.click(box.x + at.x, box.y + at.y);
    await expect(page.locator("#panel h3").textContent()).resolves.toBe("node.crash");
    const line = await page.locator("#panel pre.line").textContent();
    expect(JSON.parse(line!)).toEqual(trace.events[crash]);
  });

  it("shows a message's sender and send time, and zooms to its flight from there", async () => {
    const reply = trace.events.findIndex((e) => e.k === "net.msg" && e.d!.from === "broker-a" && e.n === "producer-1");
    const ev = trace.events[reply]!;
    await view(`select(${reply})`);
    await expect(page.locator("#panel h3").textContent()).resolves.toBe("net.msg");
    const sent = page.locator("#panel dd a", { hasText: "sent by broker-a at" });
    expect(await sent.textContent()).toBe(`sent by broker-a at ${((ev.d!.sentUs as number) / 1e6).toFixed(6)} s`);
    expect(await page.locator("#panel dl").textContent()).toContain(`latency ${ev.t - (ev.d!.sentUs as number)} µs`);
    await sent.click();
    const r = await range();
    expect(r.t0).toBeLessThanOrEqual(ev.d!.sentUs as number);
    expect(r.t1).toBeGreaterThanOrEqual(ev.t);

    const dropped = trace.events.findIndex((e) => e.k === "net.drop");
    await view(`select(${dropped})`);
    await expect(page.locator("#panel h3").textContent()).resolves.toBe("net.drop");
    const text = await page.locator("#panel dl").textContent();
    expect(text).toContain("sent by producer-1 at");
    expect(text).toMatch(/lost after [\d.]+ (µs|ms|s) \(machine-down\)/);
  });

  it("finds events by text", async () => {
    await page.fill("#search", "producer-1:7");
    await page.press("#search", "Enter");
    expect(await page.locator("#highlight-count").textContent()).toMatch(/^\d+ events? highlighted/);
  });

  it("had no console error, no page error and no network request; leaves a screenshot", async () => {
    await page.locator(".anomaly-head").first().click();
    await page.screenshot({ path: SCREENSHOT_PATH, fullPage: true });
    expect(problems).toEqual([]);
  });
});
