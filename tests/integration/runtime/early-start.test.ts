/**
 * On Postgres a completion's result (with the next task it claimed) arrives before its commit
 * is durable, and the worker starts a task whose work stays inside its run at once
 * (`preparedRowsBeforeCommit`, `ClaimNext.beforeCommit`). These tests hold a commit back or make
 * it fail with a deferred constraint trigger on task_runs (it runs at COMMIT), and check that:
 * a sql task starts during the commit and a notify waits for it; a heartbeat or a completion of
 * a task started early waits for its claim; a task whose claim fails at commit is stopped, its
 * result dropped, and the run goes on with a new execution writing a table of its own.
 * (PGlite commits at once: there is nothing to overlap there.)
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineFile, PipelineNode } from "@/server/pipeline";
import { isConnectionLoss } from "@/server/runtime/errors";
import { rowsOf } from "@/server/runtime/sql";
import type { TaskReport } from "@/server/runtime/worker";
import { openRuntime, type Runtime } from "./harness";

const hasPostgres = !!process.env.TEST_DATABASE_URL;
const sqlNode = (id: string, text: string, extra: Partial<PipelineNode> = {}): PipelineNode =>
  ({ id, kind: "sql", name: id, config: { sql: text }, ...extra }) as PipelineNode;
/** A pipeline whose nodes run one after another, in the order given. */
const chain = (name: string, nodes: PipelineNode[], defaults?: PipelineFile["defaults"]): PipelineFile => ({
  format: "tributary/v1",
  name,
  ...(defaults ? { defaults } : {}),
  nodes,
  edges: nodes.slice(1).map((n, i) => ({ from: nodes[i]!.id, to: n.id })),
});

describe.skipIf(!hasPostgres)("tasks started before their claim is durable (Postgres)", () => {
  let rt: Runtime;
  const reports: TaskReport[] = [];
  let hook: http.Server;
  let hookUrl = "";
  const hookHits: number[] = [];

  beforeAll(async () => {
    // A heartbeat every 2 ms: one lands in the window between a claim's result and its commit.
    rt = await openRuntime("postgres", { heartbeatMs: 2, concurrency: 1 });
    rt.worker.onTask((r) => reports.push(r));
    hook = http.createServer((req, res) => {
      hookHits.push(Date.now());
      req.resume();
      req.on("end", () => res.end("ok"));
    });
    await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    await rt.app.db.execute(sql.raw(`
      create sequence test_commit_failures;
      create table test_commit_rules (node_id text primary key, action text not null);
      create function test_commit_rule() returns trigger language plpgsql as $$
      declare v_action text;
      begin
        if new.state <> 'running' or old.state = 'running' then
          return null; -- only a claim (a heartbeat renews a running row)
        end if;
        select action into v_action from test_commit_rules where node_id = new.node_id;
        if v_action = 'delay' then
          perform pg_sleep(0.4);
        elsif v_action = 'fail_once' then
          if nextval('test_commit_failures') = 1 then
            raise exception 'injected: the commit that claims % fails', new.node_id;
          end if;
        end if;
        return null;
      end $$;
      create constraint trigger test_commit_rule after update on task_runs deferrable initially deferred
        for each row execute function test_commit_rule();`));
  });
  afterAll(async () => {
    await rt?.close();
    hook?.close();
  });

  const rule = (nodeId: string, action: "delay" | "fail_once") => rt.app.db.execute(sql`insert into test_commit_rules values (${nodeId}, ${action})`);

  it("a sql task starts while the commit that claims it is made durable; a notify waits for it", async () => {
    await rule("early", "delay");
    await rule("tell", "delay");
    const doc = chain("early_start", [
      sqlNode("first", "select 1 as x"),
      // Its own clock, when its statement runs (the warehouse is on the same server).
      sqlNode("early", "select clock_timestamp() as at from first"),
      { id: "tell", kind: "notify", name: "tell", config: { channel: "webhook", url: hookUrl } } as PipelineNode,
    ]);
    const run = await rt.start(doc);
    const { run: done, tasks } = await rt.wait(run.id);
    expect(done.state).toBe("success");
    // started_at is the claiming transaction's start; its commit then takes ≥ 0.4 s (the trigger).
    const early = tasks.get("early")!;
    const [{ at } = { at: new Date(0) }] = await rt.wh.query<{ at: Date }>(`select at from "${run.schemaName}"."${early.outputTable}"`);
    expect(new Date(at).getTime() - early.startedAt!.getTime()).toBeLessThan(350);
    const tell = tasks.get("tell")!;
    expect(hookHits).toHaveLength(1);
    expect(hookHits[0]! - tell.startedAt!.getTime()).toBeGreaterThanOrEqual(380);
  });

  it("a task started early records its result only once its claim is committed", async () => {
    reports.length = 0;
    // Three of the claims take ≥ 0.4 s to commit: beats are sent meanwhile, for the other tasks only.
    for (const id of ["s3", "s7", "s11"]) await rule(id, "delay");
    const nodes = Array.from({ length: 40 }, (_, i) => sqlNode(`s${i}`, i ? `select x + 1 as x from s${i - 1}` : "select 1 as x"));
    const run = await rt.start(chain("chain", nodes, { retries: 0 }));
    const { run: done, tasks, attempts } = await rt.wait(run.id);
    expect(done.state).toBe("success");
    expect(reports.filter((r) => r.state !== "success")).toEqual([]);
    expect(attempts).toHaveLength(40);
    const [{ x } = { x: -1 }] = await rt.wh.query<{ x: number }>(`select x from "${run.schemaName}"."${tasks.get("s39")!.outputTable}"`);
    expect(Number(x)).toBe(40);
  });

  it("a connection that breaks during a completion's commit is not reused: the process goes on, the run succeeds", async () => {
    reports.length = 0;
    await rule("u1", "delay");
    const doc = chain("commit_breaks", [sqlNode("u0", "select 1 as x"), sqlNode("u1", "select x + 1 as x from u0"), sqlNode("u2", "select x + 1 as x from u1")], { retries: 0 });
    // While the commit that claims u1 sleeps in the trigger, its backend is terminated.
    const admin = postgres(process.env.TEST_DATABASE_URL!, { max: 1, onnotice: () => {} });
    const appDb = new URL((rt.app as unknown as { url: string }).url).pathname.slice(1);
    let terminated = 0;
    const killer = (async () => {
      const deadline = Date.now() + 20_000;
      while (terminated === 0 && Date.now() < deadline) {
        const [row] = await admin<{ n: number }[]>`select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
                                                   where datname = ${appDb} and wait_event = 'PgSleep'`;
        terminated = row?.n ?? 0;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      const run = await rt.start(doc);
      await killer;
      expect(terminated).toBe(1);
      // (A query of the test's own polling may hear of the terminated connection too: poll again.)
      let result: Awaited<ReturnType<Runtime["wait"]>> | undefined;
      for (let i = 0; !result && i < 3; i++) result = await rt.wait(run.id).catch((e: unknown) => (isConnectionLoss(e) ? undefined : Promise.reject(e)));
      const { run: done, tasks, attempts } = result!;
      expect(done.state).toBe("success");
      // u0's completion was lost with its connection: a new attempt (a lost connection uses up no retry).
      expect(attempts.filter((t) => t.nodeId === "u0").map((t) => t.state)).toEqual(["failed", "success"]);
      const [{ x } = { x: -1 }] = await rt.wh.query<{ x: number }>(`select x from "${run.schemaName}"."${tasks.get("u2")!.outputTable}"`);
      expect(Number(x)).toBe(3);
      // The pool still works: another run, on the same connections.
      const again = await rt.start(chain("after_break", [sqlNode("v0", "select 1 as x"), sqlNode("v1", "select x + 1 as x from v0")]));
      expect((await rt.wait(again.id)).run.state).toBe("success");
    } finally {
      await admin.end();
    }
  });

  it("a task whose claim fails at commit is stopped and its result dropped; a new execution writes its own table", async () => {
    reports.length = 0;
    await rule("b", "fail_once");
    const doc = chain("claim_fails", [sqlNode("a", "select 1 as x"), sqlNode("b", "select x + 1 as x from a")], { retries: 1, retryDelaySeconds: 0 });
    const run = await rt.start(doc);
    const { run: done, tasks, attempts } = await rt.wait(run.id);
    expect(done.state).toBe("success");
    // a's completion (which claimed b) was rolled back: a failed that attempt and ran again.
    expect(attempts.filter((t) => t.nodeId === "a").map((t) => t.state)).toEqual(["failed", "success"]);
    expect(attempts.filter((t) => t.nodeId === "a")[0]!.error?.message).toMatch(/injected: the commit that claims b fails/);
    // b, started early on the failed claim, was stopped and reported lost; its one row ran again.
    const b = reports.filter((r) => r.task.nodeId === "b");
    expect(b.map((r) => r.state)).toEqual(["lost", "success"]);
    expect(attempts.filter((t) => t.nodeId === "b")).toHaveLength(1);
    expect(b[0]!.task.id).toBe(b[1]!.task.id);
    expect(b[0]!.task.tag).not.toBe(b[1]!.task.tag);
    expect(tasks.get("b")!.outputTable).toMatch(new RegExp(`^t_[0-9a-f]{32}_${b[1]!.task.tag}$`));
    const [{ x } = { x: -1 }] = await rt.wh.query<{ x: number }>(`select x from "${run.schemaName}"."${tasks.get("b")!.outputTable}"`);
    expect(Number(x)).toBe(2);
    // The stopped execution's table (if it got that far) is gone; only b's recorded table is left of b.
    const left = await rt.wh.query<{ name: string }>(`select tablename as name from pg_tables where schemaname = $1 and tablename like $2`, [run.schemaName, `t_${b[0]!.task.id.replace(/-/g, "")}%`]);
    expect(left.map((t) => t.name)).toEqual([tasks.get("b")!.outputTable]);
    // The events tell one claim of b (the failed one was never committed).
    const started = await rowsOf<{ n: number }>(rt.app.db, sql`select count(*)::int as n from run_events where run_id = ${run.id} and type = 'TASK_STARTED' and payload->>'node' = 'b'`);
    expect(started[0]!.n).toBe(1);
  });
});
