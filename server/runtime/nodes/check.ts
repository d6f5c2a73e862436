/**
 * check: data-quality rules over one upstream table. Its output is the
 * exception report: every violating row with the rule it broke (`_rule`).
 * onViolation "fail" (default) fails the task; "warn" succeeds and reports.
 */
import { ident } from "@/db/warehouse";
import type { CheckRule } from "@/server/pipeline";
import { TaskFailure } from "../errors";
import { qualified } from "../outputs";
import { prepareCellSelect, runCellSql, type NodeContext, type NodeRunner } from "./context";
import { sqlFailure } from "./sql-errors";
import { singleInput } from "./inputs";

function literal(value: string | number | boolean): string {
  return typeof value === "string" ? `'${value.replace(/'/g, "''")}'` : String(value);
}

function label(rule: CheckRule): string {
  switch (rule.type) {
    case "not_null": return `not_null(${rule.column})`;
    case "unique": return `unique(${rule.columns.join(", ")})`;
    case "accepted_values": return `accepted_values(${rule.column})`;
    case "range": return `range(${rule.column}${rule.min !== undefined ? ` >= ${rule.min}` : ""}${rule.max !== undefined ? ` <= ${rule.max}` : ""})`;
    case "expression": return rule.label ?? rule.sql;
    case "row_count": return "row_count";
  }
}

/** The WHERE condition under which a row breaks the rule (row_count is checked on its own). */
function violation(rule: Exclude<CheckRule, { type: "row_count" }>, input: string): string {
  switch (rule.type) {
    case "not_null":
      return `t.${ident(rule.column)} is null`;
    case "unique": {
      const cols = rule.columns.map((c) => `t.${ident(c)}`).join(", ");
      const inner = rule.columns.map(ident).join(", ");
      return `(${cols}) in (select ${inner} from ${input} group by ${inner} having count(*) > 1)`;
    }
    case "accepted_values":
      return `t.${ident(rule.column)} is not null and t.${ident(rule.column)}::text not in (${rule.values.map((v) => literal(String(v))).join(", ")})`;
    case "range": {
      const parts = [];
      if (rule.min !== undefined) parts.push(`t.${ident(rule.column)} < ${Number(rule.min)}`);
      if (rule.max !== undefined) parts.push(`t.${ident(rule.column)} > ${Number(rule.max)}`);
      return parts.join(" or ");
    }
    case "expression":
      return `not coalesce((${rule.sql}\n), false)`;
  }
}

export const runCheck: NodeRunner = async (ctx: NodeContext) => {
  if (ctx.node.kind !== "check") throw new Error("not a check node");
  const config = ctx.node.config;
  const source = singleInput(ctx, config.input);
  const input = qualified(ctx.schema, source.name);
  const rowRules = config.rules.filter((r): r is Exclude<CheckRule, { type: "row_count" }> => r.type !== "row_count");
  const out = qualified(ctx.schema, ctx.outputTable);
  const select = rowRules.length
    ? rowRules.map((r) => `select ${literal(label(r))}::text as _rule, t.* from ${input} t where ${violation(r, input)}`).join("\nunion all\n")
    : `select null::text as _rule, t.* from ${input} t where false`;
  const prepared = prepareCellSelect(ctx, select, `node '${ctx.node.name}' rules`);
  try {
    await runCellSql(ctx, prepared, out);
  } catch (error) {
    throw sqlFailure(ctx, error, select, prepared);
  }
  const counts = await ctx.wh.query<{ rule: string; n: number }>(`select _rule as rule, count(*)::int as n from ${out} group by 1 order by 1`);
  const broken = counts.map((c) => `${c.rule}: ${c.n} row(s)`);
  for (const rule of config.rules) {
    if (rule.type !== "row_count") continue;
    const [{ n } = { n: 0 }] = await ctx.wh.query<{ n: number }>(`select count(*)::int as n from ${input}`);
    if ((rule.min !== undefined && n < rule.min) || (rule.max !== undefined && n > rule.max)) {
      broken.push(`row_count: ${n} rows, expected ${rule.min ?? 0}–${rule.max ?? "∞"}`);
    }
  }
  const violations = counts.reduce((a, c) => a + c.n, 0) + (broken.length - counts.length);
  if (broken.length) ctx.log("warn", `check '${ctx.node.name}' found violations — ${broken.join("; ")}`);
  if (broken.length && (config.onViolation ?? "fail") === "fail") {
    throw new TaskFailure(`node '${ctx.node.name}': data-quality check failed — ${broken.join("; ")}`, false, "check_failed", { violations });
  }
  return { rows: counts.reduce((a, c) => a + c.n, 0), outputTable: ctx.outputTable, result: { violations } };
};
