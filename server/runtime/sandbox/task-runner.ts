/**
 * The task-runner child process: runs JS cells in isolated-vm isolates, one
 * isolate per task, several tasks at once. Started by SandboxPool with
 * `child_process.fork` and an environment stripped to a minimum; it talks to
 * the server only over the IPC channel (see protocol.ts).
 *
 * Per task: a fresh isolate with `memoryLimit`, a wall-clock timer that
 * disposes the isolate (covers synchronous loops and awaits that never settle
 * alike), and the isolate is always disposed when the task ends, so nothing a
 * cell scheduled (FinalizationRegistry callbacks, pending promises) outlives it.
 */
import ivm from "isolated-vm";
import { BOOTSTRAP_FILENAME, BOOTSTRAP_SOURCE, MAX_ROW_CHARS } from "./bootstrap";
import { isBinaryBatch, MAX_BATCH_CHARS, MAX_BATCH_ROWS, type HostToRunner, type InputKind, type JsErrorKind, type RunnerToHost } from "./protocol";
import { type Column, type CopyFormat, CopyValueError, countTuples, toCopyBinary, toCsv } from "./rows-copy";
import { CELL_FILENAME, prepareCellSource } from "./transform";

type RunMessage = Extract<HostToRunner, { type: "run" }>;

interface Pending<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

/** A binary input batch as the bootstrap's decoder takes it: columns (name, kind) and tuples. */
interface BinaryInput {
  c: [string, InputKind][];
  d: Uint8Array;
}

interface Task {
  id: number;
  msg: RunMessage;
  isolate?: ivm.Isolate;
  /** Why the isolate was disposed early, if it was. */
  reason?: "timeout" | "canceled" | "memory";
  finished: boolean;
  /** An input batch as the isolate receives it: JSON text, or binary tuples with their columns, copied in. */
  reads: Map<number, Pending<string | ivm.Copy<BinaryInput>>>;
  /** Settled with the ack: the COPY format the host asked for, as JSON text, the first time it does. */
  writes: Map<number, Pending<string | undefined>>;
  logBytes: number;
  logClosed: boolean;
  timer?: NodeJS.Timeout;
  /** When its time limit started (performance.now()). */
  startedAt: number;
  /** The host's writer wants batches in this COPY format and these columns (said in a write's ack). */
  copy?: { format: CopyFormat; columns: Column[] };
  /** A JSON batch went as CSV (values binary cannot carry): later JSON batches do too, so formats do not alternate. */
  csvOnly?: boolean;
}

/** The largest JSON batch the bootstrap sends: a batch up to MAX_BATCH_CHARS, or one row up to MAX_ROW_CHARS, in brackets. */
const MAX_BATCH_TEXT = MAX_BATCH_CHARS + MAX_ROW_CHARS + 2;

/** A misbehaving cell could fire reads or writes without awaiting them; the honest bootstrap never needs more. */
const MAX_PENDING_READS = 16;
const MAX_PENDING_WRITES = 4;

const tasks = new Map<number, Task>();
let nextReqId = 1;

function send(msg: RunnerToHost): void {
  if (process.connected) process.send?.(msg);
}

function fail(task: Task, kind: JsErrorKind, message: string, extra: { line?: number; column?: number; cellStack?: string } = {}): void {
  if (task.finished) return;
  task.finished = true;
  send({ type: "fail", taskId: task.id, kind, message, ...extra });
}

function disposeIsolate(task: Task): void {
  const iso = task.isolate;
  if (iso && !iso.isDisposed) {
    try {
      iso.dispose();
    } catch {
      /* already going away */
    }
  }
}

function abortTask(task: Task, reason: "timeout" | "canceled"): void {
  if (task.finished) return;
  task.reason ??= reason;
  disposeIsolate(task);
}

/** "Unexpected token ';' [cell.js:1:9]" → message and position. */
function splitPosition(message: string): { message: string; line?: number; column?: number } {
  const m = /\s*\[cell\.js:(\d+):(\d+)\]$/.exec(message);
  if (!m) return { message };
  return { message: message.slice(0, m.index), line: Number(m[1]), column: Number(m[2]) };
}

function cellPosition(stack: unknown): { line?: number; column?: number } {
  if (typeof stack !== "string") return {};
  const m = /cell\.js:(\d+):(\d+)/.exec(stack);
  return m ? { line: Number(m[1]), column: Number(m[2]) } : {};
}

function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  try {
    return String(error);
  } catch {
    return "unknown error";
  }
}

function readCallback(task: Task, name: unknown, cursor: unknown, batchSize: unknown): Promise<string | ivm.Copy<BinaryInput>> {
  if (task.finished) return Promise.reject(new Error("task is over"));
  if (typeof name !== "string" || !task.msg.inputNames.includes(name)) return Promise.reject(new Error("unknown input"));
  if (!Number.isSafeInteger(cursor) || (cursor as number) < 0) return Promise.reject(new Error("bad cursor"));
  if (!Number.isSafeInteger(batchSize) || (batchSize as number) < 1) return Promise.reject(new Error("bad batch size"));
  if (task.reads.size >= MAX_PENDING_READS) return Promise.reject(new Error(`more than ${MAX_PENDING_READS} concurrent input reads`));
  const reqId = nextReqId++;
  return new Promise<string | ivm.Copy<BinaryInput>>((resolve, reject) => {
    task.reads.set(reqId, { resolve, reject });
    send({ type: "read", taskId: task.id, reqId, name, cursor: cursor as number, batchSize: Math.min(batchSize as number, MAX_BATCH_ROWS) });
  });
}

/** A batch from the isolate (`final`: the last one, which came with the run's result: sent unanswered). */
function writeCallback(task: Task, data: unknown, final: boolean): Promise<string | undefined> {
  if (task.finished) return Promise.reject(new Error("task is over"));
  const binary = data instanceof Uint8Array;
  if (typeof data !== "string" && !binary) return Promise.reject(new Error("internal: row batch is neither JSON text nor binary tuples"));
  if (typeof data === "string" && data.length > MAX_BATCH_TEXT) {
    // The bootstrap cuts batches long before (MAX_BATCH_CHARS, or one row of MAX_ROW_CHARS); only
    // a cell that reached into how it builds them could send more, and the host parses some.
    fail(task, "invalid_result", `the cell produced a batch of rows larger than ${MAX_BATCH_TEXT} characters`);
    disposeIsolate(task);
    return Promise.reject(new Error("batch too large"));
  }
  if (task.writes.size >= MAX_PENDING_WRITES) {
    // Only a cell that bypassed the bootstrap could get here.
    fail(task, "internal", "row batches were sent without waiting for the host (backpressure violated)");
    disposeIsolate(task);
    return Promise.reject(new Error("backpressure violated"));
  }
  const reqId = nextReqId++;
  let msg: RunnerToHost | null = null;
  if (binary) {
    // Tuples the bootstrap encoded in the isolate (after the host asked for binary): checked here,
    // since the cell could have tampered with the encoder; counted here, not taken from the cell;
    // no larger than the bootstrap makes them (a batch is cut once past MAX_BATCH_CHARS bytes or
    // MAX_BATCH_ROWS rows, and a row past MAX_ROW_CHARS bytes goes as JSON).
    let rows = 0;
    try {
      const fits = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.byteLength <= MAX_BATCH_CHARS + MAX_ROW_CHARS;
      rows = fits && task.copy?.format === "binary" ? countTuples(data, task.copy.columns) : 0;
    } catch {
      rows = 0;
    }
    if (rows < 1 || rows > MAX_BATCH_ROWS) {
      fail(task, "invalid_result", "the cell produced a malformed batch of binary rows");
      disposeIsolate(task);
      return Promise.reject(new Error("malformed binary rows"));
    }
    msg = { type: "write", taskId: task.id, reqId, data, copy: { format: "binary", rows } };
  } else if (task.copy) {
    try {
      msg = encodeBatch(task, reqId, data as string, task.copy.format, task.copy.columns);
    } catch (error) {
      if (error instanceof CopyValueError) {
        fail(task, "invalid_result", `the cell produced a row whose ${error.message}`);
        disposeIsolate(task);
        return Promise.reject(error);
      }
      msg = null; // sent as JSON: the host checks and loads it itself
    }
  }
  const out: RunnerToHost = msg ?? { type: "write", taskId: task.id, reqId, data: data as string };
  if (final) {
    // The task's last batch: the host sends no answer, and reports the task done only once it is
    // loaded (or fails it with the write's error); "done" goes out after it on the same channel.
    send({ ...out, final: true } as RunnerToHost);
    return Promise.resolve(undefined);
  }
  return new Promise<string | undefined>((resolve, reject) => {
    task.writes.set(reqId, { resolve, reject });
    send(out);
  });
}

/**
 * The batch (JSON text the bootstrap made: an array of row objects) in the host's COPY format and
 * columns, encoded here rather than on the host, whose thread is busy with the database. A batch
 * the binary format cannot carry goes as CSV; anything unexpected as JSON, which the host checks.
 * Throws CopyValueError on a value the JSON path would have refused (text that is not Unicode).
 */
function encodeBatch(task: Task, reqId: number, json: string, format: CopyFormat, columns: Column[]): RunnerToHost | null {
  let rows: unknown;
  try {
    rows = JSON.parse(json);
  } catch {
    return null;
  }
  if (!Array.isArray(rows) || !rows.every((r) => r !== null && typeof r === "object" && !Array.isArray(r))) return null;
  const list = rows as Record<string, unknown>[];
  const binary = format === "binary" && !task.csvOnly ? toCopyBinary(list, columns) : null;
  if (binary) return { type: "write", taskId: task.id, reqId, data: binary, copy: { format: "binary", rows: list.length } };
  // Each switch of format costs a COPY statement on the host (on Postgres, ending the stream).
  task.csvOnly = true;
  return { type: "write", taskId: task.id, reqId, data: toCsv(list, columns), copy: { format: "csv", rows: list.length } };
}

function logCallback(task: Task, level: unknown, message: unknown): boolean {
  if (task.finished || task.logClosed) return false;
  const lvl = level === "warn" || level === "error" ? level : "info";
  const text = typeof message === "string" ? message : "";
  const max = task.msg.limits.maxLogBytes;
  const bytes = Buffer.byteLength(text) + 1;
  if (task.logBytes + bytes > max) {
    task.logClosed = true;
    send({ type: "log", taskId: task.id, level: "warn", message: `… (log truncated at ${max} bytes)` });
    return false;
  }
  task.logBytes += bytes;
  send({ type: "log", taskId: task.id, level: lvl, message: text });
  return true;
}

/**
 * An isolate made ready ahead of time: created, its context made and the bootstrap run,
 * nothing else. Each is handed to exactly one task and disposed with it, so tasks still
 * never share an isolate; only the 2–3 ms of making one leave the task's path.
 */
interface Warm {
  isolate: ivm.Isolate;
  context: ivm.Context;
  setup: ivm.Reference<(...args: unknown[]) => unknown>;
  memoryMb: number;
  /** The task it was handed to (a catastrophic error fails that task). */
  owner: Task | undefined;
}

/**
 * V8's code cache for the scripts this process compiles (the bootstrap, and each cell's source):
 * the first compile produces it, later ones in new isolates start from it, which cuts a quarter
 * of the cost of readying an isolate and most of compiling a cell seen before. It holds compiled
 * code only — never objects, so no state passes from one task's isolate to another's.
 */
const codeCache = new Map<string, ivm.ExternalCopy<ArrayBuffer>>();
const CODE_CACHE_ENTRIES = 200;

async function compileCached(isolate: ivm.Isolate, source: string, filename: string): Promise<ivm.Script> {
  const key = `${filename}\0${source}`;
  const cachedData = codeCache.get(key);
  if (cachedData) {
    const script = await isolate.compileScript(source, { filename, cachedData });
    if (!(script as { cachedDataRejected?: boolean }).cachedDataRejected) return script;
    codeCache.delete(key);
  }
  const script = await isolate.compileScript(source, { filename, produceCachedData: true });
  const produced = (script as { cachedData?: ivm.ExternalCopy<ArrayBuffer> }).cachedData;
  if (produced) {
    if (codeCache.size >= CODE_CACHE_ENTRIES) codeCache.delete(codeCache.keys().next().value!);
    codeCache.set(key, produced);
  }
  return script;
}

/** Isolates kept ready (the pool's `spares`, passed as this process's first argument). */
const SPARES = Number.isFinite(Number(process.argv[2])) ? Math.max(0, Math.floor(Number(process.argv[2]))) : 4;
const spares: Warm[] = [];
let refilling = false;

async function warmIsolate(memoryMb: number): Promise<Warm> {
  const warm: { memoryMb: number; owner: Task | undefined } = { memoryMb, owner: undefined };
  const isolate = new ivm.Isolate({
    memoryLimit: memoryMb,
    onCatastrophicError: (message: string) => {
      // V8 lost control of this isolate: report and let the pool start a fresh process.
      if (warm.owner) fail(warm.owner, "memory", `JS cell crashed its isolate (${message}); the sandbox process restarts`);
      setTimeout(() => process.exit(70), 50);
    },
  });
  try {
    const context = await isolate.createContext();
    const boot = await compileCached(isolate, BOOTSTRAP_SOURCE, BOOTSTRAP_FILENAME);
    const setup = (await boot.run(context, { reference: true })) as ivm.Reference<(...args: unknown[]) => unknown>;
    return Object.assign(warm, { isolate, context, setup });
  } catch (error) {
    if (!isolate.isDisposed) isolate.dispose();
    throw error;
  }
}

/** The memory limit the spares are made for, once a task took one (they are made again when the process is idle). */
let refillFor: number | undefined;

/** A spare isolate with this memory limit, if one is ready; the spares are made again once no task is in flight. */
function takeSpare(memoryMb: number): Warm | undefined {
  const i = spares.findIndex((w) => w.memoryMb === memoryMb && !w.isolate.isDisposed);
  const warm = i >= 0 ? spares.splice(i, 1)[0] : undefined;
  if (!warm) for (const w of spares.splice(0)) if (!w.isolate.isDisposed) w.isolate.dispose(); // other limits: make them anew
  refillFor = memoryMb;
  return warm;
}

/** No task is being readied (waiting for or holding a setup slot): the making of spares may go on. */
function noneReadying(): boolean {
  return setupBusy === 0 && setupQueue.length === 0;
}

/**
 * Make the spares again once no task is being readied: while a burst of tasks is readied the
 * cores are theirs (making an isolate costs 2–3 ms of CPU; 40 of them made alongside 40 light
 * tasks took the runner's CPU from 90–140 to 160–210 ms), and a task that comes while spares
 * are being made stops the making after the isolate in progress. Tasks that are running (a
 * long cell) do not hold it up.
 */
function refillWhenIdle(): void {
  if (refillFor === undefined || refilling || !noneReadying()) return;
  setImmediate(() => void refill());
}

async function refill(): Promise<void> {
  if (refilling) return;
  refilling = true;
  try {
    while (refillFor !== undefined && spares.length < SPARES && noneReadying()) {
      const limit = refillFor;
      const warm = await warmIsolate(limit);
      // A task with another limit came meanwhile (the spares were dropped for it): not this one.
      if (limit === refillFor) spares.push(warm);
      else warm.isolate.dispose();
    }
  } catch {
    /* the next task makes its own */
  } finally {
    refilling = false;
  }
}

/** Tasks being readied (isolate, setup, compile) at once; the rest wait their turn, in order. */
const SETUP_SLOTS = 2;
let setupBusy = 0;
const setupQueue: (() => void)[] = [];

function setupSlot(): Promise<() => void> {
  const release = () => {
    const next = setupQueue.shift();
    if (next) next();
    else if (--setupBusy === 0) refillWhenIdle();
  };
  if (setupBusy < SETUP_SLOTS) {
    setupBusy++;
    return Promise.resolve(release);
  }
  return new Promise((resolve) => setupQueue.push(() => resolve(release)));
}

async function runTask(msg: RunMessage): Promise<void> {
  const task: Task = { id: msg.taskId, msg, finished: false, reads: new Map(), writes: new Map(), logBytes: 0, logClosed: false, startedAt: performance.now() };
  tasks.set(task.id, task);
  const { limits } = msg;
  let phase: "setup" | "top-level" | "run" = "setup";
  let releaseSetup: () => void = () => {};
  const refs: { release(): void }[] = [];
  try {
    const prepared = prepareCellSource(msg.code);
    if (!prepared.ok) {
      fail(task, "user", prepared.message, { line: prepared.line, column: prepared.column });
      return;
    }
    task.startedAt = performance.now();
    task.timer = setTimeout(() => abortTask(task, "timeout"), limits.timeoutMs);
    // Readying tasks one or two at a time (not all of a burst interleaved) lets the first
    // results reach the host while later tasks are still being readied.
    releaseSetup = await setupSlot();
    const fresh = takeSpare(limits.memoryMb);
    const { isolate, context, setup } = fresh ?? (await warmIsolate(limits.memoryMb));
    const warm = fresh ?? { isolate, context, setup, memoryMb: limits.memoryMb, owner: undefined };
    warm.owner = task;
    task.isolate = isolate;
    if (task.reason) throw new Error("isolate disposed");
    const hostRead = new ivm.Reference((name: unknown, cursor: unknown, size: unknown) => readCallback(task, name, cursor, size));
    const hostReadSync = new ivm.Reference((name: unknown, cursor: unknown, size: unknown) => readCallback(task, name, cursor, size));
    const hostWrite = new ivm.Reference((data: unknown) => writeCallback(task, data, false));
    const hostLog = new ivm.Callback((level: unknown, message: unknown) => logCallback(task, level, message));
    refs.push(setup, hostRead, hostReadSync, hostWrite);
    const run = (await setup.apply(undefined, [hostRead, hostReadSync, hostWrite, hostLog], {
      result: { reference: true },
    })) as ivm.Reference<(config: string) => Promise<string>>;
    refs.push(run);

    phase = "top-level";
    const script = await compileCached(isolate, prepared.source + "\n;void 0;", CELL_FILENAME);
    releaseSetup();
    releaseSetup = () => {};
    await script.run(context);

    phase = "run";
    const config = JSON.stringify({
      inputNames: msg.inputNames,
      params: JSON.parse(msg.paramsJson),
      item: msg.itemJson === "" ? undefined : JSON.parse(msg.itemJson),
      logicalDate: msg.logicalDate,
      runId: msg.runId,
      checkColumns: msg.checkColumns === true,
    });
    const outcome: unknown = await run.apply(undefined, [config], { result: { promise: true, copy: true } });
    if (task.finished) return;
    if (task.reason) throw new Error("isolate disposed");
    // The outcome's JSON text, with the last batch of rows when there was one.
    let text: unknown = outcome;
    let lastBatch: unknown;
    if (outcome !== null && typeof outcome === "object") {
      text = (outcome as { outcome?: unknown }).outcome;
      lastBatch = (outcome as { batch?: unknown }).batch;
    }
    let parsed: { ok?: unknown; kind?: unknown; message?: unknown; line?: unknown; column?: unknown; cellStack?: unknown };
    try {
      parsed = typeof text === "string" ? JSON.parse(text) : {};
    } catch {
      parsed = {};
    }
    if (parsed.ok === true) {
      if (lastBatch !== undefined) {
        try {
          await writeCallback(task, lastBatch, true); // checked as every batch; a bad one fails the task
        } catch {
          fail(task, "invalid_result", "the cell produced a malformed batch of rows");
          return;
        }
      }
      task.finished = true;
      // elapsedMs: the host times the last batch's load with what is left of the limit.
      send({ type: "done", taskId: task.id, logBytes: task.logBytes, elapsedMs: performance.now() - task.startedAt });
      return;
    }
    const kind: JsErrorKind = parsed.kind === "invalid_result" || parsed.kind === "memory" ? parsed.kind : "user";
    const message = typeof parsed.message === "string" ? parsed.message : "the cell failed without a message";
    fail(task, kind, kind === "memory" ? `JS cell ran out of memory (${message})` : message, {
      line: typeof parsed.line === "number" ? parsed.line : undefined,
      column: typeof parsed.column === "number" ? parsed.column : undefined,
      cellStack: typeof parsed.cellStack === "string" ? parsed.cellStack : undefined,
    });
  } catch (error) {
    const text = errorText(error);
    if (task.reason === "timeout") fail(task, "timeout", `JS cell timed out after ${limits.timeoutMs} ms`);
    else if (task.reason === "canceled") fail(task, "canceled", "JS cell canceled");
    else if (/memory limit/i.test(text) || task.isolate?.isDisposed) {
      fail(task, "memory", `JS cell exceeded its memory limit (${limits.memoryMb} MB)`);
    } else if (phase === "run" && error instanceof Error) {
      // isolated-vm rethrows a promise rejection nobody handled once the microtasks run dry.
      fail(task, "user", `Unhandled promise rejection: ${text}`, cellPosition(error.stack));
    } else if (phase === "top-level" || (phase === "setup" && error instanceof SyntaxError)) {
      const split = splitPosition(text);
      const pos = split.line !== undefined ? { line: split.line, column: split.column } : cellPosition(error instanceof Error ? error.stack : "");
      fail(task, "user", split.message, pos);
    } else fail(task, "internal", `JS sandbox error: ${text}`);
  } finally {
    releaseSetup();
    task.finished = true;
    if (task.timer) clearTimeout(task.timer);
    disposeIsolate(task);
    for (const ref of refs) {
      try {
        ref.release();
      } catch {
        /* isolate gone */
      }
    }
    for (const p of task.reads.values()) p.reject(new Error("task is over"));
    for (const p of task.writes.values()) p.reject(new Error("task is over"));
    tasks.delete(task.id);
    refillWhenIdle();
  }
}

function onMessage(msg: HostToRunner): void {
  switch (msg.type) {
    case "run":
      void runTask(msg);
      return;
    case "readResult": {
      const task = tasks.get(msg.taskId);
      const p = task?.reads.get(msg.reqId);
      if (!task || !p) return;
      task.reads.delete(msg.reqId);
      if (msg.error !== undefined) p.reject(new Error(msg.error));
      else if (typeof msg.data === "string") p.resolve(msg.data);
      else if (isBinaryBatch(msg.binary)) {
        const { tuples, columns } = msg.binary;
        // Copied into a buffer of exactly its own bytes: the IPC message's view shares its buffer
        // with whatever else arrived in the same read (other tasks' batches and code), and a copy
        // into the isolate takes a view's whole buffer along.
        const d = new Uint8Array(tuples.byteLength);
        d.set(tuples);
        p.resolve(new ivm.ExternalCopy<BinaryInput>({ c: columns, d }).copyInto({ release: true }));
      } else p.reject(new Error("input read failed"));
      return;
    }
    case "writeAck": {
      const task = tasks.get(msg.taskId);
      const p = task?.writes.get(msg.reqId);
      if (!task || !p) return;
      task.writes.delete(msg.reqId);
      let asked: string | undefined;
      if (msg.copy && !task.copy) {
        task.copy = msg.copy;
        asked = JSON.stringify(msg.copy); // the bootstrap encodes binary batches itself from now on
      }
      if (msg.error !== undefined) p.reject(new Error(msg.error));
      else p.resolve(asked);
      return;
    }
    case "cancel": {
      const task = tasks.get(msg.taskId);
      if (task) abortTask(task, "canceled");
      return;
    }
  }
}

process.on("message", (msg) => onMessage(msg as HostToRunner));
// The server went away: nothing left to do.
process.on("disconnect", () => process.exit(0));
// A promise handed to a disposed isolate may be rejected with nobody listening: not fatal.
process.on("unhandledRejection", (error) => {
  process.stderr.write(`tributary sandbox: unhandled rejection ${errorText(error)}\n`);
});
process.on("uncaughtException", (error) => {
  process.stderr.write(`tributary sandbox: uncaught ${errorText(error)}\n`);
  process.exit(1);
});
send({ type: "ready", pid: process.pid });
