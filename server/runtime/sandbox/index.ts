/**
 * The JavaScript cell sandbox, host side. User code never runs in this
 * process: SandboxPool forks long-lived task-runner child processes
 * (task-runner.ts) that run each cell in its own isolated-vm isolate. This
 * side hands input batches over, receives output rows as JSON text (or, once
 * the caller asked for it, encoded for COPY by the task runner — never by the
 * cell) and has them checked before they are loaded, and enforces the log cap,
 * cancellation and a last-resort deadline (it kills a child that stops answering).
 *
 * See docs/sandbox.md for the cell contract and what is blocked and how.
 */
import { fork, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type BinaryRows, isBinaryBatch, MAX_BATCH_CHARS, MAX_BATCH_ROWS, type HostToRunner, type JsErrorKind, type RunnerToHost } from "./protocol";
import type { Column, CopyFormat } from "./rows-copy";

export type { BinaryRows, InputKind, JsErrorKind } from "./protocol";

export interface JsCellLimits {
  memoryMb: number;
  timeoutMs: number;
  maxLogBytes: number;
}

/** Defaults; the runtime passes the node's own task timeout as `timeoutMs`. */
export const DEFAULT_JS_LIMITS: Readonly<JsCellLimits> = Object.freeze({
  memoryMb: 256,
  timeoutMs: 5 * 60_000,
  maxLogBytes: 1024 * 1024,
});

export interface JsCellRequest {
  code: string;
  /** Upstream names the cell may read. */
  inputNames: string[];
  params: Record<string, unknown>;
  logicalDate: string;
  runId: string;
  item?: unknown;
  limits: JsCellLimits;
  /**
   * Rows must only have keys that the first batch of output rows had (they become a table's
   * columns); checked in the isolate, where each row is in hand anyway, so that `writeJson`
   * can pass batches on without parsing them.
   */
  checkColumns?: boolean;
}

/** A batch of rows already serialised: the JSON text of an array of row objects, and its length. */
export interface JsonRows {
  json: string;
  rows: number;
}

export interface JsCellIO {
  /**
   * Pull the next batch (≤ batchSize rows) of an input; no rows means done. Called by the runner
   * as the cell consumes. Either rows, or their JSON text (passed to the isolate as it is: it
   * must be an array of objects, at most MAX_BATCH_CHARS long unless it holds one row), or
   * binary COPY tuples that the isolate decodes (as large).
   */
  readInput(name: string, cursor: number, batchSize: number): Promise<Record<string, unknown>[] | JsonRows | BinaryRows>;
  /** Rows the cell produced, in order, in batches. Backpressure: the runner awaits it. */
  writeRows(rows: Record<string, unknown>[]): Promise<void>;
  /**
   * If given, used instead of `writeRows`: the batch as the cell's JSON text, unparsed (the
   * caller's database parses it); resolves to the number of rows it held.
   */
  writeJson?(json: string): Promise<number>;
  /**
   * With `writeJson`: asked after each JSON batch; a COPY format and columns once the caller wants
   * the next batches encoded so (by the runner), which then arrive through `writeCopy`.
   */
  copyFormat?(): { format: CopyFormat; columns: Column[] } | null;
  /**
   * `rows` rows in a COPY format, in the columns `copyFormat` named: CSV text, or binary tuples
   * (only if binary was asked for; a batch binary cannot carry still comes as CSV). Resolves to
   * the rows written.
   */
  writeCopy?(format: CopyFormat, data: string | Uint8Array, rows: number): Promise<number>;
  log(level: "info" | "warn" | "error", message: string): void;
}

export class JsCellError extends Error {
  readonly kind: JsErrorKind;
  readonly retryable: boolean;
  readonly line?: number;
  readonly column?: number;
  /** The cell's own frames of the stack trace ("at f (cell.js:3:9)"), when there was one. */
  readonly cellStack?: string;

  constructor(
    kind: JsErrorKind,
    message: string,
    opts: { retryable?: boolean; line?: number; column?: number; cellStack?: string } = {},
  ) {
    super(message);
    this.name = "JsCellError";
    this.kind = kind;
    this.retryable = opts.retryable ?? kind === "internal";
    if (opts.line !== undefined) this.line = opts.line;
    if (opts.column !== undefined) this.column = opts.column;
    if (opts.cellStack !== undefined) this.cellStack = opts.cellStack;
  }
}

/** 24 h: well inside setTimeout's range. */
const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;
/** How long a child may stay silent past a task's own timeout before it is killed. */
const DEADLINE_GRACE_MS = 3_000;
/** After an abort, how long the child gets to stop the isolate before it is killed. */
const CANCEL_GRACE_MS = 1_500;

interface HostTask {
  id: number;
  req: JsCellRequest;
  io: JsCellIO;
  rows: number;
  logBytes: number;
  logClosed: boolean;
  inputNames: Set<string>;
  writeChain: Promise<unknown>;
  /** The COPY format the runner was told to send (null: JSON). */
  copyAsked: CopyFormat | null;
  /** The runner said "done": the cell is over, only its last batch may still be loading here. */
  cellDone: boolean;
  settled: boolean;
  resolve(value: { rows: number; logBytes: number }): void;
  reject(error: Error): void;
  cleanup: (() => void)[];
}

/**
 * The task runner's source file. Next.js bundles this module, so `import.meta.url` may
 * point into `.next/`: then the source tree under the working directory is used.
 * (No `new URL("./x", import.meta.url)` here: bundlers would turn it into an asset.)
 */
function runnerEntry(): string {
  const candidates: string[] = [];
  try {
    candidates.push(path.join(path.dirname(fileURLToPath(import.meta.url)), "task-runner.ts"));
  } catch {
    /* not a file: URL */
  }
  candidates.push(path.join(process.cwd(), "server", "runtime", "sandbox", "task-runner.ts"));
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new JsCellError("internal", `cannot find the sandbox task runner (looked in ${candidates.join(", ")})`);
  return found;
}

/** tsx's loader, resolved from the runner's own location (the child's cwd may be anywhere). */
function tsxLoader(runner: string): string {
  try {
    return pathToFileURL(createRequire(runner).resolve("tsx")).href;
  } catch {
    return "tsx";
  }
}

/** The child's whole environment: nothing from the server's (no secrets, no DATABASE_URL). */
function childEnv(): NodeJS.ProcessEnv {
  return { NODE_ENV: process.env.NODE_ENV === "production" ? "production" : "development", TRIBUTARY_SANDBOX: "1" };
}

class RunnerProcess {
  readonly child: ChildProcess;
  readonly tasks = new Map<number, HostTask>();
  private ready = false;
  private queue: HostToRunner[] = [];
  private stderrTail = "";
  dead = false;

  constructor(
    private readonly onExit: (proc: RunnerProcess) => void,
    spares: number,
  ) {
    const runner = runnerEntry();
    this.child = fork(runner, [String(spares)], {
      execArgv: ["--no-node-snapshot", "--import", tsxLoader(runner)],
      env: childEnv(),
      serialization: "advanced",
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    this.child.stderr?.setEncoding("utf8");
    this.child.stderr?.on("data", (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-2000);
    });
    this.child.on("message", (msg) => this.onMessage(msg as RunnerToHost));
    this.child.on("error", () => {
      /* reported through "exit" */
    });
    this.child.on("exit", (code, signal) => this.onChildExit(code, signal));
    this.idle();
  }

  send(msg: HostToRunner): void {
    if (this.dead) return;
    if (!this.ready) {
      this.queue.push(msg);
      return;
    }
    try {
      this.child.send(msg);
    } catch {
      /* the exit handler fails the tasks */
    }
  }

  /** While no task runs, the child does not keep the server's event loop alive. */
  idle(): void {
    if (this.tasks.size > 0) {
      this.child.ref();
      (this.child.channel as { ref?: () => void } | undefined)?.ref?.();
    } else {
      this.child.unref();
      (this.child.channel as { unref?: () => void } | undefined)?.unref?.();
    }
  }

  kill(): void {
    if (!this.dead) this.child.kill("SIGKILL");
  }

  private onChildExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.dead = true;
    const how = signal ? `signal ${signal}` : `code ${code}`;
    const tail = this.stderrTail.trim();
    for (const task of [...this.tasks.values()]) {
      // A task whose cell is over does not need the process: its last batch is loading here.
      if (task.cellDone) continue;
      settle(
        task,
        new JsCellError("internal", `the JS sandbox process exited (${how}) while the cell ran${tail ? `: ${tail.split("\n").slice(-3).join(" | ")}` : ""}`, {
          retryable: true,
        }),
      );
    }
    this.tasks.clear();
    this.onExit(this);
  }

  private onMessage(msg: RunnerToHost): void {
    if (msg.type === "ready") {
      this.ready = true;
      const queued = this.queue;
      this.queue = [];
      for (const m of queued) this.send(m);
      return;
    }
    const task = this.tasks.get(msg.taskId);
    if (!task || task.settled) return;
    switch (msg.type) {
      case "read":
        void this.handleRead(task, msg);
        return;
      case "write": {
        const { reqId, data, copy } = msg as { reqId: number; data: unknown; copy?: unknown };
        // The task's last batch is not answered: "done" follows it, and waits for it (writeChain).
        const ack = msg.final === true ? undefined : reqId;
        task.writeChain = task.writeChain
          .then(() => (copy === undefined ? this.handleWrite(task, ack, data) : this.handleCopyWrite(task, ack, data, copy)))
          .catch((error: unknown) => this.ioFailed(task, error));
        return;
      }
      case "log":
        hostLog(task, msg.level, msg.message);
        return;
      case "done": {
        // The cell ended; its last batch may still be loading (it is not answered: see the
        // bootstrap's flush). What is left of the cell's time limit, by the runner's clock, covers
        // that load, as it covered every write the cell waited for.
        task.cellDone = true;
        const left = task.req.limits.timeoutMs - msg.elapsedMs;
        const timer = setTimeout(() => settle(task, new JsCellError("timeout", `JS cell timed out after ${task.req.limits.timeoutMs} ms`)), Math.max(0, left));
        task.cleanup.push(() => clearTimeout(timer));
        void task.writeChain.then(() => settle(task, { rows: task.rows, logBytes: task.logBytes }));
        return;
      }
      case "fail":
        settle(
          task,
          new JsCellError(msg.kind, msg.message, {
            retryable: msg.kind === "internal",
            line: msg.line,
            column: msg.column,
            cellStack: msg.cellStack,
          }),
        );
        return;
    }
  }

  private async handleRead(task: HostTask, msg: Extract<RunnerToHost, { type: "read" }>): Promise<void> {
    const { reqId, name, cursor } = msg;
    if (!task.inputNames.has(name) || !Number.isSafeInteger(cursor) || cursor < 0) {
      this.send({ type: "readResult", taskId: task.id, reqId, error: "input read refused" });
      return;
    }
    const batchSize = Math.max(1, Math.min(MAX_BATCH_ROWS, Math.floor(msg.batchSize) || 1));
    let rows: Record<string, unknown>[] | JsonRows | BinaryRows;
    try {
      rows = await task.io.readInput(name, cursor, batchSize);
    } catch (error) {
      this.ioFailed(task, error);
      return;
    }
    if (task.settled) return;
    if (!Array.isArray(rows) && "tuples" in rows) {
      if (!isBinaryBatch(rows)) {
        this.ioFailed(task, new Error("readInput returned a malformed binary batch"));
        return;
      }
      this.send({ type: "readResult", taskId: task.id, reqId, binary: { tuples: rows.tuples, columns: rows.columns } });
      return;
    }
    const data = Array.isArray(rows) ? batchText(rows.slice(0, batchSize)) : rows.json;
    if (typeof data !== "string") {
      this.ioFailed(task, new Error("readInput returned neither rows nor JSON text"));
      return;
    }
    this.send({ type: "readResult", taskId: task.id, reqId, data });
  }

  /** A JSON batch; answered with an ack (which may ask for a COPY format) unless `reqId` is undefined (the last batch). */
  private async handleWrite(task: HostTask, reqId: number | undefined, data: unknown): Promise<void> {
    if (task.settled) return;
    if (typeof data !== "string") {
      this.send({ type: "cancel", taskId: task.id });
      settle(task, new JsCellError("invalid_result", "the cell produced a malformed batch of rows"));
      return;
    }
    if (task.io.writeJson) {
      // Passed on unparsed: the caller checks it (the database's JSON functions refuse anything but
      // an array of objects; in COPY mode the writer parses and checks it itself).
      if (data.charCodeAt(0) !== 91 /* [ */) {
        this.send({ type: "cancel", taskId: task.id });
        settle(task, new JsCellError("invalid_result", "the cell produced a malformed batch of rows"));
        return;
      }
      let n: number;
      try {
        n = await task.io.writeJson(data);
      } catch (error) {
        this.ioFailed(task, error);
        return;
      }
      task.rows += n;
      if (reqId === undefined) return;
      const copy = task.copyAsked === null && task.io.writeCopy ? task.io.copyFormat?.() : null;
      if (copy) task.copyAsked = copy.format;
      this.send({ type: "writeAck", taskId: task.id, reqId, ...(copy ? { copy } : {}) });
      return;
    }
    let rows: unknown;
    try {
      rows = JSON.parse(data);
    } catch {
      rows = undefined;
    }
    if (!Array.isArray(rows) || !rows.every((r) => r !== null && typeof r === "object" && !Array.isArray(r))) {
      this.send({ type: "cancel", taskId: task.id });
      settle(task, new JsCellError("invalid_result", "the cell produced a malformed batch of rows"));
      return;
    }
    try {
      await task.io.writeRows(rows as Record<string, unknown>[]);
    } catch (error) {
      this.ioFailed(task, error);
      return;
    }
    task.rows += rows.length;
    if (reqId !== undefined) this.send({ type: "writeAck", taskId: task.id, reqId });
  }

  /** A batch the runner encoded for COPY (only after this side asked for a format in an ack). */
  private async handleCopyWrite(task: HostTask, reqId: number | undefined, data: unknown, copy: unknown): Promise<void> {
    if (task.settled) return;
    const { format, rows } = copy !== null && typeof copy === "object" ? (copy as { format?: unknown; rows?: unknown }) : {};
    const fits =
      (format === "csv" && typeof data === "string") || (format === "binary" && task.copyAsked === "binary" && data instanceof Uint8Array);
    if (task.copyAsked === null || !task.io.writeCopy || !fits || !Number.isSafeInteger(rows) || (rows as number) < 1) {
      this.send({ type: "cancel", taskId: task.id });
      settle(task, new JsCellError("internal", "the sandbox sent a batch in a format that was not asked for"));
      return;
    }
    let n: number;
    try {
      n = await task.io.writeCopy(format, data as string | Uint8Array, rows as number);
    } catch (error) {
      this.ioFailed(task, error);
      return;
    }
    task.rows += n;
    if (reqId !== undefined) this.send({ type: "writeAck", taskId: task.id, reqId });
  }

  /** The runtime's own I/O failed: the run fails with that error and the cell is stopped. */
  private ioFailed(task: HostTask, error: unknown): void {
    this.send({ type: "cancel", taskId: task.id });
    settle(task, error instanceof Error ? error : new Error(String(error)));
  }
}

/** JSON text of a batch, cut short so that one message stays under MAX_BATCH_CHARS (at least one row). */
function batchText(rows: Record<string, unknown>[]): string {
  const text = JSON.stringify(rows);
  if (text.length <= MAX_BATCH_CHARS || rows.length <= 1) return text;
  const parts: string[] = [];
  let size = 2;
  for (const row of rows) {
    const s = JSON.stringify(row);
    if (parts.length > 0 && size + s.length + 1 > MAX_BATCH_CHARS) break;
    parts.push(s);
    size += s.length + 1;
  }
  return `[${parts.join(",")}]`;
}

function hostLog(task: HostTask, level: "info" | "warn" | "error", message: string): void {
  if (task.logClosed) return;
  const max = task.req.limits.maxLogBytes;
  const text = String(message);
  const bytes = Buffer.byteLength(text) + 1;
  const truncated = text.startsWith("… (log truncated at ");
  if (!truncated && task.logBytes + bytes > max) {
    task.logClosed = true;
    task.io.log("warn", `… (log truncated at ${max} bytes)`);
    return;
  }
  if (truncated) task.logClosed = true;
  else task.logBytes += bytes;
  task.io.log(level === "warn" || level === "error" ? level : "info", text);
}

function settle(task: HostTask, outcome: Error | { rows: number; logBytes: number }): void {
  if (task.settled) return;
  task.settled = true;
  for (const fn of task.cleanup) fn();
  if (outcome instanceof Error) task.reject(outcome);
  else task.resolve(outcome);
}

function checkLimits(limits: JsCellLimits): JsCellLimits {
  const { memoryMb, timeoutMs, maxLogBytes } = limits ?? {};
  if (!(Number.isFinite(memoryMb) && memoryMb >= 8 && memoryMb <= 8192)) throw new JsCellError("internal", `memoryMb must be between 8 and 8192 (got ${memoryMb})`);
  if (!(Number.isFinite(timeoutMs) && timeoutMs >= 1 && timeoutMs <= MAX_TIMEOUT_MS)) {
    throw new JsCellError("internal", `timeoutMs must be between 1 and ${MAX_TIMEOUT_MS} (got ${timeoutMs})`);
  }
  if (!(Number.isFinite(maxLogBytes) && maxLogBytes >= 0)) throw new JsCellError("internal", `maxLogBytes must be ≥ 0 (got ${maxLogBytes})`);
  return { memoryMb: Math.floor(memoryMb), timeoutMs: Math.floor(timeoutMs), maxLogBytes: Math.floor(maxLogBytes) };
}

export class SandboxPool {
  private readonly slots: (RunnerProcess | undefined)[];
  private nextTaskId = 1;
  private closed = false;

  private readonly spares: number;

  /**
   * `spares`: isolates each runner process keeps ready ahead of tasks (about 1.2 MB each); a worker
   * sizes it to its concurrency, so a burst of that many tasks finds every isolate made.
   */
  constructor(opts: { processes?: number; spares?: number } = {}) {
    const n = Math.max(1, Math.floor(opts.processes ?? 1));
    this.slots = new Array<RunnerProcess | undefined>(n).fill(undefined);
    this.spares = Math.max(0, Math.min(256, Math.floor(opts.spares ?? 4)));
  }

  /** The task-runner processes' ids (spawned ones only) — for tests and diagnostics. */
  get pids(): number[] {
    return this.slots.flatMap((p) => (p && !p.dead && p.child.pid !== undefined ? [p.child.pid] : []));
  }

  private pick(): RunnerProcess {
    let best = -1;
    let load = Infinity;
    this.slots.forEach((p, i) => {
      const l = p && !p.dead ? p.tasks.size : 0;
      if (l < load) {
        load = l;
        best = i;
      }
    });
    const existing = this.slots[best];
    if (existing && !existing.dead) return existing;
    const proc = new RunnerProcess((gone) => {
      const i = this.slots.indexOf(gone);
      if (i >= 0) this.slots[i] = undefined;
    }, this.spares);
    this.slots[best] = proc;
    return proc;
  }

  run(req: JsCellRequest, io: JsCellIO, signal?: AbortSignal): Promise<{ rows: number; logBytes: number }> {
    if (this.closed) return Promise.reject(new JsCellError("internal", "the sandbox pool is closed", { retryable: true }));
    if (signal?.aborted) return Promise.reject(new JsCellError("canceled", "JS cell canceled"));
    let limits: JsCellLimits;
    let paramsJson: string;
    let itemJson: string;
    try {
      limits = checkLimits(req.limits);
      paramsJson = JSON.stringify(req.params ?? {});
      itemJson = req.item === undefined ? "" : (JSON.stringify(req.item) ?? "");
    } catch (error) {
      return Promise.reject(error instanceof JsCellError ? error : new JsCellError("internal", `bad JS cell request: ${(error as Error).message}`));
    }
    let proc: RunnerProcess;
    try {
      proc = this.pick();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return Promise.reject(error instanceof JsCellError ? error : new JsCellError("internal", `cannot start the JS sandbox: ${message}`, { retryable: true }));
    }
    const id = this.nextTaskId++;
    return new Promise((resolve, reject) => {
      const task: HostTask = {
        id,
        req: { ...req, limits },
        io,
        rows: 0,
        logBytes: 0,
        logClosed: false,
        inputNames: new Set(req.inputNames),
        writeChain: Promise.resolve(),
        copyAsked: null,
        cellDone: false,
        settled: false,
        resolve,
        reject,
        cleanup: [],
      };
      proc.tasks.set(id, task);
      proc.idle();
      task.cleanup.push(() => {
        proc.tasks.delete(id);
        proc.idle();
      });

      // Last resort: the child stopped answering (its own timer disposes the isolate at timeoutMs).
      const deadline = setTimeout(() => {
        if (task.cellDone) {
          // The child answered (the cell is over); only the last batch's load is still going, here.
          settle(task, new JsCellError("timeout", `JS cell timed out after ${limits.timeoutMs} ms`));
          return;
        }
        settle(task, new JsCellError("timeout", `JS cell timed out after ${limits.timeoutMs} ms (the sandbox process stopped answering and was restarted)`));
        proc.kill();
      }, limits.timeoutMs + DEADLINE_GRACE_MS);
      task.cleanup.push(() => clearTimeout(deadline));

      if (signal) {
        const onAbort = () => {
          if (task.cellDone) {
            // Nothing runs in the sandbox any more (the runner forgot the task): only the last
            // batch's load is left, here. Canceled now — without stopping the process, which
            // would take its other tasks along.
            settle(task, new JsCellError("canceled", "JS cell canceled"));
            return;
          }
          proc.send({ type: "cancel", taskId: id });
          const force = setTimeout(() => {
            settle(task, new JsCellError("canceled", "JS cell canceled (the sandbox process was restarted to stop it)"));
            proc.kill();
          }, CANCEL_GRACE_MS);
          task.cleanup.push(() => clearTimeout(force));
        };
        signal.addEventListener("abort", onAbort, { once: true });
        task.cleanup.push(() => signal.removeEventListener("abort", onAbort));
      }

      proc.send({
        type: "run",
        taskId: id,
        code: req.code,
        inputNames: [...task.inputNames],
        paramsJson,
        itemJson,
        logicalDate: req.logicalDate,
        runId: req.runId,
        limits,
        checkColumns: req.checkColumns === true,
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const procs = this.slots.filter((p): p is RunnerProcess => !!p && !p.dead);
    this.slots.fill(undefined);
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.dead || p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
            p.child.once("exit", () => resolve());
            p.child.ref();
            p.kill();
          }),
      ),
    );
  }
}
