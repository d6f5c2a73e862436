/** `npm run eval:assistant` end to end, in a child process, against the scripted fake provider. */
import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeOpenAI, type FakeOpenAI } from "../../fixtures/fake-openai.mjs";

const root = path.resolve(__dirname, "../../..");

function runEval(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=react-server", "--import", "tsx", "bench/eval-assistant.ts", ...args], {
      cwd: root, env: { ...process.env, DATABASE_URL: "", WAREHOUSE_URL: "", ...env }, stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe("npm run eval:assistant", () => {
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
  });
  afterAll(async () => fake?.close());

  it("reports the share of drafts that validate and pass a dry run, rounds and tokens", async () => {
    const categories = {
      format: "tributary/v1",
      name: "top_categories",
      nodes: [
        { id: "sales", kind: "source.csv", name: "sales", config: { path: "data/pos_sales.csv" } },
        { id: "products", kind: "source.csv", name: "products", config: { path: "data/products.csv" } },
        { id: "top", kind: "sql", name: "top", config: { sql: "select p.category, sum(s.qty * s.unit_price) as revenue from sales s join products p using (sku) group by 1 order by 2 desc limit 5" } },
      ],
      edges: [{ from: "sales", to: "top" }, { from: "products", to: "top" }],
    };
    const broken = { ...categories, nodes: [categories.nodes[0], { id: "rate", kind: "sql", name: "rate", config: { sql: "select no_such from sales" } }], edges: [{ from: "sales", to: "rate" }] };
    fake.script(
      { toolCalls: [{ name: "list_files", arguments: {} }] },
      { content: { explanation: "top categories", pipeline: categories } },
      { content: { explanation: "x", pipeline: broken } },
      { content: { explanation: "x", pipeline: broken } },
    );
    const result = await runEval(["--only", "top_products,return_rate"], { OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: "", TRIBUTARY_ASSISTANT_REPAIR_ROUNDS: "1" });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ cases: 2, validShare: 1, dryRunShare: 0.5, meanRounds: 0.5, tokens: 480 });
    expect(report.results[0]).toMatchObject({ id: "top_products", validates: true, passesDryRun: true, rounds: 0, nodes: 3 });
    expect(report.results[1]).toMatchObject({ id: "return_rate", validates: true, passesDryRun: false, rounds: 1 });
    expect(report.results[1].remaining[0]).toMatch(/no_such/);
    // The first case's model saw the real sample files.
    expect(JSON.stringify(fake.requests[1].messages)).toContain("sale_id,store_id,sku,qty,unit_price,sold_at");
  });

  it("without a provider, says how to configure one (exit 2)", async () => {
    const result = await runEval([], { OPENAI_BASE_URL: "", OPENAI_API_KEY: "" });
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout).error).toMatch(/not configured/);
  });
});
