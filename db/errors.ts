/** Errors of the stores, mapped to API codes by server/api. */

export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotFoundError";
  }
}

/** A write that lost a race: a stale base version, or a name already taken. */
export class ConflictError extends Error {
  constructor(
    message: string,
    readonly details: { currentVersion?: number; name?: string } = {},
  ) {
    super(message);
    this.name = "ConflictError";
  }
}

/** True for a unique-constraint violation from either driver (drizzle may wrap it). */
export function isUniqueViolation(error: unknown): boolean {
  for (let e = error as { code?: string; cause?: unknown } | undefined, i = 0; e && i < 4; e = e.cause as typeof e, i++) {
    if (e.code === "23505") return true;
  }
  return false;
}
