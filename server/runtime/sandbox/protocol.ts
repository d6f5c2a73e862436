/**
 * Messages between the SandboxPool (server process) and the task-runner child
 * process. Rows always travel as JSON strings (one string per batch), so the
 * host only ever receives text it parses itself with JSON.parse.
 */

export type JsErrorKind = "timeout" | "memory" | "user" | "invalid_result" | "internal" | "canceled";

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
  | { type: "readResult"; taskId: number; reqId: number; data?: string; error?: string }
  | { type: "writeAck"; taskId: number; reqId: number; error?: string }
  | { type: "cancel"; taskId: number };

export type RunnerToHost =
  | { type: "ready"; pid: number }
  | { type: "read"; taskId: number; reqId: number; name: string; cursor: number; batchSize: number }
  | { type: "write"; taskId: number; reqId: number; data: string }
  | { type: "log"; taskId: number; level: "info" | "warn" | "error"; message: string }
  | { type: "done"; taskId: number; logBytes: number }
  | {
      type: "fail";
      taskId: number;
      kind: JsErrorKind;
      message: string;
      line?: number;
      column?: number;
      cellStack?: string;
    };
