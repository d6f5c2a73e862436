import { expect } from "vitest";
import { JsCellError, SandboxPool, type JsCellIO, type JsCellLimits, type JsCellRequest } from "@/server/runtime/sandbox";

export const CANARY = `tributary-canary-${process.pid}-${Date.now()}`;
// Set in the HOST before any task runner is spawned: it must never reach a cell.
process.env.TRIBUTARY_SANDBOX_CANARY = CANARY;

export const TEST_LIMITS: JsCellLimits = { memoryMb: 64, timeoutMs: 5_000, maxLogBytes: 64 * 1024 };

/** Everything any cell produced (rows, logs, error texts), checked for the canary at the end. */
export const transcript: string[] = [];

export interface MemoryIO extends JsCellIO {
  rows: Record<string, unknown>[];
  logs: { level: string; message: string }[];
  reads: { name: string; cursor: number; batchSize: number }[];
}

export function memoryIO(inputs: Record<string, Record<string, unknown>[] | ((cursor: number, size: number) => Record<string, unknown>[])> = {}): MemoryIO {
  const io: MemoryIO = {
    rows: [],
    logs: [],
    reads: [],
    async readInput(name, cursor, batchSize) {
      io.reads.push({ name, cursor, batchSize });
      const source = inputs[name];
      if (!source) throw new Error(`no input ${name}`);
      return typeof source === "function" ? source(cursor, batchSize) : source.slice(cursor, cursor + batchSize);
    },
    async writeRows(rows) {
      for (const r of rows) io.rows.push(r);
    },
    log(level, message) {
      io.logs.push({ level, message });
      transcript.push(message);
    },
  };
  return io;
}

export type CellOutcome =
  | { ok: true; rows: Record<string, unknown>[]; logs: MemoryIO["logs"]; count: number; ms: number; io: MemoryIO }
  | { ok: false; error: JsCellError; logs: MemoryIO["logs"]; ms: number; io: MemoryIO };

export async function runCell(
  pool: SandboxPool,
  code: string,
  opts: { inputs?: Parameters<typeof memoryIO>[0]; limits?: Partial<JsCellLimits>; signal?: AbortSignal; req?: Partial<JsCellRequest> } = {},
): Promise<CellOutcome> {
  const io = memoryIO(opts.inputs);
  const req: JsCellRequest = {
    code,
    inputNames: Object.keys(opts.inputs ?? {}),
    params: {},
    logicalDate: "2026-03-01",
    runId: "run-1",
    limits: { ...TEST_LIMITS, ...opts.limits },
    ...opts.req,
  };
  const t0 = performance.now();
  try {
    const result = await pool.run(req, io, opts.signal);
    transcript.push(JSON.stringify(io.rows));
    return { ok: true, rows: io.rows, logs: io.logs, count: result.rows, ms: performance.now() - t0, io };
  } catch (error) {
    if (!(error instanceof JsCellError)) throw error;
    transcript.push(error.message, error.cellStack ?? "", JSON.stringify(io.rows));
    return { ok: false, error, logs: io.logs, ms: performance.now() - t0, io };
  }
}

export async function expectOk(pool: SandboxPool, code: string, opts: Parameters<typeof runCell>[2] = {}) {
  const out = await runCell(pool, code, opts);
  if (!out.ok) throw new Error(`expected success, got ${out.error.kind}: ${out.error.message}`);
  return out;
}

export async function expectFail(pool: SandboxPool, code: string, opts: Parameters<typeof runCell>[2] = {}) {
  const out = await runCell(pool, code, opts);
  if (out.ok) throw new Error(`expected failure, got ${JSON.stringify(out.rows).slice(0, 500)}`);
  return out;
}

/** A normal task still works (the pool and its child are fine). */
export async function expectHealthy(pool: SandboxPool): Promise<void> {
  const out = await expectOk(pool, "export default (inputs) => inputs.t.map(r => ({ ...r, ok: true }))", {
    inputs: { t: [{ a: 1 }, { a: 2 }] },
  });
  expect(out.rows).toEqual([
    { a: 1, ok: true },
    { a: 2, ok: true },
  ]);
}
