/** Resource attacks, invalid results, a crashed task runner and cancellation. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JsCellError, SandboxPool, type JsCellIO } from "@/server/runtime/sandbox";
import { MAX_ROW_CHARS } from "@/server/runtime/sandbox/bootstrap";
import { MAX_BATCH_ROWS } from "@/server/runtime/sandbox/protocol";
import { CANARY, expectFail, expectHealthy, expectOk, runCell, TEST_LIMITS, transcript } from "./helpers";

let pool: SandboxPool;
beforeAll(() => {
  pool = new SandboxPool();
});
afterAll(async () => {
  await pool.close();
  expect(transcript.join("\n")).not.toContain(CANARY);
});

describe("resource limits", () => {
  it("an endless loop ends at the timeout", async () => {
    const out = await expectFail(pool, "export default () => { while (true) {} }", { limits: { timeoutMs: 1000 } });
    expect(out.error.kind).toBe("timeout");
    expect(out.error.retryable).toBe(false);
    expect(out.error.message).toBe("JS cell timed out after 1000 ms");
    expect(out.ms).toBeGreaterThan(900);
    expect(out.ms).toBeLessThan(4000);
    const pending = await expectFail(pool, "export default async () => { await new Promise(() => {}) }", { limits: { timeoutMs: 500 } });
    expect(pending.error.kind).toBe("timeout");
    const lazyLoop = await expectFail(pool, "export default async function* () { yield { a: 1 }; for (;;) {} }", { limits: { timeoutMs: 500 } });
    expect(lazyLoop.error.kind).toBe("timeout");
    await expectHealthy(pool);
  });

  it("a memory bomb fails with kind memory and the process survives", async () => {
    const [pid] = pool.pids;
    const out = await expectFail(pool, "export default () => { const a = []; for (;;) a.push({ x: Math.random(), s: 'y'.repeat(64) + Math.random() }) }", {
      limits: { memoryMb: 48, timeoutMs: 20_000 },
    });
    expect(out.error.kind).toBe("memory");
    expect(out.error.message).toMatch(/memory limit \(48 MB\)/);
    await expectHealthy(pool);
    expect(pool.pids).toEqual([pid]);
  });

  it("an ArrayBuffer bomb and a string bomb fail with kind memory", async () => {
    const ab = await expectFail(pool, "export default () => { const keep = []; for (let i = 0; i < 64; i++) keep.push(new ArrayBuffer(64 * 1024 * 1024)); return [] }", {
      limits: { memoryMb: 48 },
    });
    expect(ab.error.kind).toBe("memory");
    const big = await expectFail(pool, "export default () => [{ b: new Uint8Array(2 ** 31).length }]", { limits: { memoryMb: 48 } });
    expect(big.error.kind).toBe("memory");
    const str = await expectFail(pool, "export default () => { let s = 'x'; for (;;) s += s }", { limits: { memoryMb: 48 } });
    expect(str.error.kind).toBe("memory");
    await expectHealthy(pool);
  });

  it("a row larger than MAX_ROW_CHARS fails its task the same way as JSON and once rows go as binary", async () => {
    const big = `"x".repeat(${MAX_ROW_CHARS + 10})`;
    const limits = { memoryMb: 256 };
    const json = await expectFail(pool, `export default function* () { yield { s: ${big} } }`, { limits });
    expect([json.error.kind, json.error.message]).toEqual(["invalid_result", `row 0 is larger than ${MAX_ROW_CHARS} characters of JSON`]);
    // After 10,000 rows the writer's answer has made the isolate encode binary tuples.
    const written: number[] = [];
    let asked = false;
    const io: JsCellIO = {
      readInput: async () => [],
      writeRows: async () => {},
      writeJson: async (text) => ((asked = true), (JSON.parse(text) as unknown[]).length),
      copyFormat: () => (asked ? { format: "binary", columns: [{ name: "s", type: "text" }] } : null),
      writeCopy: async (_format, _data, rows) => (written.push(rows), rows),
      log: () => {},
    };
    const code = `export default function* () { for (let i = 0; i < 12_000; i++) yield { s: i === 11_000 ? ${big} : "r" + i }; }`;
    const error = await pool.run({ code, inputNames: [], params: {}, logicalDate: "2026-03-01", runId: "r", limits: { ...TEST_LIMITS, ...limits } }, io).then(
      () => null,
      (e: JsCellError) => e,
    );
    expect([error?.kind, error?.message]).toEqual(["invalid_result", `row 11000 is larger than ${MAX_ROW_CHARS} characters of JSON`]);
    await expectHealthy(pool);
  });

  it("an accessor on Array.prototype cannot make a batch of rows larger (or other) than the rows yielded", async () => {
    // The first bootstrap gathered a batch's JSON in an array: a setter on Array.prototype[0]
    // swallowed the parts and a getter put ~96 MB of JSON of its own choosing in their place.
    const code = `export default function* () {
      const big = '{"a":1},'.repeat(12_000_000) + '{"a":1}';
      Object.defineProperty(Array.prototype, "0", { get() { return big; }, set(v) {}, configurable: true });
      for (let i = 0; i < 3; i++) yield { a: i };
    }`;
    const batches: string[] = [];
    const io: JsCellIO = {
      readInput: async () => [],
      writeRows: async () => {},
      writeJson: async (json) => (batches.push(json), (JSON.parse(json) as unknown[]).length),
      log: () => {},
    };
    const result = await pool.run({ code, inputNames: [], params: {}, logicalDate: "2026-03-01", runId: "r", limits: { ...TEST_LIMITS, memoryMb: 256 } }, io);
    expect(result.rows).toBe(3);
    expect(batches).toEqual(['[{"a":0},{"a":1},{"a":2}]']);
    await expectHealthy(pool);
  });

  it("a flood of logs is truncated and does not stop the cell", async () => {
    const out = await expectOk(pool, "export default () => { for (let i = 0; i < 200000; i++) console.log('line', i, 'x'.repeat(100)); return [{ done: true }] }", {
      limits: { maxLogBytes: 20_000 },
    });
    expect(out.rows).toEqual([{ done: true }]);
    const last = out.logs[out.logs.length - 1]!;
    expect(last).toEqual({ level: "warn", message: "… (log truncated at 20000 bytes)" });
    const bytes = out.logs.slice(0, -1).reduce((n, l) => n + Buffer.byteLength(l.message) + 1, 0);
    expect(bytes).toBeLessThanOrEqual(20_000);
    expect(out.logs.length).toBeLessThan(200);
    // One huge line is refused as a whole.
    const huge = await expectOk(pool, "export default () => { console.log('z'.repeat(5e6)); console.log('after'); return [] }", { limits: { maxLogBytes: 1000 } });
    expect(huge.logs).toEqual([{ level: "warn", message: "… (log truncated at 1000 bytes)" }]);
  });
});

describe("invalid results", () => {
  const cases: [string, string, RegExp][] = [
    ["circular", "export default () => { const r = { a: 1 }; const c = { id: 3 }; c.self = c; return [r, r, r, c] }", /row 3, field "self" is a circular reference/],
    ["BigInt", "export default () => [{ a: 1 }, { n: { deep: [1, 2n] } }]", /row 1, field "n.deep\[1\]" is a BigInt/],
    ["function", "export default () => [{ a: 1 }, { a: 2 }, { f() {} }]", /row 2, field "f" is a function/],
    ["class instance", "export default () => [{ m: new Map() }]", /row 0, field "m" is an instance of Map/],
    ["non-object row", "export default () => [{ a: 1 }, 5]", /row 1 is a number; each row must be a plain object/],
    ["array row", "export default () => [[{ a: 1 }]]", /row 0 is an array/],
    ["non-object in a yielded batch", "export default function* () { yield { a: 1 }; yield [{ a: 2 }, 'x'] }", /row 2 is a string/],
    ["undefined", "export default () => {}", /the cell returned undefined/],
    ["string", "export default () => 'rows'", /the cell returned a string/],
  ];
  for (const [name, code, message] of cases) {
    it(`rejects ${name}`, async () => {
      const out = await expectFail(pool, code);
      expect(out.error.kind).toBe("invalid_result");
      expect(out.error.retryable).toBe(false);
      expect(out.error.message).toMatch(message);
    });
  }

  it("stores __proto__ keys as plain keys without polluting anything", async () => {
    const out = await expectOk(
      pool,
      `export default () => [JSON.parse('{"__proto__": {"polluted": 1}, "a": 1}'), { ["__proto__"]: { polluted: 2 }, b: 2 }, { constructor: { prototype: { polluted: 3 } } }]`,
    );
    expect(out.rows.length).toBe(3);
    const [first, second] = out.rows as Record<string, unknown>[];
    expect(Object.getPrototypeOf(first)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(first, "__proto__")).toBe(true);
    expect(Object.getOwnPropertyDescriptor(first, "__proto__")?.value).toEqual({ polluted: 1 });
    expect(Object.getOwnPropertyDescriptor(second, "__proto__")?.value).toEqual({ polluted: 2 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("the runtime's own I/O", () => {
  it("a failing readInput or writeRows fails the run with that error; a hanging one ends at the timeout", async () => {
    const cell = `export default async function* (inputs, ctx) { for await (const r of ctx.rows("t")) yield r }`;
    const base = { code: cell, inputNames: ["t"], params: {}, logicalDate: "2026-01-01", runId: "r", limits: { memoryMb: 64, timeoutMs: 800, maxLogBytes: 1000 } };
    const log = () => {};
    const readErr = new Error("warehouse unavailable");
    await expect(pool.run(base, { readInput: async () => { throw readErr; }, writeRows: async () => {}, log })).rejects.toBe(readErr);
    const writeErr = new Error("disk full");
    await expect(pool.run(base, { readInput: async (_n, c) => (c === 0 ? [{ a: 1 }] : []), writeRows: async () => { throw writeErr; }, log })).rejects.toBe(writeErr);
    const [pid] = pool.pids;
    const hang = pool.run(base, { readInput: () => new Promise(() => {}), writeRows: async () => {}, log });
    await expect(hang).rejects.toMatchObject({ kind: "timeout" });
    const slowWrite = pool.run({ ...base, code: "export default () => [{ a: 1 }]" }, { readInput: async () => [], writeRows: () => new Promise(() => {}), log });
    await expect(slowWrite).rejects.toMatchObject({ kind: "timeout" });
    await expectHealthy(pool);
    expect(pool.pids).toEqual([pid]);
  });

  it("a task's last batch is loaded before the task is reported done, its rows counted, whether it loads, fails or hangs", async () => {
    // The last batch is not answered (the cell ends while the host loads it): the host must still
    // report the task only once that load is over — and with its outcome.
    const base = { inputNames: [], params: {}, logicalDate: "2026-01-01", runId: "r", limits: { memoryMb: 64, timeoutMs: 5_000, maxLogBytes: 1000 } };
    const log = () => {};
    const loads: { rows: number; release: () => void }[] = [];
    let settled = false;
    const run = pool
      .run(
        { ...base, code: `export default async function* () { yield Array.from({ length: ${MAX_BATCH_ROWS * 1.5} }, (_, i) => ({ i })); yield { i: -1 } }` },
        { readInput: async () => [], writeRows: (rows) => new Promise<void>((release) => loads.push({ rows: rows.length, release })), log },
      )
      .finally(() => (settled = true));
    // Batches of MAX_BATCH_ROWS rows, in order; the second is handed over once the first was loaded.
    await expect.poll(() => loads.length, { timeout: 5_000 }).toBe(1);
    loads[0]!.release();
    await expect.poll(() => loads.length, { timeout: 5_000 }).toBe(2);
    await new Promise((r) => setTimeout(r, 200));
    expect(settled).toBe(false); // the cell is over; its last batch is not loaded yet
    loads[1]!.release();
    await expect(run).resolves.toMatchObject({ rows: MAX_BATCH_ROWS * 1.5 + 1 });
    expect(loads.map((l) => l.rows)).toEqual([MAX_BATCH_ROWS, MAX_BATCH_ROWS / 2 + 1]);
    // A last batch that fails fails the task with the writer's error; one that never ends, at the cell's time limit.
    const [pid] = pool.pids;
    const diskFull = new Error("disk full");
    const one = { ...base, code: "export default () => [{ a: 1 }]", limits: { ...base.limits, timeoutMs: 1_000 } };
    await expect(pool.run(one, { readInput: async () => [], writeRows: async () => { throw diskFull; }, log })).rejects.toBe(diskFull);
    const t0 = performance.now();
    await expect(pool.run(one, { readInput: async () => [], writeRows: () => new Promise(() => {}), log })).rejects.toMatchObject({
      kind: "timeout",
      message: "JS cell timed out after 1000 ms",
    });
    expect(performance.now() - t0).toBeGreaterThan(900);
    await expectHealthy(pool);
    expect(pool.pids).toEqual([pid]);
  });

  it("canceling a task while its last batch loads cancels it at once and leaves the process and its other tasks alone", async () => {
    const base = { inputNames: [], params: {}, logicalDate: "2026-01-01", runId: "r", limits: { memoryMb: 64, timeoutMs: 20_000, maxLogBytes: 1000 } };
    const log = () => {};
    const [pid] = pool.pids;
    let loading = false;
    let release = () => {};
    const abort = new AbortController();
    const canceled = pool.run(
      { ...base, code: "export default () => [{ a: 1 }]" },
      { readInput: async () => [], writeRows: () => new Promise<void>((r) => { loading = true; release = r; }), log },
      abort.signal,
    );
    await expect.poll(() => loading, { timeout: 5_000 }).toBe(true);
    // Another task on the same process, still running when the first is canceled.
    const other = pool.run(
      { ...base, code: "export default async () => { const t = Date.now(); while (Date.now() - t < 2500) {} return [{ b: 2 }] }" },
      { readInput: async () => [], writeRows: async () => {}, log },
    );
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    abort.abort();
    await expect(canceled).rejects.toMatchObject({ kind: "canceled" });
    expect(performance.now() - t0).toBeLessThan(1_000); // not the 1.5 s wait before the process is killed
    release();
    await expect(other).resolves.toMatchObject({ rows: 1 });
    expect(pool.pids).toEqual([pid]);
    await expectHealthy(pool);
  });

  it("spreads tasks over several processes", async () => {
    const multi = new SandboxPool({ processes: 2 });
    try {
      const outs = await Promise.all(
        Array.from({ length: 4 }, () => runCell(multi, "export default async () => { const t = Date.now(); while (Date.now() - t < 200) {} return [{ ok: 1 }] }")),
      );
      expect(outs.every((o) => o.ok)).toBe(true);
      expect(multi.pids.length).toBe(2);
    } finally {
      await multi.close();
    }
  });
});

describe("crash and cancel", () => {
  it("kill -9 of the task runner fails its tasks as retryable; the next task gets a new process", async () => {
    await expectHealthy(pool);
    const [pid] = pool.pids;
    const running = runCell(pool, "export default () => { while (true) {} }", { limits: { timeoutMs: 20_000 } });
    const other = runCell(pool, "export default async () => { await new Promise(() => {}) }", { limits: { timeoutMs: 20_000 } });
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pid!, "SIGKILL");
    for (const out of await Promise.all([running, other])) {
      expect(out.ok).toBe(false);
      if (!out.ok) {
        expect(out.error).toBeInstanceOf(JsCellError);
        expect(out.error.kind).toBe("internal");
        expect(out.error.retryable).toBe(true);
        expect(out.error.message).toMatch(/sandbox process exited \(signal SIGKILL\)/);
      }
    }
    await expectHealthy(pool);
    expect(pool.pids.length).toBe(1);
    expect(pool.pids[0]).not.toBe(pid);
  });

  it("an abort signal ends an endless loop within 2 s", async () => {
    for (const code of ["export default () => { while (true) {} }", "export default async () => { await new Promise(() => {}) }"]) {
      const ac = new AbortController();
      let abortedAt = 0;
      setTimeout(() => {
        abortedAt = performance.now();
        ac.abort();
      }, 300);
      const out = await expectFail(pool, code, { signal: ac.signal, limits: { timeoutMs: 30_000 } });
      expect(out.error.kind).toBe("canceled");
      expect(out.error.retryable).toBe(false);
      expect(abortedAt).toBeGreaterThan(0);
      expect(performance.now() - abortedAt).toBeLessThan(2000);
    }
    const pre = new AbortController();
    pre.abort();
    const early = await expectFail(pool, "export default () => []", { signal: pre.signal });
    expect(early.error.kind).toBe("canceled");
    await expectHealthy(pool);
  });
});
