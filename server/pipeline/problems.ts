/**
 * A validation problem: one entry of the single error list that the canvas,
 * the CLI and the API all show. `path` is the JSON path inside the pipeline
 * file; `nodeId` says which node to highlight on the canvas.
 */
import type { z } from "zod";

export type ProblemCode =
  | "invalid_json"
  | "unsupported_format"
  | "schema"
  | "unknown_field"
  | "missing_field"
  | "missing_config"
  | "unknown_kind"
  | "invalid_name"
  | "duplicate_id"
  | "duplicate_name"
  | "dangling_edge"
  | "duplicate_edge"
  | "cycle"
  | "branch_edge_from_non_branch"
  | "branch_edge_unlabelled"
  | "foreach_not_upstream"
  | "input_not_upstream"
  | "input_required"
  | "sql_unknown_param"
  | "sql_syntax"
  | "sql_not_upstream"
  | "sql_unknown_table"
  | "sql_reads_no_upstream";

export interface SourcePosition {
  /** 1-based line and column in the text the problem is about. */
  line: number;
  column: number;
  /** 0-based character offset in that text. */
  offset: number;
}

export interface Problem {
  code: ProblemCode;
  severity: "error" | "warning";
  path: (string | number)[];
  message: string;
  nodeId?: string;
  /** For cycles: every node on the cycle, in order. */
  nodeIds?: string[];
  /** In the JSON text (invalid_json) or in the SQL of `path` (sql_*). */
  position?: SourcePosition;
}

export function isError(problem: Problem): boolean {
  return problem.severity === "error";
}

/** Render a path as `nodes[2].config.sql`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out || "(document)";
}

/** One line per problem, as the CLI prints them (messages already name any line and column). */
export function formatProblem(problem: Problem): string {
  return problem.path.length
    ? `${problem.severity}: ${formatPath(problem.path)}: ${problem.message}`
    : `${problem.severity}: ${problem.message}`;
}

/** 1-based line and column of `offset` in `text`. */
export function positionOf(text: string, offset: number): SourcePosition {
  const clamped = Math.max(0, Math.min(offset, text.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < clamped; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: clamped - lineStart + 1, offset: clamped };
}

type RawNode = { id?: unknown; name?: unknown; kind?: unknown };

/** Who a path points into, for messages: `node 'store_daily'`. */
function nodeAt(raw: unknown, path: readonly PropertyKey[]): { id?: string; label?: string } {
  if (path[0] !== "nodes" || typeof path[1] !== "number") return {};
  const nodes = (raw as { nodes?: unknown })?.nodes;
  const node = Array.isArray(nodes) ? (nodes[path[1]] as RawNode | undefined) : undefined;
  if (!node || typeof node !== "object") return {};
  const id = typeof node.id === "string" ? node.id : undefined;
  const name = typeof node.name === "string" ? node.name : id;
  return { id, label: name ? `node '${name}'` : `node #${path[1]}` };
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = raw;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** How a message names the field at `path`: `retries`, `to[0]`. */
function subjectOf(path: readonly (string | number)[]): string {
  const last = path[path.length - 1];
  if (last === undefined) return "the pipeline";
  if (typeof last === "number") return `${String(path[path.length - 2] ?? "item")}[${last}]`;
  return last;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  const shown = JSON.stringify(value);
  return shown.length > 40 ? shown.slice(0, 37) + "..." : shown;
}

/**
 * Turn zod issues about `raw` into problems.
 *
 * 1. Unknown discriminators become `unknown_kind` (nodes) or a schema problem naming the options.
 * 2. A missing node config becomes `missing_config`; a missing field `missing_field`.
 * 3. Unrecognized keys become one `unknown_field` each, with its own path.
 * 4. Every message names the node it is about and the value it got.
 */
export function problemsFromZod(issues: readonly z.core.$ZodIssue[], raw: unknown): Problem[] {
  const out: Problem[] = [];
  for (const issue of issues) {
    const path = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
    const node = nodeAt(raw, issue.path);
    const prefix = node.label ? `${node.label}: ` : "";
    const field = path.length ? String(path[path.length - 1]) : "document";
    const base = { severity: "error" as const, path, ...(node.id ? { nodeId: node.id } : {}) };

    if (issue.code === "invalid_union" && "note" in issue && issue.note === "No matching discriminator") {
      const disc = (issue as { discriminator?: string }).discriminator ?? field;
      const options = ((issue as { options?: unknown[] }).options ?? []).map(String);
      const got = valueAt(raw, issue.path);
      const isKind = path.length === 3 && path[0] === "nodes" && disc === "kind";
      out.push({
        ...base,
        code: isKind ? "unknown_kind" : "schema",
        message:
          got === undefined
            ? `${prefix}missing '${disc}' (one of: ${options.join(", ")})`
            : `${prefix}unknown ${disc} ${JSON.stringify(got)} (known: ${options.join(", ")})`,
      });
      continue;
    }
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        out.push({ ...base, path: [...path, key], code: "unknown_field", message: `${prefix}unknown field '${key}' in ${path.length ? `'${formatPath(path)}'` : "the pipeline"}` });
      }
      continue;
    }
    if (issue.code === "invalid_type" && valueAt(raw, issue.path) === undefined) {
      const isConfig = path.length === 3 && path[0] === "nodes" && field === "config";
      out.push({
        ...base,
        code: isConfig ? "missing_config" : "missing_field",
        message: isConfig ? `${prefix}has no config` : `${prefix}missing required field '${field}'`,
      });
      continue;
    }
    if (issue.code === "invalid_key") {
      const inner = issue.issues.map((i) => i.message).join("; ");
      out.push({ ...base, code: "invalid_name", message: `${prefix}key '${field}': ${inner}` });
      continue;
    }
    const isName = issue.code === "custom" && (field === "name" || /^(table name part|name) '/.test(issue.message));
    out.push({ ...base, code: isName ? "invalid_name" : "schema", message: `${prefix}${readable(issue, valueAt(raw, issue.path), subjectOf(path))}` });
  }
  return out;
}

const ARTICLE: Record<string, string> = {
  int: "a whole number",
  number: "a number",
  string: "a string",
  boolean: "true or false",
  object: "an object",
  array: "a list",
};

/** A zod issue in words that name the field and the value: "retries must be at least 0 (got -1)". */
function readable(issue: z.core.$ZodIssue, got: unknown, subject: string): string {
  const size = Array.isArray(got) ? `${got.length} entries` : typeof got === "string" ? `${got.length} characters` : describe(got);
  switch (issue.code) {
    case "custom":
      return issue.message;
    case "invalid_type":
      return `${subject} must be ${ARTICLE[issue.expected] ?? issue.expected} (got ${describe(got)})`;
    case "too_small":
    case "too_big": {
      if (!issue.message.startsWith("Too ")) return `${issue.message} (got ${size})`; // the schema's own wording
      const bound = issue.code === "too_small" ? issue.minimum : issue.maximum;
      const word = issue.code === "too_small" ? "at least" : "at most";
      const strict = issue.inclusive === false ? (issue.code === "too_small" ? "more than" : "less than") : word;
      if (issue.origin === "array") return `${subject} must have ${word} ${bound} entries (got ${size})`;
      if (issue.origin === "string") return `${subject} must be ${word} ${bound} characters long (got ${size})`;
      return `${subject} must be ${strict} ${bound} (got ${describe(got)})`;
    }
    case "invalid_value":
      return `${subject} must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")} (got ${describe(got)})`;
    default:
      return `${subject}: ${issue.message.replace(/^Invalid input: /, "")} (got ${describe(got)})`;
  }
}

/** A document or input that fails validation; carries every problem with its path. */
export class ValidationError extends Error {
  constructor(readonly problems: Problem[]) {
    super(problems.find(isError)?.message ?? problems[0]?.message ?? "invalid pipeline");
    this.name = "ValidationError";
  }
}
