/**
 * Validation: one pure function, one list of problems. The canvas, the CLI and
 * the API all call it, so they all show the same errors with the same paths.
 */
import { z } from "zod";
import { migrateFormat, parseJsonText, type FormatMigration } from "./format";
import { findCycles } from "./graph";
import { positionOf, problemsFromZod, type Problem } from "./problems";
import { pipelineFileSchema, type PipelineFile } from "./schema";
import type { SqlAnalyzer } from "./sql-references";
import { BUILTIN_PARAMS } from "./defaults";
import { NODE_KINDS } from "./schema";

export interface ValidateOptions {
  /** Checks SQL syntax and the tables SQL reads; without it those checks are skipped. */
  sql?: SqlAnalyzer;
  migrations?: Readonly<Record<string, FormatMigration>>;
}

export type ParseResult =
  | { ok: true; pipeline: PipelineFile; problems: Problem[] }
  | { ok: false; pipeline: null; problems: Problem[] };

/** Kinds whose output is a table that other nodes can read by name. */
export const TABLE_PRODUCING_KINDS: ReadonlySet<string> = new Set([
  "sql", "js", "source.csv", "source.http", "source.query", "check",
]);

/**
 * Parse and validate a raw document (already JSON-parsed).
 *
 * `ok` means the document has the tributary/v1 shape and can be saved as a
 * draft; graph and SQL problems may remain in `problems` (a run refuses a
 * pipeline with any problem of severity error).
 */
export function parsePipeline(raw: unknown, options: ValidateOptions = {}): ParseResult {
  const migrated = migrateFormat(raw, options.migrations);
  if (!migrated.ok) return { ok: false, pipeline: null, problems: migrated.problems };
  const doc = migrated.value;
  const parsed = pipelineFileSchema.safeParse(doc);
  const problems = [...(parsed.success ? [] : problemsFromZod(parsed.error.issues, doc)), ...graphProblems(doc, options)];
  problems.sort(byPath);
  return parsed.success
    ? { ok: true, pipeline: parsed.data, problems }
    : { ok: false, pipeline: null, problems };
}

/** Parse JSON text, then `parsePipeline`. Malformed JSON is one problem with line and column. */
export function parsePipelineText(text: string, options: ValidateOptions = {}): ParseResult {
  const json = parseJsonText(text);
  if (!json.ok) return { ok: false, pipeline: null, problems: json.problems };
  return parsePipeline(json.value, options);
}

/** Every problem of a raw document: schema, graph and (with an analyzer) SQL. */
export function validate(raw: unknown, options: ValidateOptions = {}): Problem[] {
  return parsePipeline(raw, options).problems;
}

function byPath(a: Problem, b: Problem): number {
  const n = Math.min(a.path.length, b.path.length);
  for (let i = 0; i < n; i++) {
    const x = a.path[i]!;
    const y = b.path[i]!;
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return a.path.length - b.path.length;
}

interface LooseNode {
  index: number;
  id: string;
  name?: string;
  kind?: string;
  config: Record<string, unknown>;
  forEach?: unknown;
}
interface LooseEdge {
  index: number;
  from: string;
  to: string;
  branch?: unknown;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * The graph checks, run on the raw document so that a schema error in one node
 * does not hide a cycle elsewhere.
 *
 * 1. Duplicate ids and names.
 * 2. Edges: dangling ends, duplicates, branch labels only (and always) on edges leaving a branch.
 * 3. Cycles, each naming its nodes in order.
 * 4. forEach and config.input must name a direct upstream node.
 * 5. SQL: syntax (with position) and the tables it reads against the upstream nodes.
 */
function graphProblems(doc: unknown, options: ValidateOptions): Problem[] {
  const root = asRecord(doc);
  if (!root || !Array.isArray(root.nodes) || !Array.isArray(root.edges)) return [];
  const problems: Problem[] = [];
  const nodes: LooseNode[] = [];
  const byId = new Map<string, LooseNode>();
  const byName = new Map<string, LooseNode>();

  root.nodes.forEach((value, index) => {
    const raw = asRecord(value);
    if (!raw || typeof raw.id !== "string") return;
    const node: LooseNode = {
      index,
      id: raw.id,
      name: typeof raw.name === "string" ? raw.name : undefined,
      kind: typeof raw.kind === "string" ? raw.kind : undefined,
      config: asRecord(raw.config) ?? {},
      forEach: raw.forEach,
    };
    const sameId = byId.get(node.id);
    if (sameId) {
      problems.push({
        code: "duplicate_id", severity: "error", path: ["nodes", index, "id"], nodeId: node.id,
        message: `node id '${node.id}' is used twice (nodes[${sameId.index}] and nodes[${index}])`,
      });
      return;
    }
    byId.set(node.id, node);
    nodes.push(node);
    if (node.name !== undefined) {
      const sameName = byName.get(node.name);
      if (sameName) {
        problems.push({
          code: "duplicate_name", severity: "error", path: ["nodes", index, "name"], nodeId: node.id,
          message: `node name '${node.name}' is used by '${sameName.id}' and '${node.id}'; names must be unique`,
        });
      } else byName.set(node.name, node);
    }
  });

  const edges: LooseEdge[] = [];
  const seenEdges = new Map<string, number>();
  root.edges.forEach((value, index) => {
    const raw = asRecord(value);
    if (!raw || typeof raw.from !== "string" || typeof raw.to !== "string") return;
    const edge: LooseEdge = { index, from: raw.from, to: raw.to, branch: raw.branch };
    let dangling = false;
    for (const end of ["from", "to"] as const) {
      if (!byId.has(edge[end])) {
        dangling = true;
        const other = edge[end === "from" ? "to" : "from"];
        problems.push({
          code: "dangling_edge", severity: "error", path: ["edges", index, end],
          ...(byId.has(other) ? { nodeId: other } : {}),
          message: `edge ${label(byId, edge.from)} → ${label(byId, edge.to)}: '${edge[end]}' is not a node id of this pipeline`,
        });
      }
    }
    if (dangling) return;
    const key = `${edge.from}\u0000${edge.to}\u0000${String(edge.branch ?? "")}`;
    const first = seenEdges.get(key);
    if (first !== undefined) {
      problems.push({
        code: "duplicate_edge", severity: "error", path: ["edges", index], nodeId: edge.to,
        message: `edge ${label(byId, edge.from)} → ${label(byId, edge.to)} appears twice (edges[${first}] and edges[${index}])`,
      });
      return;
    }
    seenEdges.set(key, index);
    edges.push(edge);
    const fromKind = byId.get(edge.from)!.kind;
    if (edge.branch !== undefined && fromKind !== "branch") {
      problems.push({
        code: "branch_edge_from_non_branch", severity: "error", path: ["edges", index, "branch"], nodeId: edge.from,
        message: `edge ${label(byId, edge.from)} → ${label(byId, edge.to)} has branch ${JSON.stringify(edge.branch)}, but '${label(byId, edge.from)}' is a ${fromKind ?? "node"}, not a branch node`,
      });
    } else if (edge.branch === undefined && fromKind === "branch") {
      problems.push({
        code: "branch_edge_unlabelled", severity: "error", path: ["edges", index], nodeId: edge.from,
        message: `edge ${label(byId, edge.from)} → ${label(byId, edge.to)} leaves a branch node and must say "branch": "true" or "false"`,
      });
    }
  });

  for (const cycle of findCycles(nodes, edges)) {
    const first = byId.get(cycle[0]!)!;
    const names = cycle.map((id) => label(byId, id));
    problems.push({
      code: "cycle", severity: "error", path: ["nodes", first.index], nodeId: first.id, nodeIds: cycle,
      message: `cycle: ${[...names, names[0]].join(" → ")}; a pipeline must not loop back on itself`,
    });
  }

  const upstreamNames = new Map<string, Set<string>>(nodes.map((n) => [n.id, new Set<string>()]));
  /** Upstream nodes whose output is a table (what SQL, sinks and checks can read). */
  const upstreamTables = new Map<string, Set<string>>(nodes.map((n) => [n.id, new Set<string>()]));
  for (const e of edges) {
    const from = byId.get(e.from)!;
    if (from.name === undefined) continue;
    upstreamNames.get(e.to)!.add(from.name);
    if (producesTable(from.kind)) upstreamTables.get(e.to)!.add(from.name);
  }
  const params = new Set<string>([...Object.keys(asRecord(root.params) ?? {}), ...BUILTIN_PARAMS]);
  for (const name of Object.keys(asRecord(root.params) ?? {})) {
    if ((BUILTIN_PARAMS as readonly string[]).includes(name)) {
      problems.push({
        code: "invalid_name", severity: "error", path: ["params", name],
        message: `param '${name}' is built in (${BUILTIN_PARAMS.join(", ")}); pick another name`,
      });
    }
  }

  for (const node of nodes) {
    const ups = upstreamNames.get(node.id)!;
    const who = `node '${node.name ?? node.id}'`;
    if (typeof node.forEach === "string" && !ups.has(node.forEach)) {
      problems.push({
        code: "foreach_not_upstream", severity: "error", path: ["nodes", node.index, "forEach"], nodeId: node.id,
        message: `${who}: forEach '${node.forEach}' must name a direct upstream node (upstream: ${list(ups)})`,
      });
    }
    const input = node.config.input;
    if (typeof input === "string" && !ups.has(input)) {
      problems.push({
        code: "input_not_upstream", severity: "error", path: ["nodes", node.index, "config", "input"], nodeId: node.id,
        message: `${who}: input '${input}' must name a direct upstream node (upstream: ${list(ups)})`,
      });
    }
    const tables = upstreamTables.get(node.id)!;
    if (INPUT_KINDS.has(node.kind ?? "") && input === undefined && tables.size > 1) {
      problems.push({
        code: "input_required", severity: "error", path: ["nodes", node.index, "config", "input"], nodeId: node.id,
        message: `${who}: it has ${tables.size} upstream tables (${list(tables)}); say which one it reads with "input"`,
      });
    }
    if (options.sql) problems.push(...sqlProblems(node, tables, byName, params, options.sql));
  }
  return problems;
}

const SQL_FIELDS: Record<string, { field: string; mustReadUpstream: boolean }> = {
  sql: { field: "sql", mustReadUpstream: true },
  branch: { field: "condition", mustReadUpstream: false },
  sensor: { field: "condition", mustReadUpstream: false },
};

function sqlProblems(
  node: LooseNode,
  upstream: Set<string>,
  byName: Map<string, LooseNode>,
  params: Set<string>,
  analyze: SqlAnalyzer,
): Problem[] {
  const problems: Problem[] = [];
  const who = `node '${node.name ?? node.id}'`;
  if (node.kind === "check" && Array.isArray(node.config.rules)) {
    node.config.rules.forEach((rule, i) => {
      const sql = asRecord(rule)?.sql;
      if (asRecord(rule)?.type === "expression" && typeof sql === "string" && sql.trim()) {
        problems.push(...expressionProblems(node, ["nodes", node.index, "config", "rules", i, "sql"], sql, analyze));
      }
    });
    return problems;
  }
  const spec = node.kind ? SQL_FIELDS[node.kind] : undefined;
  const sql = spec ? node.config[spec.field] : undefined;
  if (!spec || typeof sql !== "string" || !sql.trim()) return [];
  if (node.kind === "sensor" && node.config.connection !== undefined) return []; // another database: only it knows
  const path = ["nodes", node.index, "config", spec.field];
  const analysis = analyze(sql);
  if (!analysis.ok) {
    const position = positionOf(sql, analysis.offset);
    return [{
      code: "sql_syntax", severity: "error", path, nodeId: node.id, position,
      message: `${who}: ${analysis.message} (line ${position.line}, column ${position.column} of the SQL)`,
    }];
  }
  for (const param of analysis.params) {
    if (params.has(param.name)) continue;
    // Inside a forEach, the item's columns are bound as :item_<column>.
    if (typeof node.forEach === "string" && param.name.startsWith("item_")) continue;
    const position = positionOf(sql, param.offset);
    problems.push({
      code: "sql_unknown_param", severity: "error", path, nodeId: node.id, position,
      message: `${who}: uses :${param.name}, which is not a param of this pipeline (params: ${list(params)})`,
    });
  }
  let readsUpstream = false;
  for (const table of analysis.tables) {
    if (table.schema !== undefined) continue;
    const position = positionOf(sql, table.offset);
    const source = byName.get(table.name);
    if (upstream.has(table.name)) {
      readsUpstream = true;
    } else if (source && source.name !== node.name && !producesTable(source.kind) && isKnownKind(source.kind)) {
      problems.push({
        code: "sql_not_upstream", severity: "error", path, nodeId: node.id, position,
        message: `${who}: reads '${table.name}', but a ${source.kind} node has no output table`,
      });
    } else if (source) {
      problems.push({
        code: "sql_not_upstream", severity: "error", path, nodeId: node.id, position,
        message: `${who}: reads '${table.name}', which is not upstream of it; connect ${table.name} → ${node.name ?? node.id}`,
      });
    } else {
      problems.push({
        code: "sql_unknown_table", severity: "warning", path, nodeId: node.id, position,
        message: `${who}: reads '${table.name}', which is no upstream node (upstream tables: ${list(upstream)}); it must already exist in the warehouse`,
      });
    }
  }
  if (spec.mustReadUpstream && upstream.size > 0 && !readsUpstream) {
    problems.push({
      code: "sql_reads_no_upstream", severity: "warning", path, nodeId: node.id,
      message: `${who}: its SQL reads none of its upstream tables (${list(upstream)})`,
    });
  }
  return problems;
}

/** A check rule's boolean expression: parsed inside a WHERE clause, positions mapped back. */
function expressionProblems(node: LooseNode, path: (string | number)[], expression: string, analyze: SqlAnalyzer): Problem[] {
  const prefix = "select 1 where (";
  const analysis = analyze(`${prefix}${expression}\n)`);
  if (analysis.ok) return [];
  const offset = Math.min(Math.max(0, analysis.offset - prefix.length), expression.length);
  const position = positionOf(expression, offset);
  return [{
    code: "sql_syntax", severity: "error", path, nodeId: node.id, position,
    message: `node '${node.name ?? node.id}': ${analysis.message} (line ${position.line}, column ${position.column} of the expression)`,
  }];
}

const KNOWN_KINDS: ReadonlySet<string> = new Set(NODE_KINDS);
function isKnownKind(kind: string | undefined): boolean {
  return kind !== undefined && KNOWN_KINDS.has(kind);
}

/** True for known kinds with an output table; unknown kinds get the benefit of the doubt (they are reported elsewhere). */
function producesTable(kind: string | undefined): boolean {
  return !isKnownKind(kind) || TABLE_PRODUCING_KINDS.has(kind!);
}

/** Kinds that read one upstream table and need `input` when there are several. */
const INPUT_KINDS: ReadonlySet<string> = new Set(["sink.table", "check"]);

function label(byId: Map<string, LooseNode>, id: string): string {
  return byId.get(id)?.name ?? id;
}

function list(names: Set<string>): string {
  return names.size ? [...names].join(", ") : "none";
}

/**
 * A zod schema for API inputs: any JSON value that parses as a tributary/v1
 * document. Its issues carry the full Problem in `params.problem`, so the API
 * can answer with the same paths and messages as `validate`.
 */
export const pipelineDocumentInput = z.unknown().transform((raw, ctx) => {
  const result = parsePipeline(raw);
  if (!result.ok) {
    for (const problem of result.problems.filter((p) => p.severity === "error")) {
      ctx.addIssue({ code: "custom", message: problem.message, path: [...problem.path], params: { problem } });
    }
    return z.NEVER;
  }
  return result.pipeline;
});
