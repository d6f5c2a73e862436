/** A lost database connection is the infrastructure's fault: a new attempt, not one of the node's retries. */
import { describe, expect, it } from "vitest";
import { failureOf, isConnectionLoss, TaskFailure } from "@/server/runtime/errors";

describe("isConnectionLoss / failureOf", () => {
  it("knows a lost or refused connection by its code, its cause's code or SQLSTATE class 08 / 57P01–57P03", () => {
    for (const code of ["ECONNREFUSED", "ECONNRESET", "CONNECTION_CLOSED", "CONNECTION_ENDED", "08006", "08001", "57P01", "57P03"]) {
      expect([code, isConnectionLoss(Object.assign(new Error("x"), { code }))]).toEqual([code, true]);
    }
    expect(isConnectionLoss({ message: "wrapped", cause: { code: "ECONNRESET" } })).toBe(true);
    for (const code of ["42P01", "57014", "23505", undefined]) expect([code, isConnectionLoss(Object.assign(new Error("x"), { code }))]).toEqual([code, false]);
    expect(isConnectionLoss(null)).toBe(false);
  });

  it("turns a connection loss into a retryable 'connection' failure and leaves other failures as they are", () => {
    const lost = failureOf(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
    expect([lost.kind, lost.retryable]).toEqual(["connection", true]);
    expect(lost.message).toMatch(/the database connection was lost \(read ECONNRESET\); the task runs again/);
    const own = new TaskFailure("node 'x': boom", false, "sql");
    expect(failureOf(own)).toBe(own);
    expect(failureOf(new Error("plain")).kind).toBe("task");
  });
});
