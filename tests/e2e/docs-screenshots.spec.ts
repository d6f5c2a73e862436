/**
 * Screenshots for docs/screenshots (list.png, pipeline.png), light theme at
 * 1440×900. Runs only with SCREENSHOTS=1 so ordinary test runs leave the
 * committed images alone:  SCREENSHOTS=1 npx playwright test docs-screenshots
 */
import path from "node:path";
import { expect, test } from "@playwright/test";
import { importViaApi, readFixture } from "./helpers";

const OUT = path.resolve("docs", "screenshots");

test.skip(!process.env.SCREENSHOTS, "set SCREENSHOTS=1 to refresh docs/screenshots");
test.use({ viewport: { width: 1440, height: 900 }, colorScheme: "light" });

test("list and pipeline pages", async ({ page, request }) => {
  const saved = await importViaApi(request, readFixture("retail_store_metrics.json"));
  await importViaApi(request, readFixture("e2e_orders.json").replace(/e2e_orders/g, "customer_orders"));

  await page.goto("/");
  await expect(page.getByRole("row").filter({ hasText: "retail_store_metrics" })).toBeVisible();
  await page.screenshot({ path: path.join(OUT, "list.png") });

  await page.goto(`/pipelines/${saved.id}`);
  await expect(page.locator(".react-flow__node")).toHaveCount(7);
  await expect(page.getByRole("list", { name: "Versions" })).toBeVisible();
  await page.mouse.move(0, 899);
  await page.waitForFunction(() => !document.querySelector(".react-flow__viewport")?.getAnimations().length);
  await page.screenshot({ path: path.join(OUT, "pipeline.png") });
});
