/**
 * The runtime's semantics end to end, on PGlite and Postgres: trigger rules and
 * branches, parallelism, priority and maxActiveRuns, retries and backoff,
 * timeouts, cancel, retry-failed and rerun-from, forEach, lease fencing, the
 * SQL cell's boundary and params.
 */
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { getPipeline, savePipeline } from "@/db/pipeline-store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ValidationError, type PipelineFile, type PipelineNode } from "@/server/pipeline";
import { LeaseLostError, TaskFailure } from "@/server/runtime/errors";
import { CELL_ROLE } from "@/server/runtime/outputs";
import {
  allAttempts, cancelRun, claimTask, completeTask, failTask, getRunRow, heartbeat, latestTasks, reapLapsedLeases, rerunFrom,
  retryFailed, startRun, type TaskRow,
} from "@/server/runtime/run-store";
import { rowsOf } from "@/server/runtime/sql";
import { Worker } from "@/server/runtime/worker";
import { targets } from "../databases";
import { openRuntime, type Runtime } from "./harness";

type Edge = PipelineFile["edges"][number];
const pipeline = (nodes: PipelineNode[], edges: Edge[], extra: Partial<PipelineFile> = {}): PipelineFile =>
  ({ format: "tributary/v1", name: "sem", nodes, edges, ...extra });
const sqlNode = (name: string, text: string, extra: Partial<PipelineNode> = {}): PipelineNode =>
  ({ id: name, kind: "sql", name, config: { sql: text }, ...extra }) as PipelineNode;
const jsNode = (name: string, code: string, extra: Partial<PipelineNode> = {}): PipelineNode =>
  ({ id: name, kind: "js", name, config: { code }, ...extra }) as PipelineNode;
const sensor = (name: string, condition: string, extra: Partial<PipelineNode> = {}): PipelineNode =>
  ({ id: name, kind: "sensor", name, config: { condition, pollIntervalSeconds: 1 }, timeoutSeconds: 30, ...extra }) as PipelineNode;
const edge = (from: string, to: string, branch?: "true" | "false"): Edge => (branch ? { from, to, branch } : { from, to });

const SPIN = "export default () => { while (true) {} }";

describe.each(targets.map((t) => t.name))("runtime semantics on %s", (name) => {
  let rt: Runtime;
  const db = () => rt.app.db;
  const setFlag = (table: string, ok: boolean) => rt.wh.query(`update public.${table} set ok = ${ok}`);
  const events = (runId: string) =>
    rowsOf<{ type: string; payload: Record<string, unknown> }>(db(), sql`select type, payload from run_events where run_id = ${runId} order by id`);
  const attemptsOf = (attempts: TaskRow[], nodeId: string, mapIndex = -1) =>
    attempts.filter((a) => a.nodeId === nodeId && a.mapIndex === mapIndex).map((a) => [a.attempt, a.state]);
  /** Poll until `check` holds (fails the test after `ms`). */
  async function until(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const taskState = async (runId: string, nodeId: string) => (await latestTasks(db(), runId, [nodeId])).find((t) => t.mapIndex === -1)?.state;

  beforeAll(async () => {
    rt = await openRuntime(name);
    await rt.wh.query(`do $$ begin
        if not exists (select 1 from pg_roles where rolname = '${CELL_ROLE}') then create role ${CELL_ROLE} nologin noinherit; end if;
      end $$`);
    for (const t of ["sw_retry", "gate", "gate2", "gate3", "gate4"]) {
      await rt.wh.query(`create table public.${t} (ok boolean not null)`);
      await rt.wh.query(`insert into public.${t} values (false)`);
      await rt.wh.query(`grant select on public.${t} to ${CELL_ROLE}`);
    }
  });
  afterAll(async () => rt?.close());

  // ------------------------------------------------------------ 1. trigger rules

  it("applies trigger rules downstream of a failed node", async () => {
    const both = (to: string) => [edge("boom", to), edge("ok", to)];
    const run = await rt.start(
      pipeline(
        [
          sqlNode("boom", "select 1/0 as x"),
          sqlNode("ok", "select 1 as y"),
          sqlNode("r_all_success", "select y from ok"),
          sqlNode("r_all_done", "select y from ok", { triggerRule: "all_done" }),
          // one_failed starts as soon as one upstream failed, maybe before `ok` is done: it reads nothing.
          sqlNode("r_one_failed", "select 1 as y", { triggerRule: "one_failed" }),
          sqlNode("r_none_failed", "select y from ok", { triggerRule: "none_failed" }),
          sqlNode("after_uf", "select 1 as z", { triggerRule: "all_done" }),
          sqlNode("after_uf_strict", "select 1 as z"),
        ],
        [...both("r_all_success"), ...both("r_all_done"), ...both("r_one_failed"), ...both("r_none_failed"),
          edge("r_all_success", "after_uf"), edge("r_all_success", "after_uf_strict")],
      ),
    );
    const { run: done, tasks, attempts } = await rt.wait(run.id);
    expect(Object.fromEntries([...tasks].map(([id, t]) => [id, t.state]))).toEqual({
      boom: "failed", ok: "success",
      r_all_success: "upstream_failed", r_all_done: "success", r_one_failed: "success", r_none_failed: "upstream_failed",
      after_uf: "success", after_uf_strict: "upstream_failed",
    });
    expect(tasks.get("boom")!.error!.message).toMatch(/^node 'boom': .*division by zero/);
    expect(attempts.filter((a) => a.nodeId === "boom")).toHaveLength(1); // not retryable, no retries
    expect(tasks.get("r_all_success")!.startedAt).toBeNull();
    expect(done.state).toBe("failed");
    const types = (await events(run.id)).map((e) => e.type);
    expect(types.filter((t) => t === "TASK_UPSTREAM_FAILED")).toHaveLength(3);
    expect(types.at(-1)).toBe("RUN_FAILED");
  });

  it("skips the branch not taken and what follows it; none_failed runs after a skip", async () => {
    const run = await rt.start(
      pipeline(
        [
          sqlNode("src", "select 1 as v"),
          { id: "br", kind: "branch", name: "br", config: { condition: "select count(*) > 0 from src" } } as PipelineNode,
          sqlNode("yes", "select 'yes' as w"),
          sqlNode("no", "select 'no' as w"),
          sqlNode("after_no", "select w from no"),
          sqlNode("joined", "select w from yes", { triggerRule: "none_failed" }),
          sqlNode("joined_strict", "select w from yes"),
        ],
        [edge("src", "br"), edge("br", "yes", "true"), edge("br", "no", "false"), edge("no", "after_no"),
          edge("yes", "joined"), edge("no", "joined"), edge("yes", "joined_strict"), edge("no", "joined_strict")],
      ),
    );
    const { run: done, tasks } = await rt.wait(run.id);
    expect(Object.fromEntries([...tasks].map(([id, t]) => [id, t.state]))).toEqual({
      src: "success", br: "success", yes: "success", no: "skipped", after_no: "skipped", joined: "success", joined_strict: "skipped",
    });
    expect(tasks.get("br")!.result).toEqual({ branch: true });
    expect(done.state).toBe("success");
    expect(await rt.wh.query(`select w from "${done.schemaName}".joined`)).toEqual([{ w: "yes" }]);
  });

  // ------------------------------------------------------------ 2. parallelism, priority, maxActiveRuns

  it("runs independent nodes at the same time", async () => {
    await setFlag("gate", false);
    const run = await rt.start(pipeline([sensor("s1", "select ok from public.gate"), sensor("s2", "select ok from public.gate")], []));
    // Both sensors hold a slot at once while the gate is closed: they can only both be running in parallel.
    await until("both sensors running", async () => (await taskState(run.id, "s1")) === "running" && (await taskState(run.id, "s2")) === "running");
    await setFlag("gate", true);
    const { run: done, tasks } = await rt.wait(run.id);
    expect(done.state).toBe("success");
    const [a, b] = [tasks.get("s1")!, tasks.get("s2")!];
    expect(a.startedAt!.getTime()).toBeLessThan(b.finishedAt!.getTime());
    expect(b.startedAt!.getTime()).toBeLessThan(a.finishedAt!.getTime());
  });

  it("ends every run whose last tasks finish at the same moment", async () => {
    // Completions of plain tasks do not wait for each other; the last ones to commit must still end the run.
    const runs = [];
    for (let r = 0; r < 12; r++) {
      runs.push(await rt.start(pipeline(Array.from({ length: 6 }, (_, i) => sqlNode(`p${i}`, `select ${i} as x`)), [], { name: `race_${r}` })));
    }
    for (const run of runs) {
      const { run: done } = await rt.wait(run.id, 30_000);
      expect([done.id, done.state]).toEqual([run.id, "success"]);
    }
  });

  it("claims higher priority first (one worker, one slot)", async () => {
    await rt.worker.drain();
    const single = new Worker({ db: db(), wh: rt.wh, sql: rt.sql, sandbox: () => rt.sandbox, filesDir: rt.filesDir }, { concurrency: 1, pollMs: 20 });
    try {
      const run = await rt.start(
        pipeline(
          [
            sqlNode("p_low", "select 1 as x", { priority: -5 }),
            sqlNode("p_mid", "select 1 as x"),
            sqlNode("p_high", "select 1 as x", { priority: 7 }),
            sqlNode("p_top", "select 1 as x", { priority: 100 }),
          ],
          [],
        ),
      );
      single.start();
      const { run: done, tasks } = await rt.wait(run.id);
      expect(done.state).toBe("success");
      const order = [...tasks.values()].sort((x, y) => x.startedAt!.getTime() - y.startedAt!.getTime()).map((t) => t.nodeId);
      expect(order).toEqual(["p_top", "p_high", "p_mid", "p_low"]);
      // One slot: each started after the previous one finished.
      const sorted = [...tasks.values()].sort((x, y) => x.startedAt!.getTime() - y.startedAt!.getTime());
      for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.startedAt!.getTime()).toBeGreaterThanOrEqual(sorted[i - 1]!.finishedAt!.getTime());
    } finally {
      await single.drain();
      rt.worker.start();
    }
  });

  it("keeps a second run queued while maxActiveRuns=1 is taken", async () => {
    await setFlag("gate2", false);
    const first = await rt.start(pipeline([sensor("wait_gate", "select ok from public.gate2")], [], { maxActiveRuns: 1 }));
    const second = await startRun(db(), { pipelineId: first.pipelineId }, rt.sql);
    rt.worker.wake();
    expect(first.state).toBe("running");
    expect(second.state).toBe("queued");
    await until("the first run's sensor running", async () => (await taskState(first.id, "wait_gate")) === "running");
    expect((await getRunRow(db(), second.id)).state).toBe("queued");
    expect((await allAttempts(db(), second.id)).map((a) => a.state)).toEqual(["pending"]);
    await setFlag("gate2", true);
    const a = await rt.wait(first.id);
    const b = await rt.wait(second.id);
    expect([a.run.state, b.run.state]).toEqual(["success", "success"]);
    expect(b.run.startedAt!.getTime()).toBeGreaterThanOrEqual(a.run.finishedAt!.getTime());
  });

  it("starts a run in one step: RUN_QUEUED, RUN_STARTED, then its roots queued in plan order, the rest pending", async () => {
    const run = await rt.start(
      pipeline([sqlNode("late", "select 1 as x"), sqlNode("child", "select * from late, early"), sqlNode("early", "select 2 as y")], [edge("late", "child"), edge("early", "child")]),
      { params: {} },
    );
    expect(run.state).toBe("running");
    expect(run.startedAt).toBeInstanceOf(Date);
    const first = (await events(run.id)).filter((e) => ["RUN_QUEUED", "RUN_STARTED", "TASK_QUEUED"].includes(e.type)).slice(0, 4);
    expect(first.map((e) => [e.type, e.payload.node ?? null])).toEqual([
      ["RUN_QUEUED", null], ["RUN_STARTED", null], ["TASK_QUEUED", "late"], ["TASK_QUEUED", "early"],
    ]);
    expect(first[0]!.payload).toMatchObject({ version: 1, trigger: "manual", params: {} });
    const { run: done, tasks } = await rt.wait(run.id);
    expect(done.state).toBe("success");
    expect(tasks.get("child")!.rows).toBe(1);
    // The child was pending until both its upstream nodes were done, and queued once.
    expect((await events(run.id)).filter((e) => e.type === "TASK_QUEUED").map((e) => e.payload.node)).toEqual(["late", "early", "child"]);
  });

  it("gives a freed slot to the run queued first, not to a run started after it", async () => {
    await setFlag("gate3", false);
    const doc = pipeline([sensor("wait_gate", "select ok from public.gate3")], [], { maxActiveRuns: 1 });
    const first = await rt.start(doc);
    const second = await startRun(db(), { pipelineId: first.pipelineId }, rt.sql);
    expect([first.state, second.state]).toEqual(["running", "queued"]);
    // A new version allows two runs at once: the slot that frees goes to the run waiting for it.
    const saved = await getPipeline(db(), { id: first.pipelineId });
    await savePipeline(db(), { id: first.pipelineId, baseVersion: saved.currentVersion, document: { ...saved.document, maxActiveRuns: 2 } }, { sql: rt.sql });
    const third = await startRun(db(), { pipelineId: first.pipelineId }, rt.sql);
    rt.worker.wake();
    expect(third.state).toBe("queued");
    expect((await getRunRow(db(), second.id)).state).toBe("running");
    await setFlag("gate3", true);
    const runs = await Promise.all([first, second, third].map((r) => rt.wait(r.id)));
    expect(runs.map((r) => r.run.state)).toEqual(["success", "success", "success"]);
    expect(runs[2]!.run.startedAt!.getTime()).toBeGreaterThanOrEqual(Math.min(runs[0]!.run.finishedAt!.getTime(), runs[1]!.run.finishedAt!.getTime()));
  });

  it.runIf(name === "postgres")("ends a run while another session holds the promotion lock, and starts the queued run once it is free", async () => {
    await setFlag("gate4", false);
    const first = await rt.start(pipeline([sensor("wait_gate", "select ok from public.gate4")], [], { maxActiveRuns: 1 }));
    const second = await startRun(db(), { pipelineId: first.pipelineId }, rt.sql);
    expect(second.state).toBe("queued");
    const key = `tributary.promote.${first.pipelineId}`;
    const holder = postgres((rt.app as { url?: string }).url!, { max: 1, onnotice: () => {} });
    try {
      await holder`select pg_advisory_lock(hashtext(${key}))`;
      await setFlag("gate4", true);
      // The completion only tries the lock (waiting for it while holding the run's rows could
      // close a deadlock): the run ends now, and the queued one waits for the lock to be free.
      await until("the first run ended", async () => (await getRunRow(db(), first.id)).state === "success");
      expect((await getRunRow(db(), second.id)).state).toBe("queued");
      await holder`select pg_advisory_unlock(hashtext(${key}))`;
    } finally {
      await holder.end({ timeout: 5 });
    }
    expect((await rt.wait(second.id)).run.state).toBe("success");
  });

  // ------------------------------------------------------------ 3. retries

  it("retries a failing cell as new attempts, then fails it", async () => {
    const run = await rt.start(
      pipeline([jsNode("thrower", `export default () => { throw new Error("boom") }`, { retries: 2, retryDelaySeconds: 0 })], []),
    );
    const { run: done, tasks, attempts } = await rt.wait(run.id);
    expect(done.state).toBe("failed");
    expect(attemptsOf(attempts, "thrower")).toEqual([[1, "failed"], [2, "failed"], [3, "failed"]]);
    expect(new Set(attempts.map((a) => a.id)).size).toBe(3);
    expect(tasks.get("thrower")!.error!.message).toMatch(/^node 'thrower': .*boom/);
    const evs = await events(run.id);
    expect(evs.filter((e) => e.type === "TASK_UP_FOR_RETRY").map((e) => [e.payload.attempt, e.payload.delaySeconds])).toEqual([[2, 0], [3, 0]]);
    expect(evs.filter((e) => e.type === "TASK_FAILED").map((e) => e.payload.final ?? false)).toEqual([false, false, true]);
  });

  it("waits an exponential backoff between attempts", async () => {
    const run = await rt.start(
      pipeline([jsNode("flaky", `export default () => { throw new Error("again") }`, { retries: 3, retryDelaySeconds: 0.2, retryBackoff: "exponential" })], []),
    );
    const { run: done, attempts } = await rt.wait(run.id);
    expect(done.state).toBe("failed");
    expect(attempts).toHaveLength(4);
    const evs = await events(run.id);
    expect(evs.filter((e) => e.type === "TASK_UP_FOR_RETRY").map((e) => e.payload.delaySeconds)).toEqual([0.2, 0.4, 0.8]);
    const rows = await rowsOf<{ attempt: number; delay: number; waited: number }>(
      db(),
      sql`select attempt, extract(epoch from ready_at - created_at)::float8 as delay, extract(epoch from started_at - ready_at)::float8 as waited
          from task_runs where run_id = ${run.id} and attempt > 1 order by attempt`,
    );
    expect(rows.map((r) => [r.attempt, Math.round(r.delay * 10) / 10])).toEqual([[2, 0.2], [3, 0.4], [4, 0.8]]);
    for (const r of rows) expect(r.waited).toBeGreaterThanOrEqual(0); // never claimed before its ready time
  });

  // ------------------------------------------------------------ 4. timeouts

  it("stops an endless JS loop at its timeout", async () => {
    const run = await rt.start(pipeline([jsNode("spin", SPIN, { timeoutSeconds: 1 })], []));
    const { run: done, tasks } = await rt.wait(run.id);
    expect(done.state).toBe("failed");
    const t = tasks.get("spin")!;
    expect(t.error!.message).toMatch(/timed out after 1 s/);
    expect(t.error!.kind).toBe("timeout");
    const ms = t.finishedAt!.getTime() - t.startedAt!.getTime();
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(3500);
  });

  it.runIf(name === "postgres")("cancels a slow SQL statement at its timeout (Postgres)", async () => {
    const run = await rt.start(pipeline([sqlNode("sleepy", "select 1 as x from pg_sleep(5)", { timeoutSeconds: 1 })], []));
    const { run: done, tasks } = await rt.wait(run.id);
    expect(done.state).toBe("failed");
    const t = tasks.get("sleepy")!;
    expect(t.error!.message).toMatch(/timed out after 1 s|ran past its timeout of 1 s/);
    expect(t.finishedAt!.getTime() - t.startedAt!.getTime()).toBeLessThan(3000);
  });

  // ------------------------------------------------------------ 5. cancel

  it("cancels a run: the running task stops within 2 s, later tasks never start", async () => {
    const run = await rt.start(pipeline([jsNode("loop", SPIN, { timeoutSeconds: 60 }), sqlNode("later", "select 1 as x")], [edge("loop", "later")]));
    await until("the loop running", async () => (await taskState(run.id, "loop")) === "running");
    let stoppedAt = 0;
    let reported = "";
    const off = rt.worker.onTask((r) => {
      if (r.task.runId === run.id) {
        stoppedAt = performance.now();
        reported = r.state;
      }
    });
    const t0 = performance.now();
    const canceled = await cancelRun(db(), run.id);
    expect(canceled.state).toBe("canceled");
    try {
      await until("the worker to stop the loop", async () => stoppedAt > 0, 5000);
    } finally {
      off();
    }
    expect(stoppedAt - t0).toBeLessThan(2000);
    expect(reported).toBe("canceled");
    const { run: done, tasks, attempts } = await rt.wait(run.id);
    expect(done.state).toBe("canceled");
    expect(tasks.get("loop")!.state).toBe("canceled");
    expect(tasks.get("later")!.state).toBe("canceled");
    expect(tasks.get("later")!.startedAt).toBeNull();
    expect(attempts).toHaveLength(2);
    // The sandbox still works after the kill.
    const after = await rt.start(pipeline([jsNode("fine", "export default () => [{ x: 1 }]")], []));
    expect((await rt.wait(after.id)).run.state).toBe("success");
  });

  // ------------------------------------------------------------ 6–7. retry failed, rerun from

  it("retry failed reruns only the failed part and reuses what succeeded; rerun from a node", async () => {
    await setFlag("sw_retry", false);
    const run = await rt.start(
      pipeline(
        [
          sqlNode("a", "select 1 as v"),
          sqlNode("b", "select v, 1 / (case when (select ok from public.sw_retry) then 1 else 0 end) as x from a"),
          sqlNode("c", "select x + 1 as y from b"),
        ],
        [edge("a", "b"), edge("b", "c")],
      ),
    );
    const first = await rt.wait(run.id);
    expect(first.run.state).toBe("failed");
    expect([...first.tasks.values()].map((t) => [t.nodeId, t.state])).toEqual([["a", "success"], ["b", "failed"], ["c", "upstream_failed"]]);
    expect(first.tasks.get("b")!.error!.message).toMatch(/^node 'b': .*division by zero/);
    const aTable = first.tasks.get("a")!.outputTable;
    expect(aTable).toBeTruthy();

    await setFlag("sw_retry", true);
    const reopened = await retryFailed(db(), run.id);
    expect(["queued", "running"]).toContain(reopened.state);
    rt.worker.wake();
    const second = await rt.wait(run.id);
    expect(second.run.state).toBe("success");
    expect(attemptsOf(second.attempts, "a")).toEqual([[1, "success"]]);
    expect(attemptsOf(second.attempts, "b")).toEqual([[1, "failed"], [2, "success"]]);
    expect(attemptsOf(second.attempts, "c")).toEqual([[1, "upstream_failed"], [2, "success"]]);
    expect(second.tasks.get("a")!.outputTable).toBe(aTable);
    expect(await rt.wh.query(`select y from "${second.run.schemaName}".c`)).toEqual([{ y: 2 }]);
    expect((await events(run.id)).map((e) => e.type)).toContain("RUN_RETRIED");
    await expect(retryFailed(db(), run.id)).resolves.toBeTruthy(); // nothing failed: a no-op
    expect((await rt.wait(run.id)).attempts).toHaveLength(5);

    await rerunFrom(db(), run.id, "b");
    rt.worker.wake();
    const third = await rt.wait(run.id);
    expect(third.run.state).toBe("success");
    expect(attemptsOf(third.attempts, "a")).toEqual([[1, "success"]]);
    expect(attemptsOf(third.attempts, "b")).toEqual([[1, "failed"], [2, "success"], [3, "success"]]);
    expect(attemptsOf(third.attempts, "c")).toEqual([[1, "upstream_failed"], [2, "success"], [3, "success"]]);
    expect(await rt.wh.query(`select y from "${third.run.schemaName}".c`)).toEqual([{ y: 2 }]);
  });

  // ------------------------------------------------------------ 8. forEach

  it("runs a node per item; retry failed reruns only the failed item", async () => {
    // SQL per-item cells (`:item_region`) are refused by validation today (see the report), so the
    // items run as JS; region 'b' fails until the `flag` node's checkpoint says ok.
    const run = await rt.start(
      pipeline(
        [
          sqlNode("regions", "select * from (values ('a'), ('b'), ('c')) as v(region)"),
          sqlNode("flag", "select false as ok"),
          jsNode(
            "per_region",
            `export default ({ flag }, ctx) => {
               if (ctx.item.region === "b" && !flag[0].ok) throw new Error("region b is not ready");
               return [{ region: ctx.item.region, v: 10 }];
             }`,
            { forEach: "regions" },
          ),
          sqlNode("total", "select count(*)::int as n, string_agg(region, ',' order by region) as rs, sum(v)::int as s from per_region"),
        ],
        [edge("regions", "per_region"), edge("flag", "per_region"), edge("per_region", "total")],
      ),
    );
    const first = await rt.wait(run.id);
    expect(first.run.state).toBe("failed");
    expect(first.tasks.get("per_region")!.state).toBe("success"); // the expansion itself
    expect(first.tasks.get("per_region")!.result).toEqual({ items: 3 });
    expect(first.tasks.get("total")!.state).toBe("upstream_failed");
    expect([0, 1, 2].map((i) => attemptsOf(first.attempts, "per_region", i))).toEqual([[[1, "success"]], [[1, "failed"]], [[1, "success"]]]);
    const failed = first.attempts.find((a) => a.nodeId === "per_region" && a.mapIndex === 1)!;
    expect(failed.item).toEqual({ region: "b" });
    expect(failed.error!.message).toMatch(/^node 'per_region': .*region b is not ready/);
    expect((await events(run.id)).find((e) => e.type === "TASK_EXPANDED")!.payload).toEqual({ node: "per_region", items: 3 });

    // Flip the switch: the flag's checkpoint (reused by retry failed) now says ok.
    await rt.wh.query(`update "${first.run.schemaName}"."${first.tasks.get("flag")!.outputTable}" set ok = true`);
    await retryFailed(db(), run.id);
    rt.worker.wake();
    const second = await rt.wait(run.id);
    expect(second.run.state).toBe("success");
    expect(attemptsOf(second.attempts, "per_region")).toEqual([[1, "success"]]);
    expect([0, 1, 2].map((i) => attemptsOf(second.attempts, "per_region", i))).toEqual([[[1, "success"]], [[1, "failed"], [2, "success"]], [[1, "success"]]]);
    expect(attemptsOf(second.attempts, "regions")).toEqual([[1, "success"]]);
    expect(attemptsOf(second.attempts, "flag")).toEqual([[1, "success"]]);
    expect(attemptsOf(second.attempts, "total")).toEqual([[1, "upstream_failed"], [2, "success"]]);
    expect(await rt.wh.query(`select n, rs, s from "${second.run.schemaName}".total`)).toEqual([{ n: 3, rs: "a,b,c", s: 30 }]);
  });

  it("binds a forEach item's fields into per-item SQL as :item_<column>", async () => {
    const doc = pipeline(
      [
        sqlNode("regions", "select * from (values ('a', 1), ('b', 2)) as v(region, k)"),
        sqlNode("per_region", "select :item_region as region, :item_k * 10 as v", { forEach: "regions" }),
      ],
      [edge("regions", "per_region")],
    );
    const run = await rt.start(doc);
    const { run: done } = await rt.wait(run.id);
    expect(done.state).toBe("success");
    expect(await rt.wh.query(`select region, v from "${done.schemaName}".per_region order by region`)).toEqual([{ region: "a", v: 10 }, { region: "b", v: 20 }]);
  });

  // ------------------------------------------------------------ 9. fencing

  it("fences a stale lease holder out after its lease lapsed", async () => {
    await rt.worker.drain();
    try {
      const run = await rt.start(pipeline([jsNode("one", "export default () => [{ x: 1 }]")], []));
      const stale = await claimTask(db(), "w1", 30);
      expect(stale).not.toBeNull();
      expect([stale!.runId, stale!.nodeId, stale!.attempt]).toEqual([run.id, "one", 1]);
      await db().execute(sql`update task_runs set lease_until = now() - interval '1 second' where id = ${stale!.id}`);
      expect(await reapLapsedLeases(db())).toBe(1);
      const before = await allAttempts(db(), run.id);
      expect(before.map((a) => [a.attempt, a.state, a.error?.kind ?? null])).toEqual([[1, "failed", "lease_lost"], [2, "up_for_retry", null]]);
      expect(before[1]!.leaseLosses).toBe(1);

      await expect(completeTask(db(), stale!, { rows: 1, outputTable: "t_stale" })).rejects.toBeInstanceOf(LeaseLostError);
      await expect(failTask(db(), stale!, new TaskFailure("late"))).rejects.toBeInstanceOf(LeaseLostError);
      expect(await heartbeat(db(), stale!, 30)).toBe("lost");
      expect(await allAttempts(db(), run.id)).toEqual(before);
      expect((await getRunRow(db(), run.id)).state).toBe("running");
      expect((await events(run.id)).map((e) => e.type)).toContain("TASK_LEASE_LOST");
      rt.worker.start();
      const { run: done, attempts } = await rt.wait(run.id);
      expect(done.state).toBe("success");
      expect(attemptsOf(attempts, "one")).toEqual([[1, "failed"], [2, "success"]]);
    } finally {
      rt.worker.start();
    }
  });

  // ------------------------------------------------------------ 10. the SQL cell's boundary

  it("keeps SQL cells inside their boundary", async () => {
    const cases: [string, string, RegExp][] = [
      ["app_tables", "select * from pipelines", /relation "pipelines" does not exist/],
      ["read_file", "select pg_read_file('/etc/passwd') as f", /permission denied/],
      ["become_superuser", "select set_config('role', 'postgres', false) as r", /cannot set parameter "role"|permission denied/],
      ["become_superuser_local", "select set_config('session_authorization', 'postgres', true) as r", /cannot set parameter "session_authorization"|permission denied/],
      ["nested_escape", "select query_to_xml('select set_config(''role'', ''postgres'', true) as r', true, false, '')::text as x", /cannot set parameter "role"|permission denied/],
      ["call_wrapper", "select count(*) as n from tributary_runtime.cell_exec_v3('drop table public.gate', '[]'::jsonb, false, 'public')", /permission denied/],
      ["bad_column", "select\n  nosuch as x", /column "nosuch" does not exist \(line 2, column 3 of the SQL\)/],
      ["copy_program", "copy (select 1) to program 'id'", /must be exactly one SELECT/],
      ["set_role", "set role postgres", /must be exactly one SELECT/],
      ["insert_row", "insert into public.gate values (true)", /must be exactly one SELECT/],
      ["two_statements", "select 1 as x; select 2 as y", /must be exactly one SELECT/],
    ];
    const gateBefore = await rt.wh.query(`select ok from public.gate`);
    const run = await rt.start(pipeline(cases.map(([n, text]) => sqlNode(n, text)), []));
    const { run: done, tasks } = await rt.wait(run.id);
    expect(done.state).toBe("failed");
    for (const [n, , pattern] of cases) {
      const t = tasks.get(n)!;
      expect([n, t.state]).toEqual([n, "failed"]);
      expect(t.error!.message).toMatch(new RegExp(`^node '${n}'`));
      expect([n, t.error!.message]).toEqual([n, expect.stringMatching(pattern)]);
    }
    expect(await rt.wh.query(`select ok from public.gate`)).toEqual(gateBefore); // neither insert_row nor call_wrapper touched it
  });

  it("runs a SQL cell as one statement: its own timeout (Postgres), the run's schema first, the cell role", async () => {
    const run = await rt.start(
      pipeline([sqlNode("settings", "select current_setting('statement_timeout') as t, current_schemas(false)::text as s, current_user::text as u, :n::int as n, current_setting('synchronous_commit') as sc", { timeoutSeconds: 7 })], [], {
        params: { n: { type: "integer", default: 3 } },
      }),
    );
    const { run: done, tasks } = await rt.wait(run.id);
    expect(tasks.get("settings")!.error).toBeNull();
    // On the app database's server, warehouse commits skip the disk flush (the completion's flush covers them).
    // PGlite does not enforce statement_timeout, so it is not set there (the runtime's timer fails the task).
    expect(await rt.wh.query(`select t, s, u, n, sc from "${done.schemaName}".settings`)).toEqual([
      { t: name === "postgres" ? "7s" : "0", s: `{${done.schemaName},public}`, u: "tributary_cell", n: 3, sc: name === "postgres" ? "off" : "on" },
    ]);
  });

  it("fails a cell that changes its session's statement_timeout, and the next cell keeps its own", async () => {
    const run = await rt.start(
      pipeline(
        [
          sqlNode("sneaky", "select set_config('statement_timeout', '1000', false) as t", { timeoutSeconds: 7 }),
          sqlNode("after", "select current_setting('statement_timeout') as t", { timeoutSeconds: 7, triggerRule: "all_done" }),
        ],
        [edge("sneaky", "after")],
      ),
    );
    const { tasks, run: done } = await rt.wait(run.id);
    expect(tasks.get("sneaky")!.state).toBe("failed");
    expect(tasks.get("sneaky")!.error!.message).toMatch(/^node 'sneaky': a cell may not change statement_timeout/);
    // The failed cell's transaction rolled back its SET: the next cell runs under its own timeout (none set on PGlite).
    expect(tasks.get("after")!.state).toBe("success");
    expect(await rt.wh.query(`select t from "${done.schemaName}".after`)).toEqual([{ t: name === "postgres" ? "7s" : "0" }]);
  });

  it("reads upstream outputs by name in every form a cell writes them, and points errors into the cell's own SQL", async () => {
    const doc = pipeline(
      [
        sqlNode("base", "select 1 as x, 'a' as k"),
        sqlNode("other", "select 2 as y, 'a' as k"),
        // Qualified columns, an alias, a quoted name, a subquery, a CTE that shadows an upstream name.
        sqlNode(
          "reader",
          `with other as (select y * 10 as y, k from "other")
           select base.x, o.y, (select count(*) from BASE)::int as n, :n::int as p
             from base join other o using (k)`,
        ),
        sqlNode("broken", "select :n::int as p,\n  base.nosuch from base"),
        // Forms where an alias cannot follow the name: read through the view.
        sqlNode("whole", "TABLE base"),
        sqlNode("only_sampled", "select x from only base tablesample system (100) where base.x = 1"),
      ],
      [edge("base", "reader"), edge("other", "reader"), edge("base", "broken"), edge("base", "whole"), edge("base", "only_sampled")],
      { params: { n: { type: "integer", default: 7 } } },
    );
    const run = await rt.start(doc);
    const { run: done, tasks } = await rt.wait(run.id);
    expect(tasks.get("reader")!.error).toBeNull();
    expect(await rt.wh.query(`select x, y, n, p from "${done.schemaName}"."${tasks.get("reader")!.outputTable}"`)).toEqual([{ x: 1, y: 20, n: 1, p: 7 }]);
    for (const n of ["whole", "only_sampled"]) {
      expect([n, tasks.get(n)!.error]).toEqual([n, null]);
      expect(await rt.wh.query(`select x from "${done.schemaName}"."${tasks.get(n)!.outputTable}"`)).toEqual([{ x: 1 }]);
    }
    // The param and the upstream name before it were replaced; the position is still the cell's own.
    expect(tasks.get("broken")!.error!.message).toMatch(/^node 'broken': column base\.nosuch does not exist \(line 2, column 3 of the SQL\)$/);
  });

  it("writes a large JS output the same way before and after it switches to COPY, and reports a bad value past the switch", async () => {
    // The first batch (rows 1–5,000) is loaded as JSON; the rest through COPY in binary (a batch
    // binary cannot carry, as CSV), encoded by the isolate or the runner (a batch sent before it
    // heard, by the server). Row i's values depend on i % 100 only, so rows loaded
    // each way must be equal, and a few are compared with what the cell yielded.
    const N = 20_000;
    const valuesOf = `(k) => ({
      s: ['a "quoted", comma\\nand line', "", null, "ünïcödé 😀", "back\\\\slash", "tab\\there", "NULL", "\\\\N", " lead", '"'][k % 10],
      big: k % 2 ? Number.MAX_SAFE_INTEGER - k : -Number.MAX_SAFE_INTEGER + k,
      j: [{ k, arr: [1, "x"] }, [k, null, "é"], { nested: { deep: [true] } }, [], {}][k % 5],
      b: k % 3 === 2 ? null : k % 3 === 0,
      f: [0.1, -0, 1e308, 5e-324, -123.456, 1 / 3, k / 4][k % 7],
      t: [5, "x", true, 1.5][k % 4],
    })`;
    const doc = pipeline(
      [
        jsNode(
          "big",
          `const valuesOf = ${valuesOf};
           export default function* () {
             for (let i = 0; i < ${N} - 1; i++) yield { i, ...valuesOf(i % 100) };
             // The last row: values binary cannot carry (a string in a bigint and in a double column) go as CSV.
             yield { i: ${N} - 1, ...valuesOf(0), big: "7", f: "2.5" };
           }`,
        ),
        jsNode("bad", `export default function* () { for (let i = 0; i < ${N}; i++) yield { n: i === 15_000 ? "x" : i }; }`),
        // A lone surrogate: JSON would be refused by the database; encoded for COPY it would be replaced quietly.
        jsNode("surrogate", `export default function* () { for (let i = 0; i < ${N}; i++) yield { s: i === 15_000 ? "a\\ud800b" : "ok" }; }`),
      ],
      [],
    );
    // Which tables PGlite loaded in binary.
    const binaryInto: string[] = [];
    const copyBinary = rt.wh.copyBinary;
    if (copyBinary) {
      rt.wh.copyBinary = (table, columns, parts) => {
        binaryInto.push(table);
        return copyBinary(table, columns, parts);
      };
    }
    let finished: Awaited<ReturnType<Runtime["wait"]>>;
    try {
      finished = await rt.wait((await rt.start(doc)).id);
    } finally {
      if (copyBinary) rt.wh.copyBinary = copyBinary;
    }
    const { tasks, run: done } = finished;
    const big = tasks.get("big")!;
    expect(big.error).toBeNull();
    expect(big.rows).toBe(N);
    const table = `"${done.schemaName}"."${big.outputTable}"`;
    expect(await rt.wh.query(`select count(*)::int as n, sum(i)::float8 as total from ${table}`)).toEqual([{ n: N, total: (N * (N - 1)) / 2 }]);
    const columns = await rt.wh.query<{ name: string; type: string }>(
      `select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute where attrelid = '${table}'::regclass and attnum > 0 and not attisdropped order by attnum`,
    );
    expect(Object.fromEntries(columns.map((c) => [c.name, c.type]))).toEqual({ i: "bigint", s: "text", big: "bigint", j: "jsonb", b: "boolean", f: "double precision", t: "text" });
    // Every row with the same i % 100 holds the same values, whichever way it was loaded.
    const differing = await rt.wh.query(
      `select i % 100 as k from ${table} where i < ${N - 1} group by 1 having count(distinct row(s, big, j::text, b, f, t)::text) > 1`,
    );
    expect(differing).toEqual([]);
    const valueOf = new Function(`return ${valuesOf}`)() as (k: number) => Record<string, unknown>;
    const picked = [0, 1, 2, 3, 4, 5, 6, 12_003, 12_007, N - 3, N - 2];
    const rows = await rt.wh.query<Record<string, unknown>>(`select i, s, big, j::text as j, b, f, t from ${table} where i in (${picked.join(", ")}) order by i`);
    expect(rows).toEqual(
      picked.map((i) => {
        const v = valueOf(i % 100);
        const j = [`{"k": ${i % 100}, "arr": [1, "x"]}`, `[${i % 100}, null, "é"]`, '{"nested": {"deep": [true]}}', "[]", "{}"][i % 5];
        return { i, s: v.s, big: v.big, j, b: v.b, f: Object.is(v.f, -0) ? 0 : v.f, t: String(v.t) };
      }),
    );
    expect(await rt.wh.query(`select big, f from ${table} where i = ${N - 1}`)).toEqual([{ big: 7, f: 2.5 }]);
    if (name === "pglite") {
      // Stored in the order the cell yielded them, whichever way each batch went. (So on Postgres
      // too, in practice, but autovacuum may refresh the free space map of the first batch's
      // pages while the COPY runs, and a later row may then fill an earlier page's gap.)
      expect(await rt.wh.query(`select count(*)::int as n from (select i, row_number() over (order by ctid) - 1 as r from ${table}) x where i <> r`)).toEqual([{ n: 0 }]);
      expect(binaryInto.filter((t) => t.endsWith(`"${big.outputTable}"`)).length).toBeGreaterThan(0);
    }

    const bad = tasks.get("bad")!;
    expect(bad.state).toBe("failed");
    // The message names the node, the rows and the column. The rows before the bad value went in
    // binary; from it on as CSV, in a COPY of its own. Postgres names where that COPY began; PGlite
    // the rows of the COPY that failed (rows 15,001–20,000).
    expect(bad.error!.message).toMatch(
      name === "postgres"
        ? /^node 'bad': writing the rows after row 15000 failed: invalid input syntax for type bigint: "x" \(COPY t_\w+, line 1, column n: "x"; its line 1 is row 15001\)$/
        : /^node 'bad': writing rows 15001–20000 failed: invalid input syntax for type bigint: "x" \(COPY t_\w+, line 1, column n: "x"; its line 1 is row 15001\)$/,
    );
    expect(tasks.get("surrogate")!.error!.message).toBe(
      "node 'surrogate': the cell produced a row whose column 's' holds text that is not valid Unicode (a lone UTF-16 surrogate)",
    );
    // Nothing of the failed attempt stays behind.
    expect(await rt.wh.query(`select to_regclass('"${done.schemaName}"."${bad.outputTable ?? "none"}"') as t`)).toEqual([{ t: null }]);
  });

  it("writes rows of plain values the same whether they go as JSON or as COPY the isolate encoded", async () => {
    // Rows 1–10,000 go as JSON (the first two batches, sent before the writer's answer); the rest
    // are encoded as binary COPY tuples in the isolate itself (bootstrap.ts' encodeRow). Row i's values depend on i % 100 only, so rows loaded each
    // way must be equal; keys come in two orders, and some rows leave a key out or undefined.
    const N = 20_000;
    const valuesOf = `(k) => {
      const v = {
        s: ['a "quoted", comma\\nand line', "", null, "ünïcödé 😀", "back\\\\slash", "tab\\there", "NULL", "\\\\N", undefined, "𝄞 ₤ é"][k % 10],
        big: k % 2 ? Number.MAX_SAFE_INTEGER - k : -Number.MAX_SAFE_INTEGER + k,
        b: k % 3 === 2 ? null : k % 3 === 0,
        f: [0.1, -0, 1e308, 5e-324, -123.456, 1 / 3, k / 4, NaN, -Infinity][k % 9],
        t: [5, "x", true, 1.5, -0, 1e21][k % 6],
        jp: ["text", 12, false, 1.25, null, 'q"uote'][k % 6],
      };
      if (k % 11 === 5) delete v.b;
      return k % 2 ? Object.fromEntries(Object.entries(v).reverse()) : v;
    }`;
    const doc = pipeline(
      [
        {
          id: "plain",
          kind: "js",
          name: "plain",
          config: { code: `const valuesOf = ${valuesOf};\nexport default function* () { for (let i = 0; i < ${N}; i++) yield { i, ...valuesOf(i % 100) }; }`, columns: { jp: "json" } },
        } as PipelineNode,
      ],
      [],
    );
    // Which tables were loaded in binary (PGlite: a COPY per run of batches; Postgres: a stream).
    const binaryInto: string[] = [];
    const { copyBinary, copyBinaryStream } = rt.wh;
    if (copyBinary) rt.wh.copyBinary = (table, columns, parts) => (binaryInto.push(table), copyBinary(table, columns, parts));
    if (copyBinaryStream) rt.wh.copyBinaryStream = (table, columns) => (binaryInto.push(table), copyBinaryStream(table, columns));
    let finished: Awaited<ReturnType<Runtime["wait"]>>;
    try {
      finished = await rt.wait((await rt.start(doc)).id);
    } finally {
      rt.wh.copyBinary = copyBinary;
      rt.wh.copyBinaryStream = copyBinaryStream;
    }
    const { tasks, run: done } = finished;
    const plain = tasks.get("plain")!;
    expect(plain.error).toBeNull();
    expect(plain.rows).toBe(N);
    const table = `"${done.schemaName}"."${plain.outputTable}"`;
    const columns = await rt.wh.query<{ name: string; type: string }>(
      `select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute where attrelid = '${table}'::regclass and attnum > 0 and not attisdropped order by attnum`,
    );
    expect(Object.fromEntries(columns.map((c) => [c.name, c.type]))).toEqual({ i: "bigint", s: "text", big: "bigint", b: "boolean", f: "double precision", t: "text", jp: "jsonb" });
    expect(await rt.wh.query(`select count(*)::int as n, sum(i)::float8 as total from ${table}`)).toEqual([{ n: N, total: (N * (N - 1)) / 2 }]);
    const differing = await rt.wh.query(`select i % 100 as k from ${table} group by 1 having count(distinct row(s, big, b, f, t, jp::text)::text) > 1`);
    expect(differing).toEqual([]);
    const valueOf = new Function(`return ${valuesOf}`)() as (k: number) => Record<string, unknown>;
    const picked = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 12_003, 12_007, 12_008, 12_016, N - 2, N - 1];
    const rows = await rt.wh.query<Record<string, unknown>>(`select i, s, big, b, f, t, jp::text as jp from ${table} where i in (${picked.join(", ")}) order by i`);
    expect(rows).toEqual(
      picked.map((i) => {
        const v = valueOf(i % 100);
        const f = v.f as number;
        return {
          i,
          s: v.s ?? null,
          big: v.big,
          b: v.b ?? null,
          f: Number.isFinite(f) ? (f === 0 ? 0 : f) : null,
          t: String(v.t),
          jp: v.jp === null ? null : JSON.stringify(v.jp),
        };
      }),
    );
    expect(binaryInto.filter((t) => t.endsWith(`"${plain.outputTable}"`)).length).toBeGreaterThan(0);
    // (No check of the stored order here: rows this different in width let the first batch's
    // INSERT put a later row into an earlier page's gap, as docs/runtime.md says it may.)
  });

  it("refuses text a cell spoiled through the isolate's encoder: the database checks its UTF-8", async () => {
    // Past the first two (JSON) batches the isolate encodes the rows; a cell that replaces
    // String.prototype.charCodeAt makes its text bytes anything (here 0xff: not UTF-8). The runner
    // only checks the tuples' shape; the database refuses the text, and the task fails naming it.
    const doc = pipeline(
      [jsNode("spoiled", `export default function* () { for (let i = 0; i < 15_000; i++) { if (i === 10_000) String.prototype.charCodeAt = () => -1; yield { s: "row " + i }; } }`)],
      [],
    );
    const { tasks, run: done } = await rt.wait((await rt.start(doc)).id);
    const spoiled = tasks.get("spoiled")!;
    expect(spoiled.state).toBe("failed");
    expect(spoiled.error!.message).toMatch(/^node 'spoiled': writing (rows \d+–15000|the rows after row \d+) failed: invalid byte sequence for encoding "UTF8": 0xff/);
    expect(await rt.wh.query(`select to_regclass('"${done.schemaName}"."${spoiled.outputTable ?? "none"}"') as t`)).toEqual([{ t: null }]);
  });

  // ------------------------------------------------------------ 11. params

  it("binds typed params and the built-in ones; refuses missing and unknown params", async () => {
    const doc = pipeline(
      [sqlNode("p", "select :n + 1 as m, :label as label, :logical_date as ld, :run_id as rid, pg_typeof(:n)::text as t")],
      [],
      { params: { n: { type: "integer", required: true }, label: { type: "string", default: "hi" } } },
    );
    const logicalDate = new Date("2026-01-02T03:04:05.000Z");
    const run = await rt.start(doc, { params: { n: 41 }, logicalDate });
    const { run: done, tasks } = await rt.wait(run.id);
    expect(tasks.get("p")!.error).toBeNull();
    expect(done.state).toBe("success");
    const [row] = await rt.wh.query<{ m: number; label: string; ld: Date | string; rid: string; t: string }>(`select * from "${done.schemaName}".p`);
    expect(row!.m).toBe(42);
    expect(row!.t).toBe("bigint");
    expect(row!.label).toBe("hi");
    expect(new Date(row!.ld).toISOString()).toBe(logicalDate.toISOString());
    expect(row!.rid).toBe(run.id);

    const refused = async (params: Record<string, unknown>) => {
      try {
        await startRun(db(), { pipelineId: run.pipelineId, params }, rt.sql);
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        return (error as Error).message;
      }
      throw new Error("the run was started");
    };
    expect(await refused({})).toMatch(/param 'n' is required/);
    expect(await refused({ n: 1, nope: 2 })).toMatch(/unknown param 'nope'/);
    expect(await refused({ n: "forty" })).toMatch(/param 'n'/);
    expect(await refused({ n: 1.5 })).toMatch(/param 'n'/);
    const runs = await rowsOf<{ n: number }>(db(), sql`select count(*)::int as n from runs where pipeline_id = ${run.pipelineId}`);
    expect(runs[0]!.n).toBe(1);
  });
});
