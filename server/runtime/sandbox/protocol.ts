/**
 * Messages between the SandboxPool (server process) and the task-runner child
 * process. Rows travel one batch per message: as JSON text (an array of row
 * objects), or — once the host's writer asked for it in a write's ack — in a COPY
 * format (CSV text, or binary COPY tuples) in the columns it named: CSV encoded by
 * the runner from the cell's JSON; binary encoded by the runner, or by the bootstrap
 * in the isolate and then counted and checked by the runner (`countTuples`).
 */
import type { Column, CopyFormat } from "./rows-copy";

export type JsErrorKind = "timeout" | "memory" | "user" | "invalid_result" | "internal" | "canceled";

/**
 * How the isolate decodes a field of a binary input batch (bootstrap.ts): int2, int4, int8 (as a
 * Number), float8 (NaN and ±Infinity as null), bool, UTF-8 text, or UTF-8 JSON text (parsed).
 */
export type InputKind = "i2" | "i4" | "i8" | "f8" | "b" | "t" | "j";
const INPUT_KINDS: ReadonlySet<string> = new Set<InputKind>(["i2", "i4", "i8", "f8", "b", "t", "j"]);

/**
 * A batch of input rows in PostgreSQL's binary COPY format: `rows` tuples without the header and
 * trailer, each with one field per column, decoded in the isolate by the columns' kinds.
 */
export interface BinaryRows {
  tuples: Uint8Array;
  columns: [name: string, kind: InputKind][];
  rows: number;
}

/** Whether `b` holds a binary batch's tuples and list of [name, kind] (checked on both sides of the IPC channel). */
export function isBinaryBatch(b: unknown): b is Omit<BinaryRows, "rows"> {
  if (typeof b !== "object" || b === null) return false;
  const { tuples, columns } = b as { tuples?: unknown; columns?: unknown };
  return (
    tuples instanceof Uint8Array &&
    Array.isArray(columns) &&
    columns.every((c) => Array.isArray(c) && c.length === 2 && typeof c[0] === "string" && INPUT_KINDS.has(c[1]))
  );
}

export interface WireLimits {
  memoryMb: number;
  timeoutMs: number;
  maxLogBytes: number;
}

/** Largest batch of rows in one message, and the largest batch payload (characters). */
export const MAX_BATCH_ROWS = 5_000;
export const MAX_BATCH_CHARS = 4 * 1024 * 1024;

export type HostToRunner =
  | {
      type: "run";
      taskId: number;
      code: string;
      inputNames: string[];
      paramsJson: string;
      itemJson: string;
      logicalDate: string;
      runId: string;
      limits: WireLimits;
      /** Fail a row whose keys the first output batch did not have (the output table's columns). */
      checkColumns?: boolean;
    }
  /** An input batch: JSON text of an array of row objects, or binary tuples (`BinaryRows`). */
  | { type: "readResult"; taskId: number; reqId: number; data?: string; binary?: Omit<BinaryRows, "rows">; error?: string }
  | {
      type: "writeAck";
      taskId: number;
      reqId: number;
      error?: string;
      /** From now on send this task's batches in this COPY format and these columns (rows-copy.ts). */
      copy?: { format: CopyFormat; columns: Column[] };
    }
  | { type: "cancel"; taskId: number };

export type RunnerToHost =
  | { type: "ready"; pid: number }
  | { type: "read"; taskId: number; reqId: number; name: string; cursor: number; batchSize: number }
  /**
   * Without `copy`: `data` is JSON text. With it: `rows` rows in that format, in the columns of
   * the ack that asked for a COPY format (CSV text; binary tuples without header and trailer).
   * A batch whose values the binary format cannot carry comes as CSV.
   */
  | { type: "write"; taskId: number; reqId: number; data: string | Uint8Array; copy?: { format: CopyFormat; rows: number }; final?: true }
  | { type: "log"; taskId: number; level: "info" | "warn" | "error"; message: string }
  /** The cell ended; `elapsedMs` of its time limit were used (its last batch may still be loading on the host). */
  | { type: "done"; taskId: number; logBytes: number; elapsedMs: number }
  | {
      type: "fail";
      taskId: number;
      kind: JsErrorKind;
      message: string;
      line?: number;
      column?: number;
      cellStack?: string;
    };
