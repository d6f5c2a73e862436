/** The runs router over the fetch handler, with a real runtime (PGlite and Postgres). */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPipeline } from "@/db/pipeline-store";
import type { PipelineFile } from "@/server/pipeline";
import { trpcRequest } from "@/tests/fixtures/trpc";
import { targets } from "../databases";
import { openRuntime, type Runtime } from "../runtime/harness";

const doc: PipelineFile = {
  format: "tributary/v1",
  name: "api_runs",
  params: { n: { type: "integer", default: 3 } },
  nodes: [
    { id: "a", kind: "sql", name: "numbers", config: { sql: "select g as x from generate_series(1, :n) g" } },
    { id: "b", kind: "js", name: "doubled", config: { code: "export default ({ numbers }, ctx) => { ctx.log('doubling', numbers.length); return numbers.map(r => ({ x: r.x * 2 })) }" } },
  ],
  edges: [{ from: "a", to: "b" }],
};

describe.each(targets.map((t) => t.name))("runs router on %s", (name) => {
  let rt: Runtime;
  let pipelineId: string;
  const call = (path: string, input: unknown, method: "GET" | "POST") =>
    trpcRequest({ db: rt.app.db, sql: rt.sql, runtime: { wh: rt.wh, wake: () => rt.worker.wake(), filesDir: rt.filesDir } }, path, input, method);
  const json = async <T,>(res: Response) => {
    const body = (await res.json()) as { result?: { data: T }; error?: { message: string; data: { code: string; problems: unknown } } };
    return body;
  };

  beforeAll(async () => {
    rt = await openRuntime(name);
    pipelineId = (await createPipeline(rt.app.db, doc)).id;
  });
  afterAll(async () => rt?.close());

  it("starts a run with params, shows node states, logs, a paged preview and the event stream", async () => {
    const started = await json<{ id: string; state: string }>(await call("runs.start", { pipelineId, params: { n: 250 } }, "POST"));
    const runId = started.result!.data.id;
    const done = await rt.wait(runId);
    expect(done.run.state).toBe("success");

    const byId = await json<{ run: { state: string }; nodes: { name: string; state: string; rows: number; taskRunId: string }[] }>(await call("runs.byId", { runId }, "GET"));
    expect(byId.result!.data.run.state).toBe("success");
    expect(byId.result!.data.nodes.map((n) => [n.name, n.state, n.rows])).toEqual([["numbers", "success", 250], ["doubled", "success", 250]]);

    const jsTask = byId.result!.data.nodes[1]!.taskRunId;
    const logs = await json<{ message: string }[]>(await call("runs.logs", { taskRunId: jsTask }, "GET"));
    expect(logs.result!.data.map((l) => l.message)).toContain("doubling 250");

    const page = await json<{ columns: { name: string; type: string }[]; total: number; rows: { x: number }[] }>(
      await call("runs.preview", { runId, node: "doubled", offset: 100, limit: 5 }, "GET"),
    );
    expect(page.result!.data.total).toBe(250);
    expect(page.result!.data.columns).toEqual([{ name: "x", type: "bigint" }]);
    expect(page.result!.data.rows).toHaveLength(5);

    const list = await json<{ id: string }[]>(await call("runs.list", { pipelineId }, "GET"));
    expect(list.result!.data.map((r) => r.id)).toContain(runId);

    // The event stream replays the finished run's events and ends.
    const sse = await call("runs.events", { runId }, "GET");
    expect(sse.headers.get("content-type")).toContain("text/event-stream");
    const text = await sse.text();
    for (const type of ["RUN_QUEUED", "RUN_STARTED", "TASK_QUEUED", "TASK_STARTED", "TASK_SUCCEEDED", "RUN_SUCCEEDED"]) expect(text).toContain(type);
    expect(text.indexOf("RUN_STARTED")).toBeLessThan(text.indexOf("RUN_SUCCEEDED"));
  });

  it("pages a large output in its stored order, whatever was read of it before", async () => {
    // 150,000 rows: past a quarter of PGlite's 16 MB buffer pool, where a plain scan would start
    // where the previous scan of the table stopped (synchronized scans), so a page at an offset
    // read after the last page would hold other rows. (On Postgres that takes a quarter of its
    // shared_buffers, 32 MB by default: there the test only checks the pages.)
    const bigDoc: PipelineFile = { ...doc, name: "api_runs_big", nodes: [doc.nodes[0]!], edges: [] };
    const bigId = (await createPipeline(rt.app.db, bigDoc)).id;
    const big = await json<{ id: string }>(await call("runs.start", { pipelineId: bigId, params: { n: 150_000 } }, "POST"));
    const runId = big.result!.data.id;
    expect((await rt.wait(runId, 60_000)).run.state).toBe("success");
    const page = async (offset: number) =>
      (await json<{ rows: { x: number }[] }>(await call("runs.preview", { runId, node: "numbers", offset, limit: 3 }, "GET"))).result!.data.rows.map((r) => Number(r.x));
    expect(await page(149_990)).toEqual([149_991, 149_992, 149_993]);
    expect(await page(75_000)).toEqual([75_001, 75_002, 75_003]);
    expect(await page(0)).toEqual([1, 2, 3]);
  });

  it("refuses bad params with the param named, and a preview of a node without output", async () => {
    const bad = await json(await call("runs.start", { pipelineId, params: { n: "many" } }, "POST"));
    expect(bad.error!.data.code).toBe("BAD_REQUEST");
    expect(bad.error!.message).toContain("param 'n'");
    const unknown = await json(await call("runs.start", { pipelineId, params: { m: 1 } }, "POST"));
    expect(unknown.error!.message).toContain("unknown param 'm'");
    const started = await json<{ id: string }>(await call("runs.start", { pipelineId }, "POST"));
    await rt.wait(started.result!.data.id);
    const missing = await json(await call("runs.preview", { runId: started.result!.data.id, node: "nothing_here" }, "GET"));
    expect(missing.error!.data.code).toBe("NOT_FOUND");
  });

  it("runs one node of an unsaved document as a draft: previewable, not listed, problems point into the document", async () => {
    const edited: PipelineFile = { ...doc, nodes: [doc.nodes[0]!, { id: "b", kind: "sql", name: "doubled", config: { sql: "select x * 10 as x from numbers" } }] };
    const started = await json<{ id: string }>(await call("runs.startDraft", { pipelineId, document: edited, nodeId: "b", params: { n: 4 } }, "POST"));
    if (!started.result) throw new Error(JSON.stringify(started.error));
    const runId = started.result.data.id;
    expect((await rt.wait(runId)).run.state).toBe("success");
    const page = await json<{ total: number; rows: { x: number }[] }>(await call("runs.preview", { runId, node: "doubled" }, "GET"));
    expect(page.result!.data.rows.map((r) => Number(r.x))).toEqual([10, 20, 30, 40]);
    const list = await json<{ id: string }[]>(await call("runs.list", { pipelineId }, "GET"));
    expect(list.result!.data.map((r) => r.id)).not.toContain(runId);

    const broken: PipelineFile = { ...doc, nodes: [doc.nodes[0]!, { id: "b", kind: "sql", name: "doubled", config: { sql: "select x from numbers where" } }] };
    const bad = await json(await call("runs.startDraft", { pipelineId, document: broken, nodeId: "b" }, "POST"));
    expect(bad.error!.data.code).toBe("BAD_REQUEST");
    expect(JSON.stringify(bad.error!.data.problems)).toContain('"path":["nodes",1,"config","sql"]');
  });
});
