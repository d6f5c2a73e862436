/** JS cells: the contract a cell author sees (happy paths, errors with positions). */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxPool } from "@/server/runtime/sandbox";
import { CANARY, expectFail, expectOk, runCell, transcript } from "./helpers";

let pool: SandboxPool;
beforeAll(() => {
  pool = new SandboxPool();
});
afterAll(async () => {
  await pool.close();
  expect(transcript.join("\n")).not.toContain(CANARY);
});

const storeDaily = [
  { store: "a", revenue: 50 },
  { store: "b", revenue: 150 },
  { store: "c", revenue: 99.5 },
];

describe("JS cell contract", () => {
  it("returns an array", async () => {
    const out = await expectOk(pool, "export default (inputs, ctx) => inputs.store_daily.filter(r => r.revenue < 100)", {
      inputs: { store_daily: storeDaily },
    });
    expect(out.rows).toEqual([storeDaily[0], storeDaily[2]]);
    expect(out.count).toBe(2);
  });

  it("supports async functions, sync generators and async generators", async () => {
    const asyncOut = await expectOk(pool, "export default async (inputs) => { await null; return [{ n: inputs.s.length }] }", {
      inputs: { s: storeDaily },
    });
    expect(asyncOut.rows).toEqual([{ n: 3 }]);
    const gen = await expectOk(pool, "export default function* () { for (let i = 0; i < 3; i++) yield { i } }");
    expect(gen.rows).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
    const agen = await expectOk(pool, "export default async function* (inputs) { for (const r of inputs.s) { await null; yield { s: r.store } } }", {
      inputs: { s: storeDaily },
    });
    expect(agen.rows).toEqual([{ s: "a" }, { s: "b" }, { s: "c" }]);
  });

  it("streams 200,000 rows through ctx.rows in batches", async () => {
    const N = 200_000;
    const make = (cursor: number, size: number) => {
      const out: Record<string, unknown>[] = [];
      for (let i = cursor; i < Math.min(N, cursor + size); i++) out.push({ id: i, qty: i % 7, unit_price: 2 });
      return out;
    };
    const out = await expectOk(
      pool,
      `export default async function* (inputs, ctx) {
        for await (const r of ctx.rows("pos_sales")) yield { ...r, total: r.qty * r.unit_price }
      }`,
      { inputs: { pos_sales: make }, limits: { timeoutMs: 30_000 } },
    );
    expect(out.count).toBe(N);
    expect(out.rows.length).toBe(N);
    let checksum = 0;
    let expected = 0;
    for (let i = 0; i < N; i++) expected += i + (i % 7) * 2;
    for (const r of out.rows) checksum += (r.id as number) + (r.total as number);
    expect(checksum).toBe(expected);
    // In batches, not row by row, and in order.
    expect(out.io.reads.length).toBeLessThan(N / 500);
    expect(out.rows[12_345]).toEqual({ id: 12_345, qty: 12_345 % 7, unit_price: 2, total: (12_345 % 7) * 2 });
    // ctx.batches yields arrays
    const batches = await expectOk(
      pool,
      `export default async (inputs, ctx) => { const sizes = []; for await (const b of ctx.batches("pos_sales", { batchSize: 70000 })) sizes.push(b.length); return [{ sizes }] }`,
      { inputs: { pos_sales: make }, limits: { timeoutMs: 30_000 } },
    );
    expect(batches.rows).toEqual([{ sizes: [5000, ...new Array(39).fill(5000)] }]);
  });

  it("loads inputs lazily, once", async () => {
    const out = await expectOk(pool, "export default (inputs) => [{ n: inputs.big.length + inputs.big.length }]", {
      inputs: { big: Array.from({ length: 12_000 }, (_, i) => ({ i })), unused: [{ x: 1 }] },
    });
    expect(out.rows).toEqual([{ n: 24_000 }]);
    expect(out.io.reads.every((r) => r.name === "big")).toBe(true);
    expect(out.io.reads.map((r) => r.cursor)).toEqual([0, 5000, 10000, 12000]);
  });

  it("sees params, item, logicalDate and runId; unknown inputs fail clearly", async () => {
    const out = await expectOk(pool, "export default (inputs, ctx) => [{ p: ctx.params.threshold, item: ctx.item, d: ctx.logicalDate, run: ctx.runId, names: Object.keys(inputs) }]", {
      inputs: { a: [] },
      req: { params: { threshold: 7 }, item: { region: "north" }, logicalDate: "2026-02-03", runId: "r-42" },
    });
    expect(out.rows).toEqual([{ p: 7, item: { region: "north" }, d: "2026-02-03", run: "r-42", names: ["a"] }]);
    const noItem = await expectOk(pool, "export default (inputs, ctx) => [{ item: ctx.item === undefined }]");
    expect(noItem.rows).toEqual([{ item: true }]);
    const bad = await expectFail(pool, `export default async (inputs, ctx) => { for await (const r of ctx.rows("nope")) {} return [] }`, { inputs: { a: [] } });
    expect(bad.error.kind).toBe("user");
    expect(bad.error.message).toContain('unknown input "nope"');
  });

  it("captures console output and ctx.log as log lines", async () => {
    const out = await expectOk(
      pool,
      `export default (inputs, ctx) => {
        console.log("hello", 1, { a: [1, 2] }, null, undefined);
        console.info("info line"); console.warn("careful"); console.error(new Error("bad thing"));
        ctx.log("via ctx", 10n);
        return [];
      }`,
    );
    expect(out.logs[0]).toEqual({ level: "info", message: 'hello 1 {"a":[1,2]} null undefined' });
    expect(out.logs[1]).toEqual({ level: "info", message: "info line" });
    expect(out.logs[2]).toEqual({ level: "warn", message: "careful" });
    expect(out.logs[3]?.level).toBe("error");
    expect(out.logs[3]?.message).toMatch(/^Error: bad thing\n\s+at default \(cell\.js:3:\d+\)$/);
    expect(out.logs[4]).toEqual({ level: "info", message: "via ctx 10n" });
  });

  it("converts values: Date → ISO string, undefined drops the key, NaN → null, nested data kept", async () => {
    const out = await expectOk(
      pool,
      `export default () => [{ d: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)), u: undefined, n: NaN, nested: { list: [1, "x", null, { deep: true }], when: new Date(0) }, nullProto: Object.assign(Object.create(null), { k: 1 }) }]`,
    );
    expect(out.rows).toEqual([
      { d: "2026-01-02T03:04:05.000Z", n: null, nested: { list: [1, "x", null, { deep: true }], when: "1970-01-01T00:00:00.000Z" }, nullProto: { k: 1 } },
    ]);
    expect(Object.keys(out.rows[0]!)).not.toContain("u");
  });

  it("lets generators yield whole batches (arrays of rows)", async () => {
    const out = await expectOk(
      pool,
      `export default async function* (inputs, ctx) {
        for await (const batch of ctx.batches("t", { batchSize: 3 })) yield batch.map((r) => ({ ...r, twice: r.n * 2 }));
        yield { n: -1 };
        yield [];
      }`,
      { inputs: { t: Array.from({ length: 8 }, (_, n) => ({ n })) } },
    );
    expect(out.rows.map((r) => r.twice)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, undefined]);
    expect(out.count).toBe(9);
    const big = await expectOk(pool, "export default () => Array.from({ length: 12345 }, (_, i) => ({ i, pad: 'x'.repeat(i % 3 === 0 ? 2000 : 10) }))", {
      limits: { memoryMb: 128 },
    });
    expect(big.count).toBe(12_345);
    expect(big.rows[12_344]!.i).toBe(12_344);
  });

  it("keeps a generator's rows even when it reuses one object", async () => {
    const out = await expectOk(pool, "export default function* () { const r = {}; for (let i = 0; i < 3; i++) { r.i = i; yield r } }");
    expect(out.rows).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
  });

  it("reports errors with the message and the position in the cell's source", async () => {
    const thrown = await expectFail(pool, "// a comment\nconst helper = (x) => x.y.z;\nexport default (inputs) => {\n  return [helper({})];\n}");
    expect(thrown.error.kind).toBe("user");
    expect(thrown.error.retryable).toBe(false);
    expect(thrown.error.message).toMatch(/^TypeError: Cannot read properties of undefined \(reading 'z'\)/);
    expect([thrown.error.line, thrown.error.column]).toEqual([2, 27]);
    expect(thrown.error.cellStack).toContain("cell.js:4:");

    const custom = await expectFail(pool, "export default () => {\n  throw new RangeError('too far');\n}");
    expect(custom.error.message).toBe("RangeError: too far");
    expect([custom.error.line, custom.error.column]).toEqual([2, 9]);

    const syntax = await expectFail(pool, "export default () => {\n  let x = ;\n}");
    expect(syntax.error.kind).toBe("user");
    expect(syntax.error.message).toMatch(/SyntaxError: Unexpected token ';'/);
    expect([syntax.error.line, syntax.error.column]).toEqual([2, 11]);

    const topLevel = await expectFail(pool, "const x = 1;\nnull.boom;\nexport default () => []");
    expect(topLevel.error.message).toMatch(/^TypeError: Cannot read properties of null/);
    expect(topLevel.error.line).toBe(2);

    const thrownString = await expectFail(pool, "export default () => { throw 'plain string' }");
    expect(thrownString.error.message).toContain("plain string");

    const noExport = await expectFail(pool, "const f = () => []");
    expect(noExport.error.message).toContain("export default");
    const notFn = await expectFail(pool, "export default 42");
    expect(notFn.error.message).toContain("not a function");
  });

  it("refuses module syntax with a clear error", async () => {
    const stat = await expectFail(pool, 'import fs from "node:fs";\nexport default () => []');
    expect(stat.error.kind).toBe("user");
    expect(stat.error.message).toMatch(/`import` statements are not available in JS cells/);
    expect(stat.error.line).toBe(1);
    const dyn = await expectFail(pool, 'export default async () => {\n  const m = await import("node:fs");\n  return [];\n}');
    expect(dyn.error.message).toMatch(/`import\(\)` and `import.meta` are not available/);
    expect(dyn.error.line).toBe(2);
    const named = await expectFail(pool, "export default () => []\nexport const x = 1");
    expect(named.error.message).toContain("only one `export default`");
  });

  it("runs several cells at once in one process", async () => {
    const outs = await Promise.all(
      Array.from({ length: 6 }, (_, k) =>
        runCell(pool, `export default async function* () { for (let i = 0; i < 2000; i++) { if (i % 100 === 0) await null; yield { k: ${k}, i } } }`),
      ),
    );
    for (const [k, out] of outs.entries()) {
      expect(out.ok).toBe(true);
      if (out.ok) {
        expect(out.count).toBe(2000);
        expect(out.rows.every((r) => r.k === k)).toBe(true);
      }
    }
    expect(pool.pids.length).toBe(1);
  });
});
