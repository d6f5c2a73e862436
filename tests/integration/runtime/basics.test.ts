import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineFile } from "@/server/pipeline";
import { cancelRun } from "@/server/runtime/run-store";
import { targets } from "../databases";
import { openRuntime, type Runtime } from "./harness";

function pipeline(nodes: PipelineFile["nodes"], edges: PipelineFile["edges"], extra: Partial<PipelineFile> = {}): PipelineFile {
  return { format: "tributary/v1", name: "rt", nodes, edges, ...extra };
}

describe.each(targets.map((t) => t.name))("runtime basics on %s", (name) => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await openRuntime(name);
    fs.writeFileSync(path.join(rt.filesDir, "sales.csv"), "id,store,qty,price,day\n1,a,2,1.5,2026-01-01\n2,a,1,4,2026-01-01\n3,b,5,2,2026-01-02\n4,b,,3,2026-01-02\n");
  });
  afterAll(async () => rt?.close());

  it("a wait that runs out says what the run and the database were doing", async () => {
    // A JS cell awaiting forever keeps its run going past a short wait.
    const run = await rt.start(pipeline([{ id: "w", kind: "js", name: "waits", config: { code: "export default () => new Promise(() => {})" } }], []));
    const error = await rt.wait(run.id, 500).then(() => null, (e: Error) => e);
    expect(error?.message).toMatch(new RegExp(`^run ${run.id}: no result after 500 ms, still polling the run\\ntasks: w=(queued|running)`));
    if (name === "postgres") expect(error?.message).toContain("pg_stat_activity (not idle):");
    await cancelRun(rt.app.db, run.id);
    expect((await rt.wait(run.id)).run.state).toBe("canceled");
  });

  it("runs csv → sql → js → check and passes tables between nodes", async () => {
    const run = await rt.start(
      pipeline(
        [
          { id: "c", kind: "source.csv", name: "sales", config: { path: "sales.csv" } },
          { id: "s", kind: "sql", name: "per_store", config: { sql: "select store, sum(qty * price) as revenue, count(*) as n from sales group by store order by store" } },
          { id: "j", kind: "js", name: "labelled", config: { code: "export default ({ per_store }, ctx) => per_store.map(r => ({ ...r, label: `${r.store}:${r.revenue}`, run: ctx.runId.length }))" } },
          { id: "k", kind: "check", name: "nulls", config: { rules: [{ type: "not_null", column: "qty" }], onViolation: "warn" } },
        ],
        [{ from: "c", to: "s" }, { from: "s", to: "j" }, { from: "c", to: "k" }],
      ),
    );
    const { run: done, tasks } = await rt.wait(run.id);
    expect([...tasks.values()].map((t) => [t.nodeId, t.state, t.error?.message ?? null])).toEqual([
      ["c", "success", null], ["j", "success", null], ["k", "success", null], ["s", "success", null],
    ]);
    expect(done.state).toBe("success");
    expect(tasks.get("c")!.rows).toBe(4);
    const labelled = await rt.wh.query(`select store, revenue, label, run from "${done.schemaName}".labelled order by store`);
    expect(labelled).toEqual([
      { store: "a", revenue: 7, label: "a:7", run: 36 },
      { store: "b", revenue: 10, label: "b:10", run: 36 },
    ]);
    const nulls = await rt.wh.query(`select _rule, id from "${done.schemaName}".nulls`);
    expect(nulls).toEqual([{ _rule: "not_null(qty)", id: 4 }]);
  });
});
