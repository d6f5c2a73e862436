/**
 * The per-process app context: the open database and the SQL analyzer. Opened
 * once per process (kept on globalThis so that dev-mode reloads reuse it).
 */
import "server-only";
import { openDatabaseFromEnv, type DatabaseHandle, type Db } from "@/db/client";
import { loadSqlAnalyzer, type SqlAnalyzer } from "@/server/pipeline/sql-references";

export interface Context {
  db: Db;
  sql: SqlAnalyzer;
}

const globalKey = Symbol.for("tributary.appContext");
type Holder = { [globalKey]?: Promise<{ handle: DatabaseHandle; sql: SqlAnalyzer }> };

/** Open (once) the database configured by the environment and load the SQL parser. */
export function appContext(): Promise<{ handle: DatabaseHandle; sql: SqlAnalyzer }> {
  const holder = globalThis as Holder;
  holder[globalKey] ??= (async () => {
    const [handle, sql] = await Promise.all([openDatabaseFromEnv(), loadSqlAnalyzer()]);
    const { ensureExamples } = await import("@/server/examples");
    await ensureExamples(handle.db, sql);
    return { handle, sql };
  })().catch((error: unknown) => {
    delete holder[globalKey];
    throw error;
  });
  return holder[globalKey];
}

export async function createContext(): Promise<Context> {
  const { handle, sql } = await appContext();
  return { db: handle.db, sql };
}
