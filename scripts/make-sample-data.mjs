#!/usr/bin/env node
/**
 * Make the product's own small sample data from the full reference data sets.
 *
 *   node scripts/make-sample-data.mjs [SOURCE_DIR]
 *
 * SOURCE_DIR defaults to ../shared/data (relative to the repository root) and
 * must hold retail/{pos_sales,returns,stores,products}.csv and
 * contacts/{crm_contacts.csv,support_contacts.csv,marketing_contacts.json}.
 *
 * The selection is deterministic (no randomness), so running it twice gives the
 * same bytes. CSV rows are copied verbatim: the messy parts of the data (mixed-
 * case e-mails, spaces around them, missing phones, negative quantities) stay.
 *
 * Writes:
 *   examples/data/pos_sales.csv         ~2,000 sales across every day: every 22nd sale,
 *                                       every suspicious one (qty <= 0, price <= 0), and
 *                                       the sales of every 10th return
 *   examples/data/returns.csv           the returns of those sales
 *   examples/data/stores.csv            all stores
 *   examples/data/products.csv          all products
 *   examples/data/crm_contacts.csv      the first 200 CRM contacts
 *   examples/data/support_contacts.csv  150 support contacts, those also in the CRM sample first
 *   examples/data/marketing_contacts.json  250 marketing records, those in the CRM sample first
 *   public/samples/marketing_contacts.json the same JSON, served by the app for source.http
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const source = resolve(repo, process.argv[2] ?? "../shared/data");
const outDir = join(repo, "examples", "data");
const publicDir = join(repo, "public", "samples");

/**
 * Split CSV text into records, keeping each record's raw text so that it can be
 * written back byte for byte. Handles quoted fields with commas, "" and newlines.
 */
function readCsv(path) {
  const text = readFileSync(path, "utf8");
  const records = [];
  let fields = [];
  let field = "";
  let quoted = false;
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
      continue;
    }
    if (ch === '"') quoted = true;
    else if (ch === ",") {
      fields.push(field);
      field = "";
    } else if (ch === "\n" || ch === undefined) {
      const raw = text.slice(start, i).replace(/\r$/, "");
      if (raw.length > 0) {
        fields.push(field.replace(/\r$/, ""));
        records.push({ fields, raw });
      }
      fields = [];
      field = "";
      start = i + 1;
    } else field += ch;
  }
  const [header, ...rows] = records;
  const names = header.fields;
  return {
    header: header.raw,
    rows: rows.map((r) => ({ raw: r.raw, row: Object.fromEntries(names.map((n, i) => [n, r.fields[i] ?? ""])) })),
  };
}

function writeCsv(name, header, rows) {
  const path = join(outDir, name);
  writeFileSync(path, [header, ...rows.map((r) => r.raw)].join("\n") + "\n");
  console.log(`${path.slice(repo.length + 1)}: ${rows.length} rows`);
}

const normEmail = (e) => String(e ?? "").trim().toLowerCase();

/** Up to `limit` rows, those with `preferred(row)` first, in their original order. */
function pick(rows, limit, preferred) {
  const chosen = new Set();
  for (const r of rows) if (chosen.size < limit && preferred(r)) chosen.add(r);
  for (const r of rows) if (chosen.size < limit) chosen.add(r);
  return rows.filter((r) => chosen.has(r));
}

mkdirSync(outDir, { recursive: true });
mkdirSync(publicDir, { recursive: true });

// ---------------------------------------------------------------- retail
const sales = readCsv(join(source, "retail", "pos_sales.csv"));
const returns = readCsv(join(source, "retail", "returns.csv"));
const returnedSales = new Set(returns.rows.filter((_, i) => i % 10 === 0).map((r) => r.row.sale_id));
const suspicious = (r) => !(Number(r.row.qty) > 0) || !(Number(r.row.unit_price) > 0);
const saleSample = sales.rows.filter((r, i) => i % 22 === 0 || suspicious(r) || returnedSales.has(r.row.sale_id));
const saleIds = new Set(saleSample.map((r) => r.row.sale_id));
writeCsv("pos_sales.csv", sales.header, saleSample);
writeCsv(
  "returns.csv",
  returns.header,
  returns.rows.filter((r) => saleIds.has(r.row.sale_id)),
);
for (const name of ["stores.csv", "products.csv"]) {
  const all = readCsv(join(source, "retail", name));
  writeCsv(name, all.header, all.rows);
}

// ---------------------------------------------------------------- contacts
const crm = readCsv(join(source, "contacts", "crm_contacts.csv"));
const crmSample = crm.rows.slice(0, 200);
const crmEmails = new Set(crmSample.map((r) => normEmail(r.row.email)));
writeCsv("crm_contacts.csv", crm.header, crmSample);

const support = readCsv(join(source, "contacts", "support_contacts.csv"));
writeCsv("support_contacts.csv", support.header, pick(support.rows, 150, (r) => crmEmails.has(normEmail(r.row.email))));

const marketing = JSON.parse(readFileSync(join(source, "contacts", "marketing_contacts.json"), "utf8"));
const marketingSample = pick(marketing, 250, (r) => crmEmails.has(normEmail(r.emailAddress)));
const marketingPath = join(publicDir, "marketing_contacts.json");
writeFileSync(marketingPath, JSON.stringify(marketingSample, null, 2) + "\n");
copyFileSync(marketingPath, join(outDir, "marketing_contacts.json"));
console.log(`${marketingPath.slice(repo.length + 1)} (and examples/data/): ${marketingSample.length} records`);
