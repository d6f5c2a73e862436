/**
 * The `tributary/v1` pipeline file as zod schemas.
 *
 * One document describes a whole pipeline: its params, defaults, schedule,
 * nodes and edges. Every object is strict, so an unknown field is reported
 * instead of being dropped. Schemas carry no defaults: a file says only what
 * its author wrote, and `defaults.ts` resolves the rest in one place.
 */
import { z } from "zod";
import { Cron } from "croner";
import { nameProblem } from "./names";

export const CURRENT_FORMAT = "tributary/v1" as const;

/** A name that becomes a SQL identifier (node, pipeline, param, column). */
export const nameSchema = z.string().superRefine((value, ctx) => {
  const problem = nameProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/**
 * A label that never becomes a SQL identifier (pools, connections): like a name,
 * but `-` is allowed and SQL keywords are fine (the built-in pool is `default`).
 */
export const labelSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,62}$/, { error: "must start with a lower-case letter and contain only a-z, 0-9, _ and - (at most 63)" });

/** A warehouse table: `table` or `schema.table`, each part a valid name. */
export const tableNameSchema = z.string().superRefine((value, ctx) => {
  const parts = value.split(".");
  if (parts.length > 2) {
    ctx.addIssue({ code: "custom", message: `table '${value}' must be 'table' or 'schema.table'` });
    return;
  }
  for (const part of parts) {
    const problem = nameProblem(part, "table name part");
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }
});

const nonEmpty = (what: string) => z.string().trim().min(1, { error: `${what} must not be empty` });

const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" });

export const COLUMN_TYPES = [
  "text", "integer", "bigint", "numeric", "double", "boolean", "date", "timestamp", "timestamptz", "json",
] as const;
export const columnTypeSchema = z.enum(COLUMN_TYPES);
/** Declared output column types; columns not named are inferred. */
export const columnsSchema = z.record(nameSchema, columnTypeSchema);

// ---------------------------------------------------------------- node configs

export const sqlConfigSchema = z.strictObject({
  sql: nonEmpty("sql"),
  columns: columnsSchema.optional(),
});

export const jsConfigSchema = z.strictObject({
  code: nonEmpty("code"),
  columns: columnsSchema.optional(),
});

export const csvSourceConfigSchema = z.strictObject({
  path: nonEmpty("path"),
  delimiter: z.string().length(1, { error: "delimiter must be one character" }).optional(),
  header: z.boolean().optional(),
  encoding: z.enum(["utf8", "latin1"]).optional(),
  nullValues: z.array(z.string()).optional(),
  columns: columnsSchema.optional(),
});

export const httpSourceConfigSchema = z.strictObject({
  url: httpUrl,
  method: z.enum(["GET", "POST"]).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.string().optional(),
  format: z.enum(["json", "ndjson", "csv"]).optional(),
  /** Dot path to the array of records inside a JSON answer, e.g. `data.items`. */
  recordsPath: z.string().optional(),
  /** A connection whose secret is sent as the Authorization header. */
  connection: labelSchema.optional(),
  columns: columnsSchema.optional(),
});

export const querySourceConfigSchema = z.strictObject({
  connection: labelSchema,
  sql: nonEmpty("sql"),
  columns: columnsSchema.optional(),
});

export const SINK_MODES = ["append", "replace", "upsert"] as const;
export const tableSinkConfigSchema = z
  .strictObject({
    table: tableNameSchema,
    mode: z.enum(SINK_MODES),
    key: z.array(nameSchema).min(1, { error: "key must name at least one column" }).optional(),
    /** Which upstream node to load when the sink has several. */
    input: nameSchema.optional(),
    connection: labelSchema.optional(),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.mode === "upsert" && !cfg.key) {
      ctx.addIssue({ code: "custom", path: ["key"], message: "mode 'upsert' needs key columns (key: [\"id\"])" });
    }
  });

function minNotAboveMax(rule: { min?: number; max?: number }, ctx: z.RefinementCtx) {
  if (rule.min === undefined && rule.max === undefined) {
    ctx.addIssue({ code: "custom", path: ["min"], message: "give min, max or both" });
  } else if (rule.min !== undefined && rule.max !== undefined && rule.min > rule.max) {
    ctx.addIssue({ code: "custom", path: ["max"], message: `max ${rule.max} is below min ${rule.min}` });
  }
}

const checkValue = z.union([z.string(), z.number(), z.boolean()]);
export const checkRuleSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("not_null"), column: nameSchema }),
  z.strictObject({ type: z.literal("unique"), columns: z.array(nameSchema).min(1) }),
  z.strictObject({ type: z.literal("accepted_values"), column: nameSchema, values: z.array(checkValue).min(1) }),
  z
    .strictObject({ type: z.literal("range"), column: nameSchema, min: z.number().optional(), max: z.number().optional() })
    .superRefine(minNotAboveMax),
  /** A SQL boolean expression every row must satisfy, e.g. `qty > 0`. */
  z.strictObject({ type: z.literal("expression"), sql: nonEmpty("sql"), label: z.string().optional() }),
  z
    .strictObject({ type: z.literal("row_count"), min: z.int().min(0).optional(), max: z.int().min(0).optional() })
    .superRefine(minNotAboveMax),
]);
export type CheckRule = z.infer<typeof checkRuleSchema>;

export const checkConfigSchema = z.strictObject({
  rules: z.array(checkRuleSchema).min(1, { error: "a check needs at least one rule" }),
  input: nameSchema.optional(),
  /** `fail` (default): violations fail the task; `warn`: the task succeeds and reports them. */
  onViolation: z.enum(["fail", "warn"]).optional(),
});

export const branchConfigSchema = z.strictObject({
  /** SQL that returns one boolean, e.g. `select count(*) > 0 from flagged`. */
  condition: nonEmpty("condition"),
});

export const sensorConfigSchema = z.strictObject({
  /** SQL that returns one boolean; the sensor succeeds when it is true. */
  condition: nonEmpty("condition"),
  pollIntervalSeconds: z.number().min(1).max(86_400).optional(),
  connection: labelSchema.optional(),
});

const notifyTarget = {
  url: httpUrl.optional(),
  /** A connection holding the webhook URL as its secret. */
  connection: labelSchema.optional(),
};
function needsTarget<T extends { url?: string; connection?: string }>(cfg: T, ctx: z.RefinementCtx) {
  if (!cfg.url && !cfg.connection) {
    ctx.addIssue({ code: "custom", path: ["url"], message: "give a url or a connection that holds it" });
  }
}
export const notifyConfigSchema = z.discriminatedUnion("channel", [
  z
    .strictObject({
      channel: z.literal("webhook"),
      ...notifyTarget,
      method: z.enum(["POST", "PUT"]).optional(),
      headers: z.record(z.string(), z.string()).optional(),
      body: z.string().optional(),
    })
    .superRefine(needsTarget),
  z.strictObject({ channel: z.literal("slack"), ...notifyTarget, text: nonEmpty("text") }).superRefine(needsTarget),
  z.strictObject({
    channel: z.literal("email"),
    to: z.array(z.email({ error: "must be an e-mail address" })).min(1),
    subject: nonEmpty("subject"),
    body: z.string(),
    /** The SMTP connection to send through. */
    connection: labelSchema,
  }),
]);

export const pipelineStepConfigSchema = z.strictObject({
  pipeline: nameSchema,
  params: z.record(nameSchema, z.unknown()).optional(),
  /** Wait for the child run to finish (default) or only start it. */
  wait: z.boolean().optional(),
});

/** Every node kind of v1 and the schema of its `config`. */
export const NODE_CONFIG_SCHEMAS = {
  sql: sqlConfigSchema,
  js: jsConfigSchema,
  "source.csv": csvSourceConfigSchema,
  "source.http": httpSourceConfigSchema,
  "source.query": querySourceConfigSchema,
  "sink.table": tableSinkConfigSchema,
  check: checkConfigSchema,
  branch: branchConfigSchema,
  sensor: sensorConfigSchema,
  notify: notifyConfigSchema,
  pipeline: pipelineStepConfigSchema,
} as const;
export type NodeKind = keyof typeof NODE_CONFIG_SCHEMAS;
export const NODE_KINDS = Object.keys(NODE_CONFIG_SCHEMAS) as NodeKind[];
export type NodeConfig<K extends NodeKind> = z.infer<(typeof NODE_CONFIG_SCHEMAS)[K]>;

// ---------------------------------------------------------------- settings

export const TRIGGER_RULES = ["all_success", "all_done", "one_failed", "none_failed"] as const;
export const RETRY_BACKOFFS = ["fixed", "linear", "exponential"] as const;

/** The retry and placement settings a node may set and `defaults` may default. */
export const taskSettingsShape = {
  retries: z.int().min(0).max(100).optional(),
  retryDelaySeconds: z.number().min(0).max(86_400).optional(),
  retryBackoff: z.enum(RETRY_BACKOFFS).optional(),
  retryMaxDelaySeconds: z.number().min(0).max(604_800).optional(),
  timeoutSeconds: z.number().positive().max(604_800).optional(),
  pool: labelSchema.optional(),
  priority: z.int().min(-1000).max(1000).optional(),
};

const positionSchema = z.strictObject({ x: z.number(), y: z.number() });

export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const nodeIdSchema = z
  .string()
  .regex(NODE_ID_PATTERN, { error: "node id must be 1-64 characters of A-Z, a-z, 0-9, _ or -" });

const nodeShape = {
  id: nodeIdSchema,
  name: nameSchema,
  description: z.string().optional(),
  position: positionSchema.optional(),
  ...taskSettingsShape,
  triggerRule: z.enum(TRIGGER_RULES).optional(),
  /** Name of a direct upstream node: run this node once per row of its output. */
  forEach: nameSchema.optional(),
};

function nodeOf<K extends NodeKind>(kind: K) {
  return z.strictObject({ ...nodeShape, kind: z.literal(kind), config: NODE_CONFIG_SCHEMAS[kind] });
}

export const nodeSchema = z.discriminatedUnion("kind", [
  nodeOf("sql"),
  nodeOf("js"),
  nodeOf("source.csv"),
  nodeOf("source.http"),
  nodeOf("source.query"),
  nodeOf("sink.table"),
  nodeOf("check"),
  nodeOf("branch"),
  nodeOf("sensor"),
  nodeOf("notify"),
  nodeOf("pipeline"),
]);
export type PipelineNode = z.infer<typeof nodeSchema>;

export const edgeSchema = z.strictObject({
  from: nodeIdSchema,
  to: nodeIdSchema,
  /** Only on edges leaving a branch node: which outcome this edge follows. */
  branch: z.enum(["true", "false"]).optional(),
});
export type PipelineEdge = z.infer<typeof edgeSchema>;

// ---------------------------------------------------------------- pipeline

export const PARAM_TYPES = ["string", "integer", "number", "boolean", "date"] as const;
export const paramSchema = z
  .strictObject({
    type: z.enum(PARAM_TYPES),
    default: z.union([z.string(), z.number(), z.boolean()]).optional(),
    description: z.string().optional(),
    required: z.boolean().optional(),
  })
  .superRefine((param, ctx) => {
    if (param.default === undefined) return;
    const problem = paramValueProblem(param.type, param.default);
    if (problem) ctx.addIssue({ code: "custom", path: ["default"], message: problem });
  });
export type ParamSpec = z.infer<typeof paramSchema>;

/** Why `value` does not fit a param of `type`, or null when it does. */
export function paramValueProblem(type: ParamSpec["type"], value: unknown): string | null {
  const shown = JSON.stringify(value);
  switch (type) {
    case "string":
      return typeof value === "string" ? null : `${shown} is not a string`;
    case "integer":
      return Number.isInteger(value) ? null : `${shown} is not an integer`;
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? null : `${shown} is not a number`;
    case "boolean":
      return typeof value === "boolean" ? null : `${shown} is not true or false`;
    case "date":
      return typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value))
        ? null
        : `${shown} is not a date (YYYY-MM-DD)`;
  }
}

export const scheduleSchema = z
  .strictObject({
    cron: z.string(),
    timezone: z.string().optional(),
    catchup: z.boolean().optional(),
    enabled: z.boolean().optional(),
  })
  .superRefine((schedule, ctx) => {
    // Checked on its own: croner accepts an unknown time zone until it computes a run.
    if (schedule.timezone !== undefined && !isTimeZone(schedule.timezone)) {
      ctx.addIssue({
        code: "custom",
        path: ["timezone"],
        message: `timezone '${schedule.timezone}' is not an IANA time zone (e.g. 'Europe/Berlin', 'UTC')`,
      });
    }
    try {
      new Cron(schedule.cron, { paused: true });
    } catch (error) {
      ctx.addIssue({
        code: "custom",
        path: ["cron"],
        message: `cron '${schedule.cron}' is not a valid cron expression: ${(error as Error).message}`,
      });
    }
  });

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const MAX_NODES = 10_000;
export const MAX_EDGES = 50_000;

export const pipelineFileSchema = z.strictObject({
  format: z.literal(CURRENT_FORMAT),
  name: nameSchema,
  description: z.string().optional(),
  tags: z.array(z.string()).optional(),
  params: z.record(nameSchema, paramSchema).optional(),
  defaults: z.strictObject(taskSettingsShape).optional(),
  schedule: scheduleSchema.optional(),
  maxActiveRuns: z.int().min(1).max(1000).optional(),
  nodes: z.array(nodeSchema).max(MAX_NODES, { error: `a pipeline has at most ${MAX_NODES} nodes` }),
  edges: z.array(edgeSchema).max(MAX_EDGES, { error: `a pipeline has at most ${MAX_EDGES} edges` }),
});
export type PipelineFile = z.infer<typeof pipelineFileSchema>;
export type TaskSettings = NonNullable<PipelineFile["defaults"]>;
