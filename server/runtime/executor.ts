/**
 * Running one claimed task: gather what its node reads, run its kind under the
 * node's timeout and the run's cancel signal, and return the outcome (or throw
 * the failure). A forEach node's first task expands it into one task per item.
 */
import type { Db } from "@/db/client";
import { ident, type Row, type Warehouse } from "@/db/warehouse";
import { BUILTIN_PARAMS, TABLE_PRODUCING_KINDS } from "@/server/pipeline";
import type { SqlAnalyzer } from "@/server/pipeline/sql-references";
import { TaskFailure, TimeoutFailure } from "./errors";
import type { NodeContext, UpstreamOutput } from "./nodes/context";
import { NODE_RUNNERS } from "./nodes";
import { ensureRunSchema, outputTableName, publishOutput, qualified, readBatches } from "./outputs";
import { getRunRow, latestTasks, nodeStateOf, planOfRun, type ClaimedTask, type RunRow, type TaskOutcome, type TaskRow } from "./run-store";
import { outputsDropped } from "./retention";
import { TERMINAL_RUN_STATES } from "./states";
import type { SandboxPool } from "./sandbox";
import { itemValue, type BoundValue } from "./sql-cell";

export interface ExecutorDeps {
  db: Db;
  wh: Warehouse;
  sql: SqlAnalyzer;
  sandbox: () => SandboxPool;
  /** Where relative paths resolve when the run does not say. */
  filesDir: string;
  /** Settles when the task's claim is durable, for a task started before (NodeContext.claimed). */
  claimed?: Promise<void>;
  log(task: ClaimedTask, level: "info" | "warn" | "error", message: string): void;
}

const TABLES_READ_DIRECTLY = new Set(["js", "sql", "branch", "sensor"]);

/** At most this many items in one forEach expansion. */
export const MAX_FOREACH_ITEMS = 10_000;

/** The outputs of a node's table-producing upstream nodes, their views (re)published so readers see them. */
async function upstreamOutputs(deps: ExecutorDeps, task: ClaimedTask): Promise<Map<string, UpstreamOutput>> {
  const plan = await planOfRun(deps.db, task.run);
  const pn = plan.nodes.get(task.nodeId)!;
  const ups = pn.upstream.map((e) => plan.nodes.get(e.from)!).filter((u) => TABLE_PRODUCING_KINDS.has(u.node.kind));
  if (ups.length === 0) return new Map();
  // The rows the completion that queued this task read (all final) when this process queued it; else read them.
  const rows = task.upstreamRows ?? (await latestTasks(deps.db, task.runId, ups.map((u) => u.node.id)));
  const out = new Map<string, UpstreamOutput>();
  // JS cells read their inputs' tables directly, SQL cells and branch/sensor conditions with their names
  // replaced by the tables (prepareCellSelect publishes a view only where it could not); the other
  // kinds read them by node name (the views).
  const byName = !TABLES_READ_DIRECTLY.has(pn.node.kind);
  for (const u of ups) {
    const mine = rows.filter((r) => r.nodeId === u.node.id);
    if (nodeStateOf(mine) !== "success") continue; // a trigger rule let this node run without it
    const tables = outputTables(mine);
    out.set(u.node.name, { name: u.node.name, kind: u.node.kind, tables });
    if (byName) {
      await deps.claimed; // a view is seen by others: not before this task's claim (and so its upstream's success) is durable
      await publishOutput(deps.wh, task.run.schemaName, u.node.name, tables);
    }
  }
  return out;
}

function bindingsOf(task: ClaimedTask, params: Record<string, unknown>, types: Record<string, BoundValue["type"]>, item?: Row): Record<string, BoundValue> {
  const out: Record<string, BoundValue> = {};
  for (const [name, value] of Object.entries(params)) out[name] = { value, type: types[name] ?? "string" };
  out[BUILTIN_PARAMS[0]] = { value: task.run.logicalDate.toISOString(), type: "timestamptz" };
  out[BUILTIN_PARAMS[1]] = { value: task.runId, type: "string" };
  for (const [key, value] of Object.entries(item ?? {})) out[`item_${key}`] = itemValue(value);
  return out;
}

/**
 * 1. The plan, the run schema, the upstream outputs.
 * 2. forEach, first task: read the items (rows of the named upstream) and return them.
 * 3. Otherwise the kind's runner, under a timer for timeoutSeconds and the cancel signal.
 */
export async function executeTask(deps: ExecutorDeps, task: ClaimedTask, cancel: AbortSignal): Promise<TaskOutcome> {
  const plan = await planOfRun(deps.db, task.run);
  const pn = plan.nodes.get(task.nodeId)!;
  const schema = task.run.schemaName;
  await ensureRunSchema(deps.wh, schema);
  const upstream = await upstreamOutputs(deps, task);

  if (pn.node.forEach && task.mapIndex === -1) {
    const source = upstream.get(pn.node.forEach);
    if (!source) throw new TaskFailure(`node '${pn.node.name}': forEach '${pn.node.forEach}' has no output to iterate over`, false, "config");
    const items: Row[] = [];
    for await (const batch of readBatches(deps.wh, schema, source.tables)) {
      items.push(...batch);
      if (items.length > MAX_FOREACH_ITEMS) {
        throw new TaskFailure(`node '${pn.node.name}': forEach '${pn.node.forEach}' has more than ${MAX_FOREACH_ITEMS} rows; aggregate it first`, false, "config");
      }
    }
    return { items, result: { items: items.length } };
  }

  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new TimeoutFailure(pn.settings.timeoutSeconds)), pn.settings.timeoutSeconds * 1000);
  const signal = AbortSignal.any([cancel, timeout.signal]);
  const types = Object.fromEntries(Object.entries(plan.pipeline.params ?? {}).map(([k, v]) => [k, v.type])) as Record<string, BoundValue["type"]>;
  const ctx: NodeContext = {
    wh: deps.wh,
    sql: deps.sql,
    sandbox: deps.sandbox,
    pipeline: plan.pipeline,
    node: pn.node,
    settings: pn.settings,
    runId: task.runId,
    schema,
    outputTable: outputTableName(task.id, task.tag),
    upstream,
    params: task.run.params,
    logicalDate: task.run.logicalDate,
    bindings: bindingsOf(task, task.run.params, types, task.item ?? undefined),
    item: task.item ?? undefined,
    filesDir: task.run.filesDir ?? deps.filesDir,
    sampleRows: task.run.sampleRows ?? undefined,
    signal,
    claimed: deps.claimed ?? Promise.resolve(),
    log: (level, message) => deps.log(task, level, message),
  };
  const running = NODE_RUNNERS[pn.node.kind](ctx);
  try {
    const outcome = await Promise.race([
      running,
      new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true })),
    ]);
    return outcome;
  } catch (error) {
    const drop = () => deps.wh.query(`drop table if exists ${qualified(schema, ctx.outputTable)}`).catch(() => {});
    await drop();
    // Stopped by its timeout or a cancel, the kind's runner may still be writing (a batch of rows
    // loading) and create the table after that drop: drop it again once the runner is over. The
    // table is this attempt's own; nothing reads it.
    if (signal.aborted) void running.then(drop, drop);
    if (signal.aborted && signal.reason instanceof TaskFailure) throw signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** The tables behind a node's output, from its newest rows (one, or one per forEach item). */
function outputTables(rows: readonly TaskRow[]): string[] {
  const own = rows.find((r) => r.mapIndex === -1);
  if (own?.result?.items !== undefined) {
    return rows.filter((r) => r.mapIndex >= 0 && r.mapIndex < own.result!.items! && r.outputTable).sort((a, b) => a.mapIndex - b.mapIndex).map((r) => r.outputTable!);
  }
  return own?.outputTable ? [own.outputTable] : [];
}

/**
 * Make every successful output of a run readable by node name, from the app
 * database's truth (what readers outside a task call first: query --run, previews;
 * the worker does not publish after each task).
 * With `only`, just that node. Returns the published node names.
 */
export async function publishRunOutputs(deps: Pick<ExecutorDeps, "db" | "wh">, run: RunRow, only?: string): Promise<string[]> {
  if (run.outputsDroppedAt) throw outputsDropped(run);
  if (TERMINAL_RUN_STATES.has(run.state)) {
    // A finished run without its schema: retention may have dropped it since `run` was read —
    // say so, rather than create an empty schema for it below.
    const [found] = await deps.wh.query<{ name: string | null }>(`select to_regnamespace($1)::text as name`, [ident(run.schemaName)]);
    if (!found?.name) {
      const now = await getRunRow(deps.db, run.id);
      if (now.outputsDroppedAt) throw outputsDropped(now);
    }
  }
  const plan = await planOfRun(deps.db, run);
  const wanted = only ? [...plan.nodes.values()].filter((p) => p.node.name === only).map((p) => p.node.id) : undefined;
  const rows = await latestTasks(deps.db, run.id, wanted);
  await ensureRunSchema(deps.wh, run.schemaName);
  const names: string[] = [];
  for (const pn of plan.nodes.values()) {
    if (!TABLE_PRODUCING_KINDS.has(pn.node.kind) || (only && pn.node.name !== only)) continue;
    const mine = rows.filter((r) => r.nodeId === pn.node.id);
    if (nodeStateOf(mine) !== "success") continue;
    await publishOutput(deps.wh, run.schemaName, pn.node.name, outputTables(mine));
    names.push(pn.node.name);
  }
  return names;
}
