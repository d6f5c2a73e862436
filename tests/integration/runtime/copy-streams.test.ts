/**
 * Many JS cells writing large outputs at once, each reading its input while it writes: every
 * output past its first batch is one COPY stream held open while the cell runs. On Postgres the
 * streams have connections of their own (the warehouse's COPY pool, 8, no pipelining), so more
 * streams than connections wait their turn. On one shared pool of 10 connections, 14 such cells
 * failed: postgres.js sent queries to connections in the middle of a COPY ("You cannot execute
 * queries during copy").
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineFile } from "@/server/pipeline";
import { TableWriter } from "@/server/runtime/outputs";
import { toCopyBinary } from "@/server/runtime/sandbox/rows-copy";
import { targets } from "../databases";
import { openRuntime, type Runtime } from "./harness";

const CELLS = 20;
const ROWS = 12_000;

describe.each(targets.map((t) => t.name))("COPY streams on %s", (name) => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await openRuntime(name, { concurrency: CELLS });
  });
  afterAll(async () => rt?.close());

  it(`runs ${CELLS} cells at once that read their input while their outputs stream in`, async () => {
    const cells = Array.from({ length: CELLS }, (_, i) => ({
      id: `m${i}`,
      kind: "js" as const,
      name: `mapped_${i}`,
      config: {
        code: `export default async function* (_inputs, ctx) {
          for await (const batch of ctx.batches("src", { batchSize: 500 })) yield batch.map((r) => ({ x: r.x, y: r.x * ${i + 1} }));
        }`,
      },
    }));
    const doc: PipelineFile = {
      format: "tributary/v1",
      name: "copy_streams",
      defaults: { retries: 0, timeoutSeconds: 120 },
      nodes: [{ id: "src", kind: "sql", name: "src", config: { sql: `select g as x from generate_series(1, ${ROWS}) g` } }, ...cells],
      edges: cells.map((c) => ({ from: "src", to: c.id })),
    };
    const run = await rt.start(doc);
    const { run: done, tasks } = await rt.wait(run.id, 90_000);
    expect(done.state, JSON.stringify([...tasks.values()].map((t) => t.error?.message).filter(Boolean).slice(0, 2))).toBe("success");
    for (let i = 0; i < CELLS; i++) {
      const task = tasks.get(`m${i}`)!;
      expect(task.rows).toBe(ROWS);
      const table = `"${done.schemaName}"."${task.outputTable}"`;
      expect(await rt.wh.query(`select count(*)::int as n, sum(y)::float8 as total from ${table}`)).toEqual([{ n: ROWS, total: ((i + 1) * ROWS * (ROWS + 1)) / 2 }]);
    }
  }, 120_000);
  it.skipIf(name !== "postgres")("a writer aborted while it switches formats leaves no COPY open (the table can be dropped)", async () => {
    // A CSV batch (sent before the runner heard) opens a CSV COPY; a binary batch then ends it to
    // open a binary one. The task fails meanwhile: abort() finds no COPY to stop, so the writer
    // must not open one after it (it did: the new COPY held its lock and the cleanup's DROP waited forever).
    const table = `public.switch_abort_${process.pid}`;
    const writer = new TableWriter(rt.wh, table);
    await writer.write(Array.from({ length: 300 }, (_, i) => ({ x: i, s: `a${i}` })));
    const format = writer.copyFormat()!;
    expect(format.format).toBe("binary");
    await writer.writeCopy("csv", "1000,x\n", 1);
    const switching = writer.writeCopy("binary", toCopyBinary([{ x: 2000, s: "y" }], format.columns)!, 1);
    await Promise.resolve();
    writer.abort();
    await expect(switching).rejects.toThrow("TableWriter.writeCopy after abort");
    await new Promise((r) => setTimeout(r, 200));
    const copies = await rt.wh.query(`select pid from pg_stat_activity where query ilike 'copy ${table} %' and state <> 'idle'`);
    expect(copies).toEqual([]);
    await rt.wh.transaction(async (tx) => {
      await tx.query(`set local lock_timeout = '2s'`);
      await tx.query(`drop table ${table}`);
    });
  });
});
