/**
 * Micro-benchmark: N synthetic rows through a trivial map cell (an async
 * generator over ctx.rows) via SandboxPool, end to end — rows made on the
 * host, JSON across the process boundary, parsed in the isolate, mapped,
 * checked, serialised and parsed again on the host. Returns rows per second.
 */
import { DEFAULT_JS_LIMITS, SandboxPool, type JsCellIO } from "./index";

/** The map as a cell author would write it row by row. */
export const BENCH_MAP_CELL_ROWS = `export default async function* (inputs, ctx) {
  for await (const r of ctx.rows("src", { batchSize: 5000 })) yield { ...r, total: r.qty * r.unit_price };
}`;

/** The same map a batch at a time (ctx.batches, yielding arrays of rows): the fast path. */
export const BENCH_MAP_CELL_BATCHES = `export default async function* (inputs, ctx) {
  for await (const batch of ctx.batches("src", { batchSize: 5000 })) yield batch.map((r) => ({ ...r, total: r.qty * r.unit_price }));
}`;

export async function benchJsMap(rows: number, opts: { pool?: SandboxPool; style?: "batches" | "rows" } = {}): Promise<number> {
  const code = opts.style === "rows" ? BENCH_MAP_CELL_ROWS : BENCH_MAP_CELL_BATCHES;
  const pool = opts.pool ?? new SandboxPool();
  let received = 0;
  let checksum = 0;
  const io: JsCellIO = {
    async readInput(_name, cursor, batchSize) {
      const end = Math.min(rows, cursor + batchSize);
      const out: Record<string, unknown>[] = new Array(Math.max(0, end - cursor));
      for (let i = cursor; i < end; i++) {
        out[i - cursor] = { id: i, store: `store_${i % 50}`, qty: i % 9, unit_price: (i % 100) / 4, day: "2026-01-01" };
      }
      return out;
    },
    async writeRows(batch) {
      received += batch.length;
      for (const r of batch) checksum += r.total as number;
    },
    log() {},
  };
  try {
    // Warm up: spawn the task runner before timing.
    await pool.run({ code: "export default () => []", inputNames: [], params: {}, logicalDate: "2026-01-01", runId: "bench", limits: DEFAULT_JS_LIMITS }, io);
    const t0 = performance.now();
    const result = await pool.run(
      { code, inputNames: ["src"], params: {}, logicalDate: "2026-01-01", runId: "bench", limits: { ...DEFAULT_JS_LIMITS, memoryMb: 256 } },
      io,
    );
    const seconds = (performance.now() - t0) / 1000;
    if (result.rows !== rows || received !== rows || !Number.isFinite(checksum)) {
      throw new Error(`benchJsMap: expected ${rows} rows, got ${result.rows} (received ${received})`);
    }
    return rows / seconds;
  } finally {
    if (!opts.pool) await pool.close();
  }
}
