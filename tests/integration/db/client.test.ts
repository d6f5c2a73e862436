/** The client factory: PGlite by default, postgres.js with a URL; the warehouse beside it. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { openDatabase, openDatabaseFromEnv, redactUrl } from "@/db/client";
import { openWarehouseFromEnv } from "@/db/warehouse";
import { sql } from "drizzle-orm";
import { preparedRowsOf, rowsOf } from "@/server/runtime/sql";
import { openTempPostgres, targets } from "../databases";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-client-"));
const saved = { DATABASE_URL: process.env.DATABASE_URL, WAREHOUSE_URL: process.env.WAREHOUSE_URL };
afterEach(() => {
  Object.assign(process.env, saved);
  delete process.env.TRIBUTARY_PGLITE_SHARED_BUFFERS;
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const tables = `select table_name from information_schema.tables where table_schema = 'public' order by 1`;

describe("client factory", () => {
  it("opens PGlite under <data dir>/app and <data dir>/warehouse when no URL is set, and migrates the app db", async () => {
    delete process.env.DATABASE_URL;
    delete process.env.WAREHOUSE_URL;
    const dir = path.join(tmp, "env");
    const app = await openDatabaseFromEnv(dir);
    const wh = await openWarehouseFromEnv(dir);
    try {
      expect(app).toMatchObject({ driver: "pglite", location: path.join(dir, "app") });
      expect(wh).toMatchObject({ driver: "pglite", location: path.join(dir, "warehouse") });
      const names = (await app.query<{ table_name: string }>(tables)).map((r) => r.table_name);
      expect(names).toEqual(expect.arrayContaining(["pipelines", "pipeline_versions", "runs", "task_runs", "run_events", "task_logs", "connections"]));
      // The warehouse is a separate database: none of the app's tables are there.
      expect(await wh.query(tables)).toEqual([]);
    } finally {
      await app.close();
      await wh.close();
    }
    // Reopening applies no migration twice and keeps data.
    const again = await openDatabaseFromEnv(dir);
    try {
      const journal = JSON.parse(fs.readFileSync(path.join(__dirname, "../../../db/migrations/meta/_journal.json"), "utf8")) as { entries: unknown[] };
      expect((await again.query<{ n: number }>("select count(*)::int as n from drizzle.__drizzle_migrations"))[0]!.n).toBe(journal.entries.length);
    } finally {
      await again.close();
    }
  });

  it("refuses a malformed TRIBUTARY_PGLITE_SHARED_BUFFERS with a message naming it, and honours a good one", async () => {
    for (const bad of ["lots", "0MB", "64kB", "32TB"]) {
      process.env.TRIBUTARY_PGLITE_SHARED_BUFFERS = bad;
      await expect(openDatabase({ dataDir: path.join(tmp, `bad-${bad}`) })).rejects.toThrow(
        new RegExp(`TRIBUTARY_PGLITE_SHARED_BUFFERS must be a size from 128kB to 16GB .*not '${bad}'`),
      );
    }
    process.env.TRIBUTARY_PGLITE_SHARED_BUFFERS = "8MB";
    const db = await openDatabase({ dataDir: "memory://" });
    try {
      expect(await db.query(`show shared_buffers`)).toEqual([{ shared_buffers: "8MB" }]);
    } finally {
      await db.close();
    }
  });

  it("names the server and hides the password when a URL cannot be reached", async () => {
    await expect(openDatabase({ url: "postgres://bob:hunter2@127.0.0.1:1/nope" })).rejects.toThrow(/cannot connect to postgres:\/\/bob:\*\*\*@127\.0\.0\.1:1\/nope/);
    await expect(openDatabase({ url: "postgres://bob:hunter2@127.0.0.1:1/nope" })).rejects.not.toThrow(/hunter2/);
    expect(redactUrl("postgres://u:secret@h:5432/db")).toBe("postgres://u:***@h:5432/db");
  });

  it.runIf(!!process.env.TEST_DATABASE_URL)("uses postgres.js when DATABASE_URL / WAREHOUSE_URL are set", async () => {
    const pg = await openTempPostgres("tributary_client");
    try {
      process.env.DATABASE_URL = pg.url;
      process.env.WAREHOUSE_URL = pg.url;
      const app = await openDatabaseFromEnv(path.join(tmp, "unused"));
      const wh = await openWarehouseFromEnv(path.join(tmp, "unused"));
      try {
        expect(app.driver).toBe("postgres");
        expect(wh.driver).toBe("postgres");
        expect((await wh.query<{ one: number }>("select 1 as one"))[0]!.one).toBe(1);
        expect(fs.existsSync(path.join(tmp, "unused"))).toBe(false);
      } finally {
        await app.close();
        await wh.close();
      }
    } finally {
      await pg.close();
    }
  });

  it.each(targets.map((t) => [t.name, t] as const))("gives the runtime's raw statements on %s the same values as drizzle does", async (_name, target) => {
    // On PGlite rowsOf goes to the instance directly, relying on its parsers matching those drizzle
    // passes with each query: a drizzle upgrade that changed them would show here.
    const handle = await target.open();
    try {
      const q = sql`select timestamp '2026-01-02 03:04:05.678' as ts, timestamptz '2026-01-02 03:04:05.678+02' as tstz, date '2026-01-02' as d,
        interval '1 day 2 hours' as i, 12.50::numeric as n, array[12.5::numeric] as na, array[timestamp '2026-01-02 03:04:05'] as tsa,
        array[timestamptz '2026-01-02 03:04:05+00'] as tstza, array[interval '1 day'] as ia, array[date '2026-01-02'] as da,
        '{"a": [1, 2]}'::jsonb as j, 9007199254740993::bigint as big, true as b, null::text as nothing`;
      const viaDrizzle = await handle.db.execute(q);
      const drizzleRows = Array.isArray(viaDrizzle) ? viaDrizzle : (viaDrizzle as { rows: unknown[] }).rows;
      expect(drizzleRows).toHaveLength(1);
      expect(await rowsOf(handle.db, q)).toEqual(drizzleRows);
      expect(await preparedRowsOf(handle.db, q)).toEqual(drizzleRows);
      // Inside a transaction the transaction's own client is used (PGlite's would wait for it to end).
      await handle.db.transaction(async (tx) => {
        expect(await rowsOf(tx as never, q)).toEqual(drizzleRows);
      });
    } finally {
      await handle.close();
    }
  });
});
