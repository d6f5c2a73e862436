/**
 * A worker: claims ready tasks and runs them, up to `concurrency` at once,
 * renewing each task's lease by heartbeat. Any worker also reaps lapsed leases
 * (tasks whose worker died). `drain()` stops claiming and waits for the tasks
 * in flight (SIGTERM). The web server runs one in-process; `tributary worker`
 * runs more, on any machine that reaches the same Postgres.
 */
import os from "node:os";
import { taskLogs } from "@/db/schema";
import { CanceledFailure, failureOf, LeaseLostError, TaskFailure } from "./errors";
import { executeTask, type ExecutorDeps } from "./executor";
import { claimTask, completeTask, failTask, heartbeat, reapLapsedLeases, type ClaimedTask } from "./run-store";

export interface WorkerOptions {
  id?: string;
  concurrency?: number;
  leaseSeconds?: number;
  heartbeatMs?: number;
  /** Idle poll interval; `wake()` cuts it short. */
  pollMs?: number;
  /** Log lines kept per task attempt (the rest is dropped with a note). */
  maxLogLines?: number;
}

export interface TaskReport {
  task: ClaimedTask;
  state: "success" | "failed" | "retrying" | "canceled" | "lost";
  error?: string;
  rows?: number;
  ms: number;
}

/** Deadlocks and serialization failures are the database asking to try again: do, a few times. */
async function withDbRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const code = (error as { code?: string; cause?: { code?: string } }).code ?? (error as { cause?: { code?: string } }).cause?.code;
      if (attempt >= 5 || (code !== "40P01" && code !== "40001")) throw error;
      await new Promise((r) => setTimeout(r, 10 * attempt + Math.random() * 20));
    }
  }
}

export class Worker {
  readonly id: string;
  private readonly concurrency: number;
  private readonly leaseSeconds: number;
  private readonly heartbeatMs: number;
  private readonly pollMs: number;
  private readonly maxLogLines: number;
  private running = false;
  private slots: Promise<void>[] = [];
  private wakers: (() => void)[] = [];
  private reaper?: NodeJS.Timeout;
  private readonly listeners = new Set<(report: TaskReport) => void>();

  constructor(
    private readonly deps: Omit<ExecutorDeps, "log">,
    opts: WorkerOptions = {},
  ) {
    this.id = opts.id ?? `${os.hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 6)}`;
    this.concurrency = opts.concurrency ?? (Number(process.env.TRIBUTARY_WORKER_CONCURRENCY) || 8);
    this.leaseSeconds = opts.leaseSeconds ?? (Number(process.env.TRIBUTARY_LEASE_SECONDS) || 30);
    this.heartbeatMs = opts.heartbeatMs ?? Math.min(1000, (this.leaseSeconds * 1000) / 3);
    this.pollMs = opts.pollMs ?? 250;
    this.maxLogLines = opts.maxLogLines ?? 2000;
  }

  /** Hear about every task this worker finishes. */
  onTask(listener: (report: TaskReport) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.slots = Array.from({ length: this.concurrency }, () => this.loop());
    const reap = () => void reapLapsedLeases(this.deps.db).then((n) => n && this.wake()).catch(() => {});
    this.reaper = setInterval(reap, Math.max(500, (this.leaseSeconds * 1000) / 2));
    this.reaper.unref();
  }

  /** Cut idle polls short (a run was started or retried). */
  wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }

  /** Stop claiming; resolve when the tasks in flight are done. */
  async drain(): Promise<void> {
    this.running = false;
    clearInterval(this.reaper);
    this.wake();
    await Promise.all(this.slots);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let task: ClaimedTask | null = null;
      try {
        task = await claimTask(this.deps.db, this.id, this.leaseSeconds);
      } catch (error) {
        console.error(`worker ${this.id}: claiming failed: ${(error as Error).message}`);
      }
      if (!task) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.pollMs);
          this.wakers.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        continue;
      }
      await this.run(task);
      this.wake(); // what it finished may have queued more work
    }
  }

  private async run(task: ClaimedTask): Promise<void> {
    const t0 = performance.now();
    const cancel = new AbortController();
    let lost = false;
    let logLines = 0;
    const logs: { level: "info" | "warn" | "error"; message: string }[] = [];
    const beat = setInterval(() => {
      void heartbeat(this.deps.db, task, this.leaseSeconds)
        .then((answer) => {
          if (answer === "canceled") cancel.abort(new CanceledFailure());
          if (answer === "lost") {
            lost = true;
            cancel.abort(new TaskFailure("lease lost", true, "lease_lost"));
          }
        })
        .catch(() => {});
    }, this.heartbeatMs);
    const deps: ExecutorDeps = {
      ...this.deps,
      log: (_task, level, message) => {
        if (++logLines > this.maxLogLines) {
          if (logLines === this.maxLogLines + 1) logs.push({ level: "warn", message: `… more log lines dropped (limit ${this.maxLogLines} per attempt)` });
          return;
        }
        logs.push({ level, message: message.length > 10_000 ? `${message.slice(0, 10_000)}… (truncated)` : message });
      },
    };
    const report = (r: Omit<TaskReport, "task" | "ms">) => {
      for (const l of this.listeners) l({ task, ms: performance.now() - t0, ...r });
    };
    try {
      const outcome = await executeTask(deps, task, cancel.signal);
      clearInterval(beat);
      await this.saveLogs(task, logs);
      await withDbRetry(() => completeTask(this.deps.db, task, outcome));
      report({ state: "success", rows: outcome.rows });
    } catch (error) {
      clearInterval(beat);
      if (error instanceof LeaseLostError || lost) {
        report({ state: "lost", error: "lease lost: the result was dropped" });
        return;
      }
      const failure = failureOf(error);
      const canceled = failure instanceof CanceledFailure;
      logs.push({ level: "error", message: failure.message });
      await this.saveLogs(task, logs).catch(() => {});
      try {
        const { retrying } = await withDbRetry(() => failTask(this.deps.db, task, failure, { canceled }));
        report({ state: canceled ? "canceled" : retrying ? "retrying" : "failed", error: failure.message });
      } catch (inner) {
        if (inner instanceof LeaseLostError) report({ state: canceled ? "canceled" : "lost", error: failure.message });
        else console.error(`worker ${this.id}: recording the failure of task ${task.id} failed: ${(inner as Error).message}`);
      }
    }
  }

  private async saveLogs(task: ClaimedTask, logs: { level: "info" | "warn" | "error"; message: string }[]): Promise<void> {
    if (logs.length === 0) return;
    await this.deps.db.insert(taskLogs).values(logs.map((l) => ({ taskRunId: task.id, level: l.level, message: l.message })));
  }
}
