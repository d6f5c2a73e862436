/**
 * Reading tRPC errors for display. The server's message is shown verbatim;
 * `data.problems` (from the error formatter) points at fields and lines.
 */
import type { Problem } from "@/server/pipeline";

interface ErrorShape {
  message?: unknown;
  data?: { code?: unknown; problems?: unknown; currentVersion?: unknown } | null;
}

/** The message to show for any thrown value. */
export function errorMessage(error: unknown): string {
  if (error && typeof error === "object" && typeof (error as ErrorShape).message === "string") {
    return (error as { message: string }).message;
  }
  return String(error);
}

/** The structured problems carried by a BAD_REQUEST, or []. */
export function errorProblems(error: unknown): Problem[] {
  const problems = (error as ErrorShape | null)?.data?.problems;
  return Array.isArray(problems) ? (problems as Problem[]) : [];
}

/** The tRPC error code (`CONFLICT`, `BAD_REQUEST`, …) when there is one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as ErrorShape | null)?.data?.code;
  return typeof code === "string" ? code : undefined;
}

/** The message of the problem about `field` (e.g. "name"), else the error's own message. */
export function fieldError(error: unknown, field: string): string | undefined {
  if (!error) return undefined;
  const problem = errorProblems(error).find((p) => p.path[0] === field);
  return problem?.message ?? errorMessage(error);
}
