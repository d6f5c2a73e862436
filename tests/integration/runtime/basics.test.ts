import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineFile } from "@/server/pipeline";
import { allAttempts, cancelRun } from "@/server/runtime/run-store";
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

  it.each([true, false])("a JS task stopped while its rows are being written leaves no table behind once that write ends (stopped before the write goes on: %s)", async (stopFirst) => {
    // The write of the node's rows is held at its CREATE TABLE until the run is canceled; then it
    // goes on: either after the worker stopped the task (the executor dropped a table it did not
    // have yet) or before (the task ends, and its completion is refused: the run was canceled).
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let held = "";
    const query = rt.wh.query;
    rt.wh.query = (async (text: string, params?: unknown[]) => {
      const create = /^create table ("run_[0-9a-f]+"\."t_[0-9a-f_]+") as select/.exec(text);
      if (create && !held) {
        held = create[1]!;
        await gate;
      }
      return query.call(rt.wh, text, params);
    }) as typeof rt.wh.query;
    try {
      const run = await rt.start(pipeline([{ id: "j", kind: "js", name: "held", config: { code: "export default () => [{ a: 1 }]" } }], [], { name: `held_${stopFirst}` }));
      await expect.poll(() => held, { timeout: 20_000 }).not.toBe("");
      const reported = new Promise<string>((resolve) => {
        const off = rt.worker.onTask((r) => {
          if (r.task.runId !== run.id) return;
          off();
          resolve(r.state);
        });
      });
      await cancelRun(rt.app.db, run.id);
      expect((await allAttempts(rt.app.db, run.id)).map((t) => t.state)).toEqual(["canceled"]);
      if (stopFirst) expect(await reported).toBe("canceled"); // the worker heard of the cancel and stopped the task
      release();
      // It finished writing, and its result was refused ("lost") — or, rarely, a heartbeat told it of
      // the cancel in the few milliseconds before: either way no table may stay.
      if (!stopFirst) expect(["lost", "canceled"]).toContain(await reported);
      const exists = async () => ((await query.call(rt.wh, `select to_regclass($1)::text as t`, [held])) as { t: string | null }[])[0]?.t ?? null;
      await expect.poll(exists, { timeout: 20_000 }).toBeNull();
      await new Promise((r) => setTimeout(r, 300)); // and it stays gone
      expect(await exists()).toBeNull();
    } finally {
      release();
      rt.wh.query = query;
    }
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
