/** A warehouse error as a task failure that names the node and, when Postgres gives one, the position in the cell's SQL. */
import { connectionLost, isConnectionLoss, TaskFailure } from "../errors";
import { originalOffset, type PreparedSql } from "../sql-cell";
import type { NodeContext } from "./context";

export function sqlFailure(ctx: NodeContext, error: unknown, original: string, prepared: PreparedSql): TaskFailure {
  if (ctx.signal.aborted) return ctx.signal.reason instanceof TaskFailure ? ctx.signal.reason : new TaskFailure("aborted", false, "canceled");
  if (isConnectionLoss(error)) return connectionLost(`node '${ctx.node.name}'`, error);
  const e = error as { message?: string; code?: string; position?: string };
  const message = e.message ?? String(error);
  if (e.code === "57014") {
    return new TaskFailure(`node '${ctx.node.name}': the query ran past its timeout of ${ctx.settings.timeoutSeconds} s and was canceled`, true, "timeout");
  }
  const details: Record<string, unknown> = { sqlstate: e.code };
  let where = "";
  if (e.position) {
    // Postgres points into the statement it ran: map that back onto the cell's own SQL.
    const offset = Math.min(original.length, originalOffset(prepared, Number(e.position) - 1));
    const before = original.slice(0, offset);
    const line = before.split("\n").length;
    const column = offset - before.lastIndexOf("\n");
    details.position = { line, column, offset };
    where = ` (line ${line}, column ${column} of the SQL)`;
  }
  // Privilege and syntax errors will not pass on a retry; connection trouble may.
  const retryable = !e.code || e.code.startsWith("08") || e.code.startsWith("40") || e.code.startsWith("53") || e.code === "57P01";
  return new TaskFailure(`node '${ctx.node.name}': ${message}${where}`, retryable, e.code === "42501" ? "permission" : "sql", details);
}
