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

export function failureOf(error: unknown): TaskFailure {
  if (error instanceof TaskFailure) return error;
  const e = error as { message?: string; kind?: string; retryable?: boolean; code?: string; position?: string };
  const retryable = typeof e.retryable === "boolean" ? e.retryable : true;
  return new TaskFailure(e.message ?? String(error), retryable, e.kind ?? "task", e.position ? { position: Number(e.position) } : {});
}
