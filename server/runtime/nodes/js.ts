/**
 * js: a JavaScript cell in the sandbox (a long-lived task-runner child process
 * with one isolate per task). Inputs stream in from the warehouse in batches;
 * rows the cell returns or yields stream back into the output table.
 */
import { JsCellError, DEFAULT_JS_LIMITS } from "../sandbox";
import { MAX_BATCH_CHARS, MAX_BATCH_ROWS } from "../sandbox/protocol";
import { TaskFailure, TimeoutFailure } from "../errors";
import { binarySlices, qualified, readInputBatches, TableWriter, declaredColumns, type InputBatch } from "../outputs";
import type { Warehouse } from "@/db/warehouse";
import type { NodeRunner } from "./context";

/** Where a JS task's time went (ms): waiting for input batches, writing output batches, in all. */
export interface JsTaskStats {
  rowsRead: number;
  rowsWritten: number;
  /** Time until the cell asked for its first input batch (isolate, compile, first read request). */
  startMs: number;
  /** The cell waiting for input batches (reads run ahead, so this is what reading did not hide). */
  readWaitMs: number;
  /** Writing output batches into the output table (one after the other; the cell goes on meanwhile). */
  writeMs: number;
  writes: number;
  totalMs: number;
}

/** The stage times of the last few JS tasks in this process, by output table (bench, diagnostics). */
export const recentJsStats = new Map<string, JsTaskStats>();

/** Readers kept per input (one per iterator the cell has open over it). */
const MAX_READERS = 8;

/**
 * One pass over an input, as batches (JSON text or binary tuples), one batch read ahead: while a batch crosses to the
 * cell, the warehouse already makes the next one.
 */
class InputReader {
  position = 0;
  busy = false;
  private ahead: Promise<IteratorResult<InputBatch>> | null = null;
  private pending: InputBatch | null = null;
  private done = false;

  constructor(
    private readonly batches: AsyncGenerator<InputBatch>,
    readonly batchSize: number,
  ) {}

  /** A reader positioned at `cursor` (skipping rows, which only a cell reading one input twice at different paces needs). */
  static async open(wh: Warehouse, schema: string, tables: readonly string[], batchSize: number, cursor: number): Promise<InputReader> {
    const reader = new InputReader(readInputBatches(wh, schema, tables, batchSize, MAX_BATCH_CHARS), batchSize);
    while (reader.position < cursor) {
      const batch = await reader.next();
      if (!batch) break;
      if (reader.position > cursor) {
        // Keep the rows past the cursor for the next read.
        const skip = batch.rows - (reader.position - cursor);
        if ("json" in batch) {
          const rows = (JSON.parse(batch.json) as unknown[]).slice(skip);
          reader.pending = { json: JSON.stringify(rows), rows: rows.length };
        } else {
          const [rest] = binarySlices(batch, Infinity, Infinity, skip);
          reader.pending = rest!;
        }
        reader.position = cursor;
      }
    }
    return reader;
  }

  async next(): Promise<InputBatch | null> {
    if (this.pending) {
      const batch = this.pending;
      this.pending = null;
      this.position += batch.rows;
      return batch;
    }
    if (this.done) return null;
    const step = await (this.ahead ?? this.batches.next());
    this.ahead = null;
    if (step.done) {
      this.done = true;
      return null;
    }
    this.position += step.value.rows;
    this.ahead = this.batches.next();
    this.ahead.catch(() => {});
    return step.value;
  }

  close(): void {
    this.done = true;
    void this.batches.return(undefined).catch(() => {});
  }
}

export const runJs: NodeRunner = async (ctx) => {
  if (ctx.node.kind !== "js") throw new Error("not a js node");
  const writer = new TableWriter(ctx.wh, qualified(ctx.schema, ctx.outputTable), declaredColumns(ctx.node), `node '${ctx.node.name}'`);
  const readers = new Map<string, InputReader[]>();
  const startedAt = performance.now();
  const stats: JsTaskStats = { rowsRead: 0, rowsWritten: 0, startMs: -1, readWaitMs: 0, writeMs: 0, writes: 0, totalMs: 0 };
  const memoryMb = Number(process.env.TRIBUTARY_JS_MEMORY_MB) || DEFAULT_JS_LIMITS.memoryMb;
  /** The write in progress (the sandbox hands batches over one at a time, each after the one before). */
  let writing: Promise<unknown> = Promise.resolve();
  const track = <T,>(pending: Promise<T>): Promise<T> => {
    writing = pending.catch(() => {});
    return pending;
  };
  /** A write of a batch, counted in the stats (rows, time, writes). */
  const timedWrite = async (write: () => Promise<number>): Promise<number> => {
    const t0 = performance.now();
    try {
      const n = await track(write());
      stats.rowsWritten += n;
      return n;
    } finally {
      stats.writeMs += performance.now() - t0;
      stats.writes++;
    }
  };
  try {
    await ctx.sandbox().run(
      {
        code: ctx.node.config.code,
        inputNames: [...ctx.upstream.keys()],
        params: ctx.params,
        logicalDate: ctx.logicalDate.toISOString(),
        runId: ctx.runId,
        item: ctx.item,
        checkColumns: true,
        limits: { ...DEFAULT_JS_LIMITS, memoryMb, timeoutMs: Math.round(ctx.settings.timeoutSeconds * 1000) },
      },
      {
        readInput: async (name, cursor, batchSize): Promise<InputBatch> => {
          const source = ctx.upstream.get(name);
          if (!source) return { json: "[]", rows: 0 };
          const size = Math.max(1, Math.min(batchSize, MAX_BATCH_ROWS));
          let list = readers.get(name);
          if (!list) readers.set(name, (list = []));
          let reader = list.find((r) => !r.busy && r.position === cursor && r.batchSize === size);
          if (reader) reader.busy = true;
          else {
            reader = await InputReader.open(ctx.wh, ctx.schema, source.tables, size, cursor);
            reader.busy = true;
            list.push(reader);
            if (list.length > MAX_READERS) list.shift()!.close();
          }
          const t0 = performance.now();
          if (stats.startMs < 0) stats.startMs = t0 - startedAt;
          try {
            const batch = (await reader.next()) ?? { json: "[]", rows: 0 };
            stats.rowsRead += batch.rows;
            return batch;
          } finally {
            stats.readWaitMs += performance.now() - t0;
            reader.busy = false;
          }
        },
        writeRows: (rows) => track(writer.write(rows)),
        writeJson: (json) => timedWrite(() => writer.writeJson(json)),
        copyFormat: () => writer.copyFormat(),
        writeCopy: (format, data, rows) => timedWrite(() => writer.writeCopy(format, data, rows)),
        log: (level, message) => ctx.log(level, message),
      },
      ctx.signal,
    );
  } catch (error) {
    writer.abort();
    // A batch may still be loading (the task was stopped, or failed, while the host wrote its
    // rows): this ends only after it, so the table the executor drops next is not created after.
    await writing;
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
  } finally {
    for (const list of readers.values()) for (const r of list) r.close();
  }
  const t0 = performance.now();
  const rows = await writer.finish(); // loads what is still gathered
  stats.writeMs += performance.now() - t0;
  stats.totalMs = performance.now() - startedAt;
  recentJsStats.set(ctx.outputTable, stats);
  while (recentJsStats.size > 20) recentJsStats.delete(recentJsStats.keys().next().value!);
  return { rows, outputTable: ctx.outputTable };
};
