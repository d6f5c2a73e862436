/**
 * The assistant panel end to end, against the scripted fake OpenAI-compatible
 * server that scripts/e2e-server.mjs starts (tests/fixtures/fake-openai.mjs):
 * a draft shown as an overlay, accepted as one undoable change; a suggestion
 * rejected; a cell change reviewed as a diff and accepted; a repair round;
 * 401 and 429 answers; cancel; the help shown without a provider.
 *
 * With SCREENSHOTS=1 it also refreshes docs/screenshots/assistant.png.
 */
import path from "node:path";
import { expect, test, type Locator, type Page } from "@playwright/test";
import { canvasNode, importViaApi } from "./helpers";

test.describe.configure({ timeout: 120_000 });

// Never a crash: any uncaught error in the page fails the test.
let pageErrors: string[] = [];
test.beforeEach(({ page }) => {
  pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
});
test.afterEach(() => {
  expect(pageErrors, "uncaught errors in the page").toEqual([]);
});

const FAKE = `http://127.0.0.1:${process.env.E2E_FAKE_OPENAI_PORT ?? 3199}`;

interface Reply {
  content?: unknown;
  toolCalls?: { name: string; arguments: unknown }[];
  status?: number;
  hang?: boolean;
}

/** Replace the fake provider's script: each chat completion takes the next reply. */
async function script(...replies: Reply[]) {
  const response = await fetch(`${FAKE}/__script`, { method: "POST", body: JSON.stringify({ reset: true, replies }) });
  expect(response.ok).toBeTruthy();
}

async function recordedRequests(): Promise<{ messages: { role: string; content: string }[] }[]> {
  return (await fetch(`${FAKE}/__requests`)).json();
}

const POS_COLUMNS = { sale_id: "bigint", store_id: "integer", sku: "text", qty: "integer", unit_price: "numeric", sold_at: "timestamptz" };
const STORE_COLUMNS = { store_id: "integer", store_name: "text", region: "text", opened_on: "date" };

const posSales = { id: "pos_sales", kind: "source.csv", name: "pos_sales", config: { path: "data/pos_sales.csv", columns: POS_COLUMNS } };
const stores = { id: "stores", kind: "source.csv", name: "stores", config: { path: "data/stores.csv", columns: STORE_COLUMNS } };
const storeUnits = (sql = "select store_id, sum(qty) as units\nfrom pos_sales\ngroup by store_id") => ({
  id: "store_units", kind: "sql", name: "store_units", config: { sql },
});

/** What the fake model drafts: a real file, real columns, so the dry run passes. */
const DRAFT = {
  format: "tributary/v1",
  name: "drafted",
  description: "Units sold per store",
  nodes: [posSales, storeUnits()],
  edges: [{ from: "pos_sales", to: "store_units" }],
};

const panel = (page: Page) => page.getByRole("complementary", { name: "Assistant" });

async function openPipeline(page: Page, doc: object): Promise<string> {
  const saved = await importViaApi(page.request, JSON.stringify(doc));
  await page.goto(`/pipelines/${saved.id}`);
  await expect(page.getByRole("region", { name: "Canvas" })).toBeVisible();
  return saved.id;
}

async function openAssistant(page: Page): Promise<Locator> {
  const button = page.getByRole("button", { name: "Assistant", exact: true });
  await button.focus();
  await page.keyboard.press("Enter"); // keyboard reachable
  await expect(button).toHaveAttribute("aria-expanded", "true");
  const p = panel(page);
  await expect(p.getByRole("radio", { name: "Draft pipeline" })).toBeVisible();
  return p;
}

async function draft(page: Page, description: string): Promise<Locator> {
  const p = await openAssistant(page);
  await p.getByRole("radio", { name: "Draft pipeline" }).check();
  await p.getByRole("textbox", { name: "Describe the pipeline" }).fill(description);
  await p.getByRole("button", { name: "Draft pipeline" }).click();
  return p;
}

async function selectNode(page: Page, name: string) {
  await canvasNode(page, name).click();
  await expect(canvasNode(page, name)).toHaveClass(/selected/);
}

const TWO_NODES = (name: string) => ({ format: "tributary/v1", name, nodes: [posSales, storeUnits()], edges: [{ from: "pos_sales", to: "store_units" }] });

test("draft: the proposal is an overlay, Accept applies it as one change, Ctrl+Z takes it back", async ({ page }) => {
  await openPipeline(page, { format: "tributary/v1", name: "e2e_assistant_draft", nodes: [], edges: [] });
  await expect(page.getByText("0 nodes ·")).toBeVisible();
  await script({ content: { explanation: "Reads the POS export and sums units per store.", pipeline: DRAFT } });

  const description = "Units sold per store from the POS export";
  const p = await draft(page, description);

  // The context sent to the model, collapsible, carries the user's description.
  const context = p.locator("details", { hasText: "Context sent to the model" }).first();
  await expect(context).toBeVisible();
  await context.locator("summary").click();
  await expect(context.getByText(description)).toBeVisible();

  // Checked, then shown over the canvas: two added nodes; the document is untouched.
  await expect(p.locator("li", { hasText: "Check of the first answer:" })).toContainText("passed", { timeout: 60_000 });
  const answer = p.getByRole("region", { name: "Assistant's answer" });
  await expect(answer.getByText("Reads the POS export and sums units per store.")).toBeVisible();
  await expect(answer.getByTestId("assistant-usage")).toHaveText(/^0 repair rounds · 120 tokens/);
  await expect(page.getByTestId("node-pos_sales")).toHaveAttribute("data-proposal", "added");
  await expect(page.getByTestId("node-store_units")).toHaveAttribute("data-proposal", "added");
  await expect(page.getByRole("region", { name: "Proposal legend" })).toContainText("2 added");
  await expect(page.getByText("0 nodes ·")).toBeVisible();
  await expect(page.getByText("Unsaved changes")).toHaveCount(0);

  await answer.getByRole("button", { name: "Accept", exact: true }).click();
  await expect(page.getByText("2 nodes · 1 edges")).toBeVisible();
  await expect(page.getByRole("region", { name: "Proposal legend" })).toHaveCount(0);
  await expect(page.getByTestId("node-store_units")).not.toHaveAttribute("data-proposal");
  await expect(page.getByText("Unsaved changes")).toBeVisible();
  // The pipeline keeps its own name.
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("e2e_assistant_draft");

  // One undo step brings the empty pipeline back.
  await page.locator("body").click({ position: { x: 5, y: 5 } });
  await page.keyboard.press("ControlOrMeta+z");
  await expect(page.getByText("0 nodes ·")).toBeVisible();
  await expect(page.locator(".react-flow__node")).toHaveCount(0);

  // The model was asked once, with the description.
  const requests = await recordedRequests();
  expect(requests).toHaveLength(1);
  expect(requests[0]!.messages.some((m) => m.role === "user" && m.content.includes(description))).toBe(true);
});

test("suggest: the overlay marks the added node; Reject leaves the document unchanged", async ({ page }) => {
  await openPipeline(page, TWO_NODES("e2e_assistant_reject"));
  await expect(page.getByText("2 nodes · 1 edges")).toBeVisible();
  const added = { id: "big_stores", kind: "sql", name: "big_stores", config: { sql: "select store_id, units from store_units where units > 10" } };
  await script({
    content: {
      explanation: "Keeps the stores that sold more than 10 units.",
      pipeline: { ...TWO_NODES("e2e_assistant_reject"), nodes: [posSales, storeUnits(), added], edges: [...TWO_NODES("x").edges, { from: "store_units", to: "big_stores" }] },
    },
  });

  await selectNode(page, "store_units");
  const p = await openAssistant(page);
  await p.getByRole("radio", { name: "Suggest next nodes" }).check();
  await expect(p.getByText("Selected node: store_units")).toBeVisible();
  await p.getByRole("button", { name: "Suggest next nodes" }).click();

  await expect(page.getByTestId("node-big_stores")).toHaveAttribute("data-proposal", "added", { timeout: 60_000 });
  await expect(page.getByTestId("node-store_units")).not.toHaveAttribute("data-proposal");
  await expect(p.getByRole("list", { name: "Proposed changes" })).toContainText("1 added: big_stores");

  await p.getByRole("button", { name: "Reject" }).click();
  await expect(page.getByTestId("node-big_stores")).toHaveCount(0);
  await expect(page.locator("[data-proposal]")).toHaveCount(0);
  await expect(page.getByText("2 nodes · 1 edges")).toBeVisible();
  await expect(page.getByText("Unsaved changes")).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Undo" })).toBeDisabled();
});

test("write cell: the change is a diff, Accept sets the SQL as one undoable change", async ({ page }) => {
  await openPipeline(page, TWO_NODES("e2e_assistant_cell"));
  const sql = "select store_id, sum(qty) as units, sum(qty * unit_price) as revenue\nfrom pos_sales\ngroup by store_id";
  await script({ content: { explanation: "Adds the revenue per store.", code: sql } });

  await selectNode(page, "store_units");
  const p = await openAssistant(page);
  await p.getByRole("radio", { name: "Write cell" }).check();
  await p.getByRole("textbox", { name: "What should the cell do?" }).fill("also the revenue per store");
  await p.getByRole("button", { name: "Write cell" }).click();

  const diff = p.getByRole("group", { name: "Proposed SQL for store_units" });
  await expect(diff.locator(".monaco-diff-editor")).toBeVisible({ timeout: 60_000 });
  await expect(diff.locator(".monaco-diff-editor")).toContainText("revenue");
  await expect(p.getByText("Unsaved changes")).toHaveCount(0);
  await p.getByRole("button", { name: "Accept", exact: true }).click();
  await expect(p.getByText(/^Accepted: the pipeline changed/)).toBeVisible();
  await expect(page.getByText("Unsaved changes")).toBeVisible();

  // The node's own editor shows the new SQL; one undo brings the old one back.
  await page.getByRole("button", { name: "Close assistant" }).click();
  const cell = page.getByTestId("code-store_units").locator(".monaco-editor .view-lines");
  await expect(cell).toContainText("revenue");
  await page.locator("body").click({ position: { x: 5, y: 5 } });
  await selectNode(page, "store_units");
  await page.keyboard.press("ControlOrMeta+z");
  await expect(page.getByTestId("code-store_units").locator(".monaco-editor .view-lines")).not.toContainText("revenue");
  await expect(page.getByText("Unsaved changes")).toHaveCount(0);
});

test("explain failure: offered for the node that failed in the shown run, with its fix as a diff", async ({ page }) => {
  await openPipeline(page, {
    format: "tributary/v1",
    name: "e2e_assistant_explain",
    defaults: { retries: 0 },
    nodes: [posSales, { id: "per_unit", kind: "sql", name: "per_unit", config: { sql: "select store_id, sum(qty) / 0 as per_unit\nfrom pos_sales\ngroup by store_id" } }],
    edges: [{ from: "pos_sales", to: "per_unit" }],
  });
  await selectNode(page, "per_unit");
  const p = await openAssistant(page);
  await p.getByRole("radio", { name: "Explain failure" }).check();
  await expect(p.getByText("Show a run first")).toBeVisible();
  await expect(p.getByRole("button", { name: "Explain failure" })).toBeDisabled();

  await page.getByRole("button", { name: "Run", exact: true }).click();
  await expect(page.getByTestId("node-per_unit").locator("[data-run-state]")).toHaveAttribute("data-run-state", "failed", { timeout: 90_000 });
  await expect(p.getByText(/failed in run [0-9a-f]{8}/)).toBeVisible();

  const fixed = "select store_id, sum(qty) as units\nfrom pos_sales\ngroup by store_id";
  await script({ content: { explanation: "The SQL divides by zero; dropped the division.", code: fixed } });
  await p.getByRole("button", { name: "Explain failure" }).click();
  const answer = p.getByRole("region", { name: "Assistant's answer" });
  await expect(answer.getByText("The SQL divides by zero; dropped the division.")).toBeVisible({ timeout: 60_000 });
  await expect(answer.getByRole("group", { name: "Proposed SQL for per_unit" }).locator(".monaco-diff-editor")).toBeVisible();
  const sent = (await recordedRequests())[0]!.messages.find((m) => m.role === "user")!.content;
  expect(sent).toContain("division by zero");
  await answer.getByRole("button", { name: "Accept", exact: true }).click();
  await expect(page.getByText("Unsaved changes")).toBeVisible();
});

test("an invalid first answer is repaired in a second round, visibly", async ({ page }) => {
  await openPipeline(page, { format: "tributary/v1", name: "e2e_assistant_repair", nodes: [], edges: [] });
  const broken = { ...DRAFT, nodes: [posSales, storeUnits("select store_id, sum(qty) as units from pos_sale group by store_id")] };
  await script(
    { content: { explanation: "First try.", pipeline: broken } },
    { content: { explanation: "Fixed the table name.", pipeline: DRAFT } },
  );
  const p = await draft(page, "Units per store from pos_sales.csv");

  const first = p.locator("li", { hasText: "Check of the first answer:" });
  await expect(first).toContainText("1 problem", { timeout: 60_000 });
  await expect(first).toContainText("pos_sale");
  await expect(p.getByText("Context sent to the model (repair round 1)")).toBeVisible();
  await expect(p.locator("li", { hasText: "Check after repair round 1:" })).toContainText("passed", { timeout: 60_000 });
  const answer = p.getByRole("region", { name: "Assistant's answer" });
  await expect(answer.getByTestId("assistant-usage")).toHaveText(/^1 repair round · 240 tokens/);
  await expect(answer.getByText("Fixed the table name.")).toBeVisible();
  await expect(answer.getByRole("button", { name: "Accept", exact: true })).toBeEnabled();
  expect(await recordedRequests()).toHaveLength(2);
});

test("401 and 429 from the provider are clear alerts; a hang can be canceled", async ({ page }) => {
  await openPipeline(page, { format: "tributary/v1", name: "e2e_assistant_errors", nodes: [], edges: [] });
  await script({ status: 401 });
  const p = await draft(page, "anything at all");
  const alert = p.getByRole("alert");
  await expect(alert).toContainText("The model server refused the API key");
  await expect(alert).toContainText("check OPENAI_API_KEY");

  await script({ status: 429 });
  await p.getByRole("button", { name: "Draft pipeline" }).click();
  await expect(p.getByRole("alert")).toContainText("rate limiting");
  await expect(p.getByRole("alert")).toContainText("retry after 20 s");

  await script({ hang: true });
  await p.getByRole("button", { name: "Draft pipeline" }).click();
  await expect(p.getByRole("status").filter({ hasText: "Working…" })).toBeVisible();
  await p.getByRole("button", { name: "Cancel" }).click();
  await expect(p.getByText("Canceled. Nothing was changed.")).toBeVisible();
  await expect(p.getByRole("button", { name: "Draft pipeline" })).toBeEnabled();
  await expect(page.getByText("0 nodes ·")).toBeVisible();
});

test("without a provider the panel shows how to configure one", async ({ page }) => {
  await page.route(/\/api\/trpc\/assistant\.status/, (route) =>
    route.fulfill({
      contentType: "application/json",
      body: JSON.stringify([{ result: { data: { configured: false, help: "Set OPENAI_API_KEY before starting Tributary. For a local model, e.g. Ollama: OPENAI_BASE_URL=http://127.0.0.1:11434/v1 OPENAI_MODEL=qwen2.5-coder:7b npm start (no key needed)." } } }]),
    }),
  );
  await openPipeline(page, TWO_NODES("e2e_assistant_unconfigured"));
  await page.getByRole("button", { name: "Assistant", exact: true }).click();
  const p = panel(page);
  await expect(p.getByRole("heading", { name: "No model provider is configured" })).toBeVisible();
  await expect(p.getByText("OPENAI_BASE_URL=http://127.0.0.1:11434/v1 OPENAI_MODEL=qwen2.5-coder:7b npm start", { exact: true })).toBeVisible();
  await expect(p.getByRole("radio")).toHaveCount(0);
  // The editor still works.
  await page.getByRole("button", { name: "Close assistant" }).click();
  await expect(page.getByRole("complementary", { name: "Pipeline details" })).toBeVisible();
});

test("screenshot for docs/screenshots/assistant.png", async ({ page }) => {
  test.skip(!process.env.SCREENSHOTS, "set SCREENSHOTS=1 to refresh docs/screenshots");
  const doc = {
    format: "tributary/v1",
    name: "store_revenue",
    description: "POS sales joined to stores",
    nodes: [
      { ...posSales, position: { x: 0, y: 0 } },
      { ...stores, position: { x: 0, y: 120 } },
      { id: "store_sales", kind: "sql", name: "store_sales", position: { x: 320, y: 60 },
        config: { sql: "select s.store_id, st.region, s.qty, s.unit_price, s.sold_at\nfrom pos_sales s\njoin stores st using (store_id)" } },
    ],
    edges: [{ from: "pos_sales", to: "store_sales" }, { from: "stores", to: "store_sales" }],
  };
  await openPipeline(page, doc);
  const daily = { id: "region_daily", kind: "sql", name: "region_daily",
    config: { sql: "select region, sold_at::date as day, sum(qty * unit_price) as revenue\nfrom store_sales\ngroup by region, sold_at::date" } };
  const sink = { id: "region_daily_table", kind: "sink.table", name: "region_daily_table", config: { table: "dashboard.region_daily", mode: "replace" } };
  await script(
    { toolCalls: [{ name: "describe_table", arguments: { table: "store_sales" } }] },
    {
      content: {
        explanation: "Adds revenue per region and day, and loads it into dashboard.region_daily (replaced on every run).",
        pipeline: { ...doc, nodes: [...doc.nodes.map(({ position: _p, ...n }) => n), daily, sink], edges: [...doc.edges, { from: "store_sales", to: "region_daily" }, { from: "region_daily", to: "region_daily_table" }] },
      },
    },
  );
  await selectNode(page, "store_sales");
  const p = await openAssistant(page);
  await p.getByRole("radio", { name: "Suggest next nodes" }).check();
  await p.getByRole("textbox", { name: "What should come next? (optional)" }).fill("daily revenue per region, for the dashboard");
  await p.getByRole("button", { name: "Suggest next nodes" }).click();
  await expect(page.getByTestId("node-region_daily")).toHaveAttribute("data-proposal", "added", { timeout: 60_000 });
  await page.mouse.move(0, 899);
  await page.waitForTimeout(800);
  await page.waitForFunction(() => !document.querySelector(".react-flow__viewport")?.getAnimations().length);
  await page.screenshot({ path: path.resolve("docs", "screenshots", "assistant.png") });
});
