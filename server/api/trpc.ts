/**
 * tRPC setup: the error formatter turns zod issues and store errors into
 * structured problems with paths, so the UI can point at the node and field.
 */
import { initTRPC, TRPCError } from "@trpc/server";
import { ZodError } from "zod";
import { ConflictError, NotFoundError } from "@/db/errors";
import { ValidationError, type Problem } from "@/server/pipeline";
import type { Context } from "./context";

function problemsOf(error: ZodError): Problem[] {
  return error.issues.map((issue) => {
    const carried = (issue as { params?: { problem?: Problem } }).params?.problem;
    if (carried) return carried;
    return { code: "schema", severity: "error", path: issue.path.map((p) => (typeof p === "symbol" ? String(p) : p)), message: issue.message };
  });
}

const t = initTRPC.context<Context>().create({
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    return {
      ...shape,
      data: {
        ...shape.data,
        problems: cause instanceof ValidationError ? cause.problems : cause instanceof ZodError ? problemsOf(cause) : null,
        currentVersion: cause instanceof ConflictError ? (cause.details.currentVersion ?? null) : null,
      },
    };
  },
});

/** Domain errors become API codes: NotFound → NOT_FOUND, Conflict → CONFLICT, Validation → BAD_REQUEST. */
const mapErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (cause instanceof NotFoundError) throw new TRPCError({ code: "NOT_FOUND", message: cause.message, cause });
    if (cause instanceof ConflictError) throw new TRPCError({ code: "CONFLICT", message: cause.message, cause });
    if (cause instanceof ValidationError) throw new TRPCError({ code: "BAD_REQUEST", message: cause.message, cause });
  }
  return result;
});

export const router = t.router;
export const publicProcedure = t.procedure.use(mapErrors);
export const createCallerFactory = t.createCallerFactory;
