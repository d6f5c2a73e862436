/**
 * The pipeline editor end to end: palette, connections, Monaco cells, problems,
 * undo/redo, save and reload, conflicts between two pages, the notebook view,
 * the config panel's field errors — and no request leaving 127.0.0.1.
 */
import { expect, test, type Page } from "@playwright/test";
import { canvasNode, importViaApi, monacoText, readFixture, typeInMonaco } from "./helpers";

/** Every URL the page requests, to prove nothing leaves 127.0.0.1. */
function trackRequests(page: Page): string[] {
  const urls: string[] = [];
  page.on("request", (r) => urls.push(r.url()));
  return urls;
}

function expectLocalOnly(urls: string[]) {
  const foreign = urls.filter((u) => !/^(https?:\/\/(127\.0\.0\.1|localhost)(:\d+)?\/|data:|blob:)/.test(u));
  expect(foreign, `requests that left 127.0.0.1: ${foreign.join(", ")}`).toEqual([]);
  expect(urls.length).toBeGreaterThan(0);
}

async function openPipeline(page: Page, name: string): Promise<string> {
  const text = readFixture("e2e_orders.json").replace(/e2e_orders/g, name);
  const saved = await importViaApi(page.request, text);
  await page.goto(`/pipelines/${saved.id}`);
  await expect(page.locator(".react-flow__node")).toHaveCount(3);
  return saved.id;
}

const node = canvasNode;

/** Drag from one node's output handle to another's input handle. */
async function connect(page: Page, from: string, to: string) {
  const source = node(page, from).locator(".react-flow__handle.source").first();
  const target = node(page, to).locator(".react-flow__handle.target");
  const a = (await source.boundingBox())!;
  let b = (await target.boundingBox())!;
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  // Head for the target through the middle of the canvas (near its edges React Flow pans).
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2 + 30, { steps: 8 });
  b = (await target.boundingBox())!;
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 8 });
  await page.mouse.up();
}

/** Click an empty spot of the canvas (clears the selection and leaves any text field). */
async function clickPane(page: Page) {
  const pane = page.locator(".react-flow__pane");
  const box = (await pane.boundingBox())!;
  await page.mouse.click(box.x + box.width / 2, box.y + box.height - 40);
}

test("drag a SQL node in, connect it, write its query; undo, redo, save and reload", async ({ page }) => {
  const urls = trackRequests(page);
  await openPipeline(page, "e2e_editor_build");

  // Drag a SQL node from the palette onto an empty part of the canvas.
  const pane = page.locator(".react-flow__pane");
  const box = (await pane.boundingBox())!;
  await page.getByRole("button", { name: "Add sql node" }).dragTo(pane, { targetPosition: { x: box.width / 2, y: box.height - 120 } });
  await expect(node(page, "sql_1")).toBeVisible();
  await expect(page.getByText("Unsaved changes")).toBeVisible();

  await connect(page, "raw_orders", "sql_1");
  await expect(page.locator(".react-flow__edge")).toHaveCount(3);

  // Its panel is open (a new node is selected); write a query that reads a table that is not upstream.
  await node(page, "sql_1").click();
  const panel = page.getByRole("region", { name: "Configure sql_1" });
  await typeInMonaco(page, panel, "select * from ghost_orders");
  await expect(node(page, "sql_1").getByTestId("problem-count")).toBeVisible();
  await expect(panel.getByRole("list", { name: /Problems of sql_1/ })).toContainText("ghost_orders");
  await expect(panel.locator(".monaco-editor [class*='squiggly-']").first()).toBeAttached();

  await page.waitForTimeout(1400); // a separate undo step from the typing above
  await typeInMonaco(page, panel, "select amount from raw_orders");
  await expect(node(page, "sql_1").getByTestId("problem-count")).toHaveCount(0);

  // Undo brings the bad query (and its problem) back; redo the good one.
  await clickPane(page);
  await page.keyboard.press("ControlOrMeta+Z");
  await expect(node(page, "sql_1").getByTestId("problem-count")).toBeVisible();
  await expect(node(page, "sql_1")).toContainText("ghost_orders");
  await page.keyboard.press("ControlOrMeta+Shift+Z");
  await expect(node(page, "sql_1").getByTestId("problem-count")).toHaveCount(0);
  await expect(node(page, "sql_1")).toContainText("select amount from raw_orders");

  // Save (Ctrl+S), reload: still there.
  await page.keyboard.press("ControlOrMeta+S");
  await expect(page.getByRole("status").filter({ hasText: "Saved as version 2" })).toBeVisible();
  await expect(page.getByText("Unsaved changes")).toHaveCount(0);
  await page.reload();
  await expect(node(page, "sql_1")).toContainText("select amount from raw_orders");
  await expect(page.locator(".react-flow__edge")).toHaveCount(3);
  await expect(page.getByTitle("Current version")).toHaveText("v2");

  expectLocalOnly(urls);
});

test("a connection that would make a cycle is refused with a message", async ({ page }) => {
  await openPipeline(page, "e2e_editor_cycle");
  await connect(page, "top_customers", "raw_orders");
  const alert = page.getByRole("alert").filter({ hasText: "would make a cycle" });
  await expect(alert).toBeVisible();
  await expect(alert).toContainText("top_customers → raw_orders");
  await expect(page.locator(".react-flow__edge")).toHaveCount(2);
  await expect(page.getByText("Unsaved changes")).toHaveCount(0);
});

test("the palette works from the keyboard; copy, paste, duplicate and delete", async ({ page }) => {
  await openPipeline(page, "e2e_editor_keys");
  await page.getByRole("button", { name: "Add source.csv node" }).focus();
  await page.keyboard.press("Enter");
  await expect(node(page, "csv_file_1")).toBeVisible();
  await expect(page.locator(".react-flow__node")).toHaveCount(4);

  await node(page, "raw_orders").click();
  await page.keyboard.press("ControlOrMeta+D");
  await expect(node(page, "raw_orders_2")).toBeVisible();
  await page.keyboard.press("ControlOrMeta+C");
  await page.keyboard.press("ControlOrMeta+V");
  await expect(node(page, "raw_orders_3")).toBeVisible();
  await page.keyboard.press("Delete");
  await expect(node(page, "raw_orders_3")).toHaveCount(0);
  await expect(page.locator(".react-flow__node")).toHaveCount(5);
});

test("config panel fields flag bad input on the field", async ({ page }) => {
  await openPipeline(page, "e2e_editor_fields");
  await node(page, "raw_orders").click();
  const panel = page.getByRole("region", { name: "Configure raw_orders" });

  const retries = panel.getByLabel("Retries", { exact: true });
  await expect(retries).toHaveAttribute("placeholder", "0");
  await retries.fill("-1");
  await expect(retries).toHaveAttribute("aria-invalid", "true");
  await expect(panel.getByText("retries must be at least 0 (got -1)")).toBeVisible();
  await retries.fill("3");
  await expect(retries).not.toHaveAttribute("aria-invalid", "true");

  // Deleting while typing deletes text, not the node.
  await retries.press("Backspace");
  await expect(node(page, "raw_orders")).toBeVisible();

  // The panel's title follows the name as it is typed; find the field in the side panel.
  const side = page.getByRole("complementary", { name: "Pipeline details" });
  const name = side.getByLabel("Name", { exact: true });
  await name.fill("raw orders");
  await expect(name).toHaveAttribute("aria-invalid", "true");
  await expect(side.getByText("must start with a lower-case letter").first()).toBeVisible();
  await side.getByRole("button", { name: "Use “raw_orders”" }).click();
  await expect(name).toHaveValue("raw_orders");
  await expect(name).not.toHaveAttribute("aria-invalid", "true");

  // The CSV form: path is required.
  const path = page.getByRole("region", { name: "Configure raw_orders" }).getByLabel("Path", { exact: true });
  await path.fill("");
  await expect(path).toHaveAttribute("aria-invalid", "true");
});

test("an edit in the notebook shows on the canvas, with the selection kept", async ({ page }) => {
  await openPipeline(page, "e2e_editor_notebook");
  await node(page, "customer_totals").click();
  await page.getByRole("button", { name: "Notebook", exact: true }).click();
  const cells = page.getByRole("list", { name: "Cells" });
  await expect(cells.getByRole("listitem")).toHaveCount(3);
  await expect(cells.getByRole("listitem").first()).toContainText("raw_orders");
  const cell = cells.getByRole("listitem", { name: "Cell top_customers" });
  await typeInMonaco(page, cell, "select * from customer_totals order by total desc limit 3");
  expect(await monacoText(cell)).toContain("limit 3");
  await page.getByRole("button", { name: "Canvas", exact: true }).click();
  await expect(node(page, "top_customers")).toContainText("limit 3");
  await expect(page.getByText("Unsaved changes")).toBeVisible();
});

test("a conflict between two pages: reload or overwrite", async ({ browser, page }) => {
  const id = await openPipeline(page, "e2e_editor_conflict");
  const other = await (await browser.newContext()).newPage();
  await other.goto(`/pipelines/${id}`);
  await expect(other.locator(".react-flow__node")).toHaveCount(3);

  // The other page saves first.
  await node(other, "raw_orders").click();
  await other.getByRole("region", { name: "Configure raw_orders" }).getByLabel("Description").fill("edited on the other page");
  await other.getByRole("button", { name: "Save", exact: true }).click();
  await expect(other.getByRole("status").filter({ hasText: "Saved as version 2" })).toBeVisible();

  // This page saves on top of version 1: the dialog shows the difference; overwrite.
  await node(page, "raw_orders").click();
  await page.getByRole("region", { name: "Configure raw_orders" }).getByLabel("Description").fill("edited here");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Someone else saved this pipeline" });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel("Differences")).toContainText("edited on the other page");
  await expect(dialog.getByLabel("Differences")).toContainText("edited here");
  await dialog.getByRole("button", { name: "Overwrite" }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByRole("status").filter({ hasText: "Saved as version 3" })).toBeVisible();

  // Now the other page is behind: its next save conflicts; reload takes this page's version.
  await other.getByRole("region", { name: "Configure raw_orders" }).getByLabel("Retries", { exact: true }).fill("2");
  await other.getByRole("button", { name: "Save", exact: true }).click();
  const otherDialog = other.getByRole("dialog", { name: "Someone else saved this pipeline" });
  await expect(otherDialog).toBeVisible();
  await otherDialog.getByRole("button", { name: "Reload (lose my changes)" }).click();
  await expect(otherDialog).toBeHidden();
  await expect(other.getByTitle("Current version")).toHaveText("v3");
  await expect(other.getByRole("region", { name: "Configure raw_orders" }).getByLabel("Description")).toHaveValue("edited here");
  await expect(other.getByText("Unsaved changes")).toHaveCount(0);
  await other.context().close();
});

test("version history compares a version with the editor's document", async ({ page }) => {
  await openPipeline(page, "e2e_editor_history");
  await node(page, "top_customers").click();
  await page.getByRole("region", { name: "Configure top_customers" }).getByLabel("Description").fill("the best ones");
  await page.getByRole("button", { name: "Close the node panel" }).click();
  await page.getByRole("button", { name: "View diff of version 1" }).click();
  const dialog = page.getByRole("dialog", { name: /Version 1 compared with your unsaved document/ });
  await expect(dialog.getByLabel("Differences")).toContainText("the best ones");
  await dialog.getByRole("button", { name: "Close" }).click();
});

test("a JS cell is type-checked with its upstream names as Inputs", async ({ page }) => {
  const urls = trackRequests(page);
  await openPipeline(page, "e2e_editor_js");
  await page.getByRole("button", { name: "Add js node" }).focus();
  await page.keyboard.press("Enter");
  await expect(node(page, "script_1")).toBeVisible();
  await connect(page, "raw_orders", "script_1");
  await expect(page.locator(".react-flow__edge")).toHaveCount(3);
  await node(page, "script_1").click();
  const panel = page.getByRole("region", { name: "Configure script_1" });

  const header = 'export default (/** @type {Inputs<"script_1">} */ inputs) => ';
  await typeInMonaco(page, panel, `${header}inputs.raw_orders.filter((r) => r.amount);`);
  await page.waitForTimeout(2500); // the TypeScript worker's diagnostics
  await expect(panel.locator(".monaco-editor .squiggly-error")).toHaveCount(0);

  await typeInMonaco(page, panel, `${header}inputs.ghost_orders;`);
  await expect(panel.locator(".monaco-editor .squiggly-error").first()).toBeAttached({ timeout: 20_000 });
  expectLocalOnly(urls);
});
