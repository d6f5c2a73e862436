/**
 * Both examples run end to end, and their outputs equal an independent
 * computation in plain SQL over the same sample data. Run twice: the upserting
 * sinks hold no duplicates.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePipelineText, type PipelineFile } from "@/server/pipeline";
import { targets } from "../databases";
import { openRuntime, type Runtime } from "./harness";

const root = path.resolve(__dirname, "../../..");
const example = (name: string) => parsePipelineText(fs.readFileSync(path.join(root, "examples", `${name}.json`), "utf8")).pipeline!;
const dataDir = path.join(root, "examples", "data");

/** The CSV body (header dropped) into a plain table of the given definition. */
async function loadCsv(rt: Runtime, table: string, definition: string, file: string) {
  await rt.wh.query(`create table ${table} (${definition})`);
  const text = fs.readFileSync(path.join(dataDir, file), "utf8");
  const [header, ...lines] = text.trim().split("\n");
  const columns = header!.split(",");
  await rt.wh.copyCsv(table, columns, lines.join("\n") + "\n");
}

/** Rows of `a` not in `b` and of `b` not in `a` (both must be empty). */
async function difference(rt: Runtime, a: string, b: string) {
  const left = await rt.wh.query(`(${a}) except all (${b})`);
  const right = await rt.wh.query(`(${b}) except all (${a})`);
  return { left, right };
}

describe.each(targets.map((t) => t.name))("the examples on %s", (name) => {
  let rt: Runtime;
  let server: http.Server;
  let marketingUrl: string;

  beforeAll(async () => {
    rt = await openRuntime(name);
    fs.cpSync(dataDir, path.join(rt.filesDir, "data"), { recursive: true });
    const body = fs.readFileSync(path.join(root, "public", "samples", "marketing_contacts.json"));
    server = http.createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(body));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    marketingUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/samples/marketing_contacts.json`;

    await rt.wh.query("create schema ref");
    await loadCsv(rt, "ref.pos_sales", "sale_id bigint, store_id int, sku text, qty int, unit_price numeric, sold_at timestamptz", "pos_sales.csv");
    await loadCsv(rt, "ref.returns", "return_id bigint, sale_id bigint, qty int, reason text, returned_at timestamptz", "returns.csv");
    await loadCsv(rt, "ref.stores", "store_id int, store_name text, region text, opened_on date", "stores.csv");
    await loadCsv(rt, "ref.crm", "crm_id text, first_name text, last_name text, email text, phone text, company text, updated_at timestamptz", "crm_contacts.csv");
    await loadCsv(rt, "ref.support", "ticket_contact_id text, name text, email text, phone text, open_tickets int", "support_contacts.csv");
    await rt.wh.query(`create table ref.marketing as select * from jsonb_to_recordset($1::text::jsonb) as m(id int, "emailAddress" text, "fullName" text)`, [body.toString()]);
  });
  afterAll(async () => {
    server?.close();
    await rt?.close();
  });

  it("daily_sales: store metrics equal plain SQL, and a second run duplicates nothing", async () => {
    const doc = example("daily_sales");
    const first = await rt.wait((await rt.start(doc)).id);
    expect([...first.tasks.values()].filter((t) => t.state !== "success").map((t) => [t.nodeId, t.state, t.error?.message])).toEqual([["alert_on_failure", "skipped", undefined]]);
    expect(first.run.state).toBe("success");

    const expected = `
      with returned as (select sale_id, sum(qty) as rq from ref.returns group by sale_id),
      net as (
        select s.store_id, (s.sold_at at time zone 'Europe/Berlin')::date as sales_date, s.qty,
               coalesce(r.rq, 0) as rq, round((s.qty - coalesce(r.rq, 0)) * s.unit_price, 2) as amount
        from ref.pos_sales s join ref.stores st on st.store_id = s.store_id left join returned r on r.sale_id = s.sale_id)
      select store_id::bigint, sales_date, count(*)::bigint as sale_lines, sum(qty)::bigint as units_sold,
             sum(rq)::bigint as units_returned, sum(amount)::numeric as net_revenue
      from net where qty > 0 group by store_id, sales_date`;
    const actual = `select store_id::bigint, sales_date, sale_lines::bigint, units_sold::bigint, units_returned::bigint, net_revenue::numeric from dashboard.store_daily_metrics`;
    const [{ n: expectedRows }] = (await rt.wh.query<{ n: number }>(`select count(*)::int as n from (${expected}) e`)) as [{ n: number }];
    expect(expectedRows).toBeGreaterThan(100);
    expect(await difference(rt, expected, actual)).toEqual({ left: [], right: [] });

    // The per-region fan-out: one task per region, each report day for its region.
    const regions = await rt.wh.query<{ n: number }>(`select count(distinct region)::int as n from ref.stores`);
    expect(first.attempts.filter((t) => t.nodeId === "region_report" && t.mapIndex >= 0)).toHaveLength(regions[0]!.n);
    const report = await rt.wh.query<{ n: number }>(`select count(*)::int as n from "${first.run.schemaName}".region_report`);
    const days = await rt.wh.query<{ n: number }>(`select count(*)::int as n from (select distinct st.region, (s.sold_at at time zone 'Europe/Berlin')::date from ref.pos_sales s join ref.stores st using (store_id) where s.qty > 0) d`);
    expect(report[0]!.n).toBe(days[0]!.n);

    // Suspicious sales: the exception report holds the negative quantities.
    const negatives = await rt.wh.query<{ n: number }>(`select count(*)::int as n from ref.pos_sales where qty < 1 or qty > 50`);
    const flagged = await rt.wh.query<{ n: number }>(`select count(*)::int as n from "${first.run.schemaName}".suspicious_sales where _rule like 'range(qty%'`);
    expect(flagged[0]!.n).toBe(negatives[0]!.n);

    const second = await rt.wait((await rt.start(doc)).id);
    expect(second.run.state).toBe("success");
    const [{ n }] = (await rt.wh.query<{ n: number }>(`select count(*)::int as n from dashboard.store_daily_metrics`)) as [{ n: number }];
    expect(n).toBe(expectedRows);
    expect(await difference(rt, expected, actual)).toEqual({ left: [], right: [] });
  });

  it("contact_sync: one contact per normalised e-mail from the three sources, twice without duplicates", async () => {
    const doc: PipelineFile = example("contact_sync");
    const http = doc.nodes.find((n) => n.kind === "source.http")!;
    if (http.kind === "source.http") http.config.url = marketingUrl;
    for (let round = 1; round <= 2; round++) {
      const result = await rt.wait((await rt.start(doc)).id);
      const failed = [...result.tasks.values()].filter((t) => t.state === "failed");
      expect(failed.map((t) => [t.nodeId, t.error?.message])).toEqual([]);
      expect(result.run.state).toBe("success");
    }
    const expected = `
      select lower(trim(email)) as email from ref.crm
      union select lower(trim("emailAddress")) from ref.marketing
      union select lower(trim(email)) from ref.support`;
    const emails = `select email from crm.contacts`;
    expect(await difference(rt, `select email from (${expected}) e where email like '%@%'`, emails)).toEqual({ left: [], right: [] });
    const dupes = await rt.wh.query(`select email, count(*) from crm.contacts group by email having count(*) > 1`);
    expect(dupes).toEqual([]);
    const sources = await rt.wh.query<{ sources: string; n: number }>(`select sources, count(*)::int as n from crm.contacts group by sources order by sources`);
    expect(sources.map((s) => s.sources)).toEqual(expect.arrayContaining(["crm", "crm,marketing,support"]));
  });
});
