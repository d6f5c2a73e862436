/** Warehouse.timed: one statement with its own statement_timeout, on connections of its own. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openWarehouse, type Warehouse } from "@/db/warehouse";
import { createTempDatabase, targets } from "../databases";

const show = "select current_setting('statement_timeout') as t";

for (const target of targets) {
  describe(`Warehouse.timed on ${target.name}`, () => {
    let wh: Warehouse;
    let drop = async () => {};
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-wh-"));
    beforeAll(async () => {
      if (target.name === "postgres") {
        const temp = await createTempDatabase("tributary_wh");
        drop = temp.drop;
        wh = await openWarehouse({ url: temp.url });
      } else {
        wh = await openWarehouse({ dir: path.join(tmp, "warehouse") });
      }
    });
    afterAll(async () => {
      await wh?.close();
      await drop();
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("runs one statement with parameters and returns its rows", async () => {
      expect(await wh.timed(`select $1::int + 1 as n`, [41], { timeoutMs: 5000 })).toEqual([{ n: 42 }]);
      await wh.timed(`create table t_timed as select 1 as x`, [], { timeoutMs: 5000 });
      // Alone in its own transaction: committed, visible to other connections at once.
      expect(await wh.query(`select x from t_timed`)).toEqual([{ x: 1 }]);
    });

    it.runIf(target.name === "postgres")("gives each statement its own statement_timeout, also when many run at once", async () => {
      expect(await wh.timed(show, [], { timeoutMs: 7000 })).toEqual([{ t: "7s" }]);
      expect(await wh.timed(show, [], { timeoutMs: 3000 })).toEqual([{ t: "3s" }]);
      expect(await wh.timed(show, [], { timeoutMs: 7000 })).toEqual([{ t: "7s" }]);
      // More at once than one timeout's pool has connections: each sees its own.
      const seconds = Array.from({ length: 24 }, (_, i) => 1 + (i % 5));
      const seen = await Promise.all(seconds.map((s) => wh.timed<{ t: string }>(`select current_setting('statement_timeout') as t, pg_sleep(0.01)`, [], { timeoutMs: s * 1000 })));
      expect(seen.map((rows) => rows[0]!.t)).toEqual(seconds.map((s) => `${s}s`));
    });

    it.runIf(target.name === "postgres")("stops a statement at its timeout, and the connection's next statement gets its own", async () => {
      const t0 = Date.now();
      await expect(wh.timed(`select pg_sleep(3)`, [], { timeoutMs: 200 })).rejects.toMatchObject({ code: "57014" });
      expect(Date.now() - t0).toBeLessThan(2000);
      await expect(wh.timed(`select 1 / 0`, [], { timeoutMs: 4000 })).rejects.toMatchObject({ code: "22012" });
      expect(await wh.timed(show, [], { timeoutMs: 4000 })).toEqual([{ t: "4s" }]);
    });

    it.runIf(target.name === "postgres")("runs on after the server closed its connections, with the timeout in force again", async () => {
      expect(await wh.timed(show, [], { timeoutMs: 6000 })).toEqual([{ t: "6s" }]);
      // What a server restart does to every open connection (the CI restart test does it for real).
      await wh.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`);
      await new Promise((r) => setTimeout(r, 100));
      let seen: unknown;
      for (let i = 0; i < 3 && seen === undefined; i++) {
        // The first statement on a connection that just died may fail with the connection's error; none may hang.
        seen = await wh.timed(show, [], { timeoutMs: 6000 }).catch(() => undefined);
      }
      expect(seen).toEqual([{ t: "6s" }]);
    }, 15_000);

    it.runIf(target.name === "postgres")("cancels a statement when its signal aborts", async () => {
      const abort = new AbortController();
      const t0 = Date.now();
      setTimeout(() => abort.abort(), 150);
      await expect(wh.timed(`select pg_sleep(3)`, [], { timeoutMs: 60_000, signal: abort.signal })).rejects.toMatchObject({ code: "57014" });
      expect(Date.now() - t0).toBeLessThan(2000);
      await expect(wh.timed(`select 1`, [], { timeoutMs: 1000, signal: abort.signal })).rejects.toThrow();
    });
  });
}
