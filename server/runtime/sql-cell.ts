/**
 * Turning a SQL cell into a statement the warehouse runs: one SELECT, its named
 * params (`:region`) replaced by positional ones with a cast from the param's
 * type, the values bound — never spliced into the text.
 */
import type { ParamSpec } from "@/server/pipeline";
import type { SqlAnalyzer, TableReference } from "@/server/pipeline/sql-references";
import { TaskFailure } from "./errors";

export interface BoundValue {
  value: unknown;
  type: ParamSpec["type"] | "timestamptz" | "jsonb" | "double" | "bigint";
}

const CAST: Record<BoundValue["type"], string> = {
  string: "text",
  integer: "bigint",
  bigint: "bigint",
  number: "double precision",
  double: "double precision",
  boolean: "boolean",
  date: "date",
  timestamptz: "timestamptz",
  jsonb: "text::jsonb",
};

export interface PreparedSql {
  text: string;
  values: unknown[];
  /** What was replaced, in order: at `offset` of the original text, `from` characters became `to`. */
  edits: { offset: number; from: number; to: number }[];
  /** The names of the common table expressions the statement defines (they hide tables of the same name). */
  ctes: string[];
}

/** The offset in the cell's own SQL of an offset in the prepared text (inside a replacement: where it starts). */
export function originalOffset(prepared: PreparedSql, offset: number): number {
  let shift = 0;
  for (const e of prepared.edits) {
    const start = e.offset + shift;
    if (offset < start) break;
    if (offset < start + e.to) return e.offset;
    shift += e.to - e.from;
  }
  return offset - shift;
}

/** The bound value of a forEach item's field, typed from its JavaScript value. */
export function itemValue(value: unknown): BoundValue {
  if (typeof value === "boolean") return { value, type: "boolean" };
  if (typeof value === "number") return { value, type: Number.isInteger(value) ? "bigint" : "double" };
  if (value !== null && typeof value === "object") return { value: JSON.stringify(value), type: "jsonb" };
  return { value: value === null || value === undefined ? null : String(value), type: "string" };
}

/**
 * 1. Parse: a syntax error, or anything but one SELECT, fails the task (not retryable).
 * 2. Every named param the parser saw must have a value.
 * 3. Replace each by `($n::type)` (or `placeholder`'s form), and each table reference that
 *    `table` has a replacement for, right to left so offsets stay true; collect the values.
 */
export function prepareSelect(
  sql: string,
  values: Record<string, BoundValue>,
  analyze: SqlAnalyzer,
  what = "SQL",
  placeholder: (index: number, cast: string) => string = (index, cast) => `($${index + 1}::${cast})`,
  table: (ref: TableReference) => string | undefined = () => undefined,
): PreparedSql {
  const analysis = analyze(sql);
  if (!analysis.ok) {
    throw new TaskFailure(`${what}: ${analysis.message} at position ${analysis.offset + 1}`, false, "sql_syntax", { position: analysis.offset + 1 });
  }
  if (analysis.statements.length !== 1 || analysis.statements[0] !== "SelectStmt") {
    const found = analysis.statements.join(", ") || "nothing";
    throw new TaskFailure(`${what} must be exactly one SELECT (a query whose rows become the output); found ${found}`, false, "sql_not_select");
  }
  const replacements: { offset: number; from: number; text: string }[] = [];
  const order: string[] = [];
  for (const ref of analysis.params) {
    const bound = values[ref.name];
    if (!bound) throw new TaskFailure(`${what} uses :${ref.name}, which has no value in this run`, false, "sql_param");
    let index = order.indexOf(ref.name);
    if (index < 0) {
      order.push(ref.name);
      index = order.length - 1;
    }
    replacements.push({ offset: ref.offset, from: ref.name.length + 1, text: placeholder(index, CAST[bound.type]) });
  }
  for (const ref of analysis.tables) {
    const text = table(ref);
    if (text !== undefined && ref.span) replacements.push({ offset: ref.offset, from: ref.span, text });
  }
  replacements.sort((a, b) => b.offset - a.offset);
  let text = sql;
  for (const r of replacements) text = `${text.slice(0, r.offset)}${r.text}${text.slice(r.offset + r.from)}`;
  const edits = replacements.reverse().map((r) => ({ offset: r.offset, from: r.from, to: r.text.length }));
  return { text, values: order.map((name) => values[name]!.value), edits, ctes: analysis.ctes };
}
