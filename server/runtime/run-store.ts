/**
 * Runs and tasks in the app database: start, claim, heartbeat, complete, fail,
 * cancel, retry. Every transition appends its events in the same transaction,
 * and `advance` decides what can run next from the trigger rules.
 */
import { and, eq, sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { NotFoundError } from "@/db/errors";
import { pipelines, pipelineVersions } from "@/db/schema";
import {
  isError, paramValueProblem, retryDelaySeconds, retryPolicyOf, validate, ValidationError,
  type PipelineFile, type Problem,
} from "@/server/pipeline";
import type { SqlAnalyzer } from "@/server/pipeline/sql-references";
import { LeaseLostError, TaskFailure } from "./errors";
import { runEventFor, type EventType, type RunEvent } from "./events";
import { buildPlan, downstreamClosure, planFor, type Plan } from "./plan";
import { runSchemaName } from "./outputs";
import { rowsOf } from "./sql";
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
  schema_name as "schemaName", files_dir as "filesDir", draft, sample_rows as "sampleRows", created_at as "createdAt", started_at as "startedAt", finished_at as "finishedAt"`);

function fixDates<T extends object>(row: T, keys: (keyof T)[]): T {
  const r = row as Record<keyof T, unknown>;
  for (const k of keys) {
    const v = r[k];
    if (v !== null && v !== undefined && !(v instanceof Date)) r[k] = new Date(v as string);
  }
  return row;
}
export const runRow = (r: RunRow) => fixDates(r, ["logicalDate", "createdAt", "startedAt", "finishedAt"]);
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

  const run = await db.transaction(async (tx) => {
    const [inserted] = await rowsOf<RunRow>(
      tx as unknown as Db,
      sql`insert into runs (id, pipeline_id, version, trigger, logical_date, params, state, schema_name, draft, files_dir)
          values (${runId}, ${p.id}, ${version}, ${input.trigger ?? "manual"}, ${logicalDate.toISOString()}, ${JSON.stringify(params)}::text::jsonb,
                  'queued', ${runSchemaName(runId)}, ${input.draft ?? false}, ${input.filesDir ?? null})
          returning ${RUN_COLUMNS}`,
    );
    const values = [...plan.nodes.values()].map(
      (n) => sql`(${runId}, ${n.node.id}, -1, 1, 'pending', ${n.settings.pool}, ${n.settings.priority})`,
    );
    if (values.length) {
      await tx.execute(sql`insert into task_runs (run_id, node_id, map_index, attempt, state, pool, priority) values ${sql.join(values, sql`, `)}`);
    }
    await appendEvents(tx as unknown as Db, [{ runId, type: "RUN_QUEUED", payload: { version, trigger: input.trigger ?? "manual", params } }]);
    return runRow(inserted!);
  });
  await promoteRuns(db, p.id, plan.pipeline.maxActiveRuns ?? 1);
  return getRunRow(db, run.id);
}

/** Start queued runs of a pipeline while fewer than `maxActiveRuns` are running (draft runs do not count). */
export async function promoteRuns(db: Db, pipelineId: string, maxActiveRuns: number): Promise<void> {
  await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    await t.execute(sql`select pg_advisory_xact_lock(hashtext(${"tributary.promote." + pipelineId}))`);
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
export async function advance(db: Db, run: RunRow, plan: Plan, changed: readonly string[] | "all", pending: RunEvent[] = []): Promise<void> {
  if (run.state !== "running") {
    await appendEvents(db, pending);
    return;
  }
  let candidates = new Set<string>(changed === "all" ? plan.nodes.keys() : changed.flatMap((id) => plan.nodes.get(id)?.downstream ?? []));
  const events: RunEvent[] = [...pending];
  const queue: string[] = [];
  const finalize: { ids: string[]; state: "skipped" | "upstream_failed" }[] = [];
  const known = new Map<string, TaskState>();
  let anyTerminal = changed === "all";

  while (candidates.size) {
    const need = new Set<string>();
    for (const id of candidates) {
      need.add(id);
      for (const e of plan.nodes.get(id)?.upstream ?? []) if (!known.has(e.from)) need.add(e.from);
    }
    const missing = [...need].filter((id) => !known.has(id));
    const rows = groupByNode(await latestTasks(db, run.id, missing));
    for (const id of missing) known.set(id, nodeStateOf(rows.get(id) ?? []));
    const branchOf = new Map<string, boolean | undefined>();
    for (const [id, list] of rows) branchOf.set(id, list.find((r) => r.mapIndex === -1)?.result?.branch);

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
        finalize.push({ ids: [id], state: decision });
        known.set(id, decision);
        anyTerminal = true;
        for (const d of pn.downstream) next.add(d);
      }
    }
    candidates = next;
  }

  if (queue.length) {
    const queued = await rowsOf<{ id: string; nodeId: string }>(
      db,
      sql`update task_runs set state = 'queued' where run_id = ${run.id} and map_index = -1 and state = 'pending'
          and node_id in (${sql.join(queue.map((id) => sql`${id}`), sql`, `)}) returning id, node_id as "nodeId"`,
    );
    for (const q of queued) events.push({ runId: run.id, taskRunId: q.id, type: "TASK_QUEUED", payload: { node: q.nodeId } });
  }
  for (const f of finalize) {
    const done = await rowsOf<{ id: string; nodeId: string }>(
      db,
      sql`update task_runs set state = ${f.state}, finished_at = now() where run_id = ${run.id} and map_index = -1 and state = 'pending'
          and node_id in (${sql.join(f.ids.map((id) => sql`${id}`), sql`, `)}) returning id, node_id as "nodeId"`,
    );
    const type: EventType = f.state === "skipped" ? "TASK_SKIPPED" : "TASK_UPSTREAM_FAILED";
    for (const d of done) events.push({ runId: run.id, taskRunId: d.id, type, payload: { node: d.nodeId } });
  }
  await appendEvents(db, events);
  if (anyTerminal || changed !== "all") await finishRunIfDone(db, run, plan);
}

/** End the run when every node is terminal: success, failed or canceled by its nodes' states. */
async function finishRunIfDone(db: Db, run: RunRow, plan: Plan): Promise<void> {
  // Only a newest attempt can be unfinished (an older one ended before the next was made).
  const [open] = await rowsOf<{ open: boolean }>(
    db,
    sql`select exists (select 1 from task_runs where run_id = ${run.id}
          and state not in ('success', 'failed', 'upstream_failed', 'skipped', 'canceled')) as open`,
  );
  if (open?.open) return;
  const rows = groupByNode(await latestTasks(db, run.id));
  const outcome = runOutcome([...plan.nodes.keys()].map((id) => nodeStateOf(rows.get(id) ?? [])));
  if (!outcome) return;
  const moved = await rowsOf<{ id: string }>(
    db,
    sql`update runs set state = ${outcome}, finished_at = now() where id = ${run.id} and state = 'running' returning id`,
  );
  if (moved.length) await appendEvents(db, [{ runId: run.id, type: runEventFor(outcome) }]);
}

// ---------------------------------------------------------------- the queue

export interface ClaimedTask extends TaskRow {
  run: RunRow;
}

/**
 * Claim the next ready task: highest priority, then oldest, skipping rows other
 * workers hold (FOR UPDATE SKIP LOCKED), of running runs only, not before its
 * ready time. A pool with a slot limit is checked under a per-pool lock, so
 * concurrent claims never overfill it. The lease is computed from database time
 * and the fencing token is bumped.
 */
export async function claimTask(db: Db, workerId: string, leaseSeconds: number, excludePools: readonly string[] = []): Promise<ClaimedTask | null> {
  const pooled = await hasPools(db);
  const excluded = [...excludePools];
  for (let attempt = 0; attempt < 8; attempt++) {
    const notPools = excluded.length ? sql`and c.pool not in (${sql.join(excluded.map((p) => sql`${p}`), sql`, `)})` : sql``;
    // One statement: claim the row, log TASK_STARTED, return the task.
    const claim = sql`
      with claimed as (
        update task_runs set state = 'running', worker_id = ${workerId}, lease_token = lease_token + 1,
          lease_until = now() + make_interval(secs => ${leaseSeconds}), started_at = now()
        where id = (
          select c.id from task_runs c join runs r on r.id = c.run_id
          where c.state in ('queued', 'up_for_retry') and (c.ready_at is null or c.ready_at <= now()) and r.state = 'running' ${notPools}
          order by c.priority desc, c.created_at, c.id
          limit 1 for update of c skip locked)
        returning ${TASK_COLUMNS}),
      started as (
        insert into run_events (run_id, task_run_id, type, payload)
        select "runId", id, 'TASK_STARTED', jsonb_build_object('node', "nodeId", 'attempt', attempt, 'mapIndex', "mapIndex", 'worker', ${workerId}::text)
        from claimed)
      select * from claimed`;
    let claimed: TaskRow | undefined;
    if (!pooled) {
      [claimed] = await rowsOf<TaskRow>(db, claim);
    } else {
      try {
        claimed = await db.transaction(async (tx) => {
          const t = tx as unknown as Db;
          const [row] = await rowsOf<TaskRow>(t, claim);
          if (!row) return undefined;
          const [limit] = await rowsOf<{ slots: number }>(t, sql`select slots from pools where name = ${row.pool}`);
          if (limit) {
            // Claims of one pool serialize here, so concurrent workers never overfill it.
            await t.execute(sql`select pg_advisory_xact_lock(hashtext(${"tributary.pool." + row.pool}))`);
            const [{ n } = { n: 0 }] = await rowsOf<{ n: number }>(t, sql`select count(*)::int as n from task_runs where pool = ${row.pool} and state = 'running'`);
            if (n > limit.slots) throw new PoolFull(row.pool); // rolls the claim back
          }
          return row;
        });
      } catch (error) {
        if (!(error instanceof PoolFull)) throw error;
        excluded.push(error.pool);
        continue;
      }
    }
    if (!claimed) return null;
    const task = taskRow(claimed);
    return { ...task, run: await cachedRunRow(db, task.runId) };
  }
  return null;
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
  const [row] = await rowsOf<{ state: string; runState: string }>(
    db,
    sql`update task_runs t set lease_until = now() + make_interval(secs => ${leaseSeconds})
        from runs r where t.id = ${task.id} and t.lease_token = ${task.leaseToken} and t.state = 'running' and r.id = t.run_id
        returning t.state, r.state as "runState"`,
  );
  if (!row) {
    const [now] = await rowsOf<{ state: string }>(db, sql`select state from task_runs where id = ${task.id}`);
    return now?.state === "canceled" ? "canceled" : "lost";
  }
  return row.runState === "canceled" ? "canceled" : "ok";
}

export interface TaskOutcome {
  rows?: number;
  outputTable?: string;
  result?: { branch?: boolean; items?: number; violations?: number };
  /** forEach expansion: one item task per entry. */
  items?: Record<string, unknown>[];
}

/**
 * Record success, fenced: only the holder of the current lease token may. Then
 * queue what this unblocks. A stale holder gets LeaseLostError and its result is dropped.
 */
export async function completeTask(db: Db, task: ClaimedTask, outcome: TaskOutcome): Promise<void> {
  const ended = await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    // Completions of one run serialize on its row, so `advance` sees a consistent picture.
    // NO KEY UPDATE: it must not block the foreign-key checks of concurrent event inserts
    // (claims log TASK_STARTED), which FOR UPDATE would, and deadlock.
    const [locked] = await rowsOf<RunRow>(t, sql`select ${RUN_COLUMNS} from runs where id = ${task.runId} for no key update`);
    const done = await rowsOf<{ id: string }>(
      t,
      sql`update task_runs set state = 'success', finished_at = now(), rows = ${outcome.rows ?? null},
            output_table = ${outcome.outputTable ?? null}, result = ${outcome.result ? JSON.stringify(outcome.result) : null}::text::jsonb,
            error = null, lease_until = null
          where id = ${task.id} and lease_token = ${task.leaseToken} and state = 'running' returning id`,
    );
    if (done.length === 0) throw new LeaseLostError(task.id);
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
    const run = runRow(locked!);
    await advance(t, run, await planOfRun(t, run), await settledNodes(t, task, outcome), events);
    const [after] = await rowsOf<{ state: RunState }>(t, sql`select state from runs where id = ${task.runId}`);
    return after && TERMINAL_RUN_STATES.has(after.state);
  });
  if (ended) await afterRunChange(db, task.run);
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
    const state: TaskState = opts.canceled ? "canceled" : "failed";
    const updated = await rowsOf<{ id: string }>(
      t,
      opts.leaseLost
        ? sql`update task_runs set state = 'failed', finished_at = now(), error = ${JSON.stringify(error)}::text::jsonb, lease_until = null
              where id = ${task.id} and lease_token = ${task.leaseToken} and state = 'running' returning id`
        : sql`update task_runs set state = ${state}, finished_at = now(), error = ${JSON.stringify(error)}::text::jsonb, lease_until = null
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
  await db.transaction(async (tx) => {
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
  });
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
    const [locked] = await rowsOf<{ state: RunState }>(t, sql`select state from runs where id = ${runId} for no key update`);
    if (!locked) throw new NotFoundError(`no run with id ${runId}`);
    if (!TERMINAL_RUN_STATES.has(locked.state)) throw new ValidationError([{ code: "schema", severity: "error", path: ["run"], message: `run ${runId} is ${locked.state}; only a finished run can be retried or rerun` }]);
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
