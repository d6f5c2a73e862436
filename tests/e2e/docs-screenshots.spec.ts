/**
 * Screenshots for docs/screenshots (list.png, pipeline.png, editor.png,
 * notebook.png, run.png), light theme at 1440×900, and editor-dark.png. Runs only with SCREENSHOTS=1 so
 * ordinary test runs leave the committed images alone:
 *   SCREENSHOTS=1 npx playwright test docs-screenshots
 */
import path from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { importViaApi, readFixture } from "./helpers";

const OUT = path.resolve("docs", "screenshots");

test.skip(!process.env.SCREENSHOTS, "set SCREENSHOTS=1 to refresh docs/screenshots");
test.use({ viewport: { width: 1440, height: 900 }, colorScheme: "light" });

async function settle(page: Page) {
  await page.mouse.move(0, 899);
  await page.waitForFunction(() => !document.querySelector(".react-flow__viewport")?.getAnimations().length);
}

test("list and pipeline pages", async ({ page, request }) => {
  const saved = await importViaApi(request, readFixture("retail_store_metrics.json"));
  await importViaApi(request, readFixture("e2e_orders.json").replace(/e2e_orders/g, "customer_orders"));

  await page.goto("/");
  await expect(page.getByRole("row").filter({ hasText: "retail_store_metrics" })).toBeVisible();
  await page.screenshot({ path: path.join(OUT, "list.png") });

  await page.goto(`/pipelines/${saved.id}`);
  // The first view fits the upstream end at a readable zoom (the minimap shows the rest).
  await expect(page.getByText("7 nodes ·")).toBeVisible();
  await expect(page.locator(".react-flow__node").first()).toBeVisible();
  await expect(page.getByRole("list", { name: "Versions" })).toBeVisible();
  await settle(page);
  await page.screenshot({ path: path.join(OUT, "pipeline.png") });

  // The editor: a SQL node selected, its config panel and Monaco cell open.
  const sqlNode = page.locator(".react-flow__node", { has: page.locator(".kind-badge", { hasText: "SQL" }) }).first();
  await sqlNode.click();
  await expect(page.locator("[aria-label^='Configure'] .monaco-editor .view-lines")).toBeVisible();
  await page.waitForTimeout(1200); // the server's SQL check and Monaco's first paint
  await settle(page);
  await page.screenshot({ path: path.join(OUT, "editor.png") });

  await page.getByRole("button", { name: "Notebook", exact: true }).click();
  await expect(page.getByRole("list", { name: "Cells" })).toBeVisible();
  await expect(page.locator("[aria-label='Notebook'] .monaco-editor .view-lines").first()).toBeVisible();
  await page.waitForTimeout(1000);
  await page.mouse.move(0, 899);
  await page.screenshot({ path: path.join(OUT, "notebook.png") });
});

test("a finished daily_sales run with a node's drawer open", async ({ page }) => {
  test.setTimeout(150_000);
  await page.goto("/");
  await page.getByRole("link", { name: "daily_sales", exact: true }).click();
  await expect(page.locator(".react-flow__node").first()).toBeVisible();
  await page.getByRole("button", { name: "Run", exact: true }).click();
  await page.getByRole("dialog", { name: "Run with parameters" }).getByRole("button", { name: "Run", exact: true }).click();
  await expect(page.getByTestId("run-bar").getByTestId("run-state")).toHaveAttribute("data-state", "success", { timeout: 120_000 });
  // The first view (upstream end at a readable zoom) keeps the badges legible.
  await page.locator(".react-flow__node", { has: page.getByTestId("node-store_daily") }).click();
  await expect(page.getByRole("grid", { name: "Output of store_daily" }).getByRole("gridcell").first()).toBeVisible();
  await page.waitForTimeout(800);
  await settle(page);
  await page.screenshot({ path: path.join(OUT, "run.png") });
});

test.describe("dark theme", () => {
  test.use({ colorScheme: "dark" });

  test("the editor in the dark theme", async ({ page, request }) => {
    const saved = await importViaApi(request, readFixture("retail_store_metrics.json").replace(/retail_store_metrics/g, "store_metrics_dark"));
    await page.goto(`/pipelines/${saved.id}`);
    await expect(page.locator(".react-flow__node").first()).toBeVisible();
    const sqlNode = page.locator(".react-flow__node", { has: page.locator(".kind-badge", { hasText: "SQL" }) }).first();
    await sqlNode.click();
    await expect(page.locator("[aria-label^='Configure'] .monaco-editor .view-lines")).toBeVisible();
    await expect(page.getByRole("img", { name: "Minimap" })).toBeVisible();
    await page.waitForTimeout(1200);
    await settle(page);
    await page.screenshot({ path: path.join(OUT, "editor-dark.png") });
  });
});
