/** branch: a SQL condition returning one boolean; edges labelled with the other outcome are skipped. */
import { TaskFailure } from "../errors";
import { prepareCellSelect, runCellSql, type NodeRunner } from "./context";
import { sqlFailure } from "./sql-errors";

export const runBranch: NodeRunner = async (ctx) => {
  if (ctx.node.kind !== "branch") throw new Error("not a branch node");
  return { result: { branch: await evaluateCondition(ctx, ctx.node.config.condition) } };
};

/** One boolean from a SQL condition (shared with sensors). */
export async function evaluateCondition(ctx: Parameters<NodeRunner>[0], condition: string): Promise<boolean> {
  const prepared = prepareCellSelect(ctx, condition, `node '${ctx.node.name}' condition`);
  let rows: Record<string, unknown>[];
  try {
    rows = await runCellSql(ctx, prepared);
  } catch (error) {
    throw sqlFailure(ctx, error, condition, prepared);
  }
  const first = rows[0];
  const values = first ? Object.values(first) : [];
  if (rows.length !== 1 || values.length !== 1 || (typeof values[0] !== "boolean" && values[0] !== null)) {
    throw new TaskFailure(
      `node '${ctx.node.name}': the condition must return one row with one boolean column; it returned ${rows.length} row(s)` +
        (first ? ` like ${JSON.stringify(first)}` : ""),
      false,
      "invalid_result",
    );
  }
  return values[0] === true;
}
