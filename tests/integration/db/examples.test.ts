/** The examples load once into a new workspace, with their sample data. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseHandle } from "@/db/client";
import { deletePipeline, getPipeline, listPipelines } from "@/db/pipeline-store";
import { ensureExamples } from "@/server/examples";
import { loadSqlAnalyzer } from "@/server/pipeline/sql-references";
import { targets } from "../databases";

describe.each(targets)("examples on $name", (target) => {
  let handle: DatabaseHandle;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-examples-"));
  beforeAll(async () => {
    handle = await target.open();
  });
  afterAll(async () => {
    await handle?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("loads both examples without problems on first start, and their data files", async () => {
    const loaded = await ensureExamples(handle.db, await loadSqlAnalyzer(), dataDir);
    expect(loaded.sort()).toEqual(["contact_sync", "daily_sales"]);
    const list = await listPipelines(handle.db);
    expect(list.map((p) => [p.name, p.errorCount])).toEqual([["contact_sync", 0], ["daily_sales", 0]]);
    expect(fs.existsSync(path.join(dataDir, "files", "data", "pos_sales.csv"))).toBe(true);
    const sales = await getPipeline(handle.db, { name: "daily_sales" });
    expect(sales.document.nodes.length).toBeGreaterThan(5);
  });

  it("does not load them again, even after the user deleted one", async () => {
    const { id } = await getPipeline(handle.db, { name: "contact_sync" });
    await deletePipeline(handle.db, id);
    expect(await ensureExamples(handle.db, undefined, dataDir)).toEqual([]);
    expect((await listPipelines(handle.db)).map((p) => p.name)).toEqual(["daily_sales"]);
  });
});
