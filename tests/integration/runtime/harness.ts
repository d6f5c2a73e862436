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
  /**
   * Wait until the run is finished (and its outputs published). Past `timeoutMs` (45 s: under
   * Vitest's 60) it fails with what the run and, on Postgres, the server were doing — a hang shows
   * its cause instead of a bare test timeout.
   */
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
    async wait(runId, timeoutMs = 45_000) {
      let expired = false;
      let stage = "polling the run";
      const poll = async () => {
        for (;;) {
          const run = await getRunRow(app.db, runId);
          if (TERMINAL_RUN_STATES.has(run.state)) {
            stage = `publishing the outputs of the ${run.state} run`;
            await publishRunOutputs({ db: app.db, wh }, run);
            stage = "reading the tasks";
            const latest = await latestTasks(app.db, runId);
            const tasks = new Map(latest.filter((t) => t.mapIndex === -1).map((t) => [t.nodeId, t]));
            return { run, tasks, attempts: await allAttempts(app.db, runId) };
          }
          if (expired) return deadline; // its diagnosis is on the way
          await new Promise((r) => setTimeout(r, 25));
        }
      };
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          expired = true;
          void diagnose().then((report) => reject(new Error(`run ${runId}: no result after ${timeoutMs} ms, still ${stage}\n${report}`)));
        }, timeoutMs);
      });
      const diagnose = async (): Promise<string> => {
        const lines: string[] = [];
        const within = <T,>(p: Promise<T>) => Promise.race([p, new Promise<never>((_, r) => setTimeout(() => r(new Error("no answer in 5 s")), 5_000))]);
        try {
          const tasks = await within(latestTasks(app.db, runId));
          lines.push(`tasks: ${tasks.map((t) => `${t.nodeId}${t.mapIndex >= 0 ? `[${t.mapIndex}]` : ""}=${t.state}`).join(", ")}`);
        } catch (error) {
          lines.push(`tasks: ${(error as Error).message}`);
        }
        if (name === "postgres" && process.env.TEST_DATABASE_URL) {
          // A connection of its own: the runtime's pools may be what is stuck.
          const { default: postgres } = await import("postgres");
          const probe = postgres(process.env.TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
          try {
            const active = await within(
              probe.unsafe(`select pid, datname, state, wait_event_type, wait_event, now() - query_start as age, left(query, 300) as query
                            from pg_stat_activity where pid <> pg_backend_pid() and state is distinct from 'idle' and backend_type = 'client backend'`),
            );
            lines.push(`pg_stat_activity (not idle):`, ...active.map((r) => `  ${JSON.stringify(r)}`));
            const waiting = await within(probe.unsafe(`select pid, locktype, relation::regclass::text as relation, mode, objid from pg_locks where not granted`));
            lines.push(`pg_locks not granted:`, ...waiting.map((r) => `  ${JSON.stringify(r)}`));
          } catch (error) {
            lines.push(`pg_stat_activity: ${(error as Error).message}`);
          } finally {
            await probe.end({ timeout: 1 });
          }
        }
        return lines.join("\n");
      };
      try {
        return await Promise.race([poll(), deadline]);
      } finally {
        clearTimeout(timer);
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
