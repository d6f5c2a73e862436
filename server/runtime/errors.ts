/** Why a task failed. `retryable` says whether another attempt may help. */

export class TaskFailure extends Error {
  constructor(
    message: string,
    readonly retryable = true,
    readonly kind: string = "task",
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "TaskFailure";
  }
}

export class TimeoutFailure extends TaskFailure {
  constructor(seconds: number) {
    super(`timed out after ${seconds} s (timeoutSeconds)`, true, "timeout");
    this.name = "TimeoutFailure";
  }
}

export class CanceledFailure extends TaskFailure {
  constructor(reason = "the run was canceled") {
    super(reason, false, "canceled");
    this.name = "CanceledFailure";
  }
}

/** This worker no longer holds the task (its lease lapsed and another attempt exists): drop the result. */
export class LeaseLostError extends Error {
  constructor(taskRunId: string) {
    super(`lease lost for task ${taskRunId}: its result is refused (another attempt owns the task)`);
    this.name = "LeaseLostError";
  }
}

/** Error codes of a database connection lost or refused: postgres.js's and the system's, and SQLSTATE 57P01–57P03 (the server shutting down or starting). */
const CONNECTION_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT",
  "57P01", "57P02", "57P03",
]);

/** A database error's code (SQLSTATE, or the driver's), on the error or on its cause (drizzle wraps driver errors). */
export function errorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === "string" ? code : undefined;
}

/** Whether `error` is the database connection being lost or refused (class 08 included): the infrastructure's fault, not the task's. */
export function isConnectionLoss(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && (CONNECTION_CODES.has(code) || code.startsWith("08"));
}

/**
 * The attempt could not finish because a database connection was lost (a server restarting, say).
 * Like a lost lease, it is followed by a new attempt that does not use up the node's `retries`.
 */
export function connectionLost(what: string, error: unknown): TaskFailure {
  return new TaskFailure(`${what}: the database connection was lost (${(error as Error).message ?? String(error)}); the task runs again`, true, "connection");
}

export function failureOf(error: unknown): TaskFailure {
  if (error instanceof TaskFailure) return error;
  if (isConnectionLoss(error)) return connectionLost("the task", error);
  const e = error as { message?: string; kind?: string; retryable?: boolean; code?: string; position?: string };
  const retryable = typeof e.retryable === "boolean" ? e.retryable : true;
  return new TaskFailure(e.message ?? String(error), retryable, e.kind ?? "task", e.position ? { position: Number(e.position) } : {});
}
