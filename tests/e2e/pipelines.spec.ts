/**
 * The pipelines list and the pipeline page, end to end against a production
 * build with a fresh data directory (see scripts/e2e-server.mjs).
 */
import fs from "node:fs";
import { expect, test } from "@playwright/test";
import { importThroughUi, importViaApi, readFixture } from "./helpers";

test("create a pipeline from the list, then import its nodes", async ({ page }) => {
  await page.goto("/");
  await page.getByRole("button", { name: "New pipeline" }).click();
  const dialog = page.getByRole("dialog", { name: "New pipeline" });
  const name = dialog.getByLabel("Name");

  // The server's rules, shown on the field.
  await name.fill("Daily Sales");
  await dialog.getByRole("button", { name: "Create pipeline" }).click();
  await expect(dialog.getByRole("alert")).toContainText("must start with a lower-case letter");
  await expect(dialog.getByRole("alert")).toContainText("try 'daily_sales'");
  await expect(name).toHaveAttribute("aria-invalid", "true");

  await name.fill("select");
  await dialog.getByRole("button", { name: "Create pipeline" }).click();
  await expect(dialog.getByRole("alert")).toContainText("reserved SQL keyword");

  await name.fill("e2e_orders");
  await dialog.getByLabel("Description").fill("Orders to totals per customer");
  await dialog.getByRole("button", { name: "Create pipeline" }).click();

  // It opens, empty, at version 1.
  await expect(page).toHaveURL(/\/pipelines\/[0-9a-f-]{36}$/);
  await expect(page.getByRole("heading", { level: 1, name: "e2e_orders" })).toBeVisible();
  await expect(page.getByText("This pipeline has no nodes yet")).toBeVisible();
  await expect(page.getByRole("list", { name: "Versions" }).getByRole("listitem")).toHaveCount(1);

  // Importing a file of the same name adds its nodes as version 2.
  await importThroughUi(page, "e2e_orders.json");
  await expect(page.getByRole("status")).toContainText("Updated e2e_orders to version 2");
  const canvas = page.getByRole("region", { name: "Canvas" });
  for (const node of ["raw_orders", "customer_totals", "top_customers"]) {
    await expect(canvas.getByText(node, { exact: true })).toBeVisible();
  }
  await expect(canvas.locator(".react-flow__edge")).toHaveCount(2);
  await expect(page.getByText("No problems: this pipeline is valid.")).toBeVisible();
  await expect(page.getByRole("list", { name: "Versions" }).getByRole("listitem")).toHaveCount(2);

  // The list shows it with its node count and version.
  await page.getByRole("link", { name: "← Pipelines" }).click();
  const row = page.getByRole("row").filter({ hasText: "e2e_orders" });
  await expect(row).toContainText("Orders to totals per customer");
  await expect(row.getByRole("cell").nth(1)).toHaveText("3");
  await expect(row).toContainText("v2");
  await expect(row).toContainText("Valid");
});

test("an imported file's validation problems are listed and point at the node", async ({ page }) => {
  await page.goto("/");
  await importThroughUi(page, "e2e_broken.json");
  await expect(page.getByRole("status")).toContainText("Imported e2e_broken as a new pipeline");
  await expect(page.getByRole("status")).toContainText("1 problem");

  const row = page.getByRole("row").filter({ hasText: "e2e_broken" });
  await expect(row).toContainText("1 error");
  await row.getByRole("link", { name: "e2e_broken" }).click();

  const problems = page.getByRole("list", { name: "Problems" });
  const problem = problems.getByRole("button").filter({ hasText: "'ghost' is not a node id of this pipeline" });
  await expect(problem).toBeVisible();
  await expect(problem).toContainText("edges[1].to");

  // The node at the edge's existing end is outlined with its error count; clicking selects it and opens its panel.
  const node = page.locator(".react-flow__node", { hasText: "daily_events" });
  await expect(node.getByLabel("1 error")).toBeVisible();
  await problem.click();
  await expect(node).toHaveClass(/selected/);
  await expect(page.getByRole("region", { name: "Configure daily_events" })).toBeVisible();
});

test("a malformed file is refused with its line and column", async ({ page }) => {
  await page.goto("/");
  await importThroughUi(page, "e2e_malformed.json");
  const alert = page.getByRole("alert").filter({ hasText: "Could not import e2e_malformed.json" });
  await expect(alert).toContainText("line 5, column 17");
  await expect(page.getByRole("row").filter({ hasText: "e2e_malformed" })).toHaveCount(0);
});

test("export downloads the canonical pipeline file", async ({ page, request }) => {
  const text = readFixture("e2e_orders.json").replace(/e2e_orders/g, "e2e_export");
  const saved = await importViaApi(request, text);
  await page.goto(`/pipelines/${saved.id}`);
  await expect(page.getByRole("heading", { level: 1, name: "e2e_export" })).toBeVisible();

  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Export", exact: true }).click();
  const file = await download;
  expect(file.suggestedFilename()).toBe("e2e_export.json");
  const exported = fs.readFileSync(await file.path(), "utf8");
  const parsed = JSON.parse(exported) as { format: string; name: string; nodes: { name: string }[] };
  expect(parsed.format).toBe("tributary/v1");
  expect(parsed.name).toBe("e2e_export");
  expect(parsed.nodes.map((n) => n.name).sort()).toEqual(["customer_totals", "raw_orders", "top_customers"]);
  expect(exported).toContain('"format": "tributary/v1"');
});

test("rename, restore an older version, and delete", async ({ page, request }) => {
  const v1 = readFixture("e2e_orders.json").replace(/e2e_orders/g, "e2e_history");
  const saved = await importViaApi(request, v1);
  const doc = JSON.parse(v1) as { nodes: object[]; edges: object[] };
  doc.nodes.push({ id: "big", kind: "sql", name: "big_orders", config: { sql: "select * from raw_orders where amount > 1000" } });
  doc.edges.push({ from: "raw", to: "big" });
  await importViaApi(request, JSON.stringify(doc));

  await page.goto(`/pipelines/${saved.id}`);
  const canvas = page.getByRole("region", { name: "Canvas" });
  await expect(canvas.getByText("big_orders", { exact: true })).toBeVisible();

  // Rename: a new version with the new name.
  await page.getByRole("button", { name: "Rename e2e_history" }).click();
  const dialog = page.getByRole("dialog", { name: "Rename e2e_history" });
  await dialog.getByLabel("New name").fill("e2e_history_renamed");
  await dialog.getByRole("button", { name: "Rename", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: "e2e_history_renamed" })).toBeVisible();
  await expect(page.getByTitle("Current version")).toHaveText("v3");

  // Restore v1: a new version 4 equal to v1 (three nodes, the old name).
  const versions = page.getByRole("list", { name: "Versions" });
  await expect(versions.getByRole("listitem").first()).toContainText("renamed from e2e_history");
  await versions.getByRole("button", { name: "Restore version 1" }).click();
  await expect(page.getByTitle("Current version")).toHaveText("v4");
  await expect(versions.getByRole("listitem").first()).toContainText("restored v1");
  await expect(page.getByRole("heading", { level: 1, name: "e2e_history" })).toBeVisible();
  await expect(canvas.getByText("big_orders", { exact: true })).toHaveCount(0);
  await expect(canvas.getByText("top_customers", { exact: true })).toBeVisible();

  // Delete from the list, after confirming.
  await page.getByRole("link", { name: "← Pipelines" }).click();
  const row = page.getByRole("row").filter({ hasText: "e2e_history" });
  await row.getByRole("button", { name: "Delete e2e_history" }).click();
  const confirm = page.getByRole("dialog", { name: "Delete e2e_history?" });
  await expect(confirm).toContainText("cannot be undone");
  await confirm.getByRole("button", { name: "Delete pipeline" }).click();
  await expect(confirm).toBeHidden();
  await expect(page.getByRole("row").filter({ hasText: "e2e_history" })).toHaveCount(0);
});

test("restoring from a stale page shows the conflict", async ({ page, request }) => {
  const text = readFixture("e2e_orders.json").replace(/e2e_orders/g, "e2e_conflict");
  const saved = await importViaApi(request, text);
  await importViaApi(request, text.replace("Orders to totals", "Orders into totals"));
  await page.goto(`/pipelines/${saved.id}`);
  await expect(page.getByTitle("Current version")).toHaveText("v2");

  // Someone else saves version 3 while this page still shows version 2.
  await importViaApi(request, text.replace("Orders to totals", "Orders, summed"));
  await page.getByRole("list", { name: "Versions" }).getByRole("button", { name: "Restore version 1" }).click();
  const conflict = page.getByRole("alert").filter({ hasText: "was saved by someone else" });
  await expect(conflict).toContainText("it is at version 3, this save was based on version 2");
  // The page then catches up with the newer version, so a retry can succeed.
  await expect(page.getByTitle("Current version")).toHaveText("v3");
  await page.getByRole("list", { name: "Versions" }).getByRole("button", { name: "Restore version 1" }).click();
  await expect(page.getByTitle("Current version")).toHaveText("v4");
  await expect(conflict).toHaveCount(0);
});
