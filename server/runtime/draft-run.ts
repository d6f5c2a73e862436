/**
 * Draft runs: run one node of a document that may not be saved (the editor's
 * "Run cell", the assistant's dry runs). Only the node and its upstream closure
 * run; unchanged upstream outputs of an earlier draft run of the same pipeline
 * are reused instead of computed again; side effects (sink.table, notify) never
 * run in a draft. Draft runs are not listed as runs and do not count against
 * maxActiveRuns; only the newest DRAFT_RUNS_KEPT per pipeline are kept.
 */
import { createHash } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { NotFoundError } from "@/db/errors";
import { ident, type Warehouse } from "@/db/warehouse";
import { pipelines } from "@/db/schema";
import {
  ancestors, canonicalJson, isError, resolveNodeSettings, topologicalOrder, validate, ValidationError,
  type PipelineFile, type PipelineNode, type Problem,
} from "@/server/pipeline";
import type { SqlAnalyzer } from "@/server/pipeline/sql-references";
import type { RunEvent } from "./events";
import { runSchemaName } from "./outputs";
import {
  appendEvents, getRunRow, nodeStateOf, promoteRuns, resolveParams, RUN_COLUMNS, type RunRow, type TaskRow,
} from "./run-store";
import { rowsOf } from "./sql";

/** Kinds that act outside the run (write tables, send messages): never run in a draft. */
export const SIDE_EFFECT_KINDS: ReadonlySet<string> = new Set(["sink.table", "notify"]);

/** The hidden pipeline that holds draft runs of documents saved nowhere (it has no versions, so no list shows it). */
export const SCRATCH_PIPELINE = "_drafts";

export interface DraftRunInput {
  /** The pipeline the document belongs to; none: the scratch pipeline. */
  pipelineId?: string;
  document: PipelineFile;
  /** The node to run (its id, or its name). */
  node: string;
  params?: Record<string, unknown>;
  /** Sources stop after this many rows (a dry run on sample data). */
  sampleRows?: number;
  /** Compute every node again, reusing nothing. */
  fresh?: boolean;
  filesDir?: string;
}

/** The node of `doc` named by id or name, or a ValidationError naming what was asked. */
function targetNode(doc: PipelineFile, wanted: string): PipelineNode {
  const node = doc.nodes.find((n) => n.id === wanted) ?? doc.nodes.find((n) => n.name === wanted);
  if (!node) {
    throw new ValidationError([{ code: "schema", severity: "error", path: ["nodes"], message: `no node '${wanted}' in the document (nodes: ${doc.nodes.map((n) => n.name).join(", ") || "none"})` }]);
  }
  if (SIDE_EFFECT_KINDS.has(node.kind)) {
    throw new ValidationError([{
      code: "schema", severity: "error", path: ["nodes", doc.nodes.indexOf(node), "kind"],
      message: `node '${node.name}' (${node.kind}) acts outside the run, so it does not run as a cell; run the pipeline`,
    }]);
  }
  return node;
}

/**
 * The document cut down to `target` and everything upstream of it, and its problems
 * with paths pointing into the full document (so the editor marks the right node).
 */
export function closureOf(doc: PipelineFile, target: PipelineNode, analyzer?: SqlAnalyzer): { sub: PipelineFile; errors: Problem[] } {
  const keep = ancestors(target.id, doc.edges);
  const nodes = doc.nodes.filter((n) => keep.has(n.id));
  const edges = doc.edges.filter((e) => keep.has(e.from) && keep.has(e.to));
  const sub: PipelineFile = { ...doc, nodes, edges };
  const nodeIndex = nodes.map((n) => doc.nodes.indexOf(n));
  const edgeIndex = edges.map((e) => doc.edges.indexOf(e));
  const errors = validate(sub, { sql: analyzer }).filter(isError).map((p) => {
    const [head, i, ...rest] = p.path;
    if (head === "nodes" && typeof i === "number") return { ...p, path: ["nodes", nodeIndex[i] ?? i, ...rest] };
    if (head === "edges" && typeof i === "number") return { ...p, path: ["edges", edgeIndex[i] ?? i, ...rest] };
    return p;
  });
  return { sub, errors };
}

/**
 * A fingerprint per node: what it computes (kind, name, config, resolved settings,
 * forEach), what it reads (its upstream's fingerprints, by edge), the params and the sample
 * size. Where
 * it sits on the canvas and its description do not count.
 */
export function fingerprints(doc: PipelineFile, params: Record<string, unknown>, sampleRows: number | null = null): Map<string, string> {
  const byId = new Map(doc.nodes.map((n) => [n.id, n]));
  const out = new Map<string, string>();
  for (const id of topologicalOrder(doc.nodes, doc.edges)) {
    const node = byId.get(id)!;
    const { position: _position, description: _description, ...what } = node as PipelineNode & { position?: unknown; description?: unknown };
    const upstream = doc.edges.filter((e) => e.to === id).map((e) => `${out.get(e.from)}:${e.branch ?? ""}`).sort();
    const text = canonicalJson({ what, settings: resolveNodeSettings(doc, node), upstream, params, sampleRows });
    out.set(id, createHash("sha256").update(text).digest("hex").slice(0, 32));
  }
  return out;
}

/** The scratch pipeline's id, made on first use. */
export async function scratchPipelineId(db: Db): Promise<string> {
  const [row] = await rowsOf<{ id: string }>(
    db,
    sql`insert into pipelines (name, description, current_version, scratch) values (${SCRATCH_PIPELINE}, 'draft runs of unsaved documents', 0, true)
        on conflict (name) do update set scratch = true returning id`,
  );
  return row!.id;
}

/** A stored output table name as a reference that stays valid from another run's schema. */
function portable(schema: string, table: string): string {
  return table.includes(".") ? table : `${schema}.${table}`;
}

/**
 * Start a draft run of one node.
 *
 * 1. The target node and its upstream closure; that sub-document must validate
 *    (problems point into the full document). Params resolve as for a run.
 * 2. Fingerprints of the closure; unless `fresh`, the newest successful draft
 *    output of this pipeline with an equal fingerprint is reused for each upstream
 *    node (the target always runs).
 * 3. One transaction: the run (with its document), reused tasks as succeeded (their
 *    tables referenced where they are), side-effect nodes skipped, the rest pending.
 * 4. The run starts at once (drafts do not wait for maxActiveRuns).
 */
export async function startDraftRun(db: Db, input: DraftRunInput, analyzer?: SqlAnalyzer): Promise<RunRow> {
  let pipelineId = input.pipelineId;
  let version = 0;
  if (pipelineId) {
    const [p] = await db.select().from(pipelines).where(eq(pipelines.id, pipelineId));
    if (!p) throw new NotFoundError(`no pipeline with id ${pipelineId}`);
    pipelineId = p.id; // as stored (lower case): promoteRuns's lock is keyed by it
    version = p.currentVersion;
  } else {
    pipelineId = await scratchPipelineId(db);
  }
  const target = targetNode(input.document, input.node);
  const { sub, errors } = closureOf(input.document, target, analyzer);
  if (errors.length) throw new ValidationError(errors);
  const params = resolveParams(sub, input.params ?? {});
  const prints = fingerprints(sub, params, input.sampleRows ?? null);
  const reused = input.fresh ? new Map<string, ReusableRow[]>() : await reusableOutputs(db, pipelineId, prints, target.id);

  const runId = crypto.randomUUID();
  const schema = runSchemaName(runId);
  await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    await rowsOf<RunRow>(
      t,
      sql`insert into runs (id, pipeline_id, version, trigger, logical_date, params, state, schema_name, draft, files_dir, document, sample_rows)
          values (${runId}, ${pipelineId}, ${version}, 'manual', ${new Date().toISOString()}, ${JSON.stringify(params)}::text::jsonb,
                  'queued', ${schema}, true, ${input.filesDir ?? null}, ${JSON.stringify(sub)}::text::jsonb, ${input.sampleRows ?? null})
          returning ${RUN_COLUMNS}`,
    );
    const values = [];
    const events: RunEvent[] = [{ runId, type: "RUN_QUEUED", payload: { version, trigger: "manual", params, draft: true, node: target.id } }];
    for (const node of sub.nodes) {
      const settings = resolveNodeSettings(sub, node);
      const fp = prints.get(node.id)!;
      const old = reused.get(node.id);
      if (old) {
        for (const r of old) {
          const table = r.outputTable ? portable(r.schemaName, r.outputTable) : null;
          values.push(sql`(${runId}, ${node.id}, ${r.mapIndex}, 1, 'success', ${settings.pool}, ${settings.priority}, ${fp}, ${table},
                          ${r.rows}, ${r.result ? JSON.stringify(r.result) : null}::text::jsonb, ${r.item ? JSON.stringify(r.item) : null}::text::jsonb, now(), now())`);
        }
        events.push({ runId, type: "TASK_SUCCEEDED", payload: { node: node.id, reusedFrom: old[0]!.runId, rows: old.find((r) => r.mapIndex === -1)?.rows ?? null } });
      } else {
        const state = SIDE_EFFECT_KINDS.has(node.kind) ? "skipped" : "pending";
        values.push(sql`(${runId}, ${node.id}, -1, 1, ${state}, ${settings.pool}, ${settings.priority}, ${fp}, null, null, null, null, null, null)`);
        if (state === "skipped") events.push({ runId, type: "TASK_SKIPPED", payload: { node: node.id, reason: "side effects do not run in a draft run" } });
      }
    }
    await t.execute(sql`insert into task_runs (run_id, node_id, map_index, attempt, state, pool, priority, fingerprint, output_table, rows, result, item, started_at, finished_at)
                        values ${sql.join(values, sql`, `)}`);
    await appendEvents(t, events);
  });
  await promoteRuns(db, pipelineId, 1);
  return getRunRow(db, runId);
}

/** A reusable task row, with the schema of the run that holds its output. */
type ReusableRow = TaskRow & { fingerprint: string; schemaName: string };

/**
 * For each node but the target: the newest attempt rows of the newest draft run of this
 * pipeline where a node with the same fingerprint succeeded.
 */
async function reusableOutputs(db: Db, pipelineId: string, prints: Map<string, string>, targetId: string): Promise<Map<string, ReusableRow[]>> {
  const wanted = [...prints].filter(([id]) => id !== targetId);
  if (!wanted.length) return new Map();
  const rows = await rowsOf<ReusableRow>(
    db,
    sql`select t.id, t.run_id as "runId", t.node_id as "nodeId", t.map_index as "mapIndex", t.attempt, t.state,
               t.rows::float8 as rows, t.output_table as "outputTable", t.result, t.item, t.fingerprint, r.schema_name as "schemaName"
        from runs r join task_runs t on t.run_id = r.id
        where r.pipeline_id = ${pipelineId} and r.draft
          and t.fingerprint in (${sql.join(wanted.map(([, fp]) => sql`${fp}`), sql`, `)})
          and r.id = (select r2.id from runs r2 join task_runs t2 on t2.run_id = r2.id
                      where r2.pipeline_id = ${pipelineId} and r2.draft and t2.fingerprint = t.fingerprint
                        and t2.map_index = -1 and t2.state = 'success'
                      order by r2.created_at desc limit 1)
        order by t.map_index, t.attempt desc`,
  );
  // Per node and fingerprint, the newest attempt of each map index (rows come newest attempt first).
  const newest = new Map<string, Map<number, ReusableRow>>();
  for (const r of rows) {
    const key = `${r.nodeId} ${r.fingerprint}`;
    const byIndex = newest.get(key) ?? new Map<number, ReusableRow>();
    if (!byIndex.has(r.mapIndex)) byIndex.set(r.mapIndex, r);
    newest.set(key, byIndex);
  }
  const out = new Map<string, ReusableRow[]>();
  for (const [id, fp] of wanted) {
    const list = [...(newest.get(`${id} ${fp}`)?.values() ?? [])];
    if (list.length && nodeStateOf(list) === "success") out.set(id, list);
  }
  return out;
}


/** Draft runs kept per pipeline; older finished ones are deleted with their outputs. */
export const DRAFT_RUNS_KEPT = 20;

/**
 * Delete a pipeline's finished draft runs beyond the newest `keep`, and drop their run
 * schemas — except a schema whose tables a kept run still reuses (dropping it would take
 * that run's views along). Best effort: a failure leaves the rows for the next time.
 */
export async function pruneDraftRuns(db: Db, wh: Warehouse, pipelineId: string, keep = DRAFT_RUNS_KEPT): Promise<number> {
  const old = await rowsOf<{ id: string; schemaName: string }>(
    db,
    sql`select id, schema_name as "schemaName" from runs
        where pipeline_id = ${pipelineId} and draft and state in ('success', 'failed', 'canceled')
          and id not in (select id from runs where pipeline_id = ${pipelineId} and draft order by created_at desc limit ${keep})
        order by created_at desc limit 200`,
  );
  let pruned = 0;
  for (const run of old) {
    const [used] = await rowsOf<{ used: boolean }>(
      db,
      sql`select exists (select 1 from task_runs where run_id <> ${run.id} and output_table like ${`${run.schemaName}.%`}) as used`,
    );
    if (used?.used) continue;
    await wh.query(`drop schema if exists ${ident(run.schemaName)} cascade`);
    await db.execute(sql`delete from runs where id = ${run.id}`);
    pruned++;
  }
  return pruned;
}
