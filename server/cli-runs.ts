/**
 * The runtime's commands: run, query, runs, retry, cancel, worker.
 * `run` and `retry` run the pipeline to the end in this process (an in-process
 * worker), printing each task as it finishes.
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { desc, eq } from "drizzle-orm";
import { getPipeline, importPipeline } from "@/db/pipeline-store";
import { pipelines, runs } from "@/db/schema";
import { ident } from "@/db/warehouse";
import { formatProblem, isError, parsePipelineText } from "@/server/pipeline";
import { publishRunOutputs } from "@/server/runtime/executor";
import {
  allAttempts, cancelRun, getRunRow, latestTasks, nodeStateOf, planOfRun, retryFailed, startRun, type RunRow,
} from "@/server/runtime/run-store";
import { openRuntimeService, type RuntimeService } from "@/server/runtime/service";
import { TERMINAL_RUN_STATES } from "@/server/runtime/states";

interface Globals {
  dataDir?: string;
  json?: boolean;
}

export class CliUsageError extends Error {}

function say(json: boolean, text: string) {
  if (!json) process.stdout.write(text + "\n");
}

async function withRuntime<T>(g: Globals, startWorker: boolean, fn: (rt: RuntimeService) => Promise<T>): Promise<T> {
  const rt = await openRuntimeService({ dataDir: g.dataDir ? path.resolve(g.dataDir) : undefined, startWorker });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

/** `k=v` → params, values typed by the pipeline's param types later (here: JSON if it parses, else a string). */
function parseParam(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new CliUsageError(`--param takes name=value, not '${value}'`);
  const raw = value.slice(eq + 1);
  let parsed: unknown = raw;
  if (/^(-?\d+(\.\d+)?|true|false)$/.test(raw)) parsed = JSON.parse(raw);
  return { ...previous, [value.slice(0, eq)]: parsed };
}

export interface RunSummary {
  runId: string;
  state: string;
  tasks: { name: string; state: string; attempts: number; rows: number | null; durationMs: number | null; error: string | null; items?: number }[];
}

/** The summary printed at the end of run/retry (and by --json), from the database's truth. */
export async function summarize(rt: RuntimeService, run: RunRow): Promise<RunSummary> {
  const plan = await planOfRun(rt.handle.db, run);
  const attempts = await allAttempts(rt.handle.db, run.id);
  const latest = await latestTasks(rt.handle.db, run.id);
  const tasks = [...plan.nodes.values()].map((pn) => {
    const own = latest.find((t) => t.nodeId === pn.node.id && t.mapIndex === -1);
    const mine = attempts.filter((t) => t.nodeId === pn.node.id);
    const items = latest.filter((t) => t.nodeId === pn.node.id && t.mapIndex >= 0 && t.mapIndex < (own?.result?.items ?? 0));
    const failedItem = items.find((t) => t.state === "failed");
    const state = nodeStateOf(latest.filter((t) => t.nodeId === pn.node.id));
    const rows = own?.result?.items !== undefined ? items.reduce((a, t) => a + (t.rows ?? 0), 0) : (own?.rows ?? null);
    const started = mine.map((t) => t.startedAt?.getTime()).filter((x): x is number => !!x);
    const finished = mine.map((t) => t.finishedAt?.getTime()).filter((x): x is number => !!x);
    return {
      name: pn.node.name,
      state,
      attempts: mine.filter((t) => t.mapIndex === -1 && t.startedAt).length,
      rows,
      durationMs: started.length && finished.length ? Math.max(...finished) - Math.min(...started) : null,
      error: (failedItem ?? own)?.error?.message ?? null,
      ...(own?.result?.items !== undefined ? { items: own.result.items } : {}),
    };
  });
  return { runId: run.id, state: run.state, tasks };
}

/** Work the run to its end with this process's worker, printing tasks as they finish. */
async function follow(rt: RuntimeService, run: RunRow, json: boolean): Promise<RunSummary> {
  const names = new Map([...(await planOfRun(rt.handle.db, run)).nodes.values()].map((p) => [p.node.id, p.node.name]));
  const off = rt.worker.onTask((r) => {
    if (r.task.runId !== run.id) return;
    const name = names.get(r.task.nodeId) ?? r.task.nodeId;
    const item = r.task.mapIndex >= 0 ? `[${r.task.mapIndex}]` : "";
    const mark = r.state === "success" ? "✓" : r.state === "retrying" ? "↻" : "✗";
    const rows = r.rows !== undefined ? `  ${r.rows} rows` : "";
    say(json, `${mark} ${name}${item}  ${r.state}  attempt ${r.task.attempt}${rows}  ${Math.round(r.ms)} ms${r.error ? `  — ${r.error}` : ""}`);
  });
  const stop = () => void cancelRun(rt.handle.db, run.id).catch(() => {});
  process.once("SIGINT", stop);
  try {
    rt.worker.wake();
    for (;;) {
      const now = await getRunRow(rt.handle.db, run.id);
      if (TERMINAL_RUN_STATES.has(now.state)) {
        await publishRunOutputs({ db: rt.handle.db, wh: rt.wh }, now);
        return await summarize(rt, now);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    off();
    process.off("SIGINT", stop);
  }
}

function printSummary(json: boolean, summary: RunSummary) {
  if (json) {
    process.stdout.write(JSON.stringify(summary) + "\n");
    return;
  }
  const w = Math.max(4, ...summary.tasks.map((t) => t.name.length));
  say(false, `\nrun ${summary.runId}: ${summary.state}`);
  for (const t of summary.tasks) {
    const rows = t.rows === null ? "" : `${t.rows} rows`;
    const items = t.items !== undefined ? ` (${t.items} items)` : "";
    say(false, `  ${t.name.padEnd(w)}  ${t.state.padEnd(15)}  ${String(t.attempts).padStart(2)} att.  ${rows.padStart(12)}${items}  ${t.durationMs === null ? "" : `${t.durationMs} ms`}${t.error ? `\n  ${" ".repeat(w)}  ${t.error}` : ""}`);
  }
}

export function registerRunCommands(program: Command, globals: () => Globals, setExit: (code: number) => void): void {
  program
    .command("run")
    .description("run a pipeline (a file, or the name of a saved one) to the end")
    .argument("<file-or-name>", "a tributary/v1 JSON file, or a pipeline name")
    .option("--param <name=value>", "a param value (repeatable)", parseParam, {})
    .action(async (target: string, cmd: { param: Record<string, unknown> }) => {
      const g = globals();
      const json = !!g.json;
      await withRuntime(g, true, async (rt) => {
        let pipelineId: string;
        let filesDir: string | undefined;
        if (target.endsWith(".json") || fs.existsSync(target)) {
          let text: string;
          try {
            text = fs.readFileSync(target, "utf8");
          } catch {
            throw new CliUsageError(`cannot read ${target}: no such file`);
          }
          const parsed = parsePipelineText(text, { sql: rt.sql });
          const errors = parsed.problems.filter(isError);
          if (!parsed.ok || errors.length) {
            for (const p of parsed.problems) say(json, `${target}: ${formatProblem(p)}`);
            if (json) process.stdout.write(JSON.stringify({ runId: null, state: "invalid", problems: parsed.problems, tasks: [] }) + "\n");
            return setExit(1);
          }
          const saved = await importPipeline(rt.handle.db, parsed.pipeline, { problems: parsed.problems });
          pipelineId = saved.id;
          filesDir = path.dirname(path.resolve(target));
          say(json, `${saved.name} version ${saved.version}${saved.created ? " (new)" : saved.changed ? " (updated)" : ""}`);
        } else {
          pipelineId = (await getPipeline(rt.handle.db, { name: target })).id;
        }
        const run = await startRun(rt.handle.db, { pipelineId, params: cmd.param, filesDir }, rt.sql);
        say(json, `run ${run.id} started`);
        const summary = await follow(rt, run, json);
        printSummary(json, summary);
        setExit(summary.state === "success" ? 0 : 1);
      });
    });

  program
    .command("retry")
    .description("run a finished run's failed tasks again, reusing every successful output")
    .argument("<run-id>")
    .action(async (runId: string) => {
      const g = globals();
      await withRuntime(g, true, async (rt) => {
        const run = await retryFailed(rt.handle.db, runId);
        const summary = await follow(rt, run, !!g.json);
        printSummary(!!g.json, summary);
        setExit(summary.state === "success" ? 0 : 1);
      });
    });

  program
    .command("cancel")
    .description("cancel a run; its running tasks stop at their next heartbeat")
    .argument("<run-id>")
    .action(async (runId: string) => {
      const g = globals();
      await withRuntime(g, false, async (rt) => {
        const run = await cancelRun(rt.handle.db, runId);
        say(!!g.json, `run ${run.id}: ${run.state}`);
        if (g.json) process.stdout.write(JSON.stringify({ runId: run.id, state: run.state }) + "\n");
        setExit(0);
      });
    });

  program
    .command("runs")
    .description("the runs of a pipeline, newest first")
    .argument("<name>")
    .option("--limit <n>", "how many", (v) => Number(v), 20)
    .action(async (name: string, cmd: { limit: number }) => {
      const g = globals();
      await withRuntime(g, false, async (rt) => {
        const [p] = await rt.handle.db.select().from(pipelines).where(eq(pipelines.name, name));
        if (!p) throw new CliUsageError(`no pipeline named '${name}'`);
        const rows = await rt.handle.db.select().from(runs).where(eq(runs.pipelineId, p.id)).orderBy(desc(runs.createdAt)).limit(cmd.limit);
        const list = rows.map((r) => ({
          runId: r.id, state: r.state, trigger: r.trigger, version: r.version, logicalDate: r.logicalDate.toISOString(),
          startedAt: r.startedAt?.toISOString() ?? null,
          durationMs: r.startedAt && r.finishedAt ? r.finishedAt.getTime() - r.startedAt.getTime() : null,
          outputsDroppedAt: r.outputsDroppedAt?.toISOString() ?? null,
        }));
        if (g.json) process.stdout.write(JSON.stringify({ runs: list }) + "\n");
        else if (list.length === 0) say(false, `no runs of ${name} yet (tributary run ${name})`);
        else {
          for (const r of list) {
            const dropped = r.outputsDroppedAt ? "  (outputs dropped by retention)" : "";
            say(false, `${r.runId}  ${r.state.padEnd(8)}  ${r.trigger.padEnd(8)}  v${r.version}  ${r.startedAt ?? "-"}  ${r.durationMs ?? "-"} ms${dropped}`);
          }
        }
        setExit(0);
      });
    });

  program
    .command("query")
    .description("read-only SQL on the warehouse; with --run, that run's outputs are readable by node name")
    .argument("<sql>")
    .option("--run <run-id>", "read the outputs of this run by node name")
    .action(async (text: string, cmd: { run?: string }) => {
      const g = globals();
      await withRuntime(g, false, async (rt) => {
        const setup = ["set transaction read only", "set local statement_timeout = 60000"];
        if (cmd.run) {
          const run = await getRunRow(rt.handle.db, cmd.run);
          await publishRunOutputs({ db: rt.handle.db, wh: rt.wh }, run);
          setup.push(`set local search_path = ${ident(run.schemaName)}, public`);
        }
        let rows: Record<string, unknown>[];
        try {
          rows = await rt.wh.cancellable(text, [], undefined, setup);
        } catch (error) {
          throw new CliUsageError(`query failed: ${(error as Error).message}`);
        }
        if (g.json) process.stdout.write(JSON.stringify({ rows }) + "\n");
        else printTable(rows);
        setExit(0);
      });
    });

  program
    .command("worker")
    .description("run a worker until SIGTERM/SIGINT (then it finishes its tasks and stops)")
    .option("--concurrency <n>", "tasks at once", (v) => Number(v))
    .action(async (cmd: { concurrency?: number }) => {
      const g = globals();
      const rt = await openRuntimeService({ dataDir: g.dataDir ? path.resolve(g.dataDir) : undefined, worker: { concurrency: cmd.concurrency, retention: true } });
      say(!!g.json, `worker ${rt.worker.id} started (${rt.handle.driver}: ${rt.handle.location})`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
      });
      say(!!g.json, `worker ${rt.worker.id}: draining`);
      await rt.close();
      setExit(0);
    });
}

function printTable(rows: Record<string, unknown>[]) {
  if (rows.length === 0) {
    say(false, "(no rows)");
    return;
  }
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown) => (v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));
  const widths = cols.map((c) => Math.min(40, Math.max(c.length, ...rows.map((r) => cell(r[c]).length))));
  say(false, cols.map((c, i) => c.padEnd(widths[i]!)).join("  "));
  say(false, widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) say(false, cols.map((c, i) => cell(r[c]).slice(0, 40).padEnd(widths[i]!)).join("  "));
  say(false, `(${rows.length} row${rows.length === 1 ? "" : "s"})`);
}
