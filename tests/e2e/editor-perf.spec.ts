/**
 * Editor performance with a 1,000-node / 1,200-edge pipeline. Logs one JSON
 * line (for `npm run bench`) and asserts only that every number was measured:
 *
 * - readyMs / interactiveMs: from navigation to the first node drawn, and to a
 *   click on a node being answered (its config panel shown); `loading` says
 *   when the HTML, the document and the page's scripts had arrived;
 * - drag: requestAnimationFrame frame times while dragging one node;
 * - typing: key-to-paint latency in a SQL cell (keydown → the cell's DOM
 *   changes → the next animation frame).
 */
import { expect, test } from "@playwright/test";
import { importViaApi } from "./helpers";

// Playwright's trace (playwright.config.ts: retain-on-failure) snapshots the DOM in the
// page before and after every action, a keystroke included: on the page's main thread,
// between a keydown and its paint. The numbers are the editor's, so no trace here.
test.use({ trace: "off" });

const NODES = 1000;
const EDGES = 1200;

/** 20 CSV sources, then SQL nodes each reading one earlier node; every 4th reads a second one, up to EDGES edges. */
function bigPipeline() {
  const nodes: object[] = [];
  const edges: { from: string; to: string }[] = [];
  const names: string[] = [];
  for (let i = 0; i < NODES; i++) {
    const id = `n${i}`;
    if (i < 20) {
      names.push(`source_${i}`);
      nodes.push({ id, kind: "source.csv", name: names[i], config: { path: `data/s${i}.csv` } });
      continue;
    }
    names.push(`step_${i}`);
    const parents = [i - 20 + ((i * 7) % 20)];
    if (edges.length + (NODES - i) < EDGES && i % 2 === 0) parents.push(i - 1 - ((i * 13) % 19));
    const unique = [...new Set(parents)].filter((p) => p >= 0 && p < i);
    nodes.push({ id, kind: "sql", name: names[i], config: { sql: `select * from ${unique.map((p) => names[p]).join(" natural join ")}` } });
    for (const p of unique) edges.push({ from: `n${p}`, to: id });
  }
  return { format: "tributary/v1", name: "e2e_editor_perf", nodes, edges };
}

function stats(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const p95 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] ?? NaN;
  return { count: values.length, meanMs: Math.round(mean * 10) / 10, p95Ms: Math.round(p95 * 10) / 10, maxMs: Math.round((sorted.at(-1) ?? NaN) * 10) / 10 };
}

test("editor performance with 1,000 nodes and 1,200 edges", async ({ page, request }) => {
  test.setTimeout(180_000);
  const doc = bigPipeline();
  const saved = await importViaApi(request, JSON.stringify(doc));

  // 1. Time until the canvas draws, and until it answers a click. The first node is
  // watched for in the page on every animation frame: expect().toBeVisible() polls from
  // the test process with a backoff that reaches 500 ms, which would add up to half a
  // second that is Playwright's, not the editor's.
  const started = Date.now();
  await page.goto(`/pipelines/${saved.id}`);
  await page.waitForFunction(() => {
    const node = document.querySelector(".react-flow__node");
    return node !== null && node.getBoundingClientRect().width > 0;
  }, null, { polling: "raf", timeout: 60_000 });
  const readyMs = Date.now() - started;
  const first = page.locator(".react-flow__node").first();
  await expect(first).toBeVisible();
  const name = (await first.getByTestId(/^node-/).getAttribute("data-testid"))!.slice("node-".length);
  await first.click();
  await expect(page.getByRole("region", { name: `Configure ${name}` })).toBeVisible({ timeout: 60_000 });
  const interactiveMs = Date.now() - started;
  const drawn = await page.locator(".react-flow__node").count();
  // Where the load went: the page's HTML, the document (pipelines.byId) and the page's code, from navigation start.
  const loading = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined;
    const resources = performance.getEntriesByType("resource") as PerformanceResourceTiming[];
    const byId = resources.find((r) => r.name.includes("pipelines.byId"));
    // The page's own scripts: those requested before DOMContentLoaded (not prefetches of other pages).
    const scripts = resources.filter((r) => r.name.endsWith(".js") && r.startTime <= (nav?.domContentLoadedEventEnd ?? Infinity));
    return {
      htmlMs: Math.round(nav?.responseEnd ?? NaN),
      documentMs: byId ? Math.round(byId.responseEnd) : null,
      scriptsMs: scripts.length ? Math.round(Math.max(...scripts.map((r) => r.responseEnd))) : null,
      domContentLoadedMs: Math.round(nav?.domContentLoadedEventEnd ?? NaN),
    };
  });

  // 2. Drag one node for ~60 pointer moves while recording animation frames.
  await page.getByRole("button", { name: "Close the node panel" }).click();
  const target = page.locator(".react-flow__node").nth(Math.min(5, drawn - 1));
  const box = (await target.boundingBox())!;
  await page.evaluate(() => {
    const w = window as unknown as { __frames: number[]; __recording: boolean };
    w.__frames = [];
    w.__recording = true;
    const tick = (t: number) => {
      w.__frames.push(t);
      if (w.__recording) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  for (let i = 1; i <= 60; i++) {
    await page.mouse.move(box.x + box.width / 2 + i * 4, box.y + box.height / 2 + Math.sin(i / 6) * 40);
  }
  await page.mouse.up();
  const frames = await page.evaluate(() => {
    const w = window as unknown as { __frames: number[]; __recording: boolean };
    w.__recording = false;
    return w.__frames;
  });
  const frameTimes = frames.slice(1).map((t, i) => t - frames[i]!);
  const drag = stats(frameTimes);
  const dragFps = Math.round((1000 / drag.meanMs) * 10) / 10;
  await expect(page.getByText("Unsaved changes")).toBeVisible();

  // 3. Key-to-paint latency while typing in a SQL cell.
  const sqlNode = page.locator(".react-flow__node", { hasText: "step_" }).first();
  const sqlName = (await sqlNode.getByTestId(/^node-/).getAttribute("data-testid"))!.slice("node-".length);
  await sqlNode.click();
  const panel = page.getByRole("region", { name: `Configure ${sqlName}` });
  const lines = panel.locator(".monaco-editor .view-lines");
  await expect(lines).toBeVisible({ timeout: 30_000 });
  await lines.click();
  await page.keyboard.press("End");
  await page.evaluate(() => {
    const w = window as unknown as { __keys: number[]; __paints: number[] };
    w.__keys = [];
    w.__paints = [];
    const view = document.querySelector("[aria-label^='Configure'] .monaco-editor .view-lines")!;
    window.addEventListener("keydown", () => w.__keys.push(performance.now()), true);
    new MutationObserver(() => {
      if (w.__paints.length >= w.__keys.length) return;
      requestAnimationFrame(() => {
        if (w.__paints.length < w.__keys.length) w.__paints.push(performance.now());
      });
    }).observe(view, { subtree: true, childList: true, characterData: true });
  });
  for (const ch of " and true or false") {
    await page.keyboard.press(ch === " " ? "Space" : ch);
    await page.waitForTimeout(30);
  }
  const latencies = await page.evaluate(() => {
    const w = window as unknown as { __keys: number[]; __paints: number[] };
    return w.__paints.map((p, i) => p - w.__keys[i]!);
  });
  const typing = stats(latencies);

  const result = {
    bench: "editor",
    nodes: NODES,
    edges: doc.edges.length,
    nodesInDom: drawn,
    readyMs,
    interactiveMs,
    loading,
    drag: { ...drag, fps: dragFps },
    typing,
  };
  console.log(JSON.stringify(result));

  expect(doc.edges.length).toBe(EDGES);
  expect(readyMs).toBeGreaterThan(0);
  expect(interactiveMs).toBeGreaterThanOrEqual(readyMs);
  expect(drag.count).toBeGreaterThan(5);
  expect(Number.isFinite(dragFps)).toBe(true);
  expect(typing.count).toBeGreaterThan(5);
});
