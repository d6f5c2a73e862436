/**
 * Worker processes on real Postgres: a worker killed mid-task, a worker frozen
 * past its lease, several workers racing, queued runs waiting for a worker,
 * and draining on SIGTERM. (PGlite serves one process, so these need Postgres.)
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type DatabaseHandle } from "@/db/client";
import { createPipeline } from "@/db/pipeline-store";
import { openWarehouse, type Warehouse } from "@/db/warehouse";
import type { PipelineFile } from "@/server/pipeline";
import { loadSqlAnalyzer, type SqlAnalyzer } from "@/server/pipeline/sql-references";
import { publishRunOutputs } from "@/server/runtime/executor";
import { allAttempts, getRunRow, startRun } from "@/server/runtime/run-store";
import { rowsOf } from "@/server/runtime/sql";
import { TERMINAL_RUN_STATES } from "@/server/runtime/states";
import { createTempDatabase } from "../databases";

const root = path.resolve(__dirname, "../../..");
const LEASE = 3;

describe.runIf(!!process.env.TEST_DATABASE_URL)("worker processes on Postgres", () => {
  let app: DatabaseHandle;
  let wh: Warehouse;
  let analyzer: SqlAnalyzer;
  let dbs: { url: string; drop: () => Promise<void> }[] = [];
  let workers: ChildProcess[] = [];
  let n = 0;

  beforeAll(async () => {
    dbs = [await createTempDatabase("tributary_rel_app"), await createTempDatabase("tributary_rel_wh")];
    app = await openDatabase({ url: dbs[0]!.url });
    wh = await openWarehouse({ url: dbs[1]!.url, appUrl: dbs[0]!.url });
    analyzer = await loadSqlAnalyzer();
  });
  afterEach(async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill("SIGKILL");
    await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null || w.signalCode !== null ? r(null) : w.once("exit", r)))));
    workers = [];
  });
  afterAll(async () => {
    await wh?.close();
    await app?.close();
    for (const d of dbs) await d.drop();
  });

  function worker(concurrency = 4): ChildProcess {
    const child = spawn(process.execPath, [path.join(root, "bin/tributary.mjs"), "worker", "--concurrency", String(concurrency)], {
      env: { ...process.env, DATABASE_URL: dbs[0]!.url, WAREHOUSE_URL: dbs[1]!.url, TRIBUTARY_LEASE_SECONDS: String(LEASE) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    (child as ChildProcess & { output: () => string }).output = () => out;
    workers.push(child);
    return child;
  }

  async function start(doc: PipelineFile) {
    const saved = await createPipeline(app.db, { ...doc, name: `${doc.name}_${++n}` }, "created", { problems: [] });
    return startRun(app.db, { pipelineId: saved.id }, analyzer);
  }

  async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const finished = (runId: string) => until(`run ${runId} to finish`, async () => {
    const run = await getRunRow(app.db, runId);
    if (!TERMINAL_RUN_STATES.has(run.state)) return null;
    await publishRunOutputs({ db: app.db, wh }, run); // readers make outputs visible by name
    return run;
  }, 90_000);

  /** The worker process whose id (host:pid:tag) holds the running task of `nodeId`. */
  const holder = (runId: string, nodeId: string) => until(`${nodeId} to run`, async () => {
    const [row] = await rowsOf<{ workerId: string }>(app.db, sql`select worker_id as "workerId" from task_runs where run_id = ${runId} and node_id = ${nodeId} and state = 'running'`);
    return row && workers.find((w) => row.workerId.split(":")[1] === String(w.pid));
  });

  const slowDoc = (name: string, ms: number): PipelineFile => ({
    format: "tributary/v1",
    name,
    nodes: [
      { id: "a", kind: "sql", name: "numbers", config: { sql: "select g as x from generate_series(1, 100) g" } },
      { id: "b", kind: "js", name: "slow", config: { code: `export default ({ numbers }) => { const end = Date.now() + ${ms}; while (Date.now() < end) {} return numbers.map(r => ({ x: r.x * 10 })) }` } },
      { id: "c", kind: "sql", name: "total", config: { sql: "select count(*) as n, sum(x) as s from slow" } },
    ],
    edges: [{ from: "a", to: "b" }, { from: "b", to: "c" }],
  });

  it("kill -9 a worker mid-task: another finishes the run after the lease lapses; only that task runs again; no duplicated rows", async () => {
    worker();
    worker();
    const run = await start(slowDoc("killed", 4000));
    const victim = await holder(run.id, "b");
    victim.kill("SIGKILL");
    const done = await finished(run.id);
    expect(done.state).toBe("success");
    const attempts = await allAttempts(app.db, run.id);
    const perNode = (id: string) => attempts.filter((t) => t.nodeId === id);
    expect(perNode("a")).toHaveLength(1);
    expect(perNode("c")).toHaveLength(1);
    expect(perNode("b").map((t) => [t.attempt, t.state, t.error?.kind ?? null])).toEqual([[1, "failed", "lease_lost"], [2, "success", null]]);
    const [total] = await wh.query<{ n: number; s: number }>(`select n::int, s::int from "${done.schemaName}".total`);
    expect(total).toEqual({ n: 100, s: 50500 });
  });

  it("SIGSTOP a worker past its lease, then SIGCONT: its late result is refused and the run succeeds once", async () => {
    worker();
    worker();
    const run = await start(slowDoc("frozen", 1500));
    const frozen = await holder(run.id, "b");
    frozen.kill("SIGSTOP");
    // The other worker takes over once the lease lapses and finishes the run.
    const done = await finished(run.id);
    frozen.kill("SIGCONT");
    expect(done.state).toBe("success");
    // Give the thawed worker time to try to report its stale result.
    await new Promise((r) => setTimeout(r, 3000));
    const attempts = (await allAttempts(app.db, run.id)).filter((t) => t.nodeId === "b");
    expect(attempts.map((t) => [t.attempt, t.state])).toEqual([[1, "failed"], [2, "success"]]);
    const [events] = await rowsOf<{ succeeded: number; runs: number }>(
      app.db,
      sql`select count(*) filter (where type = 'TASK_SUCCEEDED' and payload->>'node' = 'b')::int as succeeded,
                 count(*) filter (where type = 'RUN_SUCCEEDED')::int as runs from run_events where run_id = ${run.id}`,
    );
    expect(events).toEqual({ succeeded: 1, runs: 1 });
    expect((await getRunRow(app.db, run.id)).state).toBe("success");
    const [total] = await wh.query<{ n: number }>(`select n::int from "${done.schemaName}".total`);
    expect(total!.n).toBe(100);
  });

  it("4 workers racing over 1,000 tasks: every task claimed once per attempt, none lost", async () => {
    for (let i = 0; i < 4; i++) worker(8);
    const nodes = Array.from({ length: 1000 }, (_, i) => ({ id: `t${i}`, kind: "sql" as const, name: `t_${i}`, config: { sql: `select ${i} as x` } }));
    const run = await start({ format: "tributary/v1", name: "race", nodes, edges: [] });
    const done = await finished(run.id);
    const failures = (await allAttempts(app.db, run.id)).filter((t) => t.state === "failed").map((t) => `${t.nodeId}#${t.attempt}: ${t.error?.message}`);
    expect(done.state, failures.slice(0, 5).join("\n")).toBe("success");
    // A lease that lapsed on a loaded machine is a new attempt, not a double claim: count per attempt.
    const [stats] = await rowsOf<{ nodes: number; success: number; attempts: number; started: number; doubles: number; workers: number }>(
      app.db,
      sql`select (select count(distinct node_id)::int from task_runs where run_id = ${run.id}) as nodes,
                 (select count(*)::int from task_runs where run_id = ${run.id} and state = 'success') as success,
                 (select count(*)::int from task_runs where run_id = ${run.id} and started_at is not null) as attempts,
                 (select count(*)::int from run_events where run_id = ${run.id} and type = 'TASK_STARTED') as started,
                 (select count(*)::int from (select task_run_id from run_events where run_id = ${run.id} and type = 'TASK_STARTED' group by 1 having count(*) > 1) d) as doubles,
                 (select count(distinct worker_id)::int from task_runs where run_id = ${run.id}) as workers`,
    );
    expect(stats).toMatchObject({ nodes: 1000, success: 1000, doubles: 0 });
    expect(stats!.started).toBe(stats!.attempts);
    expect(stats!.workers).toBeGreaterThanOrEqual(2);
  });

  it("a run queued while no worker runs is run by the next worker to start", async () => {
    const run = await start(slowDoc("waiting", 10));
    await new Promise((r) => setTimeout(r, 500));
    expect((await getRunRow(app.db, run.id)).state).toBe("running");
    expect((await allAttempts(app.db, run.id)).every((t) => t.state === "queued" || t.state === "pending")).toBe(true);
    worker();
    expect((await finished(run.id)).state).toBe("success");
  });

  it("SIGTERM drains: the worker finishes its running task, then exits", async () => {
    const w = worker(1);
    const run = await start(slowDoc("drained", 1500));
    await holder(run.id, "b");
    const exited = new Promise<number | null>((r) => w.once("exit", (code) => r(code)));
    w.kill("SIGTERM");
    expect(await exited).toBe(0);
    const b = (await allAttempts(app.db, run.id)).filter((t) => t.nodeId === "b");
    expect(b.map((t) => [t.attempt, t.state])).toEqual([[1, "success"]]);
    worker();
    expect((await finished(run.id)).state).toBe("success");
  });
});
