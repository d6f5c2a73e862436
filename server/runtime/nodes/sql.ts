/** sql: one SELECT over upstream outputs (by node name); its rows become the output table. */
import { qualified } from "../outputs";
import { prepareCellSelect, runCellSql, type NodeRunner } from "./context";
import { sqlFailure } from "./sql-errors";

export const runSql: NodeRunner = async (ctx) => {
  if (ctx.node.kind !== "sql") throw new Error("not a sql node");
  const prepared = prepareCellSelect(ctx, ctx.node.config.sql, `node '${ctx.node.name}'`);
  const out = qualified(ctx.schema, ctx.outputTable);
  let result: Record<string, unknown>[];
  try {
    result = await runCellSql(ctx, prepared, out);
  } catch (error) {
    throw sqlFailure(ctx, error, ctx.node.config.sql, prepared);
  }
  // The wrapper reports the rows CREATE TABLE AS wrote.
  return { rows: Number(result[0]?.rows ?? 0), outputTable: ctx.outputTable };
};
