/**
 * A worker: claims ready tasks and runs them, up to `concurrency` at once,
 * renewing each task's lease by heartbeat. Any worker also reaps lapsed leases
 * (tasks whose worker died). `drain()` stops claiming and waits for the tasks
 * in flight (SIGTERM). The web server runs one in-process; `tributary worker`
 * runs more, on any machine that reaches the same Postgres.
 */
import os from "node:os";
import { taskLogs } from "@/db/schema";
import type { NodeKind } from "@/server/pipeline";
import { CanceledFailure, failureOf, LeaseLostError, TaskFailure } from "./errors";
import { executeTask, type ExecutorDeps } from "./executor";
import { claimTasks, completeTask, failTask, heartbeatTasks, reapLapsedLeases, type ClaimedTask, type ClaimNext } from "./run-store";
import { outputTableName, qualified } from "./outputs";
import { keepRunsSetting, pruneRunOutputs } from "./retention";
import { withDbRetry } from "./sql";

export interface WorkerOptions {
  id?: string;
  concurrency?: number;
  leaseSeconds?: number;
  heartbeatMs?: number;
  /** Idle poll interval; `wake()` cuts it short. */
  pollMs?: number;
  /** Log lines kept per task attempt (the rest is dropped with a note). */
  maxLogLines?: number;
  /**
   * Retention (retention.ts): sweep old runs' outputs — the long-lived processes do (the server's
   * worker, `tributary worker`); a one-off `tributary run` does not. `keepRuns`: finished runs per
   * pipeline whose outputs are kept (null: all); default TRIBUTARY_KEEP_RUNS, read at start().
   */
  retention?: boolean;
  keepRuns?: number | null;
}

export interface TaskReport {
  task: ClaimedTask;
  state: "success" | "failed" | "retrying" | "canceled" | "lost";
  error?: string;
  rows?: number;
  ms: number;
}

/** A task in flight: how to stop it (lease lost, run canceled), and what its end tells the dispatcher. */
interface InFlight {
  task: ClaimedTask;
  cancel: AbortController;
  /** Its lease was lost: its result must not be recorded. */
  lost: boolean;
  /** Its completion claimed all it queued and found nothing else ready: no need to wake the dispatcher. */
  quiet: boolean;
  /**
   * Started before the commit that claims it was durable: settles with that commit. Until then the
   * row, as other sessions see it, is not yet this worker's (a heartbeat or a completion would find
   * it queued), so neither is sent before.
   */
  claim?: Promise<void>;
  /** Its run is over (reported): a late heartbeat answer or failed claim no longer concerns it. */
  finished: boolean;
  done: Promise<void>;
}

/**
 * Node kinds whose work stays inside their run — reads, and their own output table — and so may
 * start before the commit that claims them is durable: if it is lost, the task runs again, as
 * after a worker's crash. A sink or a notification (work another system sees) waits for it.
 */
const CONTAINED_KINDS: ReadonlySet<NodeKind> = new Set<NodeKind>(["sql", "js", "source.csv", "check", "branch", "sensor"]);

/** Tasks a worker runs at once unless told: TRIBUTARY_WORKER_CONCURRENCY, else 8. */
export function defaultConcurrency(): number {
  return Number(process.env.TRIBUTARY_WORKER_CONCURRENCY) || 8;
}

export class Worker {
  readonly id: string;
  private readonly concurrency: number;
  private readonly leaseSeconds: number;
  private readonly heartbeatMs: number;
  private readonly pollMs: number;
  private readonly maxLogLines: number;
  private keepRuns: number | null = null;
  private pruning: Promise<void> | null = null;
  private running = false;
  private dispatcher: Promise<void> = Promise.resolve();
  /** Tasks in flight, each with how to stop it when its lease is lost or its run canceled. */
  private readonly active = new Map<string, InFlight>();
  /** Executions replaced in `active` by a new claim of their row (theirs failed), still stopping. */
  private readonly stopping = new Set<Promise<void>>();
  private wakers: (() => void)[] = [];
  /** Set by wake(): work may have appeared since the dispatcher last looked. */
  private woken = false;
  private reaper?: NodeJS.Timeout;
  private beat?: NodeJS.Timeout;
  /** When the heartbeat in flight was sent (performance.now()); null when none is. */
  private beatSent: number | null = null;
  private readonly listeners = new Set<(report: TaskReport) => void>();

  constructor(
    private readonly deps: Omit<ExecutorDeps, "log">,
    private readonly options: WorkerOptions = {},
  ) {
    this.id = options.id ?? `${os.hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 6)}`;
    this.concurrency = options.concurrency ?? defaultConcurrency();
    this.leaseSeconds = options.leaseSeconds ?? (Number(process.env.TRIBUTARY_LEASE_SECONDS) || 30);
    this.heartbeatMs = options.heartbeatMs ?? Math.min(1000, (this.leaseSeconds * 1000) / 3);
    this.pollMs = options.pollMs ?? 250;
    this.maxLogLines = options.maxLogLines ?? 2000;
  }

  /** Tasks in flight (a task's report is heard while it still counts). */
  get inFlight(): number {
    return this.active.size;
  }

  /** Hear about every task this worker finishes. */
  onTask(listener: (report: TaskReport) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.running) return;
    // Read (and checked) here: a malformed TRIBUTARY_KEEP_RUNS stops the start with its message.
    if (this.options.retention) this.keepRuns = this.options.keepRuns !== undefined ? this.options.keepRuns : keepRunsSetting();
    this.running = true;
    this.dispatcher = this.dispatch();
    const reap = () => {
      void reapLapsedLeases(this.deps.db).then((n) => n && this.wake()).catch(() => {});
      void this.prune();
    };
    this.reaper = setInterval(reap, Math.max(500, (this.leaseSeconds * 1000) / 2));
    this.reaper.unref();
    // One heartbeat for all the tasks in flight: one statement renews every lease.
    this.beat = setInterval(() => void this.heartbeat(), this.heartbeatMs);
    this.beat.unref();
  }

  /** Cut idle polls short (a run was started or retried, a task finished). */
  wake(): void {
    this.woken = true;
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }

  /** Stop claiming; resolve when the tasks in flight are done. */
  async drain(): Promise<void> {
    this.running = false;
    clearInterval(this.reaper);
    this.wake();
    await this.dispatcher;
    await this.pruning; // a sweep in progress ends before the caller closes the warehouse
    // A task ending now may still hand its slot to one it claimed: wait until none is left.
    while (this.active.size || this.stopping.size) await Promise.all([...this.active.values()].map((a) => a.done).concat([...this.stopping]));
    clearInterval(this.beat);
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken || !this.running) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakers.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Claim as many ready tasks as there are free slots, in one statement, and start them;
   * when a task ends (its completion may have queued more) claim again at once; when
   * nothing is ready, wait for wake() or the poll interval.
   */
  private async dispatch(): Promise<void> {
    while (this.running) {
      const free = this.concurrency - this.active.size;
      if (free <= 0) {
        this.woken = false;
        await this.sleep(this.pollMs);
        continue;
      }
      this.woken = false;
      let tasks: ClaimedTask[] = [];
      try {
        tasks = await claimTasks(this.deps.db, this.id, this.leaseSeconds, free);
      } catch (error) {
        console.error(`worker ${this.id}: claiming failed: ${(error as Error).message}`);
      }
      if (tasks.length === 0) {
        await this.sleep(this.pollMs);
        continue;
      }
      for (const task of tasks) this.launch(task);
    }
  }

  private launch(task: ClaimedTask, claim?: Promise<void>): InFlight {
    const entry: InFlight = { task, cancel: new AbortController(), lost: false, quiet: false, claim, finished: false, done: Promise.resolve() };
    // The claim did not hold (its commit failed): the row is queued again, for anyone.
    claim?.then(() => (entry.claim = undefined), () => this.loseLease(entry));
    // The same row claimed again while an execution whose claim failed is still stopping: the
    // new one is the task's entry (heartbeats, cancel); the old one is waited for by drain().
    const before = this.active.get(task.id);
    if (before) {
      this.stopping.add(before.done);
      void before.done.finally(() => this.stopping.delete(before.done));
    }
    this.active.set(task.id, entry);
    entry.done = this.run(entry)
      .catch((error: unknown) => console.error(`worker ${this.id}: task ${task.id}: ${(error as Error).message}`))
      .finally(() => {
        entry.finished = true;
        if (this.active.get(task.id) === entry) this.active.delete(task.id);
        // A slot is free, and what it finished may have queued more work (unless its completion
        // claimed all it queued, and found nothing else ready).
        if (!entry.quiet) this.wake();
      });
    return entry;
  }

  /** Stop a task whose lease (or claim) this worker no longer holds: its result must not be recorded. */
  private loseLease(entry: InFlight): void {
    if (entry.finished) return;
    entry.lost = true;
    entry.cancel.abort(new TaskFailure("lease lost", true, "lease_lost"));
  }

  /** Retention (retention.ts), one sweep at a time, best effort: a run whose drop failed is unmarked and tried at the next sweep. */
  private prune(): Promise<void> {
    if (!this.options.retention || this.keepRuns === null || this.pruning || !this.running) return this.pruning ?? Promise.resolve();
    this.pruning = pruneRunOutputs(this.deps.db, this.deps.wh, this.keepRuns)
      .then(() => {}, (error: unknown) => console.error(`worker ${this.id}: dropping old run outputs failed: ${(error as Error).message}`))
      .finally(() => (this.pruning = null));
    return this.pruning;
  }

  private async heartbeat(): Promise<void> {
    const entries = [...this.active.values()].filter((e) => !e.claim);
    // One beat at a time: on a slow database beats would otherwise pile up on the same rows. A
    // beat not answered within five intervals (a half-open connection) no longer holds the next.
    if (entries.length === 0 || (this.beatSent !== null && performance.now() - this.beatSent < this.heartbeatMs * 5)) return;
    const sent = performance.now();
    this.beatSent = sent;
    try {
      const answers = await heartbeatTasks(this.deps.db, entries.map((e) => e.task), this.leaseSeconds);
      for (const e of entries) {
        const answer = answers.get(e.task.id);
        if (answer === "canceled") e.cancel.abort(new CanceledFailure());
        if (answer === "lost") this.loseLease(e);
      }
    } catch {
      /* the next beat tries again; the lease outlives a few misses */
    } finally {
      if (this.beatSent === sent) this.beatSent = null;
    }
  }

  private async run(entry: InFlight): Promise<void> {
    const { task, cancel } = entry;
    const t0 = performance.now();
    let logLines = 0;
    const logs: { level: "info" | "warn" | "error"; message: string }[] = [];
    const deps: ExecutorDeps = {
      ...this.deps,
      ...(entry.claim ? { claimed: entry.claim } : {}),
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
      await entry.claim?.catch(() => {}); // (a failed claim sets `lost`)
      // A task whose lease was lost must not record its result (completeTask's fencing would refuse it too).
      if (entry.lost) throw new LeaseLostError(task.id);
      await this.saveLogs(task, logs);
      // The slot this task frees goes to the next ready task, claimed in the same call (none while
      // draining). A task whose work stays inside its run starts as soon as the call returns it,
      // while the commit that claims it is still being made durable; any other waits for it.
      let started = new Set<string>();
      const beforeCommit: ClaimNext["beforeCommit"] = (claimed, committed, kindOf) => {
        for (const t of claimed) {
          const kind = kindOf(t);
          if (!kind || !CONTAINED_KINDS.has(kind)) continue;
          started.add(t.id);
          this.launch(t, committed);
        }
      };
      const done = await withDbRetry(() => {
        started = new Set(); // (a retried call claims anew)
        return completeTask(this.deps.db, task, outcome, this.running ? { workerId: this.id, leaseSeconds: this.leaseSeconds, max: 1, beforeCommit } : undefined);
      });
      for (const t of done.claimed) if (!started.has(t.id)) this.launch(t);
      // Nothing more became ready than was just claimed: the dispatcher need not look now.
      if (!done.moreReady) entry.quiet = true;
      report({ state: "success", rows: outcome.rows });
    } catch (error) {
      await entry.claim?.catch(() => {}); // whether the claim held decides what is recorded
      if (error instanceof LeaseLostError || entry.lost) {
        // This attempt's output table (if it made one) will never be read: another attempt, or
        // none (the run was canceled meanwhile), owns the node now.
        await this.deps.wh.query(`drop table if exists ${qualified(task.run.schemaName, outputTableName(task.id, task.tag))}`).catch(() => {});
        report({ state: "lost", error: "lease lost: the result was dropped" });
        return;
      }
      const failure = failureOf(error);
      const canceled = failure instanceof CanceledFailure;
      logs.push({ level: "error", message: failure.message });
      await this.saveLogs(task, logs).catch(() => {});
      try {
        // A lost database connection is treated like a lost lease: a new attempt at once, not a retry.
        const { retrying } = await withDbRetry(() => failTask(this.deps.db, task, failure, { canceled, leaseLost: failure.kind === "connection" }));
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
