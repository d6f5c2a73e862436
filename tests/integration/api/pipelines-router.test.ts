/**
 * The pipelines router over HTTP semantics: requests go through tRPC's fetch
 * handler with the real error formatter, on PGlite and on Postgres.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseHandle } from "@/db/client";
import type { Problem } from "@/server/pipeline";
import { loadSqlAnalyzer, type SqlAnalyzer } from "@/server/pipeline/sql-references";
import { trpcRequest } from "@/tests/fixtures/trpc";
import { targets } from "../databases";

interface TrpcError {
  message: string;
  data: { code: string; httpStatus: number; problems: Problem[] | null; currentVersion: number | null };
}
type Answer<T> = { status: number; result?: T; error?: TrpcError };

describe.each(targets)("pipelines router on $name", (target) => {
  let handle: DatabaseHandle;
  let sql: SqlAnalyzer;

  async function call<T = unknown>(path: string, input?: unknown, kind: "query" | "mutation" = "mutation"): Promise<Answer<T>> {
    const res = await trpcRequest({ db: handle.db, sql }, path, input, kind === "query" ? "GET" : "POST");
    const body = (await res.json()) as { result?: { data: T }; error?: TrpcError };
    return { status: res.status, result: body.result?.data, error: body.error };
  }
  const query = <T,>(path: string, input?: unknown) => call<T>(path, input, "query");

  beforeAll(async () => {
    [handle, sql] = await Promise.all([target.open(), loadSqlAnalyzer()]);
  });
  afterAll(async () => {
    await handle?.close();
  });

  it("creates, reads, lists and exports a pipeline", async () => {
    const created = await call<{ id: string; version: number }>("pipelines.create", { name: "sales", description: "POS" });
    expect(created.status).toBe(200);
    const id = created.result!.id;
    const byId = await query<{ name: string; currentVersion: number }>("pipelines.byId", { id });
    expect(byId.result).toMatchObject({ name: "sales", currentVersion: 1 });
    expect(byId.result).not.toHaveProperty("problems");
    const problems = await query<{ version: number; problems: Problem[] }>("pipelines.problems", { id });
    expect(problems.result).toEqual({ version: 1, problems: [] });
    const list = await query<{ name: string }[]>("pipelines.list");
    expect(list.result!.map((p) => p.name)).toContain("sales");
    const exported = await query<{ filename: string; text: string }>("pipelines.export", { id });
    expect(exported.result!.filename).toBe("sales.json");
    expect(JSON.parse(exported.result!.text)).toEqual({ description: "POS", edges: [], format: "tributary/v1", name: "sales", nodes: [] });
  });

  it("answers an invalid name with a problem at path ['name']", async () => {
    const res = await call("pipelines.create", { name: "Daily Sales" });
    expect(res.status).toBe(400);
    expect(res.error!.data.code).toBe("BAD_REQUEST");
    expect(res.error!.data.problems).toEqual([expect.objectContaining({ path: ["name"], message: expect.stringContaining("try 'daily_sales'") })]);
  });

  it("answers an invalid document with every problem and its node path", async () => {
    const { result } = await call<{ id: string }>("pipelines.create", { name: "broken" });
    const document = {
      format: "tributary/v1",
      name: "broken",
      nodes: [
        { id: "a", kind: "sql", name: "first", config: { sql: "select 1", typo: true } },
        { id: "b", kind: "nope", name: "second", config: {} },
      ],
      edges: [],
    };
    const res = await call("pipelines.update", { id: result!.id, baseVersion: 1, document });
    expect(res.status).toBe(400);
    const problems = res.error!.data.problems!;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ code: "unknown_field", path: ["nodes", 0, "config", "typo"], nodeId: "a" }),
        expect.objectContaining({ code: "unknown_kind", path: ["nodes", 1, "kind"], nodeId: "b" }),
      ]),
    );
    // Nothing was written.
    expect((await query<{ currentVersion: number }>("pipelines.byId", { id: result!.id })).result!.currentVersion).toBe(1);
  });

  it("saves a draft with graph problems and returns them", async () => {
    const { result } = await call<{ id: string }>("pipelines.create", { name: "draft" });
    const document = {
      format: "tributary/v1",
      name: "draft",
      nodes: [
        { id: "a", kind: "sql", name: "first", config: { sql: "select * from second" } },
        { id: "b", kind: "sql", name: "second", config: { sql: "select * from first" } },
      ],
      edges: [{ from: "a", to: "b" }, { from: "b", to: "a" }, { from: "a", to: "ghost" }],
    };
    const saved = await call<{ version: number; problems: Problem[] }>("pipelines.update", { id: result!.id, baseVersion: 1, document });
    expect(saved.status).toBe(200);
    expect(saved.result!.version).toBe(2);
    const codes = saved.result!.problems.map((p) => p.code);
    expect(codes).toContain("cycle");
    expect(codes).toContain("dangling_edge");
    // The editor loads the document (byId) and its problems (problems) apart: same list, also for a given version.
    const current = await query<{ version: number; problems: Problem[] }>("pipelines.problems", { id: result!.id });
    expect(current.result).toEqual({ version: 2, problems: saved.result!.problems });
    const first = await query<{ version: number; problems: Problem[] }>("pipelines.problems", { id: result!.id, version: 1 });
    expect(first.result).toEqual({ version: 1, problems: [] });
    const list = await query<{ name: string; errorCount: number }[]>("pipelines.list");
    expect(list.result!.find((p) => p.name === "draft")!.errorCount).toBe(2);
  });

  it("refuses a stale save from a second tab with CONFLICT and the current version", async () => {
    const { result } = await call<{ id: string }>("pipelines.create", { name: "tabs" });
    const id = result!.id;
    const doc = (d: string) => ({ format: "tributary/v1", name: "tabs", description: d, nodes: [], edges: [] });
    expect((await call("pipelines.update", { id, baseVersion: 1, document: doc("tab one") })).status).toBe(200);
    const stale = await call("pipelines.update", { id, baseVersion: 1, document: doc("tab two") });
    expect(stale.status).toBe(409);
    expect(stale.error!.data.code).toBe("CONFLICT");
    expect(stale.error!.data.currentVersion).toBe(2);
    expect(stale.error!.message).toMatch(/saved by someone else/);
    const current = await query<{ document: { description: string } }>("pipelines.byId", { id });
    expect(current.result!.document.description).toBe("tab one");
  });

  it("renames, lists versions, restores, and deletes", async () => {
    const { result } = await call<{ id: string }>("pipelines.create", { name: "old_name" });
    const id = result!.id;
    const renamed = await call<{ name: string; version: number }>("pipelines.rename", { id, baseVersion: 1, name: "new_name" });
    expect(renamed.result).toMatchObject({ name: "new_name", version: 2 });
    const versions = await query<{ version: number; message: string }[]>("pipelines.versions", { id });
    expect(versions.result!.map((v) => [v.version, v.message])).toEqual([[2, "renamed from old_name"], [1, "created"]]);
    const restored = await call<{ name: string; version: number }>("pipelines.restore", { id, version: 1, baseVersion: 2 });
    expect(restored.result).toMatchObject({ name: "old_name", version: 3 });
    expect((await call("pipelines.delete", { id })).status).toBe(200);
    expect((await query("pipelines.byId", { id })).error!.data.code).toBe("NOT_FOUND");
  });

  it("imports a file; malformed JSON reports line and column; a wrong format names the supported one", async () => {
    const text = JSON.stringify({ format: "tributary/v1", name: "imported", nodes: [{ id: "a", kind: "sql", name: "one", config: { sql: "select 1 as x" } }], edges: [] }, null, 2);
    const ok = await call<{ created: boolean; version: number }>("pipelines.import", { text });
    expect(ok.result).toMatchObject({ created: true, version: 1 });
    const again = await call<{ created: boolean; changed: boolean }>("pipelines.import", { text });
    expect(again.result).toMatchObject({ created: false, changed: false });

    const malformed = await call("pipelines.import", { text: '{\n  "format": "tributary/v1",\n  "name": oops\n}' });
    expect(malformed.status).toBe(400);
    expect(malformed.error!.data.problems![0]).toMatchObject({ code: "invalid_json", position: { line: 3, column: 11 } });

    const wrong = await call("pipelines.import", { text: JSON.stringify({ format: "tributary/v9", name: "x", nodes: [], edges: [] }) });
    expect(wrong.error!.data.problems![0]).toMatchObject({ code: "unsupported_format", path: ["format"] });
    expect(wrong.error!.message).toContain("tributary/v1");
  });

  it("validates without saving, SQL included", async () => {
    const document = { format: "tributary/v1", name: "v", nodes: [{ id: "a", kind: "sql", name: "one", config: { sql: "select 1 +" } }], edges: [] };
    const res = await query<Problem[]>("pipelines.validate", { document });
    expect(res.result).toEqual([expect.objectContaining({ code: "sql_syntax", nodeId: "a", path: ["nodes", 0, "config", "sql"] })]);
  });
});
