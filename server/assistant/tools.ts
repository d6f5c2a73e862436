/**
 * The assistant's tools: it looks at the real warehouse, the real files and the
 * real validator before it writes. Every result is compact JSON text (truncated),
 * because it is sent to the model and shown to the user as sent.
 */
import fs from "node:fs";
import path from "node:path";
import type { Db } from "@/db/client";
import { ident, type Warehouse } from "@/db/warehouse";
import { formatProblem, parsePipeline, TABLE_PRODUCING_KINDS, type PipelineFile } from "@/server/pipeline";
import type { SqlAnalyzer } from "@/server/pipeline/sql-references";
import { pruneDraftRuns, startDraftRun } from "@/server/runtime/draft-run";
import { publishRunOutputs } from "@/server/runtime/executor";
import { columnsOf } from "@/server/runtime/outputs";
import { cancelRun, getRunRow, latestTasks, nodeStateOf, planOfRun } from "@/server/runtime/run-store";
import type { RuntimeService } from "@/server/runtime/service";
import { TERMINAL_RUN_STATES } from "@/server/runtime/states";

export interface ToolContext {
  db: Db;
  wh: Warehouse;
  sql: SqlAnalyzer;
  filesDir: string;
  /** Dry runs belong to this pipeline (else to the hidden scratch pipeline). */
  pipelineId?: string;
  /** The document the model is working on (its latest answer, else the user's). */
  document?: PipelineFile;
  /** Whether row values may be sent to the model (the user can turn this off). */
  allowSamples: boolean;
  /** At most this many sample rows per table. */
  sampleRows: number;
  wake(): void;
  signal: AbortSignal;
}

/** The tools' context for a process that opened the runtime itself (the CLI, the eval). */
export function toolContextOf(rt: RuntimeService, opts: Pick<ToolContext, "allowSamples" | "sampleRows" | "signal">): ToolContext {
  return { db: rt.handle.db, wh: rt.wh, sql: rt.sql, filesDir: rt.filesDir, wake: () => rt.worker.wake(), ...opts };
}

/** Rows sources read in a dry run. */
export const DRY_RUN_SOURCE_ROWS = 1000;
const DRY_RUN_TIMEOUT_MS = 60_000;
const MAX_RESULT_CHARS = 8000;

type JsonSchema = Record<string, unknown>;
interface ToolSpec {
  description: string;
  parameters: JsonSchema;
  run(ctx: ToolContext, args: Record<string, unknown>): Promise<unknown>;
}

const obj = (properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema => ({ type: "object", properties, required, additionalProperties: false });

/** Schemas that are not the user's data: run outputs, the runtime's own, the catalog. */
const HIDDEN_SCHEMAS = `n.nspname not like 'run\\_%' and n.nspname not in ('tributary_runtime', 'pg_catalog', 'information_schema', 'pg_toast') and n.nspname not like 'pg\\_%'`;

function tableRef(name: unknown): { schema: string; table: string } {
  if (typeof name !== "string" || !name.trim()) throw new Error("table: give a table name, as listed by list_tables (schema.table)");
  const [a, b] = name.trim().split(".");
  return b ? { schema: a!, table: b } : { schema: "public", table: a! };
}

function firstLine(file: string): string {
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(2048);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n).toString("utf8").split(/\r?\n/)[0]!.slice(0, 500);
  } finally {
    fs.closeSync(fd);
  }
}

function listFiles(root: string): { path: string; bytes: number; header?: string }[] {
  const out: { path: string; bytes: number; header?: string }[] = [];
  const walk = (dir: string) => {
    if (out.length >= 200 || !fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && out.length < 200) {
        const rel = path.relative(root, full).split(path.sep).join("/");
        const item: { path: string; bytes: number; header?: string } = { path: rel, bytes: fs.statSync(full).size };
        if (/\.(csv|tsv|txt)$/i.test(entry.name)) item.header = firstLine(full);
        out.push(item);
      }
    }
  };
  walk(root);
  return out;
}

/** Run `node` of `doc` in a draft run on sample data, and report what happened. */
export interface DryRunResult {
  node: string;
  state: string;
  error?: string;
  runId?: string;
  nodes?: { name: string; state: string; rows: number | null; error?: string }[];
  columns?: { name: string; type: string }[];
  firstRows?: unknown[];
}

export async function dryRun(ctx: ToolContext, doc: PipelineFile, node: string): Promise<DryRunResult> {
  const run = await startDraftRun(ctx.db, { pipelineId: ctx.pipelineId, document: doc, node, sampleRows: DRY_RUN_SOURCE_ROWS }, ctx.sql);
  ctx.wake();
  void pruneDraftRuns(ctx.db, ctx.wh, run.pipelineId).catch(() => {});
  const deadline = Date.now() + DRY_RUN_TIMEOUT_MS;
  let state = run.state;
  while (!TERMINAL_RUN_STATES.has(state)) {
    if (ctx.signal.aborted || Date.now() > deadline) {
      await cancelRun(ctx.db, run.id).catch(() => {});
      return { node, state: "timed_out", error: `the dry run did not finish within ${DRY_RUN_TIMEOUT_MS / 1000} s` };
    }
    await new Promise((r) => setTimeout(r, 50));
    state = (await getRunRow(ctx.db, run.id)).state;
  }
  const done = await getRunRow(ctx.db, run.id);
  const plan = await planOfRun(ctx.db, done);
  const tasks = await latestTasks(ctx.db, run.id);
  const nodes = [...plan.nodes.values()].map((pn) => {
    const mine = tasks.filter((t) => t.nodeId === pn.node.id);
    const own = mine.find((t) => t.mapIndex === -1);
    const error = (mine.find((t) => t.error) ?? own)?.error?.message;
    return { name: pn.node.name, state: nodeStateOf(mine), rows: own?.rows ?? null, ...(error ? { error } : {}) };
  });
  const target = [...plan.nodes.values()].find((p) => p.node.id === node || p.node.name === node)!;
  const result: DryRunResult & { sourceRowLimit: number } = { runId: run.id, node: target.node.name, state: done.state, sourceRowLimit: DRY_RUN_SOURCE_ROWS, nodes };
  if (done.state === "success" && TABLE_PRODUCING_KINDS.has(target.node.kind)) {
    await publishRunOutputs({ db: ctx.db, wh: ctx.wh }, done, target.node.name);
    result.columns = await columnsOf(ctx.wh, done.schemaName, target.node.name);
    if (ctx.allowSamples && ctx.sampleRows > 0) {
      result.firstRows = await ctx.wh.query(`select * from ${ident(done.schemaName)}.${ident(target.node.name)} limit ${ctx.sampleRows}`);
    }
  }
  return result;
}

function documentArg(ctx: ToolContext, raw: unknown): PipelineFile {
  if (raw === undefined || raw === null) {
    if (!ctx.document) throw new Error("document: no current document; pass the whole tributary/v1 document");
    return ctx.document;
  }
  const parsed = parsePipeline(raw, { sql: ctx.sql });
  if (!parsed.ok) throw new Error(`document is not a valid tributary/v1 document:\n${parsed.problems.slice(0, 20).map(formatProblem).join("\n")}`);
  return parsed.pipeline;
}

export const TOOLS: Record<string, ToolSpec> = {
  list_tables: {
    description: "List the warehouse tables and views the pipeline can read (schema.table, column count).",
    parameters: obj({}),
    async run(ctx) {
      return ctx.wh.query(
        `select n.nspname || '.' || c.relname as table, c.relkind = 'v' as view,
                (select count(*)::int from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where c.relkind in ('r', 'v', 'm', 'p') and ${HIDDEN_SCHEMAS} order by 1 limit 200`,
      );
    },
  },
  describe_table: {
    description: "The columns and types of a warehouse table (schema.table), and its row count.",
    parameters: obj({ table: { type: "string" } }, ["table"]),
    async run(ctx, args) {
      const { schema, table } = tableRef(args.table);
      const columns = await columnsOf(ctx.wh, schema, table);
      if (!columns.length || schema.startsWith("run_") || schema === "tributary_runtime") throw new Error(`no table ${schema}.${table}; call list_tables`);
      const [{ n } = { n: 0 }] = await ctx.wh.query<{ n: number }>(`select count(*)::int as n from ${ident(schema)}.${ident(table)}`);
      return { table: `${schema}.${table}`, rows: n, columns };
    },
  },
  sample_rows: {
    description: "A few rows of a warehouse table (limited; the user may have turned samples off).",
    parameters: obj({ table: { type: "string" }, limit: { type: "integer", minimum: 1 } }, ["table"]),
    async run(ctx, args) {
      if (!ctx.allowSamples || ctx.sampleRows === 0) return { note: "the user turned sample rows off; use describe_table" };
      const { schema, table } = tableRef(args.table);
      if (!(await columnsOf(ctx.wh, schema, table)).length || schema.startsWith("run_")) throw new Error(`no table ${schema}.${table}; call list_tables`);
      const limit = Math.min(Number(args.limit) || ctx.sampleRows, ctx.sampleRows);
      return ctx.wh.query(`select * from ${ident(schema)}.${ident(table)} limit ${limit}`);
    },
  },
  list_files: {
    description: "Files a source.csv node can read (paths relative to the files folder), with their sizes and the first line of text files.",
    parameters: obj({}),
    async run(ctx) {
      return listFiles(ctx.filesDir);
    },
  },
  validate_pipeline: {
    description: "Validate a whole tributary/v1 document (schema, graph, SQL syntax, tables read, params). Returns the problems with their paths.",
    parameters: obj({ document: { type: "object", description: "the whole tributary/v1 document" } }, ["document"]),
    async run(ctx, args) {
      const parsed = parsePipeline(args.document, { sql: ctx.sql });
      return { ok: parsed.ok && !parsed.problems.some((p) => p.severity === "error"), problems: parsed.problems.slice(0, 40).map(formatProblem) };
    },
  },
  dry_run: {
    description: `Run one node of a document (and its upstream) on sample data (sources stop after ${DRY_RUN_SOURCE_ROWS} rows); side effects (sink.table, notify) are skipped. Returns each node's state and error, and the node's output columns (and first rows when allowed).`,
    parameters: obj({ node: { type: "string", description: "the node's name" }, document: { type: "object", description: "the whole tributary/v1 document; omit for the current one" } }, ["node"]),
    async run(ctx, args) {
      return dryRun(ctx, documentArg(ctx, args.document), String(args.node ?? ""));
    },
  },
};

/** The tools as the chat completions API takes them. */
export function toolDefinitions(allowSamples: boolean) {
  return Object.entries(TOOLS)
    .filter(([name]) => allowSamples || name !== "sample_rows")
    .map(([name, spec]) => ({ type: "function" as const, function: { name, description: spec.description, parameters: spec.parameters } }));
}

/** Run a tool call; errors become a result the model can read (never a crash). */
export async function callTool(ctx: ToolContext, name: string, rawArgs: string): Promise<string> {
  const spec = TOOLS[name];
  let text: string;
  if (!spec || (name === "sample_rows" && !ctx.allowSamples)) {
    text = JSON.stringify({ error: `no tool '${name}' (tools: ${Object.keys(TOOLS).join(", ")})` });
  } else {
    let args: Record<string, unknown>;
    try {
      args = rawArgs.trim() ? (JSON.parse(rawArgs) as Record<string, unknown>) : {};
    } catch (error) {
      return JSON.stringify({ error: `the arguments are not valid JSON: ${(error as Error).message}` });
    }
    try {
      text = JSON.stringify(await spec.run(ctx, args ?? {}), (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
    } catch (error) {
      text = JSON.stringify({ error: (error as Error).message });
    }
  }
  return text.length > MAX_RESULT_CHARS ? `${text.slice(0, MAX_RESULT_CHARS)}… (truncated)` : text;
}
