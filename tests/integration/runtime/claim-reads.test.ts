/**
 * A claim reads the ready index in claim order: its cost does not grow with the number of
 * queued tasks. Measured by what the claiming transaction itself read of task_runs
 * (pg_stat_xact_user_tables, counts of this session: no timing), on a fresh table
 * without statistics — as every table is on PGlite, which runs no autovacuum.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db, DatabaseHandle } from "@/db/client";
import { createPipeline } from "@/db/pipeline-store";
import { loadSqlAnalyzer } from "@/server/pipeline/sql-references";
import { claimTasks, completeTask, startRun } from "@/server/runtime/run-store";
import { rowsOf } from "@/server/runtime/sql";
import { targets } from "../databases";

const QUEUED = 2000;

describe.each(targets)("claims on $name", (target) => {
  let handle: DatabaseHandle;
  beforeAll(async () => {
    handle = await target.open();
    const analyzer = await loadSqlAnalyzer();
    const nodes = Array.from({ length: QUEUED }, (_, i) => ({ id: `t${i}`, kind: "sql" as const, name: `t_${i}`, config: { sql: `select ${i} as x` } }));
    // Priorities: the last node first, then the others (created together: in id order).
    nodes[QUEUED - 1] = { ...nodes[QUEUED - 1]!, priority: 5 } as (typeof nodes)[number];
    const saved = await createPipeline(handle.db, { format: "tributary/v1", name: "many_ready", nodes, edges: [] }, "created", { sql: analyzer });
    await startRun(handle.db, { pipelineId: saved.id }, analyzer);
  });
  afterAll(async () => handle?.close());

  /**
   * In one transaction: `fn`, and the rows of task_runs it read (through indexes and scans): the
   * session's not yet reported counts after it, less those before it.
   */
  async function readsOf<T>(fn: (tx: Db) => Promise<T>): Promise<{ result: T; rowsRead: number }> {
    return handle.db.transaction(async (tx) => {
      const t = tx as unknown as Db;
      const count = async () => {
        const [stats] = await rowsOf<{ n: number }>(
          t,
          sql`select (coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0))::int as n from pg_stat_xact_user_tables where relname = 'task_runs'`,
        );
        return stats?.n ?? 0;
      };
      const before = await count();
      const result = await fn(t);
      return { result, rowsRead: (await count()) - before };
    });
  }

  it(`claims in priority order reading a few rows of task_runs, not the ${QUEUED} queued`, async () => {
    const first = await readsOf((tx) => claimTasks(tx, "w1", 30, 1));
    expect(first.result.map((t) => t.nodeId)).toEqual([`t${QUEUED - 1}`]);
    expect(first.rowsRead).toBeLessThan(50);
    const expected = (n: number) =>
      rowsOf<{ nodeId: string }>(handle.db, sql`select node_id as "nodeId" from task_runs where state = 'queued' order by priority desc, created_at, id limit ${n}`);
    const two = (await expected(2)).map((r) => r.nodeId);
    const next = await readsOf((tx) => claimTasks(tx, "w1", 30, 2));
    expect(next.result.map((t) => t.nodeId).sort()).toEqual(two.sort());
    expect(next.rowsRead).toBeLessThan(50);
  });

  it("a completion that claims the next task reads a few rows too", async () => {
    const [task] = await claimTasks(handle.db, "w1", 30, 1);
    const [{ nodeId: following } = { nodeId: "" }] = await rowsOf<{ nodeId: string }>(
      handle.db,
      sql`select node_id as "nodeId" from task_runs where state = 'queued' order by priority desc, created_at, id limit 1`,
    );
    const done = await readsOf((tx) => completeTask(tx, task!, { rows: 1, outputTable: "t_x" }, { workerId: "w1", leaseSeconds: 30, max: 1 }));
    expect(done.result.claimed.map((t) => t.nodeId)).toEqual([following]);
    expect(done.rowsRead).toBeLessThan(100);
  });
});
