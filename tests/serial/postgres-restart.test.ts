/**
 * Postgres restarted in the middle of a run: the worker reconnects, the task
 * that was in flight runs again once its lease lapses, and no run is left
 * "running" forever. It restarts the shared test server, so `npm test` runs it
 * on its own, after the other tests (scripts/test.mjs, stage "restart").
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type DatabaseHandle } from "@/db/client";
import { createPipeline } from "@/db/pipeline-store";
import { loadSqlAnalyzer } from "@/server/pipeline/sql-references";
import { allAttempts, getRunRow, startRun } from "@/server/runtime/run-store";
import { TERMINAL_RUN_STATES } from "@/server/runtime/states";
import { createTempDatabase } from "../integration/databases";

const root = path.resolve(__dirname, "../..");
const version = fs.existsSync("/etc/postgresql") ? fs.readdirSync("/etc/postgresql").sort().pop() : undefined;
const canRestart = !!process.env.TEST_DATABASE_URL && !!version && spawnSync("which", ["pg_ctlcluster"]).status === 0;

function restartPostgres() {
  const res = spawnSync("pg_ctlcluster", ["--skip-systemctl-redirect", version!, "main", "restart"], { encoding: "utf8" });
  if (res.status !== 0) throw new Error(`restarting Postgres failed: ${res.stderr}`);
}

describe.runIf(canRestart)("Postgres restarted mid-run", () => {
  let dbs: { url: string; drop: () => Promise<void> }[] = [];
  let app: DatabaseHandle;
  let worker: ChildProcess;

  beforeAll(async () => {
    dbs = [await createTempDatabase("tributary_restart_app"), await createTempDatabase("tributary_restart_wh")];
    app = await openDatabase({ url: dbs[0]!.url });
  });
  afterAll(async () => {
    worker?.kill("SIGKILL");
    await app?.close().catch(() => {});
    for (const d of dbs) await d.drop().catch(() => {});
  });

  it("the worker reconnects and the run finishes", async () => {
    worker = spawn(process.execPath, [path.join(root, "bin/tributary.mjs"), "worker", "--concurrency", "2"], {
      env: { ...process.env, DATABASE_URL: dbs[0]!.url, WAREHOUSE_URL: dbs[1]!.url, TRIBUTARY_LEASE_SECONDS: "3" },
      stdio: "ignore",
    });
    const doc = {
      format: "tributary/v1" as const,
      name: "restarted",
      nodes: [
        { id: "a", kind: "sql" as const, name: "numbers", config: { sql: "select g as x from generate_series(1, 50) g" } },
        { id: "b", kind: "js" as const, name: "slow", config: { code: "export default ({ numbers }) => { const end = Date.now() + 2500; while (Date.now() < end) {} return numbers }" } },
        { id: "c", kind: "sql" as const, name: "total", config: { sql: "select count(*) as n from slow" } },
      ],
      edges: [{ from: "a", to: "b" }, { from: "b", to: "c" }],
    };
    const saved = await createPipeline(app.db, doc, "created", { problems: [] });
    const run = await startRun(app.db, { pipelineId: saved.id }, await loadSqlAnalyzer());
    // Wait until b runs, then restart the server under everyone's feet.
    for (let i = 0; i < 200; i++) {
      const attempts = await allAttempts(app.db, run.id);
      if (attempts.some((t) => t.nodeId === "b" && t.state === "running")) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    restartPostgres();
    let state = "running";
    for (let i = 0; i < 600 && !TERMINAL_RUN_STATES.has(state as never); i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        state = (await getRunRow(app.db, run.id)).state;
      } catch {
        // our own connection is reconnecting too
      }
    }
    expect(state).toBe("success");
    const attempts = await allAttempts(app.db, run.id);
    expect(attempts.filter((t) => t.nodeId === "c" && t.state === "success")).toHaveLength(1);
    expect(attempts.filter((t) => t.state === "running")).toEqual([]);
  }, 120_000);
});
