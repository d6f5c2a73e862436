/**
 * The runtime as one object: the app database, the warehouse, the SQL parser,
 * the sandbox pool and a worker. The web server, the CLI and `tributary worker`
 * all open it the same way.
 */
import { defaultDataDir, filesDirOf, openDatabaseFromEnv, type DatabaseHandle } from "@/db/client";
import { openWarehouseFromEnv, type Warehouse } from "@/db/warehouse";
import { loadSqlAnalyzer, type SqlAnalyzer } from "@/server/pipeline/sql-references";
import { SandboxPool } from "./sandbox";
import { defaultConcurrency, Worker, type WorkerOptions } from "./worker";

export interface RuntimeService {
  handle: DatabaseHandle;
  wh: Warehouse;
  sql: SqlAnalyzer;
  sandbox: SandboxPool;
  worker: Worker;
  filesDir: string;
  close(): Promise<void>;
}

export async function openRuntimeService(opts: { dataDir?: string; worker?: WorkerOptions; startWorker?: boolean } = {}): Promise<RuntimeService> {
  const dataDir = opts.dataDir ?? defaultDataDir();
  const handle = await openDatabaseFromEnv(dataDir);
  let wh: Warehouse;
  try {
    wh = await openWarehouseFromEnv(dataDir);
  } catch (error) {
    await handle.close();
    throw error;
  }
  const sql = await loadSqlAnalyzer();
  // As many isolates ready as the worker runs tasks at once.
  const sandbox = new SandboxPool({ spares: opts.worker?.concurrency ?? defaultConcurrency() });
  const filesDir = filesDirOf(dataDir);
  const worker = new Worker({ db: handle.db, wh, sql, sandbox: () => sandbox, filesDir }, opts.worker);
  if (opts.startWorker !== false) worker.start();
  return {
    handle, wh, sql, sandbox, worker, filesDir,
    async close() {
      await worker.drain();
      await sandbox.close();
      await wh.close();
      await handle.close();
    },
  };
}
