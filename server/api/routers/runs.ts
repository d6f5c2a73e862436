/** runs: start, startDraft, cancel, retry, rerunFrom, list, byId, events (live, over SSE), logs, preview. */
import { tracked, TRPCError } from "@trpc/server";
import { and, asc, desc, eq, gt } from "drizzle-orm";
import { z } from "zod";
import { runEvents, runs, taskLogs } from "@/db/schema";
import { ident } from "@/db/warehouse";
import { nameSchema, pipelineDocumentInput } from "@/server/pipeline";
import { pruneDraftRuns, startDraftRun } from "@/server/runtime/draft-run";
import { publishRunOutputs } from "@/server/runtime/executor";
import { columnsOf } from "@/server/runtime/outputs";
import {
  allAttempts, cancelRun, getRunRow, latestTasks, nodeStateOf, planOfRun, rerunFrom, retryFailed, startRun, type RunRow,
} from "@/server/runtime/run-store";
import { TERMINAL_RUN_STATES } from "@/server/runtime/states";
import { publicProcedure, router } from "../trpc";
import type { Context } from "../context";

const runId = z.uuid({ error: "not a run id" });

function runtimeOf(ctx: Context) {
  if (!ctx.runtime) throw new TRPCError({ code: "PRECONDITION_FAILED", message: "this server has no runtime" });
  return ctx.runtime;
}

function runView(run: RunRow) {
  return {
    id: run.id, pipelineId: run.pipelineId, version: run.version, trigger: run.trigger, state: run.state, params: run.params,
    logicalDate: run.logicalDate.toISOString(), createdAt: run.createdAt.toISOString(),
    startedAt: run.startedAt?.toISOString() ?? null, finishedAt: run.finishedAt?.toISOString() ?? null,
    outputsDroppedAt: run.outputsDroppedAt?.toISOString() ?? null,
  };
}

export const runsRouter = router({
  start: publicProcedure
    .input(z.object({ pipelineId: z.uuid(), version: z.int().min(1).optional(), params: z.record(nameSchema, z.unknown()).optional() }))
    .mutation(async ({ ctx, input }) => {
      const rt = runtimeOf(ctx);
      const run = await startRun(ctx.db, input, ctx.sql);
      rt.wake();
      return runView(run);
    }),

  /**
   * Run one node of the editor's (maybe unsaved) document in a draft run: the node and
   * its upstream, reusing unchanged upstream outputs of the previous draft run. Not listed
   * among runs. Watch it with `events` and read its output with `preview`.
   */
  startDraft: publicProcedure
    .input(z.object({
      pipelineId: z.uuid(),
      document: pipelineDocumentInput,
      nodeId: z.string().min(1),
      params: z.record(nameSchema, z.unknown()).optional(),
      fresh: z.boolean().optional(),
    }))
    .mutation(async ({ ctx, input }) => {
      const rt = runtimeOf(ctx);
      const run = await startDraftRun(ctx.db, { pipelineId: input.pipelineId, document: input.document, node: input.nodeId, params: input.params, fresh: input.fresh }, ctx.sql);
      rt.wake();
      void pruneDraftRuns(ctx.db, rt.wh, input.pipelineId).catch((error: unknown) => console.warn(`pruning old draft runs failed: ${(error as Error).message}`));
      return runView(run);
    }),

  cancel: publicProcedure.input(z.object({ runId })).mutation(async ({ ctx, input }) => runView(await cancelRun(ctx.db, input.runId))),

  retry: publicProcedure.input(z.object({ runId })).mutation(async ({ ctx, input }) => {
    const run = await retryFailed(ctx.db, input.runId);
    runtimeOf(ctx).wake();
    return runView(run);
  }),

  rerunFrom: publicProcedure.input(z.object({ runId, nodeId: z.string().min(1) })).mutation(async ({ ctx, input }) => {
    const run = await rerunFrom(ctx.db, input.runId, input.nodeId);
    runtimeOf(ctx).wake();
    return runView(run);
  }),

  list: publicProcedure
    .input(z.object({ pipelineId: z.uuid(), limit: z.int().min(1).max(500).optional() }))
    .query(async ({ ctx, input }) => {
      const rows = await ctx.db.select().from(runs)
        .where(and(eq(runs.pipelineId, input.pipelineId), eq(runs.draft, false)))
        .orderBy(desc(runs.createdAt)).limit(input.limit ?? 50);
      return rows.map((r) => runView({ ...r, filesDir: r.filesDir ?? null } as RunRow));
    }),

  /** The run with each node's state, attempts and rows (forEach items summarised). */
  byId: publicProcedure.input(z.object({ runId })).query(async ({ ctx, input }) => {
    const run = await getRunRow(ctx.db, input.runId);
    const plan = await planOfRun(ctx.db, run);
    const latest = await latestTasks(ctx.db, run.id);
    const attempts = await allAttempts(ctx.db, run.id);
    const nodes = [...plan.nodes.values()].map((pn) => {
      const mine = latest.filter((t) => t.nodeId === pn.node.id);
      const own = mine.find((t) => t.mapIndex === -1);
      const items = own?.result?.items !== undefined ? mine.filter((t) => t.mapIndex >= 0 && t.mapIndex < own.result!.items!) : [];
      return {
        nodeId: pn.node.id,
        name: pn.node.name,
        state: nodeStateOf(mine),
        attempts: attempts.filter((t) => t.nodeId === pn.node.id && t.mapIndex === -1 && t.startedAt).length,
        rows: items.length ? items.reduce((a, t) => a + (t.rows ?? 0), 0) : (own?.rows ?? null),
        error: (items.find((t) => t.error) ?? own)?.error ?? null,
        taskRunId: own?.id ?? null,
        items: items.map((t) => ({ mapIndex: t.mapIndex, state: t.state, attempt: t.attempt, rows: t.rows, error: t.error, taskRunId: t.id })),
        startedAt: own?.startedAt?.toISOString() ?? null,
        finishedAt: own?.finishedAt?.toISOString() ?? null,
      };
    });
    return {
      run: runView(run),
      nodes,
      attempts: attempts.map((t) => ({
        id: t.id, nodeId: t.nodeId, mapIndex: t.mapIndex, attempt: t.attempt, state: t.state, rows: t.rows, error: t.error,
        startedAt: t.startedAt?.toISOString() ?? null, finishedAt: t.finishedAt?.toISOString() ?? null,
      })),
    };
  }),

  /**
   * The run's events as they happen (SSE): everything after `lastEventId`, then new
   * ones as they are appended, until the run has finished. Reconnecting clients
   * resume from the last id they saw (tracked events).
   */
  events: publicProcedure
    .input(z.object({ runId, lastEventId: z.string().nullish() }))
    .subscription(async function* ({ ctx, input, signal }) {
      let after = Number(input.lastEventId ?? 0) || 0;
      for (;;) {
        const batch = await ctx.db.select().from(runEvents)
          .where(and(eq(runEvents.runId, input.runId), gt(runEvents.id, after)))
          .orderBy(asc(runEvents.id)).limit(500);
        for (const e of batch) {
          after = e.id;
          yield tracked(String(e.id), { id: e.id, type: e.type, taskRunId: e.taskRunId, payload: e.payload, at: e.createdAt.toISOString() });
        }
        if (batch.length === 500) continue;
        const run = await getRunRow(ctx.db, input.runId);
        if (TERMINAL_RUN_STATES.has(run.state) && batch.length === 0) return;
        if (signal?.aborted) return;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }),

  logs: publicProcedure
    .input(z.object({ taskRunId: z.uuid(), limit: z.int().min(1).max(5000).optional() }))
    .query(async ({ ctx, input }) => {
      const rows = await ctx.db.select().from(taskLogs).where(eq(taskLogs.taskRunId, input.taskRunId)).orderBy(asc(taskLogs.id)).limit(input.limit ?? 1000);
      return rows.map((l) => ({ level: l.level, message: l.message, at: l.createdAt.toISOString() }));
    }),

  /** A page of a node's output rows, its total and its column types. Large outputs never travel whole. */
  preview: publicProcedure
    .input(z.object({ runId, node: nameSchema, offset: z.int().min(0).optional(), limit: z.int().min(1).max(1000).optional() }))
    .query(async ({ ctx, input }) => {
      const { wh } = runtimeOf(ctx);
      const run = await getRunRow(ctx.db, input.runId);
      const published = await publishRunOutputs({ db: ctx.db, wh }, run, input.node);
      if (!published.includes(input.node)) {
        throw new TRPCError({ code: "NOT_FOUND", message: `node '${input.node}' has no output in run ${run.id} (it has not succeeded, or it produces no table)` });
      }
      const view = `${ident(run.schemaName)}.${ident(input.node)}`;
      const columns = await columnsOf(wh, run.schemaName, input.node);
      const [{ total } = { total: 0 }] = await wh.query<{ total: number }>(`select count(*)::int as total from ${view}`);
      // Pages in the stored order: the warehouse's sessions scan from a table's first page
      // (synchronize_seqscans off, db/warehouse.ts), so a page at an offset holds the rows between
      // the pages above and below it.
      const rows = await wh.query(`select * from ${view} offset ${input.offset ?? 0} limit ${input.limit ?? 100}`);
      return { columns, total, offset: input.offset ?? 0, rows };
    }),
});
