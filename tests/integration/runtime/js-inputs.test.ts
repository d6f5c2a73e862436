/**
 * What a JS cell reads from an upstream table, column type by column type, on
 * PGlite (inputs arrive as binary COPY tuples, decoded in the isolate) and on
 * Postgres (as JSON made by the warehouse): the same values either way, through
 * every way a cell reads (`inputs.x`, `ctx.rows`, `ctx.batches` with small
 * batches), and in order when many readers of one input take turns.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineFile } from "@/server/pipeline";
import { targets } from "../databases";
import { openRuntime, type Runtime } from "./harness";

const LONG = "é".repeat(5000) + "𝄞"; // non-ASCII, past the decoder's 4,096-unit chunk
const TYPED = `select * from (values
  (1, 1::int2, 2::int4, 9007199254740993::int8, -5::int8, 0.1::float4, 'NaN'::float8, 'Infinity'::float8, '-0'::float8, 1e300::float8,
   12.50::numeric, true, 'plain', 'naïve ☕ 𝄞'::text, 'ab'::char(4), 'v'::varchar(9), 'nm'::name, '5f0c1c8e-6f2a-4a4e-9b1a-2f8f1f1f1f1f'::uuid,
   '2024-02-29'::date, '2024-02-29 13:45:06.789+02'::timestamptz, '13:45:06'::time, '1 day 02:00:00'::interval,
   '{"a": [1, 2.5, "x"], "b": null}'::json, '{"k": {"z": 1}}'::jsonb, 42::oid, '' , 'ok'),
  (2, null, null, null, null, null, null, '-Infinity'::float8, null, null,
   null, false, null, '${LONG}', null, null, null, null,
   null, null, null, null,
   null, '"just a string"'::jsonb, null, null, 'ok')
) t(id, i2, i4, i8, neg, f4, nan, inf, negzero, big, num, b, plain, uni, bp, vc, nm, u, d, ts, tm, iv, j, jb, o, empty, "__proto__")`;

/**
 * The rows every read should give: NaN and ±Infinity null and -0 as 0, as in JSON; numeric a
 * string on PGlite and a number on Postgres, as their drivers return it.
 */
function expected(driver: "pglite" | "postgres") {
  const num = driver === "pglite" ? "12.50" : 12.5;
  return [
    {
      id: 1, i2: 1, i4: 2, i8: 9007199254740992, neg: -5, f4: 0.1, nan: null, inf: null, negzero: 0, big: 1e300,
      num, b: true, plain: "plain", uni: "naïve ☕ 𝄞", bp: "ab  ", vc: "v", nm: "nm", u: "5f0c1c8e-6f2a-4a4e-9b1a-2f8f1f1f1f1f",
      d: "2024-02-29T00:00:00.000Z", ts: "2024-02-29T11:45:06.789Z", tm: "13:45:06", iv: "1 day 02:00:00",
      j: { a: [1, 2.5, "x"], b: null }, jb: { k: { z: 1 } }, o: 42, empty: "", ["__proto__"]: "ok",
    },
    {
      id: 2, i2: null, i4: null, i8: null, neg: null, f4: null, nan: null, inf: null, negzero: null, big: null,
      num: null, b: false, plain: null, uni: LONG, bp: null, vc: null, nm: null, u: null,
      d: null, ts: null, tm: null, iv: null, j: null, jb: "just a string", o: null, empty: null, ["__proto__"]: "ok",
    },
  ];
}

/** A row as plain data: its own keys in order (so `__proto__` counts as a key) and their values; -0 kept apart from 0. */
const plain = (row: Record<string, unknown>) =>
  Object.keys(row).map((k) => [k, Object.is(row[k], -0) ? "-0" : row[k]]);

describe.each(targets.map((t) => t.name))("what a JS cell reads on %s", (name) => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await openRuntime(name);
  });
  afterAll(async () => rt?.close());

  it("gives each column type the same value through inputs.x, ctx.rows and small ctx.batches", async () => {
    // Each read returns its rows as JSON text with -0 marked (JSON.stringify writes -0 as 0), plus
    // whether the row is a plain object whose own keys include __proto__.
    const code = `
      const show = (r) => JSON.stringify(Object.keys(r).map((k) => [k, Object.is(r[k], -0) ? "-0" : r[k]]));
      const plainRow = (r) => Object.getPrototypeOf(r) === Object.prototype && Object.hasOwn(r, "__proto__");
      export default async function* (inputs, ctx) {
        for (const r of inputs.typed) yield { via: "inputs", row: show(r), plain: plainRow(r) };
        for await (const r of ctx.rows("typed")) yield { via: "rows", row: show(r), plain: plainRow(r) };
        for await (const b of ctx.batches("typed", { batchSize: 1 })) for (const r of b) yield { via: "batches", row: show(r), plain: plainRow(r) };
      }`;
    const doc: PipelineFile = {
      format: "tributary/v1",
      name: "js_inputs",
      nodes: [
        { id: "typed", kind: "sql", name: "typed", config: { sql: TYPED } },
        { id: "reader", kind: "js", name: "reader", config: { code } },
      ],
      edges: [{ from: "typed", to: "reader" }],
    };
    // On PGlite the reads must be binary COPYs (counted here); Postgres has none.
    const copyOut = rt.wh.copyOutBinary;
    let binaryReads = 0;
    if (copyOut) {
      rt.wh.copyOutBinary = (select) => {
        binaryReads++;
        return copyOut(select);
      };
    }
    let finished;
    try {
      finished = await rt.wait((await rt.start(doc)).id);
    } finally {
      if (copyOut) rt.wh.copyOutBinary = copyOut;
    }
    const { run, tasks } = finished;
    expect(tasks.get("reader")!.error).toBeNull();
    expect(binaryReads > 0).toBe(name === "pglite");
    const rows = await rt.wh.query<{ via: string; row: string; plain: boolean }>(
      `select via, row, plain from "${run.schemaName}"."${tasks.get("reader")!.outputTable}"`,
    );
    const want = expected(name).map((r) => plain(r));
    for (const via of ["inputs", "rows", "batches"]) {
      const mine = rows.filter((r) => r.via === via);
      expect([via, mine.map((r) => JSON.parse(r.row))]).toEqual([via, want]);
      expect([via, mine.map((r) => r.plain)]).toEqual([via, [true, true]]);
    }
  });

  it("reads extreme values, long ASCII text, a type named like a built-in, and an empty input", async () => {
    // A domain called int4 (in public) must not be decoded as pg_catalog's int4.
    await rt.wh.query(`do $$ begin create domain public.int4 as text; exception when duplicate_object then null; end $$`);
    const code = `export default (inputs) => [{
      edge: JSON.stringify(inputs.edge.map((r) => Object.keys(r).map((k) => [k, Object.is(r[k], -0) ? "-0" : r[k]]))),
      empty: inputs.none.length,
    }]`;
    const doc: PipelineFile = {
      format: "tributary/v1",
      name: "js_edges",
      nodes: [
        {
          id: "edge",
          kind: "sql",
          name: "edge",
          config: {
            sql: `select (-32768)::int2 as i2, '-9223372036854775808'::int8 as lo, 9223372036854775807::int8 as hi, 'NaN'::float4 as f4nan,
                    '-0'::float4 as f4neg, repeat('a', 5000) as ascii, 'hello'::public.int4 as dom`,
          },
        },
        { id: "none", kind: "sql", name: "none", config: { sql: "select 1 as x where false" } },
        { id: "reader", kind: "js", name: "reader", config: { code } },
      ],
      edges: [{ from: "edge", to: "reader" }, { from: "none", to: "reader" }],
    };
    const { run, tasks } = await rt.wait((await rt.start(doc)).id);
    expect(tasks.get("reader")!.error).toBeNull();
    const [row] = await rt.wh.query<{ edge: string; empty: number }>(`select edge, empty::int from "${run.schemaName}"."${tasks.get("reader")!.outputTable}"`);
    expect(JSON.parse(row!.edge)).toEqual([
      [["i2", -32768], ["lo", -9223372036854775808], ["hi", 9223372036854775807], ["f4nan", null], ["f4neg", 0], ["ascii", "a".repeat(5000)], ["dom", "hello"]],
    ]);
    expect(row!.empty).toBe(0);
  });

  it("keeps each reader's rows in order when more readers of one input take turns than are kept open", async () => {
    // Twelve iterators over one input, each with its own batch size, read a row at a time in turn:
    // more than the eight readers kept per input, so evicted ones reopen mid-batch at their cursor.
    const code = `
      export default async (inputs, ctx) => {
        const its = Array.from({ length: 12 }, (_, i) => ctx.rows("src", { batchSize: 3 + i })[Symbol.asyncIterator]());
        const seen = its.map(() => []);
        for (let step = 0; step < 1200; step++) {
          for (let i = 0; i < its.length; i++) {
            const { value, done } = await its[i].next();
            if (!done) seen[i].push(value.n);
          }
        }
        return seen.map((ns, i) => ({ reader: i, n: ns.length, ordered: ns.every((x, k) => x === k + 1), text: ns.slice(0, 3).join(",") }));
      }`;
    const doc: PipelineFile = {
      format: "tributary/v1",
      name: "js_readers",
      nodes: [
        { id: "src", kind: "sql", name: "src", config: { sql: "select n, repeat('x', n % 50) as pad from generate_series(1, 1000) n" } },
        { id: "many", kind: "js", name: "many", config: { code } },
      ],
      edges: [{ from: "src", to: "many" }],
    };
    const { run, tasks } = await rt.wait((await rt.start(doc)).id);
    expect(tasks.get("many")!.error).toBeNull();
    const rows = await rt.wh.query<{ reader: number; n: number; ordered: boolean; text: string }>(
      `select reader::int, n::int, ordered, text from "${run.schemaName}"."${tasks.get("many")!.outputTable}" order by reader`,
    );
    expect(rows).toEqual(Array.from({ length: 12 }, (_, i) => ({ reader: i, n: 1000, ordered: true, text: "1,2,3" })));
  });
});
