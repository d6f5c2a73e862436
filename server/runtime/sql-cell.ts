/**
 * Turning a SQL cell into a statement the warehouse runs: one SELECT, its named
 * params (`:region`) replaced by positional ones with a cast from the param's
 * type, the values bound — never spliced into the text.
 */
import type { ParamSpec } from "@/server/pipeline";
import type { SqlAnalyzer } from "@/server/pipeline/sql-references";
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
 * 3. Replace each by `($n::type)` (or `placeholder`'s form), right to left so offsets stay true, and collect the values.
 */
export function prepareSelect(
  sql: string,
  values: Record<string, BoundValue>,
  analyze: SqlAnalyzer,
  what = "SQL",
  placeholder: (index: number, cast: string) => string = (index, cast) => `($${index + 1}::${cast})`,
): PreparedSql {
  const analysis = analyze(sql);
  if (!analysis.ok) {
    throw new TaskFailure(`${what}: ${analysis.message} at position ${analysis.offset + 1}`, false, "sql_syntax", { position: analysis.offset + 1 });
  }
  if (analysis.statements.length !== 1 || analysis.statements[0] !== "SelectStmt") {
    const found = analysis.statements.join(", ") || "nothing";
    throw new TaskFailure(`${what} must be exactly one SELECT (a query whose rows become the output); found ${found}`, false, "sql_not_select");
  }
  const order: string[] = [];
  let text = sql;
  for (const ref of [...analysis.params].sort((a, b) => b.offset - a.offset)) {
    const bound = values[ref.name];
    if (!bound) throw new TaskFailure(`${what} uses :${ref.name}, which has no value in this run`, false, "sql_param");
    let index = order.indexOf(ref.name);
    if (index < 0) {
      order.push(ref.name);
      index = order.length - 1;
    }
    text = `${text.slice(0, ref.offset)}${placeholder(index, CAST[bound.type])}${text.slice(ref.offset + ref.name.length + 1)}`;
  }
  return { text, values: order.map((name) => values[name]!.value) };
}
