/**
 * The app's metadata in Postgres (PGlite or a real server): pipelines and
 * their immutable versions, runs, task runs, the append-only event log, task
 * logs and connections. Outputs of nodes live in the warehouse, not here.
 */
import { sql } from "drizzle-orm";
import {
  bigint, bigserial, boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, unique, uuid,
} from "drizzle-orm/pg-core";
import type { PipelineFile } from "@/server/pipeline";

const createdAt = () => timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow();

export const pipelines = pgTable("pipelines", {
  id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
  name: text("name").notNull().unique(),
  description: text("description").notNull().default(""),
  /** The newest version; a save must name it as its base (optimistic concurrency). */
  currentVersion: integer("current_version").notNull(),
  /** A hidden pipeline that only holds draft runs of documents not saved anywhere yet (the assistant's dry runs, CLI `draft`). */
  scratch: boolean("scratch").notNull().default(false),
  createdAt: createdAt(),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
});

/** Every save is a new row; rows are never updated. */
export const pipelineVersions = pgTable(
  "pipeline_versions",
  {
    pipelineId: uuid("pipeline_id").notNull().references(() => pipelines.id, { onDelete: "cascade" }),
    version: integer("version").notNull(),
    document: jsonb("document").$type<PipelineFile>().notNull(),
    /** What made this version: "created", "saved", "imported", "renamed", "restored v3", … */
    message: text("message").notNull().default(""),
    nodeCount: integer("node_count").notNull(),
    /** Validation errors of this version when it was saved (drafts may be saved with problems). */
    errorCount: integer("error_count").notNull().default(0),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.pipelineId, t.version] })],
);

export const RUN_TRIGGERS = ["manual", "schedule", "webhook", "upstream", "backfill"] as const;
export const RUN_STATES = ["queued", "running", "success", "failed", "canceled"] as const;
export const TASK_STATES = [
  "pending", "queued", "running", "success", "failed", "up_for_retry", "upstream_failed", "skipped", "canceled",
] as const;

export const runs = pgTable(
  "runs",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    pipelineId: uuid("pipeline_id").notNull().references(() => pipelines.id, { onDelete: "cascade" }),
    /** The pinned version: a run never changes when the pipeline is edited. */
    version: integer("version").notNull(),
    trigger: text("trigger", { enum: RUN_TRIGGERS }).notNull(),
    logicalDate: timestamp("logical_date", { withTimezone: true, mode: "date" }).notNull(),
    params: jsonb("params").$type<Record<string, unknown>>().notNull().default({}),
    /** A cache of the reduction of this run's events (server/runtime/events.ts). */
    state: text("state", { enum: RUN_STATES }).notNull().default("queued"),
    /** The warehouse schema holding this run's outputs. */
    schemaName: text("schema_name").notNull().default(""),
    /** Where relative file paths of this run resolve (the pipeline file's folder from the CLI; the app's files folder otherwise). */
    filesDir: text("files_dir"),
    /** Draft runs (run one cell) materialize only what a node needs and are not listed as runs. */
    draft: boolean("draft").notNull().default(false),
    /** A draft run's own document (unsaved edits; only the target node's upstream closure). Null: the pinned version. */
    document: jsonb("document").$type<PipelineFile>(),
    /** Draft runs on sample data: sources stop after this many rows. */
    sampleRows: integer("sample_rows"),
    createdAt: createdAt(),
    startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }),
    finishedAt: timestamp("finished_at", { withTimezone: true, mode: "date" }),
    /** When retention dropped this finished run's outputs (its warehouse schema); its history stays. */
    outputsDroppedAt: timestamp("outputs_dropped_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    // At most one run per (pipeline, trigger, logical date): a key, not a timing habit.
    unique("runs_pipeline_trigger_logical_date").on(t.pipelineId, t.trigger, t.logicalDate),
    index("runs_state_idx").on(t.state),
    // Retention numbers a pipeline's runs whose outputs are still kept (server/runtime/retention.ts).
    index("runs_retention_idx").on(t.pipelineId, t.createdAt).where(sql`not draft and outputs_dropped_at is null`),
  ],
);

export const taskRuns = pgTable(
  "task_runs",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    runId: uuid("run_id").notNull().references(() => runs.id, { onDelete: "cascade" }),
    nodeId: text("node_id").notNull(),
    /** -1 for a node without forEach; else the item's index. */
    mapIndex: integer("map_index").notNull().default(-1),
    attempt: integer("attempt").notNull().default(1),
    state: text("state", { enum: TASK_STATES }).notNull().default("pending"),
    pool: text("pool").notNull().default("default"),
    priority: integer("priority").notNull().default(0),
    /** Not before this time (retry delays). */
    readyAt: timestamp("ready_at", { withTimezone: true, mode: "date" }),
    workerId: text("worker_id"),
    leaseUntil: timestamp("lease_until", { withTimezone: true, mode: "date" }),
    /** Fencing token: bumped on every claim; a result carrying an older token is refused. */
    leaseToken: bigint("lease_token", { mode: "number" }).notNull().default(0),
    rows: bigint("rows", { mode: "number" }),
    /** The warehouse table holding this attempt's output (visible to readers only once it succeeded). */
    outputTable: text("output_table"),
    /** For a forEach item: the upstream row it runs for. */
    item: jsonb("item").$type<Record<string, unknown>>(),
    /** What the node decided: a branch's outcome, a forEach expansion's item count. */
    result: jsonb("result").$type<{ branch?: boolean; items?: number; violations?: number }>(),
    /** Times this task lost its worker (lease lapsed); those attempts do not use up retries. */
    leaseLosses: integer("lease_losses").notNull().default(0),
    /** Draft runs: a hash of the node's definition, its upstream's fingerprints and the params; an equal one's output is reused. */
    fingerprint: text("fingerprint"),
    error: jsonb("error").$type<{ message: string; kind?: string; retryable?: boolean }>(),
    createdAt: createdAt(),
    startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }),
    finishedAt: timestamp("finished_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    unique("task_runs_run_node_map_attempt").on(t.runId, t.nodeId, t.mapIndex, t.attempt),
    // Partial indexes, each for one question the runtime asks per task: what is ready to claim
    // (in claim order), whose lease lapsed, and whether a run still has an open task. With one
    // index on state, each of those read every task of a large run (a 5,000-task run scanned
    // thousands of finished rows on every completion).
    index("task_runs_ready_idx")
      .on(t.priority.desc(), t.createdAt, t.id)
      .where(sql`state in ('queued', 'up_for_retry')`),
    index("task_runs_running_idx").on(t.leaseUntil).where(sql`state = 'running'`),
    index("task_runs_open_idx").on(t.runId).where(sql`state in ('pending', 'queued', 'running', 'up_for_retry')`),
  ],
);

/** Append-only; a run's state is a reduction of its events. Event names never change once stored. */
export const runEvents = pgTable(
  "run_events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    runId: uuid("run_id").notNull().references(() => runs.id, { onDelete: "cascade" }),
    taskRunId: uuid("task_run_id"),
    type: text("type").notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
  },
  (t) => [index("run_events_run_idx").on(t.runId, t.id)],
);

export const taskLogs = pgTable(
  "task_logs",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    taskRunId: uuid("task_run_id").notNull().references(() => taskRuns.id, { onDelete: "cascade" }),
    level: text("level", { enum: ["debug", "info", "warn", "error"] }).notNull().default("info"),
    message: text("message").notNull(),
    createdAt: createdAt(),
  },
  (t) => [index("task_logs_task_idx").on(t.taskRunId, t.id)],
);

/** Named connections; the secret is stored encrypted and never leaves the server. */
export const connections = pgTable("connections", {
  id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
  name: text("name").notNull().unique(),
  kind: text("kind").notNull(),
  /** Non-secret settings (host, database, user, …). */
  config: jsonb("config").$type<Record<string, unknown>>().notNull().default({}),
  /** AES-256-GCM ciphertext of the secret, base64; null when the connection has none. */
  secretCiphertext: text("secret_ciphertext"),
  createdAt: createdAt(),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
});

/** Small app-wide facts, e.g. that the examples were loaded once (so deleting them is final). */
export const appSettings = pgTable("app_settings", {
  key: text("key").primaryKey(),
  value: jsonb("value").$type<unknown>().notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
});

/** Resource pools: at most `slots` tasks of a pool run at once, across all workers. */
export const pools = pgTable("pools", {
  name: text("name").primaryKey(),
  slots: integer("slots").notNull(),
  description: text("description").notNull().default(""),
});
