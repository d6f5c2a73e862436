/**
 * The per-process app context: the database, the SQL parser and the runtime
 * (warehouse + an in-process worker). Opened once per process (kept on
 * globalThis so that dev-mode reloads reuse it).
 */
import "server-only";
import type { Db } from "@/db/client";
import type { Warehouse } from "@/db/warehouse";
import type { SqlAnalyzer } from "@/server/pipeline/sql-references";
import { openRuntimeService, type RuntimeService } from "@/server/runtime/service";

export interface Context {
  db: Db;
  sql: SqlAnalyzer;
  /** Absent in tests of routers that do not run anything. */
  runtime?: { wh: Warehouse; wake(): void; filesDir: string };
}

const globalKey = Symbol.for("tributary.appContext");
type Holder = { [globalKey]?: Promise<RuntimeService> };

/**
 * Open (once) what the environment configures: migrations apply, the examples
 * load on first start, and the in-process worker starts (unless
 * TRIBUTARY_INPROCESS_WORKER=false, e.g. when separate workers serve a Postgres queue).
 */
export function appContext(): Promise<RuntimeService> {
  const holder = globalThis as Holder;
  holder[globalKey] ??= (async () => {
    // The server's worker keeps run outputs within TRIBUTARY_KEEP_RUNS (as `tributary worker` does).
    const rt = await openRuntimeService({ startWorker: process.env.TRIBUTARY_INPROCESS_WORKER !== "false", worker: { retention: true } });
    const { ensureExamples } = await import("@/server/examples");
    await ensureExamples(rt.handle.db, rt.sql);
    const stop = () => void rt.close().finally(() => process.exit(0));
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    return rt;
  })().catch((error: unknown) => {
    delete holder[globalKey];
    throw error;
  });
  return holder[globalKey];
}

export async function createContext(): Promise<Context> {
  const rt = await appContext();
  return { db: rt.handle.db, sql: rt.sql, runtime: { wh: rt.wh, wake: () => rt.worker.wake(), filesDir: rt.filesDir } };
}
