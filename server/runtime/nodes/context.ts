/** What a node kind's runner gets, and what it returns. */
import type { PipelineFile, PipelineNode, ResolvedSettings } from "@/server/pipeline";
import type { SqlAnalyzer } from "@/server/pipeline/sql-references";
import type { SandboxPool } from "../sandbox";
import { CELL_EXEC, publishOutput, storedTable } from "../outputs";
import { ident, type Row, type Warehouse } from "@/db/warehouse";
import { prepareSelect, type BoundValue, type PreparedSql } from "../sql-cell";
import type { TaskOutcome } from "../run-store";

export interface UpstreamOutput {
  name: string;
  kind: string;
  /** The physical tables behind the node's output (several for a forEach node). */
  tables: string[];
}

export interface NodeContext {
  wh: Warehouse;
  sql: SqlAnalyzer;
  sandbox: () => SandboxPool;
  pipeline: PipelineFile;
  node: PipelineNode;
  settings: ResolvedSettings;
  runId: string;
  /** The run's warehouse schema. */
  schema: string;
  /** The table this attempt writes its output into (in `schema`). */
  outputTable: string;
  /** Upstream outputs by node name (table-producing upstream nodes only). */
  upstream: Map<string, UpstreamOutput>;
  params: Record<string, unknown>;
  logicalDate: Date;
  /** Named values SQL can bind: params, logical_date, run_id, and item_<column> for a forEach item. */
  bindings: Record<string, BoundValue>;
  item?: Row;
  filesDir: string;
  /** A draft run on sample data: sources stop after this many rows. */
  sampleRows?: number;
  signal: AbortSignal;
  /**
   * Settles when this task's claim is durable (at once unless the task started before: see
   * `ClaimNext.beforeCommit`). Awaited before anything another session sees, such as
   * (re)publishing an upstream's view: until then that upstream's success may not hold.
   */
  claimed: Promise<void>;
  log(level: "info" | "warn" | "error", message: string): void;
}

export type NodeRunner = (ctx: NodeContext) => Promise<TaskOutcome>;

export interface PreparedCell extends PreparedSql {
  /** Upstream names the SQL reads that were not replaced by their table: their views are published first. */
  views: string[];
}

/**
 * A cell's SELECT with its params as `($1->>i)::type`, for `runCellSql`. Each plain reference to
 * an upstream output with one table (`from orders`) becomes that table (`"run_x"."t_y" as orders`),
 * so the cell reads it without a view being (re)published in the warehouse first — a catalog
 * write and a commit per upstream per task. Anything else (a forEach output's several tables,
 * a CTE of the same name, `TABLE name`, a reference whose text the parser's location does not
 * match) is read through the upstream's view, as before.
 */
export function prepareCellSelect(ctx: NodeContext, sql: string, what: string): PreparedCell {
  const views = new Set<string>();
  const prepared = prepareSelect(sql, ctx.bindings, ctx.sql, what, (index, cast) => `(($1->>${index})::${cast})`, (ref) => {
    const up = ref.schema === undefined ? ctx.upstream.get(ref.name) : undefined;
    if (!up) return undefined;
    // `TABLE orders` takes no alias after the name: that form reads the view.
    if (!ref.span || up.tables.length !== 1 || /\btable\s*$/i.test(sql.slice(0, ref.offset))) {
      views.add(ref.name);
      return undefined;
    }
    return `${storedTable(ctx.schema, up.tables[0]!)}${ref.aliased ? "" : ` as ${ident(ref.name)}`}`;
  });
  // A CTE named like an upstream: the parser cannot tell which of its references mean the upstream (those
  // inside the CTE's own body, say), so they are left as written and read through the view.
  for (const name of prepared.ctes) if (ctx.upstream.has(name)) views.add(name);
  return { ...prepared, views: [...views] };
}

/**
 * Run a cell's prepared SELECT in the warehouse as the cell role, inside the SECURITY DEFINER
 * wrapper (where the role cannot be changed back): with `createTable`, as
 * `create table <createTable> as <select>`; otherwise returning its rows (values through jsonb).
 */
export async function runCellSql(ctx: NodeContext, prepared: PreparedCell, createTable?: string): Promise<Record<string, unknown>[]> {
  if (prepared.views.length) await ctx.claimed;
  for (const name of prepared.views) await publishOutput(ctx.wh, ctx.schema, name, ctx.upstream.get(name)!.tables);
  const stmt = createTable ? `create table ${createTable} as ${prepared.text}` : prepared.text;
  let rows: { row: Record<string, unknown> }[];
  try {
    rows = await ctx.wh.timed<{ row: Record<string, unknown> }>(
      `select r as row from ${CELL_EXEC}($1, $2::text::jsonb, $3, $4) as r`,
      // The wrapper sets the search path (the run's schema first) and runs as the cell role (SECURITY DEFINER).
      [stmt, JSON.stringify(prepared.values.map((v) => (v === undefined ? null : v))), !createTable, `${ident(ctx.schema)}, public`],
      { timeoutMs: ctx.settings.timeoutSeconds * 1000, signal: ctx.signal },
    );
  } catch (error) {
    // An error inside the wrapper points into its dynamic statement: map it back onto the cell's SQL.
    const e = error as { position?: string; internal_position?: string; internalPosition?: string | number };
    const internal = e.internal_position ?? e.internalPosition;
    if (e && typeof e === "object" && !e.position && internal !== undefined) {
      const prefix = createTable ? stmt.length - prepared.text.length : "select to_jsonb(r) from (".length;
      const position = Number(internal) - prefix;
      if (position >= 1) e.position = String(position);
    }
    throw error;
  }
  return rows.map((r) => r.row);
}
