/**
 * Runs and tasks in the app database: start, claim, heartbeat, complete, fail,
 * cancel, retry. Every transition appends its events in the same transaction,
 * and `advance` decides what can run next from the trigger rules.
 */
import { randomBytes } from "node:crypto";
import { and, eq, sql, type SQL } from "drizzle-orm";
import type { Db } from "@/db/client";
import { NotFoundError } from "@/db/errors";
import { pipelines, pipelineVersions } from "@/db/schema";
import {
  isError, paramValueProblem, retryDelaySeconds, retryPolicyOf, validate, ValidationError,
  type NodeKind, type PipelineFile, type Problem,
} from "@/server/pipeline";
import type { SqlAnalyzer } from "@/server/pipeline/sql-references";
import { errorCode, LeaseLostError, TaskFailure } from "./errors";
import { runEventFor, type EventType, type RunEvent } from "./events";
import { buildPlan, downstreamClosure, planFor, type Plan } from "./plan";
import { runSchemaName } from "./outputs";
import { outputsDropped } from "./retention";
import { isEmbedded, preparedRowsBeforeCommit, preparedRowsOf, rowsOf, withDbRetry } from "./sql";
import {
  aggregateItems, decide, edgeState, isTerminal, runOutcome, TERMINAL_RUN_STATES, type RunState, type TaskState,
} from "./states";

export interface RunRow {
  id: string;
  pipelineId: string;
  version: number;
  trigger: string;
  logicalDate: Date;
  params: Record<string, unknown>;
  state: RunState;
  schemaName: string;
  filesDir: string | null;
  draft: boolean;
  /** Draft runs on sample data: sources stop after this many rows. */
  sampleRows: number | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** When retention dropped this run's outputs (server/runtime/retention.ts); null while they are kept. */
  outputsDroppedAt: Date | null;
}

export interface TaskRow {
  id: string;
  runId: string;
  nodeId: string;
  mapIndex: number;
  attempt: number;
  state: TaskState;
  pool: string;
  priority: number;
  leaseToken: number;
  rows: number | null;
  outputTable: string | null;
  result: { branch?: boolean; items?: number; violations?: number } | null;
  item: Record<string, unknown> | null;
  leaseLosses: number;
  error: { message: string; kind?: string; retryable?: boolean } | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

const TASK_COLUMNS = sql.raw(`id, run_id as "runId", node_id as "nodeId", map_index as "mapIndex", attempt, state, pool, priority,
  lease_token::float8 as "leaseToken", rows::float8 as rows, output_table as "outputTable", result, item, lease_losses as "leaseLosses",
  error, created_at as "createdAt", started_at as "startedAt", finished_at as "finishedAt"`);
export const RUN_COLUMNS = sql.raw(`id, pipeline_id as "pipelineId", version, trigger, logical_date as "logicalDate", params, state,
  schema_name as "schemaName", files_dir as "filesDir", draft, sample_rows as "sampleRows", created_at as "createdAt", started_at as "startedAt", finished_at as "finishedAt",
  outputs_dropped_at as "outputsDroppedAt"`);

function fixDates<T extends object>(row: T, keys: (keyof T)[]): T {
  const r = row as Record<keyof T, unknown>;
  for (const k of keys) {
    const v = r[k];
    if (v !== null && v !== undefined && !(v instanceof Date)) r[k] = new Date(v as string);
  }
  return row;
}
export const runRow = (r: RunRow) => fixDates(r, ["logicalDate", "createdAt", "startedAt", "finishedAt", "outputsDroppedAt"]);
const taskRow = (t: TaskRow) => fixDates(t, ["createdAt", "startedAt", "finishedAt"]);

export async function appendEvents(db: Db, events: RunEvent[]): Promise<void> {
  if (events.length === 0) return;
  const values = sql.join(
    events.map((e) => sql`(${e.runId}, ${e.taskRunId ?? null}, ${e.type}, ${JSON.stringify(e.payload ?? {})}::text::jsonb)`),
    sql`, `,
  );
  await db.execute(sql`insert into run_events (run_id, task_run_id, type, payload) values ${values}`);
}

// ---------------------------------------------------------------- loading

export async function getRunRow(db: Db, runId: string): Promise<RunRow> {
  const [run] = await rowsOf<RunRow>(db, sql`select ${RUN_COLUMNS} from runs where id = ${runId}`);
  if (!run) throw new NotFoundError(`no run with id ${runId}`);
  return runRow(run);
}

const docCache = new Map<string, PipelineFile>();

export async function pinnedDocument(db: Db, pipelineId: string, version: number): Promise<PipelineFile> {
  const key = `${pipelineId}@${version}`;
  const hit = docCache.get(key);
  if (hit) return hit;
  const [row] = await db
    .select({ document: pipelineVersions.document })
    .from(pipelineVersions)
    .where(and(eq(pipelineVersions.pipelineId, pipelineId), eq(pipelineVersions.version, version)));
  if (!row) throw new NotFoundError(`pipeline ${pipelineId} has no version ${version}`);
  if (docCache.size > 200) docCache.clear();
  docCache.set(key, row.document);
  return row.document;
}

/** A run's plan: its pinned version's, or for a draft run its own document's (cached by run id). */
export async function planOfRun(db: Db, run: Pick<RunRow, "id" | "pipelineId" | "version" | "draft">): Promise<Plan> {
  if (run.draft) {
    const cached = draftPlans.get(run.id);
    if (cached) return cached;
    const [row] = await rowsOf<{ document: PipelineFile | null }>(db, sql`select document from runs where id = ${run.id}`);
    if (row?.document) {
      const plan = buildPlan(row.document);
      if (draftPlans.size > 200) draftPlans.clear();
      draftPlans.set(run.id, plan);
      return plan;
    }
  }
  const doc = await pinnedDocument(db, run.pipelineId, run.version);
  return planFor(run.pipelineId, run.version, () => doc);
}

const draftPlans = new Map<string, Plan>();

/** The newest attempt of every (node, map index) of a run, optionally only of some nodes. */
export async function latestTasks(db: Db, runId: string, nodeIds?: readonly string[]): Promise<TaskRow[]> {
  const filter = nodeIds ? sql`and node_id in (${sql.join(nodeIds.map((id) => sql`${id}`), sql`, `)})` : sql``;
  if (nodeIds && nodeIds.length === 0) return [];
  const rows = await rowsOf<TaskRow>(
    db,
    sql`select distinct on (node_id, map_index) ${TASK_COLUMNS} from task_runs
        where run_id = ${runId} ${filter} order by node_id, map_index, attempt desc`,
  );
  return rows.map(taskRow);
}

export async function allAttempts(db: Db, runId: string): Promise<TaskRow[]> {
  return (await rowsOf<TaskRow>(db, sql`select ${TASK_COLUMNS} from task_runs where run_id = ${runId} order by node_id, map_index, attempt`)).map(taskRow);
}

/** A node's state from its newest rows: its own row, or for forEach, its expansion then its items. */
export function nodeStateOf(rows: readonly TaskRow[]): TaskState {
  const own = rows.find((r) => r.mapIndex === -1);
  if (!own) return "pending";
  if (own.state !== "success" || own.result?.items === undefined) return own.state;
  const n = own.result.items;
  return aggregateItems(rows.filter((r) => r.mapIndex >= 0 && r.mapIndex < n).map((r) => r.state));
}

function groupByNode(rows: readonly TaskRow[]): Map<string, TaskRow[]> {
  const out = new Map<string, TaskRow[]>();
  for (const r of rows) {
    const list = out.get(r.nodeId);
    if (list) list.push(r);
    else out.set(r.nodeId, [r]);
  }
  return out;
}

// ---------------------------------------------------------------- starting

export interface StartRunInput {
  pipelineId: string;
  /** Default: the current version. */
  version?: number;
  params?: Record<string, unknown>;
  trigger?: "manual" | "schedule" | "webhook" | "upstream" | "backfill";
  logicalDate?: Date;
  draft?: boolean;
  /** Where relative file paths resolve for this run (default: the worker's files folder). */
  filesDir?: string;
}

/** Params of a run: the pipeline's defaults, overridden by the given ones, each checked against its type. */
export function resolveParams(pipeline: PipelineFile, given: Record<string, unknown>): Record<string, unknown> {
  const problems: Problem[] = [];
  const specs = pipeline.params ?? {};
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(given)) {
    const spec = specs[name];
    if (!spec) {
      problems.push({ code: "schema", severity: "error", path: ["params", name], message: `unknown param '${name}' (params: ${Object.keys(specs).join(", ") || "none"})` });
      continue;
    }
    const problem = paramValueProblem(spec.type, value);
    if (problem) problems.push({ code: "schema", severity: "error", path: ["params", name], message: `param '${name}': ${problem}` });
    else out[name] = value;
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (name in out || name in given) continue;
    if (spec.default !== undefined) out[name] = spec.default;
    else if (spec.required) problems.push({ code: "missing_field", severity: "error", path: ["params", name], message: `param '${name}' is required` });
    else out[name] = null;
  }
  if (problems.length) throw new ValidationError(problems);
  return out;
}

/**
 * Start a run of a pipeline version.
 *
 * 1. The pinned version must validate without errors (SQL included when an analyzer is given).
 * 2. Params are resolved and type-checked.
 * 3. One transaction: the run (queued), one pending task per node, RUN_QUEUED; then the
 *    run starts if the pipeline's maxActiveRuns allows, and its first tasks are queued.
 */
export async function startRun(db: Db, input: StartRunInput, analyzer?: SqlAnalyzer): Promise<RunRow> {
  const [p] = await db.select().from(pipelines).where(eq(pipelines.id, input.pipelineId));
  if (!p) throw new NotFoundError(`no pipeline with id ${input.pipelineId}`);
  const version = input.version ?? p.currentVersion;
  const doc = await pinnedDocument(db, p.id, version);
  const errors = validate(doc, { sql: analyzer }).filter(isError);
  if (errors.length) throw new ValidationError(errors);
  const params = resolveParams(doc, input.params ?? {});
  const plan = planFor(p.id, version, () => doc);
  const logicalDate = input.logicalDate ?? new Date();
  const runId = crypto.randomUUID();

  // One call: the run, its task rows and its first events, started at once when it may (as
  // promoteRuns would start it): one transaction, one commit, where inserting and then promoting
  // took two transactions and a dozen statements (20–45 ms before a 40-node run's first task on PGlite).
  await ensureRuntimeFunctions(db);
  const nodes = [...plan.nodes.values()].map((n) => [n.node.id, n.settings.pool, n.settings.priority, n.upstream.length === 0]);
  const maxActiveRuns = plan.pipeline.maxActiveRuns ?? 1;
  const [inserted] = await preparedRowsOf<RunRow>(
    db,
    sql`select ${RUN_COLUMNS} from ${sql.raw(START_FN)}(${runId}::uuid, ${p.id}::uuid, ${version}::int, ${input.trigger ?? "manual"}::text,
          ${logicalDate.toISOString()}::timestamptz, ${JSON.stringify(params)}::text::jsonb, ${runSchemaName(runId)}::text, ${input.draft ?? false}::boolean,
          ${input.filesDir ?? null}::text, ${maxActiveRuns}::int, ${JSON.stringify(nodes)}::text::jsonb,
          ${JSON.stringify({ version, trigger: input.trigger ?? "manual", params })}::text::jsonb)`,
  );
  const run = runRow(inserted!);
  // Not started: a slot is taken, or older runs wait their turn (promoteRuns starts them in
  // order). A draft starts whatever waits; promoteRuns then starts what a free slot allows.
  if (run.state === "queued" || run.draft) {
    await promoteRuns(db, p.id, maxActiveRuns);
    return getRunRow(db, run.id);
  }
  // A pipeline without nodes has nothing to wait for: it succeeds at once.
  if (plan.nodes.size === 0 && (await finishRunIfDone(db, run, plan))) {
    await afterRunChange(db, run);
    return getRunRow(db, run.id);
  }
  return run;
}

/** Start queued runs of a pipeline while fewer than `maxActiveRuns` are running (draft runs do not count). */
export async function promoteRuns(db: Db, pipelineId: string, maxActiveRuns: number): Promise<void> {
  await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    await t.execute(sql`select pg_advisory_xact_lock(hashtext(${PROMOTE_LOCK + pipelineId}))`);
    const [{ running } = { running: 0 }] = await rowsOf<{ running: number }>(
      t,
      sql`select count(*)::int as running from runs where pipeline_id = ${pipelineId} and state = 'running' and not draft`,
    );
    const queued = await rowsOf<RunRow>(
      t,
      sql`select ${RUN_COLUMNS} from runs where pipeline_id = ${pipelineId} and state = 'queued'
          order by draft desc, created_at for no key update skip locked`,
    );
    let free = maxActiveRuns - running;
    for (const raw of queued) {
      const run = runRow(raw);
      if (!run.draft) {
        if (free <= 0) continue;
        free--;
      }
      await t.execute(sql`update runs set state = 'running', started_at = now() where id = ${run.id}`);
      await appendEvents(t, [{ runId: run.id, type: "RUN_STARTED" }]);
      await advance(t, { ...run, state: "running" }, await planOfRun(t, run), "all");
    }
  });
}

// ---------------------------------------------------------------- advancing

/**
 * Decide what can run now. Starting from the changed nodes' downstream (or all nodes),
 * each pending node whose trigger rule holds is queued; one whose rule can no longer hold
 * becomes skipped or upstream_failed, and its own downstream is looked at in turn.
 * When every node is terminal, the run ends with its outcome.
 */
export interface AdvanceHints {
  /** The newest rows of these nodes, read in this transaction under the run's lock: the first look needs no query. */
  known?: { ids: readonly string[]; rows: readonly TaskRow[] };
  /**
   * Whether the run has unfinished tasks outside `known.ids` (read under the same lock). With it, the
   * end-of-run check is skipped when something is evidently still open.
   */
  openElsewhere?: boolean;
  /** The runtime's SQL functions exist (ensureRuntimeFunctions): the changes are one call. */
  functions?: boolean;
  /** Filled with each queued task's upstream rows (all terminal), for the claimer once the transaction committed. */
  upstreamOf?: Map<string, TaskRow[]>;
}

export async function advance(
  db: Db, run: RunRow, plan: Plan, changed: readonly string[] | "all", pending: RunEvent[] = [], hints: AdvanceHints = {},
): Promise<boolean> {
  if (run.state !== "running") {
    await appendEvents(db, pending);
    return false;
  }
  let candidates = new Set<string>(changed === "all" ? plan.nodes.keys() : changed.flatMap((id) => plan.nodes.get(id)?.downstream ?? []));
  const queue: string[] = [];
  const finalize = new Map<string, "skipped" | "upstream_failed">();
  const known = new Map<string, TaskState>();
  const rowsOfNode = new Map<string, TaskRow[]>();
  const branchOf = new Map<string, boolean | undefined>();
  const learn = (ids: readonly string[], rows: readonly TaskRow[]) => {
    const grouped = groupByNode(rows);
    for (const id of ids) {
      const list = grouped.get(id) ?? [];
      rowsOfNode.set(id, list);
      known.set(id, nodeStateOf(list));
      branchOf.set(id, list.find((r) => r.mapIndex === -1)?.result?.branch);
    }
  };
  if (hints.known) learn(hints.known.ids, hints.known.rows);

  while (candidates.size) {
    const need = new Set<string>();
    for (const id of candidates) {
      need.add(id);
      for (const e of plan.nodes.get(id)?.upstream ?? []) if (!known.has(e.from)) need.add(e.from);
    }
    const missing = [...need].filter((id) => !known.has(id));
    if (missing.length) learn(missing, await latestTasks(db, run.id, missing));

    const next = new Set<string>();
    for (const id of candidates) {
      if (known.get(id) !== "pending") continue;
      const pn = plan.nodes.get(id)!;
      const states = pn.upstream.map((e) => edgeState(e, { state: known.get(e.from)!, branch: branchOf.get(e.from) }));
      const decision = decide(pn.settings.triggerRule, states);
      if (decision === "wait") continue;
      if (decision === "run") {
        queue.push(id);
        known.set(id, "queued");
      } else {
        finalize.set(id, decision);
        known.set(id, decision);
        for (const d of pn.downstream) next.add(d);
      }
    }
    candidates = next;
  }

  // One statement: the state changes and all their events (in this order: the given ones, queued, skipped, upstream_failed).
  const moves = ([
    { state: "queued", type: "TASK_QUEUED", ids: queue },
    { state: "skipped", type: "TASK_SKIPPED", ids: [...finalize].filter(([, s]) => s === "skipped").map(([id]) => id) },
    { state: "upstream_failed", type: "TASK_UPSTREAM_FAILED", ids: [...finalize].filter(([, s]) => s === "upstream_failed").map(([id]) => id) },
  ] satisfies { state: string; type: EventType; ids: string[] }[]).filter((m) => m.ids.length > 0);
  let moved: { id: string; nodeId: string; type: EventType }[] = [];
  if (hints.functions) {
    const ids = (type: EventType) => JSON.stringify(moves.find((m) => m.type === type)?.ids ?? []);
    moved = (await callFunction<typeof moved>(
      db,
      sql`${sql.raw(APPLY_FN)}(${run.id}::uuid, ${ids("TASK_QUEUED")}::text::jsonb, ${ids("TASK_SKIPPED")}::text::jsonb,
            ${ids("TASK_UPSTREAM_FAILED")}::text::jsonb, ${JSON.stringify(pending)}::text::jsonb)`,
    )) ?? [];
  } else if (moves.length === 0) {
    await appendEvents(db, pending);
  } else {
    const ctes = moves.map(
      (m, i) => sql`${sql.raw(`m${i}`)} as (update task_runs set state = ${m.state}, finished_at = ${m.state === "queued" ? sql`finished_at` : sql`now()`}
        where run_id = ${run.id} and map_index = -1 and state = 'pending' and node_id in (${sql.join(m.ids.map((id) => sql`${id}`), sql`, `)})
        returning id, node_id, ${m.type}::text as type, ${i}::int as part)`,
    );
    const all = sql.raw(moves.map((_, i) => `select * from m${i}`).join(" union all "));
    const given = pending.map((e) => sql`select ${e.runId}::uuid, ${e.taskRunId ?? null}::uuid, ${e.type}::text, ${JSON.stringify(e.payload ?? {})}::text::jsonb`);
    moved = await rowsOf<{ id: string; nodeId: string; type: EventType }>(
      db,
      sql`with ${sql.join(ctes, sql`, `)}, moved as (${all}),
          ev as (insert into run_events (run_id, task_run_id, type, payload)
            ${given.length ? sql`${sql.join(given, sql` union all `)} union all` : sql``}
            select * from (select ${run.id}::uuid, id, type, jsonb_build_object('node', node_id) from moved order by part) m)
        select id, node_id as "nodeId", type from moved order by part`,
    );
  }
  const queuedAny = moved.some((m) => m.type === "TASK_QUEUED");
  if (hints.upstreamOf) {
    for (const m of moved) {
      if (m.type !== "TASK_QUEUED") continue;
      const ups = (plan.nodes.get(m.nodeId)?.upstream ?? []).map((e) => e.from);
      if (ups.every((u) => isTerminal(known.get(u) ?? "pending"))) hints.upstreamOf.set(m.id, ups.flatMap((u) => rowsOfNode.get(u) ?? []));
    }
  }
  // Still open for sure: something was queued, or (nothing was finalized) an unfinished task is known.
  if (queuedAny) return false;
  if (finalize.size === 0 && hints.known && hints.openElsewhere !== undefined) {
    if (hints.openElsewhere || hints.known.rows.some((r) => !isTerminal(r.state))) return false;
  }
  return finishRunIfDone(db, run, plan);
}

/** End the run when every node is terminal: success, failed or canceled by its nodes' states. Returns whether it ended. */
async function finishRunIfDone(db: Db, run: RunRow, plan: Plan): Promise<boolean> {
  // Only a newest attempt can be unfinished (an older one ended before the next was made).
  const [open] = await rowsOf<{ open: boolean }>(
    db,
    sql`select exists (select 1 from task_runs where run_id = ${run.id} and state in (${sql.raw(OPEN_STATES_SQL)})) as open`,
  );
  if (open?.open) return false;
  const rows = groupByNode(await latestTasks(db, run.id));
  const outcome = runOutcome([...plan.nodes.keys()].map((id) => nodeStateOf(rows.get(id) ?? [])));
  if (!outcome) return false;
  const moved = await rowsOf<{ id: string }>(
    db,
    sql`update runs set state = ${outcome}, finished_at = now() where id = ${run.id} and state = 'running' returning id`,
  );
  if (moved.length) await appendEvents(db, [{ runId: run.id, type: runEventFor(outcome) }]);
  return moved.length > 0;
}

// ---------------------------------------------------------------- the queue

export interface ClaimedTask extends TaskRow {
  run: RunRow;
  /** The newest rows of its upstream nodes, when this process queued the task and had them in hand. */
  upstreamRows?: TaskRow[];
  /**
   * A tag of this claim, random: the output table this execution writes carries it. A worker may
   * start a task before its claim is durable (`ClaimNext.beforeCommit`); if that commit fails, the
   * row is claimed again, with the same id and lease token, while the first execution may still
   * be writing. Each writes its own table.
   */
  tag?: string;
}

/**
 * Claim the next ready task: highest priority, then oldest, skipping rows other
 * workers hold (FOR UPDATE SKIP LOCKED), of running runs only, not before its
 * ready time. A pool with a slot limit is checked under a per-pool lock, so
 * concurrent claims never overfill it. The lease is computed from database time
 * and the fencing token is bumped.
 */
export async function claimTask(db: Db, workerId: string, leaseSeconds: number, excludePools: readonly string[] = []): Promise<ClaimedTask | null> {
  return (await claimTasks(db, workerId, leaseSeconds, 1, excludePools))[0] ?? null;
}

/**
 * Claim up to `max` ready tasks in one statement (when no pool has a slot limit; with
 * pools, one at a time, each checked under its pool's lock).
 */
export async function claimTasks(db: Db, workerId: string, leaseSeconds: number, max: number, excludePools: readonly string[] = []): Promise<ClaimedTask[]> {
  await ensureRuntimeFunctions(db);
  const pooled = await hasPools(db);
  const excluded = [...excludePools];
  const limit = pooled ? 1 : Math.max(1, Math.floor(max));
  for (let attempt = 0; attempt < 8; attempt++) {
    // One call: claim the rows (SKIP LOCKED), log TASK_STARTED, return the tasks.
    const call = sql`${sql.raw(CLAIM_FN)}(${workerId}::text, ${leaseSeconds}::float8, ${limit}::int, ${JSON.stringify(excluded)}::text::jsonb)`;
    const claim = async (d: Db): Promise<TaskRow[]> => (await callFunction<TaskRow[]>(d, call)) ?? [];
    let claimed: TaskRow[];
    if (!pooled) {
      claimed = await claim(db);
    } else {
      try {
        claimed = await db.transaction(async (tx) => {
          const t = tx as unknown as Db;
          const [row] = await claim(t);
          if (!row) return [];
          const [cap] = await rowsOf<{ slots: number }>(t, sql`select slots from pools where name = ${row.pool}`);
          if (cap) {
            // Claims of one pool serialize here, so concurrent workers never overfill it.
            await t.execute(sql`select pg_advisory_xact_lock(hashtext(${"tributary.pool." + row.pool}))`);
            const [{ n } = { n: 0 }] = await rowsOf<{ n: number }>(t, sql`select count(*)::int as n from task_runs where pool = ${row.pool} and state = 'running'`);
            if (n > cap.slots) throw new PoolFull(row.pool); // rolls the claim back
          }
          return [row];
        });
      } catch (error) {
        if (!(error instanceof PoolFull)) throw error;
        excluded.push(error.pool);
        continue;
      }
    }
    return claimedTasks(db, claimed);
  }
  return [];
}

class PoolFull extends Error {
  constructor(readonly pool: string) {
    super(`pool ${pool} is full`);
  }
}

const poolsKnown = new WeakMap<Db, { at: number; any: boolean }>();

/** Whether any pool has a slot limit (checked at most every 5 s): without pools a claim is one statement. */
async function hasPools(db: Db): Promise<boolean> {
  const known = poolsKnown.get(db);
  if (known && Date.now() - known.at < 5000) return known.any;
  const [row] = await rowsOf<{ any: boolean }>(db, sql`select exists (select 1 from pools) as any`);
  poolsKnown.set(db, { at: Date.now(), any: !!row?.any });
  return !!row?.any;
}

/** Claimed rows as tasks to run, in claim order, each with its run and (when this process queued it) its upstream rows. */
async function claimedTasks(db: Db, claimed: readonly TaskRow[], handoff?: ReadonlyMap<string, TaskRow[]>): Promise<ClaimedTask[]> {
  const tasks = claimed.map(taskRow).sort((a, b) => b.priority - a.priority || a.createdAt.getTime() - b.createdAt.getTime());
  const out: ClaimedTask[] = [];
  for (const task of tasks) {
    const upstreamRows = handoff?.get(task.id) ?? takeUpstream(task.id);
    out.push({ ...task, run: await cachedRunRow(db, task.runId), ...(upstreamRows ? { upstreamRows } : {}), tag: randomBytes(4).toString("hex") });
  }
  return out;
}

const runCache = new Map<string, RunRow>();

/** A run's row for a task being executed: only its immutable parts are read (state is asked fresh where it matters). */
async function cachedRunRow(db: Db, runId: string): Promise<RunRow> {
  const hit = runCache.get(runId);
  if (hit) return hit;
  const run = await getRunRow(db, runId);
  if (runCache.size > 1000) runCache.clear();
  runCache.set(runId, run);
  return run;
}

export type HeartbeatAnswer = "ok" | "lost" | "canceled";

/** Extend the lease (from database time) if this worker still holds it. */
export async function heartbeat(db: Db, task: Pick<TaskRow, "id" | "leaseToken">, leaseSeconds: number): Promise<HeartbeatAnswer> {
  return (await heartbeatTasks(db, [task], leaseSeconds)).get(task.id)!;
}

/** Extend the leases of several tasks in one statement (a worker's heartbeat); the answer for each task id. */
export async function heartbeatTasks(db: Db, tasks: readonly Pick<TaskRow, "id" | "leaseToken">[], leaseSeconds: number): Promise<Map<string, HeartbeatAnswer>> {
  const answers = new Map<string, HeartbeatAnswer>();
  if (tasks.length === 0) return answers;
  const held = JSON.stringify(tasks.map((t) => ({ id: t.id, token: t.leaseToken })));
  const renewed = await rowsOf<{ id: string; runState: string }>(
    db,
    sql`update task_runs t set lease_until = now() + make_interval(secs => ${leaseSeconds})
        from jsonb_to_recordset(${held}::text::jsonb) as m(id uuid, token bigint), runs r
        where t.id = m.id and t.lease_token = m.token and t.state = 'running' and r.id = t.run_id
        returning t.id, r.state as "runState"`,
  );
  for (const r of renewed) answers.set(r.id, r.runState === "canceled" ? "canceled" : "ok");
  const missing = tasks.filter((t) => !answers.has(t.id));
  if (missing.length) {
    const now = await rowsOf<{ id: string; state: string }>(
      db,
      sql`select id, state from task_runs where id in (${sql.join(missing.map((t) => sql`${t.id}::uuid`), sql`, `)})`,
    );
    const canceled = new Set(now.filter((r) => r.state === "canceled").map((r) => r.id));
    for (const t of missing) answers.set(t.id, canceled.has(t.id) ? "canceled" : "lost");
  }
  return answers;
}

export interface TaskOutcome {
  rows?: number;
  outputTable?: string;
  result?: { branch?: boolean; items?: number; violations?: number };
  /** forEach expansion: one item task per entry. */
  items?: Record<string, unknown>[];
}

/** A worker handing the slot a finished task frees to the next ready task, in the same call. */
export interface ClaimNext {
  workerId: string;
  leaseSeconds: number;
  max: number;
  /**
   * Hears the claimed tasks as soon as the call returns them, before its commit (which claims
   * them) is durable; `committed` settles with it. A worker may start a task here whose work
   * stays inside the run (its own output table) and must stop it if `committed` rejects; the
   * claimed tasks are also returned once committed. `kindOf` tells a task's node kind when it is
   * known without a read (a task of the same run).
   */
  beforeCommit?: (claimed: ClaimedTask[], committed: Promise<void>, kindOf: (task: ClaimedTask) => NodeKind | undefined) => void;
}

export interface Completed {
  /** Tasks claimed for the freed slot in the same call. */
  claimed: ClaimedTask[];
  /**
   * Whether more work may be ready than was claimed (the worker's dispatcher should look):
   * false only when the call tried to claim and queued no more than it claimed.
   */
  moreReady: boolean;
}

/**
 * Record success, fenced: only the holder of the current lease token may. Then
 * queue what this unblocks. A stale holder gets LeaseLostError and its result is dropped.
 * With `next`, the common case also claims up to `next.max` ready tasks in the same
 * transaction (returned; none when the case does not apply — the worker claims as usual).
 */
export async function completeTask(db: Db, task: ClaimedTask, outcome: TaskOutcome, next?: ClaimNext): Promise<Completed> {
  await ensureRuntimeFunctions(db);
  const plan = await planOfRun(db, task.run);
  const claiming = next && !(await hasPools(db)) ? next : undefined;
  const simple = await completeSimply(db, task, outcome, plan, claiming);
  if (simple) return { claimed: simple.claimed, moreReady: !claiming || simple.queued > simple.claimed.length };
  // What `advance` looks at first: this node, its downstream and their upstream.
  const need = new Set<string>([task.nodeId]);
  for (const d of plan.nodes.get(task.nodeId)?.downstream ?? []) {
    need.add(d);
    for (const e of plan.nodes.get(d)?.upstream ?? []) need.add(e.from);
  }
  const upstreamOf = new Map<string, TaskRow[]>();
  const ended = await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    // One call: lock the run's row (completions of one run serialize on it, so `advance` sees a
    // consistent picture; NO KEY UPDATE, which does not block the foreign-key checks of concurrent
    // event inserts), record the success fenced by the lease token, and read — after the lock —
    // the newest rows of the nodes `advance` needs and whether anything else is unfinished.
    const r = await callFunction<{ ok: boolean; state?: RunState; rows?: TaskRow[]; open?: boolean }>(
      t,
      sql`${sql.raw(COMPLETE_FN)}(${successArgs(task, outcome)}, ${JSON.stringify([...need])}::text::jsonb)`,
    );
    if (!r?.ok) throw new LeaseLostError(task.id);
    const rows = (r.rows ?? []).map(taskRow);
    const events: RunEvent[] = [{ runId: task.runId, taskRunId: task.id, type: "TASK_SUCCEEDED", payload: { node: task.nodeId, mapIndex: task.mapIndex, attempt: task.attempt, rows: outcome.rows ?? null } }];
    if (outcome.items) {
      const values = outcome.items.map(
        (item, i) => sql`(${task.runId}, ${task.nodeId}, ${i},
          coalesce((select max(attempt) from task_runs where run_id = ${task.runId} and node_id = ${task.nodeId} and map_index = ${i}), 0) + 1,
          'queued', ${task.pool}, ${task.priority}, ${JSON.stringify(item)}::text::jsonb)`,
      );
      for (let i = 0; i < values.length; i += 500) {
        await t.execute(sql`insert into task_runs (run_id, node_id, map_index, attempt, state, pool, priority, item) values ${sql.join(values.slice(i, i + 500), sql`, `)}`);
      }
      events.push({ runId: task.runId, taskRunId: task.id, type: "TASK_EXPANDED", payload: { node: task.nodeId, items: outcome.items.length } });
    }
    // The node settles with this task, unless it expanded into items, or it is an item and not the last.
    const settled =
      outcome.items && outcome.items.length > 0 ? [] :
      task.mapIndex === -1 || isTerminal(nodeStateOf(rows.filter((x) => x.nodeId === task.nodeId))) ? [task.nodeId] : [];
    const run: RunRow = { ...task.run, state: r.state ?? "running" };
    return advance(t, run, plan, settled, events, {
      known: { ids: [...need], rows },
      openElsewhere: !!r.open || (outcome.items?.length ?? 0) > 0,
      functions: true,
      upstreamOf,
    });
  });
  for (const [id, rows] of upstreamOf) rememberUpstream(id, rows);
  if (ended) await afterCommit(`task ${task.id}`, () => afterRunChange(db, task.run));
  return { claimed: [], moreReady: true };
}

/**
 * The common case in one call: a plain task (not a forEach expansion or item) whose every
 * downstream node reads from it alone. Their trigger rules then depend on this outcome only,
 * so they are decided here, before the transaction; when each of them runs (nothing is skipped,
 * so nothing cascades), the success, the queueing and the events are one function call.
 * Returns false when the case does not apply (`advance` decides then).
 */
async function completeSimply(db: Db, task: ClaimedTask, outcome: TaskOutcome, plan: Plan, next?: ClaimNext): Promise<{ claimed: ClaimedTask[]; queued: number } | false> {
  const pn = plan.nodes.get(task.nodeId);
  if (!pn || task.mapIndex !== -1 || outcome.items || pn.node.forEach) return false;
  const queue: string[] = [];
  for (const id of pn.downstream) {
    const d = plan.nodes.get(id);
    if (!d || d.upstream.length !== 1 || d.node.forEach) return false;
    const state = edgeState(d.upstream[0]!, { state: "success", branch: outcome.result?.branch });
    if (decide(d.settings.triggerRule, [state]) !== "run") return false;
    queue.push(id);
  }
  const events: RunEvent[] = [{ runId: task.runId, taskRunId: task.id, type: "TASK_SUCCEEDED", payload: { node: task.nodeId, mapIndex: task.mapIndex, attempt: task.attempt, rows: outcome.rows ?? null } }];
  // One call, one transaction, sent in one burst (on Postgres with its BEGIN and COMMIT): no round trips between them.
  let r: { ok: boolean; state?: RunState; moved?: { id: string; nodeId: string; type: EventType }[]; open?: boolean; waiting?: boolean; ended?: boolean; promote?: boolean; claimed?: TaskRow[] } | undefined;
  let committed: Promise<void>;
  try {
    // The result arrives before the commit is durable (on Postgres): the tasks it claimed may
    // start in this process meanwhile (`next.beforeCommit`); everything else waits for `committed`.
    ({ result: r, committed } = await callFunctionBeforeCommit<NonNullable<typeof r>>(
      db,
      sql`${sql.raw(COMPLETE_SIMPLE_FN)}(${successArgs(task, outcome)}, ${JSON.stringify(queue)}::text::jsonb, ${JSON.stringify(events)}::text::jsonb,
            ${next?.workerId ?? ""}::text, ${next?.leaseSeconds ?? 0}::float8, ${next?.max ?? 0}::int)`,
    ));
  } catch (error) {
    if (errorCode(error) === "TRB01") return false; // rolled back: the general path ends the run
    throw error;
  }
  if (!r?.ok) {
    await committed; // nothing was written: only the transaction's end
    throw new LeaseLostError(task.id);
  }
  const queued = (r.moved ?? []).filter((m) => m.type === "TASK_QUEUED");
  // The queued tasks' only upstream is this one, now final: its row goes to their claimer — in
  // this call, or (once the commit is durable: a failed one leaves the upstream unfinished) later.
  const mine: TaskRow = {
    ...task, state: "success", rows: outcome.rows ?? null, outputTable: outcome.outputTable ?? null, result: outcome.result ?? null, error: null, finishedAt: new Date(),
  };
  delete (mine as Partial<ClaimedTask>).run;
  delete (mine as Partial<ClaimedTask>).upstreamRows;
  const handoff = new Map(queued.map((q) => [q.id, [mine]]));
  let claimed: ClaimedTask[] = [];
  let problem: unknown;
  try {
    claimed = await claimedTasks(db, r.claimed ?? [], handoff);
    if (claimed.length) next?.beforeCommit?.(claimed, committed, (t) => (t.runId === task.runId ? plan.nodes.get(t.nodeId)?.node.kind : undefined));
  } catch (error) {
    problem = error; // (the tasks it claimed, if committed, run again once their lease lapses)
  }
  await committed;
  for (const [id, rows] of handoff) if (!claimed.some((c) => c.id === id)) rememberUpstream(id, rows);
  // Committed: from here nothing may fail the task (a caller's retry would find its success and
  // take its lease for lost). What follows is tried again on its own and otherwise logged.
  if (problem) console.error(`task ${task.id}: reading the tasks its completion claimed: ${(problem as Error).message}`);
  await afterCommit(`task ${task.id}`, async () => {
    // Only running tasks were left open: now that this success is committed, look again (of two
    // last tasks finishing at once, the later commit sees the earlier one and ends the run).
    // (Not on embedded PGlite: its transactions run one after another, so no two completions can
    // each have seen the other unfinished.)
    const ended = !!r.ended || (r.state === "running" && !!r.open && !r.waiting && !isEmbedded(db) && (await finishRunIfDone(db, task.run, plan)));
    // Ended in the call: it said whether runs wait for the slot; ended here: look.
    if (r.ended ? r.promote : ended) await afterRunChange(db, task.run);
  });
  return { claimed, queued: queued.length };
}

/**
 * What a completion does once its commit is durable (end the run, start queued runs): tried a
 * few more times on a deadlock, and otherwise logged — never thrown to the worker, whose retry
 * of the whole completion would find the task succeeded and drop its output as a lost lease's.
 */
async function afterCommit(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await withDbRetry(fn);
  } catch (error) {
    console.error(`${what}: after its completion: ${(error as Error).message}`);
  }
}

// ---------------------------------------------------------------- database functions

/** Call one of the runtime's SQL functions: its jsonb result, parsed (a driver may hand jsonb over as text). */
async function callFunction<T>(db: Db, call: SQL): Promise<T | undefined> {
  const [res] = await preparedRowsOf<{ r: T | string | null }>(db, sql`select ${call} as r`);
  return jsonResult<T>(res?.r);
}

/** As `callFunction`, the result arriving before its commit is durable (`preparedRowsBeforeCommit`). */
async function callFunctionBeforeCommit<T>(db: Db, call: SQL): Promise<{ result: T | undefined; committed: Promise<void> }> {
  const { rows: [res], committed } = await preparedRowsBeforeCommit<{ r: T | string | null }>(db, sql`select ${call} as r`);
  return { result: jsonResult<T>(res?.r), committed };
}

function jsonResult<T>(r: T | string | null | undefined): T | undefined {
  return typeof r === "string" ? (JSON.parse(r) as T) : (r ?? undefined);
}

/** The arguments both completion functions start with (those of RECORD_SUCCESS_FN, which COMPLETE_FN calls and COMPLETE_SIMPLE_FN writes out). */
function successArgs(task: ClaimedTask, outcome: TaskOutcome): SQL {
  return sql`${task.runId}::uuid, ${task.id}::uuid, ${task.leaseToken}::bigint, ${outcome.rows ?? null}::bigint,
    ${outcome.outputTable ?? null}::text, ${outcome.result ? JSON.stringify(outcome.result) : null}::text::jsonb`;
}

const RECORD_SUCCESS_FN = "tributary_record_success_v2";
const COMPLETE_FN = "tributary_complete_v4";
/** TASK_COLUMNS as text, for the function body. */
const TASK_COLUMNS_TEXT = `id, run_id as "runId", node_id as "nodeId", map_index as "mapIndex", attempt, state, pool, priority,
  lease_token::float8 as "leaseToken", rows::float8 as rows, output_table as "outputTable", result, item, lease_losses as "leaseLosses",
  error, created_at as "createdAt", started_at as "startedAt", finished_at as "finishedAt"`;

/**
 * The advisory lock under which a pipeline's runs are started (promoteRuns, START_FN, and
 * COMPLETE_SIMPLE_FN's look for queued runs): `hashtext(PROMOTE_LOCK || pipeline id)`, the id
 * as stored (lower case).
 */
const PROMOTE_LOCK = "tributary.promote.";
const START_FN = "tributary_start_run_v1";
const CLAIM_FN = "tributary_claim_v3";
/** The states of a task not yet final, as the partial index task_runs_open_idx lists them (written the same way, so the planner uses it). */
const OPEN_STATES_SQL = "'pending', 'queued', 'running', 'up_for_retry'";
const COMPLETE_SIMPLE_FN = "tributary_complete_simple_v11";
const APPLY_FN = "tributary_advance_v1";

/**
 * The claim, in plpgsql, for CLAIM_FN and COMPLETE_SIMPLE_FN: lock up to `limit` ready tasks
 * in claim order (SKIP LOCKED; none of a pool in the text[] `excluded`, when given), mark them
 * running with a new lease and fencing token, log TASK_STARTED, and put their rows (jsonb) into
 * `into`, which keeps its value when nothing was ready. The function declares `v_ids tid[]`.
 */
function claimStatements(limit: string, into: string, excluded?: string): string {
  return `
  -- Claim order is task_runs_ready_idx's order: read from it, never sorted. Left to itself the
  -- planner, which has no statistics on a fresh table (nor ever on PGlite, which runs no
  -- autovacuum), read every open task of the running runs through the run_id index and sorted
  -- them: ≈ 5–11 ms a claim with 5,000 tasks queued, against ≈ 1.2 ms.
  perform set_config('enable_sort', 'off', true);
  v_ids := array(
    select c.ctid from task_runs c join runs r on r.id = c.run_id
     where c.state in ('queued', 'up_for_retry') and (c.ready_at is null or c.ready_at <= now()) and r.state = 'running'${
       excluded ? `\n       and c.pool <> all(${excluded})` : ""}
     order by c.priority desc nulls last, c.created_at, c.id
     limit ${limit} for update of c skip locked);
  perform set_config('enable_sort', 'on', true);
  if cardinality(v_ids) > 0 then
    with claimed as (
      update task_runs set state = 'running', worker_id = p_worker, lease_token = lease_token + 1,
             lease_until = now() + make_interval(secs => p_lease), started_at = now()
       where ctid = any(v_ids) -- the rows just locked (a locked row keeps its place): a TID scan, whatever the statistics
      returning ${TASK_COLUMNS_TEXT}),
    started as (
      insert into run_events (run_id, task_run_id, type, payload)
      select "runId", id, 'TASK_STARTED', jsonb_build_object('node', "nodeId", 'attempt', attempt, 'mapIndex', "mapIndex", 'worker', p_worker)
        from claimed)
    select coalesce(jsonb_agg(c), '[]'::jsonb) into ${into} from claimed c;
  end if;`;
}

/**
 * The CTE `ev` of a function that moves tasks: it inserts the given events (`p_events`, in their
 * order) and then those of the moved tasks, selected by `moved` (run, task, type, payload, part,
 * 0), in the order of their `part`. Shared by APPLY_FN and COMPLETE_SIMPLE_FN (same SQL as before it was shared).
 */
function eventsCte(moved: string): string {
  return `       ev as (insert into run_events (run_id, task_run_id, type, payload)
              select run_id, task_run_id, type, payload from (
                select (e->>'runId')::uuid as run_id, (e->>'taskRunId')::uuid as task_run_id, e->>'type' as type,
                       coalesce(e->'payload', '{}'::jsonb) as payload, 0 as part, n
                  from jsonb_array_elements(p_events) with ordinality as x(e, n)
                union all
                ${moved}
                order by part, n) all_events)`;
}

/**
 * Functions rather than statements: one round trip each, and their plans are cached per
 * connection (PGlite parses and plans every statement it is sent). Versioned names: a changed
 * body gets a new name, so processes of different versions never call each other's.
 */
const FUNCTIONS_SQL = [`
create or replace function ${RECORD_SUCCESS_FN}(p_run uuid, p_task uuid, p_token bigint, p_rows bigint, p_output text, p_result jsonb, p_lock boolean)
returns text language plpgsql as $fn$
-- Record the success, fenced by the lease token; with p_lock, first lock the run's row
-- (completions that decide other nodes' fate serialize on it). Returns the run's state, or
-- null when the attempt no longer holds the task.
declare
  v_state text;
begin
  if p_lock then
    select state into v_state from runs where id = p_run for no key update;
  else
    select state into v_state from runs where id = p_run;
  end if;
  update task_runs set state = 'success', finished_at = now(), rows = p_rows, output_table = p_output, result = p_result,
         error = null, lease_until = null
   where id = p_task and lease_token = p_token and state = 'running';
  if not found then
    return null;
  end if;
  return v_state;
end
$fn$`, `
create or replace function ${START_FN}(p_run uuid, p_pipeline uuid, p_version int, p_trigger text, p_logical timestamptz, p_params jsonb,
                                       p_schema text, p_draft boolean, p_files text, p_max int, p_nodes jsonb, p_queued_payload jsonb)
returns setof runs language plpgsql as $fn$
-- startRun in one transaction: insert the run with its task rows (p_nodes: [id, pool, priority,
-- root] in the plan's order) and RUN_QUEUED; then, under promoteRuns's lock and by its rule, start
-- it at once when it may — a draft, or fewer than p_max runs of the pipeline running and none
-- queued before it: running, RUN_STARTED, and its roots queued (no upstream: every trigger rule
-- holds; every other node waits for pending upstream) with their TASK_QUEUED events in plan
-- order. Otherwise it stays queued (the caller then runs promoteRuns). Returns the run's row.
declare
  v_start boolean;
begin
  perform pg_advisory_xact_lock(hashtext('${PROMOTE_LOCK}' || p_pipeline::text));
  v_start := p_draft or (
    (select count(*) from runs where pipeline_id = p_pipeline and state = 'running' and not draft) < p_max
    and not exists (select 1 from runs where pipeline_id = p_pipeline and state = 'queued'));
  insert into runs (id, pipeline_id, version, trigger, logical_date, params, state, schema_name, draft, files_dir, started_at)
  values (p_run, p_pipeline, p_version, p_trigger, p_logical, p_params, case when v_start then 'running' else 'queued' end,
          p_schema, p_draft, p_files, case when v_start then now() end);
  insert into task_runs (run_id, node_id, map_index, attempt, state, pool, priority)
  select p_run, n->>0, -1, 1, case when v_start and (n->>3)::boolean then 'queued' else 'pending' end, n->>1, (n->>2)::int
    from jsonb_array_elements(p_nodes) as x(n);
  insert into run_events (run_id, type, payload) values (p_run, 'RUN_QUEUED', p_queued_payload);
  if v_start then
    insert into run_events (run_id, type, payload) values (p_run, 'RUN_STARTED', '{}'::jsonb);
    insert into run_events (run_id, task_run_id, type, payload)
    select p_run, t.id, 'TASK_QUEUED', jsonb_build_object('node', t.node_id)
      from jsonb_array_elements(p_nodes) with ordinality as x(n, i)
      join task_runs t on t.run_id = p_run and t.node_id = n->>0 and t.map_index = -1 and t.attempt = 1
     where (n->>3)::boolean
     order by i;
  end if;
  return query select * from runs where id = p_run;
end
$fn$`, `
create or replace function ${CLAIM_FN}(p_worker text, p_lease float8, p_limit int, p_exclude jsonb)
returns jsonb language plpgsql as $fn$
declare
  v_ids tid[];
  v_exclude text[];
  v_out jsonb := '[]'::jsonb;
begin
  v_exclude := array(select jsonb_array_elements_text(p_exclude));
${claimStatements("p_limit", "v_out", "v_exclude")}
  return v_out;
end
$fn$`, `
create or replace function ${APPLY_FN}(p_run uuid, p_queue jsonb, p_skip jsonb, p_fail jsonb, p_events jsonb)
returns jsonb language plpgsql as $fn$
declare
  v_queue text[];
  v_skip text[];
  v_fail text[];
  v_out jsonb;
begin
  v_queue := array(select jsonb_array_elements_text(p_queue));
  v_skip := array(select jsonb_array_elements_text(p_skip));
  v_fail := array(select jsonb_array_elements_text(p_fail));
  with q as (update task_runs set state = 'queued'
              where run_id = p_run and map_index = -1 and state = 'pending' and node_id = any(v_queue)
              returning id, node_id, 'TASK_QUEUED'::text as type, 1 as part),
       s as (update task_runs set state = 'skipped', finished_at = now()
              where run_id = p_run and map_index = -1 and state = 'pending' and node_id = any(v_skip)
              returning id, node_id, 'TASK_SKIPPED'::text as type, 2 as part),
       f as (update task_runs set state = 'upstream_failed', finished_at = now()
              where run_id = p_run and map_index = -1 and state = 'pending' and node_id = any(v_fail)
              returning id, node_id, 'TASK_UPSTREAM_FAILED'::text as type, 3 as part),
       moved as (select * from q union all select * from s union all select * from f),
${eventsCte("select p_run, id, type, jsonb_build_object('node', node_id), part, 0 from moved")}
  select coalesce(jsonb_agg(jsonb_build_object('id', id, 'nodeId', node_id, 'type', type) order by part), '[]'::jsonb) into v_out from moved;
  return v_out;
end
$fn$`, `
create or replace function ${COMPLETE_SIMPLE_FN}(p_run uuid, p_task uuid, p_token bigint, p_rows bigint, p_output text, p_result jsonb, p_queue jsonb, p_events jsonb,
                                                  p_worker text, p_lease float8, p_claim int)
returns jsonb language plpgsql as $fn$
-- Record the success, queue the successors, end the run when it is done, and (p_claim > 0)
-- claim the next ready tasks for the worker whose slot this frees: one transaction, one commit.
-- What ${RECORD_SUCCESS_FN}, ${APPLY_FN} and ${CLAIM_FN} do for this case is written out here,
-- not called: every statement of a completion is paid once per task.
declare
  v_state text;
  v_moved jsonb;
  v_open boolean;
  v_outcome text;
  v_ended boolean := false;
  v_pipeline uuid;
  v_promote boolean := false;
  v_claimed jsonb := '[]'::jsonb;
  v_waiting boolean := false;
  v_ids tid[];
begin
  -- No lock on the run: this completion decides only its own downstream (each reads from this
  -- task alone), so completions of one run do not wait for each other's commits. The one thing
  -- they share is ending the run; see 'waiting' below.
  update task_runs set state = 'success', finished_at = now(), rows = p_rows, output_table = p_output, result = p_result,
         error = null, lease_until = null
   where id = p_task and lease_token = p_token and state = 'running';
  if not found then
    return jsonb_build_object('ok', false); -- fenced: the attempt no longer holds the task
  end if;
  select state, pipeline_id into v_state, v_pipeline from runs where id = p_run;
  -- Queue the successors (only while the run is running) and log this task's events, then theirs.
  with q as (update task_runs set state = 'queued'
              where run_id = p_run and map_index = -1 and state = 'pending' and v_state = 'running'
                and node_id = any(array(select jsonb_array_elements_text(p_queue)))
                and jsonb_array_length(p_queue) > 0 -- nothing to queue: not a row read (else, without statistics, every open task of the run)
              returning id, node_id),
${eventsCte("select p_run, id, 'TASK_QUEUED', jsonb_build_object('node', node_id), 1, 0 from q")}
  select coalesce(jsonb_agg(jsonb_build_object('id', id, 'nodeId', node_id, 'type', 'TASK_QUEUED')), '[]'::jsonb) into v_moved from q;
  select exists (select 1 from task_runs where run_id = p_run and state in (${OPEN_STATES_SQL})) into v_open;
  if v_state = 'running' and not v_open then
    -- Every task is final: the run ends here, by runOutcome's rule (states.ts), when no node has
    -- forEach items (else the caller decides in a transaction: this call is rolled back).
    if exists (select 1 from task_runs where run_id = p_run and map_index >= 0) then
      raise exception 'tributary: the run ends with forEach items' using errcode = 'TRB01';
    end if;
    select case when bool_or(s.state = 'canceled') then 'canceled'
                when bool_or(s.state in ('failed', 'upstream_failed')) then 'failed' else 'success' end
      into v_outcome
      from (select distinct on (node_id) state from task_runs where run_id = p_run and map_index = -1
             order by node_id, attempt desc) s;
    update runs set state = v_outcome, finished_at = now() where id = p_run and state = 'running';
    if found then
      insert into run_events (run_id, type, payload)
      values (p_run, case v_outcome when 'success' then 'RUN_SUCCEEDED' when 'failed' then 'RUN_FAILED' else 'RUN_CANCELED' end, '{}'::jsonb);
      v_ended := true;
      -- Whether runs of the pipeline wait for the slot this run frees (the caller then starts
      -- them). Looked for under promoteRuns's lock: a run queued by a start that saw this one
      -- still running has committed by then; a start after this commit sees this run ended.
      -- Only tried, not waited for (waiting here, holding this run's rows, could close a
      -- deadlock with a start and a pipeline's deletion): when a start or a promotion holds
      -- it, the caller looks after the commit, as promoteRuns, which waits for it there.
      if pg_try_advisory_xact_lock(hashtext('${PROMOTE_LOCK}' || v_pipeline::text)) then
        v_promote := exists (select 1 from runs where pipeline_id = v_pipeline and state = 'queued');
      else
        v_promote := true;
      end if;
    end if;
  end if;
  if v_open then
    -- Open tasks that are not running will end later and look again. When only running ones are
    -- left, two of them may be finishing at once, each seeing the other unfinished (neither
    -- commit is visible to the other): the caller looks again once this one is committed.
    v_waiting := exists (select 1 from task_runs where run_id = p_run and state in (${OPEN_STATES_SQL}) and state <> 'running');
  end if;
  if p_claim > 0 then
    -- As ${CLAIM_FN}, with no pool excluded (the caller claims here only when no pool has a limit).
${claimStatements("p_claim", "v_claimed")}
  end if;
  return jsonb_build_object('ok', true, 'state', v_state, 'moved', v_moved, 'open', v_open, 'waiting', v_waiting, 'ended', v_ended,
                            'promote', v_promote, 'claimed', v_claimed);
end
$fn$`, `
create or replace function ${COMPLETE_FN}(p_run uuid, p_task uuid, p_token bigint, p_rows bigint, p_output text, p_result jsonb, p_need jsonb)
returns jsonb language plpgsql as $fn$
declare
  v_state text;
  v_need text[];
  v_rows jsonb;
  v_open boolean;
begin
  v_state := ${RECORD_SUCCESS_FN}(p_run, p_task, p_token, p_rows, p_output, p_result, true);
  if v_state is null then
    return jsonb_build_object('ok', false);
  end if;
  v_need := array(select jsonb_array_elements_text(p_need));
  select coalesce(jsonb_agg(t), '[]'::jsonb) into v_rows from (
    select distinct on (node_id, map_index) ${TASK_COLUMNS_TEXT} from task_runs
     where run_id = p_run and node_id = any(v_need) order by node_id, map_index, attempt desc) t;
  select exists (select 1 from task_runs where run_id = p_run and node_id <> all(v_need)
                   and state in (${OPEN_STATES_SQL})) into v_open;
  return jsonb_build_object('ok', true, 'state', v_state, 'rows', v_rows, 'open', v_open);
end
$fn$`];

const functionsReady = new WeakMap<Db, Promise<void>>();

/** The runtime's SQL functions in the app database: (re)created once per process, under a lock (concurrent CREATE OR REPLACE collide). */
function ensureRuntimeFunctions(db: Db): Promise<void> {
  let ready = functionsReady.get(db);
  if (!ready) {
    ready = db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext('tributary.runtime_functions'))`);
      for (const statement of FUNCTIONS_SQL) await tx.execute(sql.raw(statement));
    });
    ready.catch(() => functionsReady.delete(db));
    functionsReady.set(db, ready);
  }
  return ready;
}

/** Upstream rows of tasks this process queued (all final, so still true when the task is claimed): saves the executor a read. */
const upstreamKnown = new Map<string, TaskRow[]>();

function rememberUpstream(taskId: string, rows: TaskRow[]): void {
  if (upstreamKnown.size > 10_000) upstreamKnown.clear();
  upstreamKnown.set(taskId, rows);
}

function takeUpstream(taskId: string): TaskRow[] | undefined {
  const rows = upstreamKnown.get(taskId);
  upstreamKnown.delete(taskId);
  return rows;
}

/** The node ids whose state may have settled with this task (an item settles its node only when it is the last). */
async function settledNodes(db: Db, task: TaskRow, outcome: TaskOutcome): Promise<string[]> {
  if (outcome.items && outcome.items.length > 0) return [];
  if (task.mapIndex === -1) return [task.nodeId];
  const rows = await latestTasks(db, task.runId, [task.nodeId]);
  return isTerminal(nodeStateOf(rows)) ? [task.nodeId] : [];
}

/**
 * Record a failure, fenced like success. With retries left (or after a lost lease) a
 * new attempt is scheduled after the RetryPolicy's delay; otherwise the task fails and
 * its downstream is decided.
 */
export async function failTask(db: Db, task: ClaimedTask, failure: TaskFailure, opts: { leaseLost?: boolean; canceled?: boolean } = {}): Promise<{ retrying: boolean }> {
  const retrying = await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    await t.execute(sql`select id from runs where id = ${task.runId} for no key update`);
    const plan = await planOfRun(t, task.run);
    const settings = plan.nodes.get(task.nodeId)!.settings;
    const error = { message: failure.message, kind: failure.kind, retryable: failure.retryable, ...failure.details };
    // A lost lease always ends the attempt as failed (a new attempt follows), even in a canceled run.
    const state: TaskState = opts.canceled && !opts.leaseLost ? "canceled" : "failed";
    const updated = await rowsOf<{ id: string }>(
      t,
      sql`update task_runs set state = ${state}, finished_at = now(), error = ${JSON.stringify(error)}::text::jsonb, lease_until = null
          where id = ${task.id} and lease_token = ${task.leaseToken} and state = 'running' returning id`,
    );
    if (updated.length === 0) throw new LeaseLostError(task.id);
    const run = await getRunRow(t, task.runId);
    const retriesUsed = task.attempt - 1 - task.leaseLosses;
    const again =
      !opts.canceled && run.state === "running" &&
      (opts.leaseLost ? task.leaseLosses < 3 : failure.retryable && retriesUsed < settings.retries);
    const events: RunEvent[] = [];
    if (again) {
      const delay = opts.leaseLost ? 0 : retryDelaySeconds(retryPolicyOf(settings), retriesUsed + 1);
      const [next] = await rowsOf<{ id: string }>(
        t,
        sql`insert into task_runs (run_id, node_id, map_index, attempt, state, pool, priority, ready_at, item, lease_losses)
            values (${task.runId}, ${task.nodeId}, ${task.mapIndex}, ${task.attempt + 1}, 'up_for_retry', ${task.pool}, ${task.priority},
                    now() + make_interval(secs => ${delay}), ${task.item ? JSON.stringify(task.item) : null}::text::jsonb, ${task.leaseLosses + (opts.leaseLost ? 1 : 0)})
            returning id`,
      );
      events.push({
        runId: task.runId, taskRunId: task.id, type: opts.leaseLost ? "TASK_LEASE_LOST" : "TASK_FAILED",
        payload: { node: task.nodeId, mapIndex: task.mapIndex, attempt: task.attempt, error: failure.message },
      });
      events.push({ runId: task.runId, taskRunId: next!.id, type: "TASK_UP_FOR_RETRY", payload: { node: task.nodeId, mapIndex: task.mapIndex, attempt: task.attempt + 1, delaySeconds: delay } });
    } else {
      events.push({
        runId: task.runId, taskRunId: task.id, type: opts.canceled ? "TASK_CANCELED" : "TASK_FAILED",
        payload: { node: task.nodeId, mapIndex: task.mapIndex, attempt: task.attempt, error: failure.message, final: true },
      });
    }
    await appendEvents(t, events);
    if (!again) await advance(t, run, plan, await settledNodes(t, task, {}));
    return again;
  });
  await afterRunChange(db, task.run);
  return { retrying };
}

/** After a run may have ended: start queued runs of its pipeline. */
async function afterRunChange(db: Db, run: RunRow): Promise<void> {
  const now = await getRunRow(db, run.id);
  if (TERMINAL_RUN_STATES.has(now.state)) {
    const plan = await planOfRun(db, now);
    await promoteRuns(db, now.pipelineId, plan.pipeline.maxActiveRuns ?? 1);
  }
}

/** Tasks whose lease lapsed (their worker died or stalled): each becomes a new attempt. */
export async function reapLapsedLeases(db: Db): Promise<number> {
  const lapsed = await rowsOf<TaskRow>(
    db,
    sql`select ${TASK_COLUMNS} from task_runs where state = 'running' and lease_until < now() order by lease_until limit 100`,
  );
  let n = 0;
  for (const raw of lapsed) {
    const task = taskRow(raw);
    try {
      const run = await getRunRow(db, task.runId);
      await failTask(db, { ...task, run }, new TaskFailure("the worker running this task stopped answering (its lease lapsed)", true, "lease_lost"), { leaseLost: true });
      n++;
    } catch (error) {
      if (!(error instanceof LeaseLostError)) throw error;
    }
  }
  return n;
}

// ---------------------------------------------------------------- operator actions

/** Cancel a run: it ends canceled, its unfinished tasks are canceled; running ones stop at their next heartbeat. */
export async function cancelRun(db: Db, runId: string): Promise<RunRow> {
  // Retried on a deadlock: the last task's completion (which does not lock the run's row until
  // it ends the run) may hold task rows this needs while waiting for the run's row this holds.
  await withDbRetry(() => db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const [run] = await rowsOf<{ state: RunState }>(t, sql`select state from runs where id = ${runId} for no key update`);
    if (!run) throw new NotFoundError(`no run with id ${runId}`);
    if (TERMINAL_RUN_STATES.has(run.state)) return;
    await t.execute(sql`update runs set state = 'canceled', finished_at = now() where id = ${runId}`);
    const canceled = await rowsOf<{ id: string; nodeId: string }>(
      t,
      sql`update task_runs set state = 'canceled', finished_at = now()
          where run_id = ${runId} and state in ('pending', 'queued', 'up_for_retry', 'running') returning id, node_id as "nodeId"`,
    );
    await appendEvents(t, [
      ...canceled.map((c) => ({ runId, taskRunId: c.id, type: "TASK_CANCELED" as const, payload: { node: c.nodeId } })),
      { runId, type: "RUN_CANCELED" },
    ]);
  }));
  const run = await getRunRow(db, runId);
  await promoteRuns(db, run.pipelineId, (await planOfRun(db, run)).pipeline.maxActiveRuns ?? 1);
  return run;
}

/**
 * Run again the nodes in `targets` (fresh attempts; for forEach nodes with a
 * successful expansion, only their failed items), keep every other output, and
 * put the run back to running.
 */
async function reopen(db: Db, runId: string, pick: (plan: Plan, rows: Map<string, TaskRow[]>) => { nodes: string[]; items: TaskRow[] }): Promise<RunRow> {
  await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const [locked] = await rowsOf<{ state: RunState; dropped: Date | string | null }>(
      t,
      sql`select state, outputs_dropped_at as dropped from runs where id = ${runId} for no key update`,
    );
    if (!locked) throw new NotFoundError(`no run with id ${runId}`);
    if (!TERMINAL_RUN_STATES.has(locked.state)) throw new ValidationError([{ code: "schema", severity: "error", path: ["run"], message: `run ${runId} is ${locked.state}; only a finished run can be retried or rerun` }]);
    // Retention marks a run under the same row lock before it drops the outputs a reopened run would reuse.
    if (locked.dropped) throw outputsDropped({ id: runId, outputsDroppedAt: new Date(locked.dropped) });
    const run = await getRunRow(t, runId);
    const plan = await planOfRun(t, run);
    const rows = groupByNode(await latestTasks(t, runId));
    const { nodes, items } = pick(plan, rows);
    const values = [
      ...nodes.map((id) => {
        const latest = rows.get(id)?.find((r) => r.mapIndex === -1);
        const s = plan.nodes.get(id)!.settings;
        return sql`(${runId}, ${id}, -1, ${(latest?.attempt ?? 0) + 1}, 'pending', ${s.pool}, ${s.priority}, null::jsonb)`;
      }),
      ...items.map((r) => sql`(${runId}, ${r.nodeId}, ${r.mapIndex}, ${r.attempt + 1}, 'queued', ${r.pool}, ${r.priority}, ${r.item ? JSON.stringify(r.item) : null}::text::jsonb)`),
    ];
    if (values.length === 0) return;
    await t.execute(sql`insert into task_runs (run_id, node_id, map_index, attempt, state, pool, priority, item) values ${sql.join(values, sql`, `)}`);
    // A forEach node whose items run again is pending its items, not its expansion: mark the expansion's node as running via its items.
    await t.execute(sql`update runs set state = 'queued', finished_at = null where id = ${runId}`);
    await appendEvents(t, [{ runId, type: "RUN_RETRIED", payload: { nodes, items: items.length } }, { runId, type: "RUN_QUEUED" }]);
  });
  const run = await getRunRow(db, runId);
  await promoteRuns(db, run.pipelineId, (await planOfRun(db, run)).pipeline.maxActiveRuns ?? 1);
  return getRunRow(db, runId);
}

/** Retry failed: only failed, upstream_failed and canceled tasks run again; successful outputs are reused. */
export function retryFailed(db: Db, runId: string): Promise<RunRow> {
  return reopen(db, runId, (plan, rows) => {
    const nodes: string[] = [];
    const items: TaskRow[] = [];
    for (const id of plan.nodes.keys()) {
      const list = rows.get(id) ?? [];
      const own = list.find((r) => r.mapIndex === -1);
      const state = nodeStateOf(list);
      if (!["failed", "upstream_failed", "canceled"].includes(state)) continue;
      if (own?.state === "success" && own.result?.items !== undefined) {
        items.push(...list.filter((r) => r.mapIndex >= 0 && r.mapIndex < own.result!.items! && ["failed", "upstream_failed", "canceled"].includes(r.state)));
      } else nodes.push(id);
    }
    return { nodes, items };
  });
}

/** Rerun from a node: it and everything downstream of it run again. */
export function rerunFrom(db: Db, runId: string, nodeId: string): Promise<RunRow> {
  return reopen(db, runId, (plan) => {
    if (!plan.nodes.has(nodeId)) throw new NotFoundError(`run ${runId} has no node '${nodeId}'`);
    return { nodes: [...downstreamClosure(plan, [nodeId])], items: [] };
  });
}
