import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { createPipeline } from "@/db/pipeline-store";
import { ValidationError, type PipelineFile } from "@/server/pipeline";
import { pruneDraftRuns, startDraftRun } from "@/server/runtime/draft-run";
import { rowsOf } from "@/server/runtime/sql";
import { targets } from "../databases";
import { openRuntime, type Runtime } from "./harness";

function doc(sql: string, extra: PipelineFile["nodes"] = [], edges: PipelineFile["edges"] = []): PipelineFile {
  return {
    format: "tributary/v1",
    name: "drafts",
    nodes: [
      { id: "c", kind: "source.csv", name: "sales", config: { path: "sales.csv" } },
      { id: "s", kind: "sql", name: "per_store", config: { sql } },
      { id: "u", kind: "sql", name: "unrelated", config: { sql: "select 1 as one" } },
      ...extra,
    ],
    edges: [{ from: "c", to: "s" }, ...edges],
  };
}

describe.each(targets.map((t) => t.name))("draft runs on %s", (name) => {
  let rt: Runtime;
  let pipelineId: string;
  beforeAll(async () => {
    rt = await openRuntime(name);
    fs.writeFileSync(path.join(rt.filesDir, "sales.csv"), "id,store,qty\n1,a,2\n2,a,1\n3,b,5\n4,b,7\n5,c,1\n");
    pipelineId = (await createPipeline(rt.app.db, doc("select 1 as x"), "created", { sql: rt.sql })).id;
  });
  afterAll(async () => rt?.close());

  async function draft(d: PipelineFile, node: string, extra: { fresh?: boolean; sampleRows?: number } = {}) {
    const run = await startDraftRun(rt.app.db, { pipelineId, document: d, node, ...extra }, rt.sql);
    rt.worker.wake();
    return rt.wait(run.id);
  }

  it("runs only the node and its upstream, from the unsaved document, and reuses unchanged upstream outputs", async () => {
    const first = await draft(doc("select store, sum(qty) as qty from sales group by store order by store"), "s");
    expect(first.run.state).toBe("success");
    expect([...first.tasks.keys()].sort()).toEqual(["c", "s"]); // 'unrelated' is not part of the draft
    expect(await rt.wh.query(`select store, qty::int as qty from "${first.run.schemaName}".per_store order by store`)).toEqual([
      { store: "a", qty: 3 }, { store: "b", qty: 12 }, { store: "c", qty: 1 },
    ]);

    // The cell changed, the source did not: the source's output is reused, not loaded again.
    const second = await draft(doc("select count(*)::int as n from sales"), "per_store");
    expect(second.run.state).toBe("success");
    expect(second.tasks.get("c")!.outputTable).toBe(`${first.run.schemaName}.${first.tasks.get("c")!.outputTable}`);
    expect(await rt.wh.query(`select n from "${second.run.schemaName}".per_store`)).toEqual([{ n: 5 }]);
    const [reusedEvent] = await rowsOf<{ payload: { reusedFrom?: string } }>(
      rt.app.db,
      sql`select payload from run_events where run_id = ${second.run.id} and type = 'TASK_SUCCEEDED' and payload->>'node' = 'c'`,
    );
    expect(reusedEvent?.payload.reusedFrom).toBe(first.run.id);

    // fresh: everything runs again.
    const third = await draft(doc("select count(*)::int as n from sales"), "s", { fresh: true });
    expect(third.tasks.get("c")!.outputTable).toMatch(new RegExp(`^t_${third.tasks.get("c")!.id.replace(/-/g, "")}_[0-9a-f]{8}$`));

    // Draft runs are not listed among the pipeline's runs.
    expect(await rowsOf(rt.app.db, sql`select count(*)::int as n from runs where pipeline_id = ${pipelineId} and not draft`)).toEqual([{ n: 0 }]);
  });

  it("keeps the newest draft runs and drops older ones' outputs, except tables a kept run reuses", async () => {
    const p2 = (await createPipeline(rt.app.db, { ...doc("select 1 as x"), name: "prune_me" }, "created", { sql: rt.sql })).id;
    const run = async (query: string, fresh = false) => {
      const r = await startDraftRun(rt.app.db, { pipelineId: p2, document: doc(query), node: "s", fresh }, rt.sql);
      rt.worker.wake();
      return (await rt.wait(r.id)).run;
    };
    const schemas = async () => (await rt.wh.query<{ n: string }>(`select nspname as n from pg_namespace where nspname like 'run\\_%'`)).map((r) => r.n);
    const d1 = await run("select count(*)::int as n from sales", true);
    const d2 = await run("select count(*)::int + 1 as n from sales"); // reuses d1's source output
    const d3 = await run("select count(*)::int + 2 as n from sales", true);
    expect(await pruneDraftRuns(rt.app.db, rt.wh, p2, 1)).toBe(2);
    expect(await schemas()).not.toContain(d1.schemaName);
    expect(await schemas()).not.toContain(d2.schemaName);
    expect(await rowsOf(rt.app.db, sql`select id from runs where pipeline_id = ${p2}`)).toEqual([{ id: d3.id }]);

    const d4 = await run("select count(*)::int + 3 as n from sales"); // reuses d3's source output
    expect(await pruneDraftRuns(rt.app.db, rt.wh, p2, 1)).toBe(0); // d3 holds a table d4 reads
    expect(await rt.wh.query(`select n from "${d4.schemaName}".per_store`)).toEqual([{ n: 8 }]);
  });

  it("stops sources after sampleRows", async () => {
    const { run, tasks } = await draft(doc("select count(*)::int as n from sales"), "s", { sampleRows: 2 });
    expect(run.state).toBe("success");
    expect(tasks.get("c")!.rows).toBe(2);
    expect(await rt.wh.query(`select n from "${run.schemaName}".per_store`)).toEqual([{ n: 2 }]);
    // A sample is never reused for a full draft (nor the other way round).
    const full = await draft(doc("select count(*)::int as n from sales"), "s");
    expect(await rt.wh.query(`select n from "${full.run.schemaName}".per_store`)).toEqual([{ n: 5 }]);
  });

  it("reports a runtime SQL error on the target node's task, and problems with paths into the full document", async () => {
    const failed = await draft(doc("select no_such_column from sales"), "s");
    expect(failed.run.state).toBe("failed");
    expect(failed.tasks.get("s")!.error?.message).toMatch(/no_such_column/);

    // A syntax error in the third node of the full document points at nodes[3], not at the sub-document's index.
    const bad = doc("select 1", [{ id: "x", kind: "sql", name: "broken", config: { sql: "selec oops" } }], [{ from: "s", to: "x" }]);
    const error = await startDraftRun(rt.app.db, { pipelineId, document: bad, node: "broken" }, rt.sql).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).problems[0]!.path.slice(0, 2)).toEqual(["nodes", 3]);
    // Problems elsewhere in the document do not block running a node that does not depend on them.
    const ok = await draft(bad, "unrelated");
    expect(ok.run.state).toBe("success");
  });

  it("refuses to run a side-effect node as a cell, and skips side effects upstream", async () => {
    const withSink = doc("select store from sales", [{ id: "k", kind: "sink.table", name: "out", config: { table: "public.draft_out", mode: "replace" } }], [{ from: "s", to: "k" }]);
    await expect(startDraftRun(rt.app.db, { pipelineId, document: withSink, node: "k" }, rt.sql)).rejects.toThrow(/does not run as a cell/);
    await expect(startDraftRun(rt.app.db, { pipelineId, document: withSink, node: "nope" }, rt.sql)).rejects.toThrow(/no node 'nope'/);
    const exists = await rt.wh.query(`select to_regclass('public.draft_out') is not null as e`);
    expect(exists).toEqual([{ e: false }]);
  });

  it("runs a document saved nowhere under the hidden scratch pipeline", async () => {
    const run = await startDraftRun(rt.app.db, { document: doc("select count(*)::int as n from sales"), node: "s" }, rt.sql);
    rt.worker.wake();
    const done = await rt.wait(run.id);
    expect(done.run.state).toBe("success");
    expect(await rowsOf(rt.app.db, sql`select name, scratch from pipelines where id = ${run.pipelineId}`)).toEqual([{ name: "_drafts", scratch: true }]);
  });
});
