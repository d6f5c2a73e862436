/**
 * `npm run eval:assistant`: run a set of drafting prompts (both reference scenarios
 * and more) against whatever OPENAI_BASE_URL / OPENAI_MODEL point at, on a fresh
 * embedded workspace holding the examples' sample data, and print one JSON report:
 * the share of drafts that validate, the share that pass a dry run, repair rounds
 * used and tokens.
 *
 *   OPENAI_BASE_URL=http://127.0.0.1:11434/v1 OPENAI_MODEL=qwen2.5-coder:7b npm run eval:assistant
 *   npm run eval:assistant -- --only retail_daily_sales,contact_sync
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { assistantConfig, CONFIGURE_HELP, type AssistantConfig } from "@/server/assistant/config";
import { runAssistant } from "@/server/assistant/repair-loop";
import { toolContextOf } from "@/server/assistant/tools";
import { isError, parsePipeline } from "@/server/pipeline";
import { openRuntimeService, type RuntimeService } from "@/server/runtime/service";

export interface EvalCase {
  id: string;
  prompt: string;
}

/** The prompts: the two reference scenarios of DESIGN §8, then smaller everyday asks. */
export const CASES: EvalCase[] = [
  {
    id: "retail_daily_sales",
    prompt:
      "Retail daily sales: read the POS sales (data/pos_sales.csv), the returns (data/returns.csv), the products and the stores. " +
      "Net out returned quantities, compute revenue per store and day and per region and day, and add a check that flags sales with a non-positive quantity or price.",
  },
  {
    id: "contact_sync",
    prompt:
      "Contact sync: read contacts from the CRM export (data/crm_contacts.csv), the marketing JSON file (data/marketing_contacts.json is not reachable over HTTP, so skip it) and the support CSV (data/support_contacts.csv). " +
      "Normalise emails to lower case and trim them, keep only digits in phone numbers, and de-duplicate by email into one contacts table.",
  },
  { id: "top_products", prompt: "The 5 best-selling product categories by revenue (qty × unit_price) from data/pos_sales.csv joined with data/products.csv." },
  { id: "return_rate", prompt: "Return rate per store: returned quantity divided by sold quantity, from data/pos_sales.csv and data/returns.csv, highest first." },
  { id: "support_overlap", prompt: "Which CRM contacts (data/crm_contacts.csv) also appear in the support desk export (data/support_contacts.csv), matched by lower-cased email, with their open ticket count." },
  { id: "quality_checks", prompt: "Data quality checks on data/pos_sales.csv: sale_id unique, store_id not null, qty between 1 and 1000." },
  { id: "js_normalise", prompt: "Use a JavaScript cell to split the CRM contacts' names into first and last name initials and build a display name 'Last, F.' from data/crm_contacts.csv." },
  { id: "region_rollup", prompt: "Monthly revenue per region: POS sales joined with stores by store_id, grouped by region and month of sold_at." },
];

export interface CaseResult {
  id: string;
  validates: boolean;
  passesDryRun: boolean;
  rounds: number;
  tokens: number;
  seconds: number;
  nodes: number;
  remaining: string[];
  error?: string;
}

/** Run each case through the assistant on `rt`; a provider error fails that case only. */
export async function evaluate(config: AssistantConfig, rt: RuntimeService, cases: EvalCase[]): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  for (const c of cases) {
    const t0 = performance.now();
    try {
      const result = await runAssistant(
        { kind: "draft", description: c.prompt },
        config,
        toolContextOf(rt, { allowSamples: true, sampleRows: config.sampleRows, signal: new AbortController().signal }),
        () => {},
      );
      const parsed = result.document ? parsePipeline(result.document, { sql: rt.sql }) : null;
      out.push({
        id: c.id,
        validates: !!parsed?.ok && !parsed.problems.some(isError),
        passesDryRun: result.ok,
        rounds: result.rounds,
        tokens: result.usage.total,
        seconds: Math.round((performance.now() - t0) / 100) / 10,
        nodes: result.document?.nodes.length ?? 0,
        remaining: result.remaining,
      });
    } catch (error) {
      out.push({ id: c.id, validates: false, passesDryRun: false, rounds: 0, tokens: 0, seconds: Math.round((performance.now() - t0) / 100) / 10, nodes: 0, remaining: [], error: (error as Error).message });
    }
  }
  return out;
}

export function summary(config: AssistantConfig, results: CaseResult[]) {
  const n = results.length || 1;
  const share = (f: (r: CaseResult) => boolean) => Math.round((results.filter(f).length / n) * 1000) / 1000;
  return {
    model: config.model,
    provider: config.baseURL ?? "api.openai.com",
    cases: results.length,
    validShare: share((r) => r.validates),
    dryRunShare: share((r) => r.passesDryRun),
    meanRounds: Math.round((results.reduce((a, r) => a + r.rounds, 0) / n) * 100) / 100,
    tokens: results.reduce((a, r) => a + r.tokens, 0),
    results,
  };
}

async function main() {
  const config = assistantConfig();
  if (!config) {
    process.stdout.write(JSON.stringify({ error: `the assistant is not configured. ${CONFIGURE_HELP}` }) + "\n");
    process.exit(2);
  }
  const onlyAt = process.argv.indexOf("--only");
  const only = onlyAt > 0 ? new Set(process.argv[onlyAt + 1]?.split(",")) : null;
  const cases = only ? CASES.filter((c) => only.has(c.id)) : CASES;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-eval-"));
  const savedUrls = { db: process.env.DATABASE_URL, wh: process.env.WAREHOUSE_URL };
  delete process.env.DATABASE_URL; // a fresh embedded workspace, whatever the shell says
  delete process.env.WAREHOUSE_URL;
  const rt = await openRuntimeService({ dataDir, startWorker: true });
  try {
    fs.cpSync(path.join(process.cwd(), "examples", "data"), path.join(rt.filesDir, "data"), { recursive: true });
    const results = await evaluate(config, rt, cases);
    process.stdout.write(JSON.stringify(summary(config, results), null, 2) + "\n");
  } finally {
    await rt.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    Object.assign(process.env, savedUrls.db ? { DATABASE_URL: savedUrls.db } : {}, savedUrls.wh ? { WAREHOUSE_URL: savedUrls.wh } : {});
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    process.stderr.write(`eval:assistant: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
