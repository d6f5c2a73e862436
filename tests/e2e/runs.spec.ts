/**
 * Runs from the pipeline page, end to end against the in-process worker:
 * live node states on the canvas, the run bar, the node drawer with its
 * virtualized output grid (100,000 rows, paged on demand), a failing node and
 * its fix, rerun from a node, Run cell (Ctrl+Enter) as a draft run, the params
 * dialog, and the daily_sales example. Logs one JSON line with the time to the first preview page.
 */
import { expect, test, type Page } from "@playwright/test";
import { canvasNode, importViaApi, typeInMonaco } from "./helpers";

test.describe.configure({ timeout: 150_000 });

const node = canvasNode;
const runBadge = (page: Page, name: string) => page.getByTestId(`node-${name}`).locator("[data-run-state]");
const runState = (page: Page) => page.getByTestId("run-bar").getByTestId("run-state");

async function openPipeline(page: Page, doc: object): Promise<string> {
  const saved = await importViaApi(page.request, JSON.stringify(doc));
  await page.goto(`/pipelines/${saved.id}`);
  await expect(page.locator(".react-flow__node").first()).toBeVisible();
  return saved.id;
}

/** Record every run state the named node's badge shows, from now on. */
async function recordStates(page: Page, name: string) {
  await page.evaluate((nodeName) => {
    const seen: string[] = [];
    (window as unknown as { __states: string[] }).__states = seen;
    const read = () => {
      const s = document.querySelector(`[data-testid="node-${nodeName}"] [data-run-state]`)?.getAttribute("data-run-state");
      if (s && seen[seen.length - 1] !== s) seen.push(s);
    };
    new MutationObserver(read).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-run-state"] });
  }, name);
}
const recorded = (page: Page) => page.evaluate(() => (window as unknown as { __states: string[] }).__states);

const BIG = {
  format: "tributary/v1",
  name: "e2e_run_big",
  defaults: { retries: 0 },
  nodes: [
    { id: "gen", kind: "sql", name: "gen", config: { sql: "select g as x from generate_series(1, 100000) g" }, position: { x: 0, y: 0 } },
    { id: "doubled", kind: "js", name: "doubled", config: { code: "export default ({ gen }) => gen.map((r) => ({ x: r.x, twice: r.x * 2 }))" }, position: { x: 320, y: 0 } },
  ],
  edges: [{ from: "gen", to: "doubled" }],
};

test("run from the page: live node states, the drawer and a virtualized 100,000-row preview", async ({ page }) => {
  await openPipeline(page, BIG);
  await recordStates(page, "doubled");
  await page.getByRole("button", { name: "Run", exact: true }).click();

  // The run bar follows the run; the nodes' badges go through their states to success.
  await expect(page.getByTestId("run-bar")).toBeVisible();
  await expect(runBadge(page, "gen")).toHaveAttribute("data-run-state", "success", { timeout: 90_000 });
  await expect(runBadge(page, "doubled")).toHaveAttribute("data-run-state", "success", { timeout: 90_000 });
  await expect(page.getByRole("img", { name: "doubled: success, 100,000 rows" })).toBeVisible();
  await expect(runState(page)).toHaveAttribute("data-state", "success");
  await expect(page.getByTestId("run-elapsed")).toContainText("took");
  const states = await recorded(page);
  expect(states.at(-1)).toBe("success");
  expect(states.length, `states seen: ${states.join(" → ")}`).toBeGreaterThan(1);

  // The drawer: row count, column names with types, rows. Timed: click → first row drawn.
  const t0 = Date.now();
  await node(page, "doubled").click();
  const drawer = page.getByTestId("node-drawer");
  const grid = drawer.getByRole("grid", { name: "Output of doubled" });
  await expect(grid.getByRole("gridcell").first()).toBeVisible();
  const firstPageMs = Date.now() - t0;
  await expect(drawer.getByTestId("preview-total")).toHaveText("100,000 rows · 2 columns");
  await expect(grid.getByRole("columnheader", { name: /^x\s*bigint$/ })).toBeVisible();
  await expect(grid.getByRole("columnheader", { name: /^twice\s*bigint$/ })).toBeVisible();
  await expect(grid.getByRole("row").nth(1)).toContainText("2");

  // Only the visible rows are in the DOM; the bottom row arrives after scrolling there.
  const rowsInDom = await grid.getByRole("row").count();
  expect(rowsInDom).toBeLessThan(200);
  await grid.evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
  await expect(grid.getByRole("gridcell", { name: "99999", exact: true })).toBeVisible({ timeout: 15_000 });
  await expect(grid.getByRole("gridcell", { name: "199998", exact: true })).toBeVisible();
  expect(await grid.getByRole("row").count()).toBeLessThan(200);
  // Halfway, by keyboard-free scrolling: a page in the middle is fetched on demand.
  await grid.evaluate((el) => el.scrollTo({ top: el.scrollHeight / 2 }));
  await expect(grid.getByRole("gridcell", { name: "50000", exact: true })).toBeVisible({ timeout: 15_000 });

  console.log(JSON.stringify({ bench: "run-preview", rows: 100_000, firstPageMs, rowsInDom }));
});

test("a failing node shows failed with its error; fixed, saved and run again it succeeds; rerun from a node", async ({ page }) => {
  await openPipeline(page, {
    format: "tributary/v1",
    name: "e2e_run_fail",
    defaults: { retries: 0 },
    nodes: [
      { id: "bad", kind: "sql", name: "bad", config: { sql: "select 1/0 as x" }, position: { x: 0, y: 0 } },
      { id: "after", kind: "sql", name: "after", config: { sql: "select x + 1 as y from bad" }, position: { x: 320, y: 0 } },
    ],
    edges: [{ from: "bad", to: "after" }],
  });
  await page.getByRole("button", { name: "Run", exact: true }).click();
  await expect(runBadge(page, "bad")).toHaveAttribute("data-run-state", "failed", { timeout: 60_000 });
  await expect(runBadge(page, "after")).toHaveAttribute("data-run-state", "upstream_failed");
  await expect(runState(page)).toHaveAttribute("data-state", "failed");
  await expect(page.getByRole("button", { name: "Retry failed" })).toBeVisible();

  await node(page, "bad").click();
  const drawer = page.getByTestId("node-drawer");
  await expect(drawer.getByTestId("node-error")).toContainText("division by zero");
  await expect(drawer.getByRole("table", { name: "Attempts" })).toContainText("failed");

  // Fix the SQL in the config panel; the button now saves first.
  await typeInMonaco(page, page.locator("[aria-label='Configure bad']"), "select 1 as x");
  await expect(page.getByRole("button", { name: "Save & run" })).toBeVisible();
  await page.getByRole("button", { name: "Save & run" }).click();
  await expect(page.getByText("Saved as version 2")).toBeVisible();
  await expect(runBadge(page, "bad")).toHaveAttribute("data-run-state", "success", { timeout: 60_000 });
  await expect(runBadge(page, "after")).toHaveAttribute("data-run-state", "success", { timeout: 60_000 });
  await expect(runState(page)).toHaveAttribute("data-state", "success");
  await expect(page.getByRole("button", { name: "Retry failed" })).toHaveCount(0);

  // Rerun from `after`: it runs again (attempt 2) in the same run.
  await node(page, "after").click();
  await expect(drawer).toContainText("after");
  await drawer.getByRole("button", { name: "Rerun from here" }).click();
  await expect(drawer.getByText("2 attempts")).toBeVisible({ timeout: 60_000 });
  await expect(runState(page)).toHaveAttribute("data-state", "success", { timeout: 60_000 });
  await expect(drawer.getByTestId("drawer-state")).toHaveAttribute("data-state", "success");
  await expect(drawer.getByRole("grid", { name: "Output of after" }).getByRole("gridcell", { name: "2", exact: true })).toBeVisible();

  // The older, failed run is still in the recent runs and can be shown again.
  const select = page.getByLabel("Recent runs");
  const failed = select.locator("option", { hasText: "failed" });
  await expect(failed).toHaveCount(1);
  await select.selectOption((await failed.getAttribute("value"))!);
  await expect(runState(page)).toHaveAttribute("data-state", "failed");
  await expect(page.getByTestId("run-version-note")).toContainText("pinned to v1");
});

test("Run cell runs a draft of the unsaved document: rows, columns and types under the cell; not saved, not listed; errors become markers", async ({ page }) => {
  const id = await openPipeline(page, {
    format: "tributary/v1",
    name: "e2e_run_cell",
    defaults: { retries: 0 },
    nodes: [
      { id: "src", kind: "sql", name: "src", config: { sql: "select g as n from generate_series(1, 400) g" }, position: { x: 0, y: 0 } },
      { id: "big", kind: "sql", name: "big", config: { sql: "select n, n > 250 as big from src" }, position: { x: 320, y: 0 } },
      { id: "calc", kind: "js", name: "calc", config: { code: "export default ({ src }) => src.map((r) => ({ n: r.n }));" }, position: { x: 320, y: 120 } },
      { id: "out", kind: "sink.table", name: "out", config: { table: "e2e_run_cell_out", mode: "replace" }, position: { x: 640, y: 0 } },
    ],
    edges: [{ from: "src", to: "big" }, { from: "src", to: "calc" }, { from: "big", to: "out" }],
  });
  await page.getByRole("button", { name: "Notebook", exact: true }).click();
  const cell = page.getByRole("listitem", { name: "Cell src" });
  await typeInMonaco(page, cell, "select g as n, g * 10 as tens from generate_series(1, 500) g");
  await page.keyboard.press("ControlOrMeta+Enter");

  // The unsaved text ran: its rows, columns and types under the cell. (The selected
  // cell's config panel shows the same result; the notebook's is the one under test.)
  const result = cell.getByTestId("cell-result-src");
  await expect(result.getByTestId("cell-run-summary")).toContainText("Draft run", { timeout: 30_000 });
  const grid = result.getByRole("grid", { name: "Output of src (cell run)" });
  await expect(grid).toBeVisible({ timeout: 60_000 });
  await expect(result.getByTestId("cell-rows")).toHaveText("500 rows");
  await expect(result.getByTestId("preview-total")).toHaveText("500 rows · 2 columns");
  await expect(grid.getByRole("columnheader", { name: /^n\s*integer$/ })).toBeVisible();
  await expect(grid.getByRole("columnheader", { name: /^tens\s*integer$/ })).toBeVisible();
  await expect(grid.getByRole("row").nth(1)).toContainText("10");
  await expect(page.getByText("Unsaved changes")).toBeVisible();

  // A downstream cell runs with its upstream, on the edited text too.
  const big = page.getByRole("listitem", { name: "Cell big" });
  await big.getByRole("button", { name: "Run cell big" }).click();
  const bigResult = big.getByTestId("cell-result-big");
  await expect(bigResult.getByTestId("cell-run-summary")).toContainText("with 1 upstream node", { timeout: 60_000 });
  await expect(bigResult.getByTestId("preview-total")).toHaveText("500 rows · 2 columns", { timeout: 60_000 });
  await expect(bigResult.getByRole("columnheader", { name: /^big\s*boolean$/ })).toBeVisible();

  // Draft runs are not runs of the pipeline: none listed, no run bar, nothing saved, the sink never ran.
  await expect(page.getByTestId("run-bar")).toHaveCount(0);
  const listed = await page.request.get(`/api/trpc/runs.list?input=${encodeURIComponent(JSON.stringify({ pipelineId: id }))}`);
  expect(((await listed.json()) as { result: { data: unknown[] } }).result.data).toEqual([]);
  await expect(page.getByText("Unsaved changes")).toBeVisible();

  // An unknown column: the error under the cell and a marker at its position.
  await typeInMonaco(page, cell, "select g as n,\n  nope from generate_series(1, 3) g");
  await cell.getByRole("button", { name: "Run cell src" }).click();
  await expect(result.getByTestId("cell-error")).toContainText("nope", { timeout: 60_000 });
  await expect(result.getByTestId("cell-state")).toHaveAttribute("data-state", "failed");
  await expect(cell.locator(".monaco-editor .squiggly-error").first()).toBeAttached();

  // A JS error at its line.
  const calc = page.getByRole("listitem", { name: "Cell calc" });
  await typeInMonaco(page, calc, "export default ({ src }) => {\n  throw new Error(\"boom\");\n};");
  await typeInMonaco(page, cell, "select 1 as n");
  await calc.getByRole("button", { name: "Run cell calc" }).click();
  const calcResult = calc.getByTestId("cell-result-calc");
  await expect(calcResult.getByTestId("cell-error")).toContainText("boom", { timeout: 60_000 });
  await expect(calcResult.getByTestId("cell-error")).toContainText("line 2");
  await expect(calc.locator(".monaco-editor .squiggly-error").first()).toBeAttached();
});

test("Run asks for the pipeline's params: defaults filled, types checked, then the run uses them", async ({ page }) => {
  await openPipeline(page, {
    format: "tributary/v1",
    name: "e2e_run_params",
    defaults: { retries: 0 },
    params: {
      max_rows: { type: "integer", default: 3, description: "How many rows" },
      since: { type: "date", default: "2024-01-01" },
      label: { type: "string", required: true },
      loud: { type: "boolean" },
    },
    nodes: [{ id: "one", kind: "sql", name: "one", config: { sql: "select 1 as x" }, position: { x: 0, y: 0 } }],
    edges: [],
  });
  await page.getByRole("button", { name: "Run", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Run with parameters" });
  await expect(dialog.getByLabel("max_rows")).toHaveValue("3");
  await expect(dialog.getByLabel("since")).toHaveValue("2024-01-01");
  await expect(dialog.getByLabel("label")).toHaveValue("");
  await expect(dialog.getByLabel("loud")).not.toBeChecked();
  const run = dialog.getByRole("button", { name: "Run", exact: true });
  await expect(run).toBeDisabled();
  await expect(dialog.getByText("required", { exact: true })).toBeVisible();

  await dialog.getByLabel("label").fill("nightly");
  await dialog.getByLabel("max_rows").fill("2.5");
  await expect(dialog.getByText("2.5 is not an integer")).toBeVisible();
  await expect(run).toBeDisabled();
  await dialog.getByLabel("max_rows").fill("5");
  await dialog.getByLabel("loud").check();
  await expect(run).toBeEnabled();
  await run.click();

  await expect(dialog).toBeHidden();
  await expect(runState(page)).toHaveAttribute("data-state", "success", { timeout: 60_000 });
  for (const shown of ["max_rows=5", "since=2024-01-01", "label=nightly", "loud=true"]) await expect(page.getByTestId("run-elapsed")).toContainText(shown);
});

test("daily_sales from the page: every node succeeds except the skipped alert", async ({ page }) => {
  await page.goto("/");
  await page.getByRole("link", { name: "daily_sales", exact: true }).click();
  await expect(page.locator(".react-flow__node").first()).toBeVisible();
  await page.getByRole("button", { name: "Run", exact: true }).click();

  // Its one param, prefilled with its default.
  const dialog = page.getByRole("dialog", { name: "Run with parameters" });
  await expect(dialog.getByLabel("region")).toHaveValue("all");
  await dialog.getByRole("button", { name: "Run", exact: true }).click();

  await expect(runState(page)).toHaveAttribute("data-state", "success", { timeout: 120_000 });
  await expect(page.getByLabel("Node states")).toHaveText("12 success · 1 skipped");
  await page.getByRole("button", { name: "Zoom to fit" }).click();
  await expect(runBadge(page, "alert_on_failure")).toHaveAttribute("data-run-state", "skipped");
  for (const name of ["pos_sales", "net_sales", "store_daily", "region_report", "store_daily_metrics"]) {
    await expect(runBadge(page, name)).toHaveAttribute("data-run-state", "success");
  }
});
