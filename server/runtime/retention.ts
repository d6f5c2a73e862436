/**
 * Retention of run outputs (DESIGN §2: "old run schemas are dropped by a retention
 * setting"). A finished run's outputs — its warehouse schema — are kept while it is one of
 * the newest TRIBUTARY_KEEP_RUNS finished runs of its pipeline; past that the schema is
 * dropped and the run is marked (`runs.outputs_dropped_at`). Its history stays: states,
 * attempts, events, logs. Such a run can no longer be previewed, queried, retried or rerun
 * from a node; the error says so. Draft runs have their own rule (draft-run.ts).
 */
import { sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { ident, type Warehouse } from "@/db/warehouse";
import { ValidationError } from "@/server/pipeline";
import type { RunRow } from "./run-store";
import { rowsOf } from "./sql";

/** Finished runs per pipeline whose outputs are kept, unless TRIBUTARY_KEEP_RUNS says otherwise. */
export const DEFAULT_KEEP_RUNS = 20;

/** TRIBUTARY_KEEP_RUNS: a whole number ≥ 1, or 0 for "keep every run's outputs" (null). */
export function keepRunsSetting(env: Record<string, string | undefined> = process.env): number | null {
  const raw = env.TRIBUTARY_KEEP_RUNS?.trim();
  if (!raw) return DEFAULT_KEEP_RUNS;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new Error(`TRIBUTARY_KEEP_RUNS must be a whole number (finished runs per pipeline whose outputs are kept; 0 keeps all), not '${raw}'`);
  }
  const n = Number(raw);
  return n === 0 ? null : n;
}

/** Reading or reopening a run whose outputs retention dropped (a ValidationError: the API answers BAD_REQUEST). */
export class OutputsDroppedError extends ValidationError {}

/** The error for reading or reopening a run whose outputs retention dropped. */
export function outputsDropped(run: Pick<RunRow, "id" | "outputsDroppedAt">): OutputsDroppedError {
  return new OutputsDroppedError([
    {
      code: "schema",
      severity: "error",
      path: ["run"],
      message:
        `the outputs of run ${run.id} were dropped by retention on ${run.outputsDroppedAt!.toISOString()} ` +
        `(TRIBUTARY_KEEP_RUNS keeps those of the newest finished runs of each pipeline); start a new run`,
    },
  ]);
}

/**
 * Drop the outputs of finished runs beyond the newest `keep` of their pipeline (at most
 * `limit` runs per call; the worker calls it periodically). Each run is marked first, in a
 * statement that only marks a run still finished — reopening (retry, rerun) locks the run's
 * row and refuses a marked one, so the two never cross — and its schema dropped after.
 * Returns the runs whose outputs were dropped. A schema left behind by a sweep that stopped
 * between the mark and the drop (its process killed, the warehouse gone) is dropped by a
 * later sweep: `dropLeftovers`.
 */
export async function pruneRunOutputs(db: Db, wh: Warehouse, keep: number, limit = 50): Promise<string[]> {
  // Runs are dropped oldest first, so the newest `keep` finished runs are among those not yet
  // dropped: only they are numbered (runs_retention_idx keeps that set small).
  const old = await rowsOf<{ id: string; schemaName: string }>(
    db,
    sql`select id, schema_name as "schemaName" from (
          select id, schema_name, row_number() over (partition by pipeline_id order by created_at desc, id desc) as n
            from runs where not draft and outputs_dropped_at is null and state in ('success', 'failed', 'canceled')) r
        where n > ${keep}
        order by n desc limit ${limit}`,
  );
  const dropped: string[] = [];
  for (const run of old) {
    const [marked] = await rowsOf<{ id: string }>(
      db,
      sql`update runs set outputs_dropped_at = now()
           where id = ${run.id} and outputs_dropped_at is null and state in ('success', 'failed', 'canceled') returning id`,
    );
    if (!marked) continue; // reopened (or marked by another worker) meanwhile
    try {
      if (run.schemaName) await wh.query(`drop schema if exists ${ident(run.schemaName)} cascade`);
    } catch (error) {
      // Not dropped: unmark it, so the next sweep tries again (the run's outputs are still whole).
      await db.execute(sql`update runs set outputs_dropped_at = null where id = ${run.id}`).catch(() => {});
      throw error;
    }
    dropped.push(run.id);
  }
  await dropLeftovers(db, wh, limit);
  return dropped;
}

/**
 * Schemas in the warehouse of runs already marked as dropped: the mark committed, the drop
 * never happened (or failed and the unmark failed too). Dropped now, at most `limit` a call.
 */
async function dropLeftovers(db: Db, wh: Warehouse, limit: number): Promise<void> {
  const schemas = await wh.query<{ name: string }>(`select nspname as name from pg_namespace where nspname like 'run\_%' order by oid`);
  if (schemas.length === 0) return;
  const names = schemas.map((r) => r.name);
  const leftovers = await rowsOf<{ schemaName: string }>(
    db,
    sql`select schema_name as "schemaName" from runs
         where schema_name in (select jsonb_array_elements_text(${JSON.stringify(names)}::text::jsonb)) and outputs_dropped_at is not null and not draft
         limit ${limit}`,
  );
  for (const { schemaName } of leftovers) await wh.query(`drop schema if exists ${ident(schemaName)} cascade`);
}
