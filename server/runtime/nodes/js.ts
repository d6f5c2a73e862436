/**
 * js: a JavaScript cell in the sandbox (a long-lived task-runner child process
 * with one isolate per task). Inputs stream in from the warehouse in batches;
 * rows the cell returns or yields stream back into the output table.
 */
import { JsCellError, DEFAULT_JS_LIMITS } from "../sandbox";
import { TaskFailure, TimeoutFailure } from "../errors";
import { qualified, readBatches, TableWriter, declaredColumns } from "../outputs";
import type { NodeRunner } from "./context";

export const runJs: NodeRunner = async (ctx) => {
  if (ctx.node.kind !== "js") throw new Error("not a js node");
  const writer = new TableWriter(ctx.wh, qualified(ctx.schema, ctx.outputTable), declaredColumns(ctx.node));
  const readers = new Map<string, { position: number; batches: AsyncGenerator<Record<string, unknown>[]> }>();
  const memoryMb = Number(process.env.TRIBUTARY_JS_MEMORY_MB) || DEFAULT_JS_LIMITS.memoryMb;
  try {
    await ctx.sandbox().run(
      {
        code: ctx.node.config.code,
        inputNames: [...ctx.upstream.keys()],
        params: ctx.params,
        logicalDate: ctx.logicalDate.toISOString(),
        runId: ctx.runId,
        item: ctx.item,
        limits: { ...DEFAULT_JS_LIMITS, memoryMb, timeoutMs: Math.round(ctx.settings.timeoutSeconds * 1000) },
      },
      {
        readInput: async (name, cursor, batchSize) => {
          const source = ctx.upstream.get(name);
          if (!source) return [];
          let reader = readers.get(name);
          if (!reader || cursor < reader.position) {
            reader = { position: 0, batches: readBatches(ctx.wh, ctx.schema, source.tables, Math.max(1, Math.min(batchSize, 20_000))) };
            readers.set(name, reader);
          }
          const next = await reader.batches.next();
          const rows = next.done ? [] : next.value;
          reader.position += rows.length;
          return rows;
        },
        writeRows: (rows) => writer.write(rows),
        log: (level, message) => ctx.log(level, message),
      },
      ctx.signal,
    );
  } catch (error) {
    if (error instanceof TaskFailure) throw error;
    if (ctx.signal.aborted && ctx.signal.reason instanceof TaskFailure) throw ctx.signal.reason;
    if (error instanceof JsCellError) {
      if (error.kind === "timeout") throw new TimeoutFailure(ctx.settings.timeoutSeconds);
      const where = error.line !== undefined ? ` (line ${error.line}${error.column !== undefined ? `, column ${error.column}` : ""} of the cell)` : "";
      // An error the cell throws may be transient (a fetch that failed): the node's `retries` decide.
      // A syntax error, an invalid result or a memory bomb will not pass on another attempt.
      const retryable = error.retryable || (error.kind === "user" && !/^SyntaxError\b/.test(error.message));
      throw new TaskFailure(`node '${ctx.node.name}': ${error.message}${where}`, retryable, `js_${error.kind}`, {
        ...(error.line !== undefined ? { position: { line: error.line, column: error.column ?? 1 } } : {}),
      });
    }
    throw error;
  }
  return { rows: await writer.finish(), outputTable: ctx.outputTable };
};
