/**
 * A runtime on a throwaway app database and warehouse: PGlite in memory, or
 * fresh databases on the TEST_DATABASE_URL server. Starts runs and waits.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openDatabase, type DatabaseHandle } from "@/db/client";
import { createPipeline } from "@/db/pipeline-store";
import { openWarehouse, type Warehouse } from "@/db/warehouse";
import type { PipelineFile } from "@/server/pipeline";
import { loadSqlAnalyzer, type SqlAnalyzer } from "@/server/pipeline/sql-references";
import { allAttempts, getRunRow, latestTasks, startRun, type RunRow, type StartRunInput, type TaskRow } from "@/server/runtime/run-store";
import { publishRunOutputs } from "@/server/runtime/executor";
import { SandboxPool } from "@/server/runtime/sandbox";
import { TERMINAL_RUN_STATES } from "@/server/runtime/states";
import { Worker, type WorkerOptions } from "@/server/runtime/worker";
import { createTempDatabase, openTempPostgres } from "../databases";

export interface Runtime {
  name: "pglite" | "postgres";
  app: DatabaseHandle;
  wh: Warehouse;
  sql: SqlAnalyzer;
  sandbox: SandboxPool;
  filesDir: string;
  worker: Worker;
  /** Save `doc` as a new pipeline and start a run of it. */
  start(doc: PipelineFile, input?: Omit<StartRunInput, "pipelineId">): Promise<RunRow>;
  /** Wait until the run is finished. */
  wait(runId: string, timeoutMs?: number): Promise<{ run: RunRow; tasks: Map<string, TaskRow>; attempts: TaskRow[] }>;
  close(): Promise<void>;
}

export async function openRuntime(name: "pglite" | "postgres", workerOptions: WorkerOptions = {}): Promise<Runtime> {
  const filesDir = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-files-"));
  let app: DatabaseHandle;
  let wh: Warehouse;
  let closeDbs: () => Promise<void>;
  if (name === "pglite") {
    app = await openDatabase({ dataDir: "memory://" });
    wh = await openWarehouse({ dir: "memory://" });
    closeDbs = async () => {
      await wh.close();
      await app.close();
    };
  } else {
    const appDb = await openTempPostgres("tributary_rt_app");
    const whDb = await createTempDatabase("tributary_rt_wh");
    app = appDb;
    wh = await openWarehouse({ url: whDb.url, appUrl: appDb.url }); // one server: relaxed warehouse commits, as a server sets them
    closeDbs = async () => {
      await wh.close();
      await appDb.close();
      await whDb.drop();
    };
  }
  const sql = await loadSqlAnalyzer();
  const sandbox = new SandboxPool();
  const worker = new Worker({ db: app.db, wh, sql, sandbox: () => sandbox, filesDir }, { pollMs: 20, ...workerOptions });
  worker.start();
  let n = 0;
  return {
    name, app, wh, sql, sandbox, filesDir, worker,
    async start(doc, input = {}) {
      const saved = await createPipeline(app.db, { ...doc, name: `${doc.name}_${++n}` }, "created", { sql });
      const run = await startRun(app.db, { pipelineId: saved.id, ...input }, sql);
      worker.wake();
      return run;
    },
    async wait(runId, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const run = await getRunRow(app.db, runId);
        if (TERMINAL_RUN_STATES.has(run.state)) {
          await publishRunOutputs({ db: app.db, wh }, run);
          const latest = await latestTasks(app.db, runId);
          const tasks = new Map(latest.filter((t) => t.mapIndex === -1).map((t) => [t.nodeId, t]));
          return { run, tasks, attempts: await allAttempts(app.db, runId) };
        }
        if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.state} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      await worker.drain();
      await sandbox.close();
      await closeDbs();
      fs.rmSync(filesDir, { recursive: true, force: true });
    },
  };
}
