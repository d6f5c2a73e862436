/**
 * Escape attempts: each fails its own task (or is harmless), never reaches the
 * host's `process`, environment or file system, and the pool keeps working —
 * a normal task runs after each, and some run alongside.
 */
import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxPool, type BinaryRows, type InputKind, type JsCellIO } from "@/server/runtime/sandbox";
import { toCopyBinary, type Column } from "@/server/runtime/sandbox/rows-copy";
import { CANARY, expectFail, expectHealthy, expectOk, runCell, TEST_LIMITS, transcript } from "./helpers";

const PWNED = `/tmp/tributary-sandbox-pwned-${process.pid}`;
let pool: SandboxPool;

beforeAll(() => {
  pool = new SandboxPool();
});
afterAll(async () => {
  await pool.close();
  expect(existsSync(PWNED)).toBe(false);
  expect(transcript.join("\n")).not.toContain(CANARY);
});

/** Every way below ends with "return process" from some Function constructor. */
const grab = `(f) => { try { const p = f.constructor.constructor("return process")(); return p ? JSON.stringify(p.env) + String(p.mainModule && p.mainModule.require("fs").writeFileSync(${JSON.stringify(PWNED)}, "x")) : "none"; } catch (e) { return "blocked: " + e.message } }`;

describe("escape attempts", () => {
  it("this.constructor.constructor('return process')()", async () => {
    const out = await expectFail(pool, "export default function () { const p = this.constructor.constructor('return process')(); return [{ env: p.env }] }");
    expect(out.error.kind).toBe("user");
    expect(out.error.message).toMatch(/process is not defined|Cannot read properties of undefined/);
    const top = await expectFail(pool, "const p = this.constructor.constructor('return process')();\nexport default () => [{ env: p.env }]");
    expect(top.error.message).toBe("ReferenceError: process is not defined");
    expect(top.error.line).toBe(1);
    await expectHealthy(pool);
  });

  it("host globals are absent", async () => {
    const out = await expectOk(
      pool,
      `export default () => [Object.fromEntries(["require", "process", "fetch", "setTimeout", "setInterval", "setImmediate", "Buffer", "module", "exports", "__dirname", "WebAssembly", "SharedArrayBuffer", "Atomics", "XMLHttpRequest", "WebSocket"].map((k) => [k, typeof globalThis[k]]).concat([["globalThis.process", typeof globalThis.process], ["bare process", typeof process], ["bare require", typeof require]]))]`,
    );
    expect(Object.values(out.rows[0]!).every((t) => t === "undefined")).toBe(true);
    expect(Object.keys(out.rows[0]!).length).toBe(18);
  });

  it("Error.prepareStackTrace call sites (including the sandbox's own frames) lead nowhere", async () => {
    const out = await expectOk(
      pool,
      `const grab = ${grab};
      export default async (inputs, ctx) => {
        const found = [];
        Error.prepareStackTrace = (e, sites) => sites;
        const collect = () => { for (const s of new Error().stack) { found.push(["fn", s.getFunction && s.getFunction()], ["this", s.getThis && s.getThis()], ["file", s.getFileName()]) } };
        collect();
        // Frames of the sandbox's own code: a getter it reads, a value it logs.
        const it = ctx.rows("t", { get batchSize() { collect(); return 10 } });
        for await (const r of it) {}
        console.log({ toJSON() { collect(); return "x" } });
        const results = [];
        for (const [kind, v] of found) if (v && typeof v === "object" || typeof v === "function") results.push(kind + ":" + grab(v));
        const files = [...new Set(found.filter(([k]) => k === "file").map(([, f]) => f))];
        return [{ results, files }];
      }`,
      { inputs: { t: [{ a: 1 }] } },
    );
    const row = out.rows[0] as { results: string[]; files: string[] };
    expect(row.results.length).toBeGreaterThan(0);
    for (const r of row.results) expect(r).toMatch(/blocked: process is not defined/);
    expect(row.files.filter(Boolean).sort()).toEqual(["cell.js", "tributary-sandbox.js"]);
    await expectHealthy(pool);
  });

  it("a caught stack-overflow RangeError climbs only to the isolate's Function", async () => {
    const out = await expectOk(
      pool,
      `export default () => { const f = () => f(); try { f() } catch (e) { return [{ name: e.name, r: e.constructor.constructor("return typeof process + typeof require")() }] } }`,
    );
    expect(out.rows).toEqual([{ name: "RangeError", r: "undefinedundefined" }]);
    const rethrown = await expectFail(pool, "export default () => { const f = () => f(); f() }");
    expect(rethrown.error.kind).toBe("user");
    expect(rethrown.error.message).toMatch(/RangeError: Maximum call stack size exceeded/);
    await expectHealthy(pool);
  });

  it("unbound methods and host-provided functions provoke only isolate errors", async () => {
    const out = await expectOk(
      pool,
      `const grab = ${grab};
      export default (inputs, ctx) => {
        const results = [];
        const attempts = [
          () => Number.prototype.valueOf.call(console.log),
          () => Date.prototype.toLocaleString.call(ctx),
          () => Object.prototype.toLocaleString.call(null),
          () => Symbol.prototype.valueOf.call(ctx.rows),
          () => ctx.rows.call(null, Symbol()),
          () => console.log.apply(null, new Proxy([], { get() { throw new Error("trap") } })),
          () => Reflect.construct(console.log, []),
          () => new ctx.log(),
          () => { for (const k of Reflect.ownKeys(console.log)) console.log[k].constructor },
        ];
        for (const a of attempts) {
          try { a(); results.push("no error") } catch (e) { results.push(e && e.constructor ? grab(e) : String(e)) }
        }
        results.push(grab(console.log), grab(ctx.log), grab(ctx.rows), grab(Object.getOwnPropertyDescriptor(inputs, "t").get));
        return [{ results }];
      }`,
      { inputs: { t: [] } },
    );
    const { results } = out.rows[0] as { results: string[] };
    for (const r of results) expect(r === "no error" || /^blocked: /.test(r)).toBe(true);
    expect(results.filter((r) => r.startsWith("blocked: process is not defined")).length).toBeGreaterThan(8);
    await expectHealthy(pool);
  });

  it("dynamic import through eval fails; the error leads nowhere", async () => {
    const out = await expectOk(
      pool,
      `const grab = ${grab};
      export default async () => {
        const r = [];
        try { await (0, eval)("imp" + "ort('node:fs')"); r.push("imported!") } catch (e) { r.push(String(e), grab(e)) }
        try { (0, eval)("imp" + "ort('x')").catch(() => {}); r.push("no error") } catch (e) { r.push(String(e)) }
        try { new Function("return imp" + "ort.meta")(); r.push("meta!") } catch (e) { r.push(e.name) }
        return [{ r }];
      }`,
    );
    const r = (out.rows[0] as { r: string[] }).r;
    expect(r[0]).toBe("Error: Not supported");
    expect(r[1]).toMatch(/^blocked: process is not defined/);
    expect(r).not.toContain("imported!");
    expect(r).not.toContain("meta!");
    // Left unhandled, the rejection fails the task as the cell's own error.
    const unhandled = await expectFail(pool, `export default () => { (0, eval)("imp" + "ort('x')"); return [] }`);
    expect(unhandled.error.kind).toBe("user");
    const plain = await expectFail(pool, "export default async () => {\n  Promise.reject(new TypeError('nobody catches me'));\n  return [];\n}");
    expect(plain.error.kind).toBe("user");
    expect(plain.error.message).toBe("Unhandled promise rejection: TypeError: nobody catches me");
    expect(plain.error.line).toBe(2);
    await expectHealthy(pool);
  });

  it("Proxies whose traps throw functions fail the task clearly", async () => {
    const row = await expectFail(
      pool,
      "export default () => [new Proxy({}, { getPrototypeOf() { throw function evil() { return this } }, ownKeys() { throw () => 1 } })]",
    );
    expect(row.error.kind).toBe("user");
    expect(row.error.message).toContain("threw a function");
    const thrown = await expectFail(
      pool,
      "export default () => { throw new Proxy({}, { get() { throw () => process }, getPrototypeOf() { throw () => process } }) }",
    );
    expect(thrown.error.kind).toBe("user");
    expect(thrown.error.message).toMatch(/cannot be described/);
    const result = await expectFail(pool, "export default () => new Proxy([], { get() { throw function () {} } })");
    expect(["user", "invalid_result"]).toContain(result.error.kind);
    const logged = await expectOk(pool, "export default () => { console.log(new Proxy({}, { ownKeys() { throw () => 1 } })); return [] }");
    expect(logged.logs[0]?.message).toBe("[value that cannot be displayed]");
    await expectHealthy(pool);
  });

  it("inspect.custom and other symbol tricks on returned rows do nothing on the host", async () => {
    const out = await expectOk(
      pool,
      `export default () => {
        const evil = { [Symbol.for("nodejs.util.inspect.custom")]: () => { throw new Error("ran on host") }, [Symbol.toPrimitive]: () => "p", a: 1 };
        console.log(evil);
        return [evil, { b: 2, [Symbol.for("nodejs.util.inspect.custom")]: 1 }];
      }`,
    );
    expect(out.rows).toEqual([{ a: 1 }, { b: 2 }]);
    expect(Object.getOwnPropertySymbols(out.rows[0]!)).toEqual([]);
    expect(out.logs[0]?.message).toBe('{"a":1}');
    const symbolValue = await expectFail(pool, "export default () => [{ a: 1 }, { s: Symbol.for('nodejs.util.inspect.custom') }]");
    expect(symbolValue.error.kind).toBe("invalid_result");
    expect(symbolValue.error.message).toContain('row 1, field "s" is a symbol');
    await expectHealthy(pool);
  });

  it("overriding Promise.prototype.then / species / constructor cannot break out", async () => {
    const cases = [
      "Promise.prototype.then = function () { return this }; export default async () => [{ a: 1 }]",
      "Object.defineProperty(Promise, Symbol.species, { get() { return function () { return process } } }); export default async function* () { yield { a: 1 } }",
      "Promise.prototype.constructor = function () {}; Promise.resolve = () => { throw () => 1 }; export default async function* () { yield { a: 1 } }",
      "const then = Promise.prototype.then; Promise.prototype.then = function (a, b) { return then.call(this, (v) => a && a({ hijacked: true, v }), b) }; export default () => [{ a: 1 }]",
      "class P extends Promise {}; export default () => P.resolve([{ a: 1 }])",
      "export default () => ({ then(resolve) { resolve({ then(r) { r([{ a: 1 }]) } }) } })",
    ];
    const outs = await Promise.all(cases.map((code) => runCell(pool, code, { limits: { timeoutMs: 1500 } })));
    for (const out of outs) {
      if (out.ok) expect(out.rows).toEqual([{ a: 1 }]);
      else expect(["user", "timeout", "invalid_result"]).toContain(out.error.kind);
    }
    await expectHealthy(pool);
  });

  it("a 'then' on Object.prototype, with or without a replaced array iterator, cannot swap the run's result or the last batch that travels with it", async () => {
    // The last batch leaves the isolate with the run's result; a thenable result would hand the
    // cell the resolution: rows it never produced, or a typed array over a shrunk resizable
    // buffer, whose copy out of the isolate kills the task runner (SIGTRAP) with every task in it.
    const forgeThen = (resolveWith: string) =>
      `{ let used = false;
         Object.defineProperty(Object.prototype, "then", { configurable: true, get() {
           // Once, and only for what looks like the run's result (elsewhere a 'then' would stall the cell itself).
           if (used || !Object.prototype.hasOwnProperty.call(this, "outcome")) return undefined;
           used = true;
           return (resolve) => resolve(${resolveWith});
         } }); }`;
    // Iterating ["outcome", "batch"] also yields "then", so a for…of copying keys would copy the getter's function.
    const hijackIterator = `{
      const proto = Object.getPrototypeOf([][Symbol.iterator]());
      const next = proto.next;
      const last = new WeakMap();
      proto.next = function () {
        const step = next.call(this);
        if (step.done && last.get(this) === "batch") { last.set(this, "then"); return { value: "then", done: false }; }
        if (!step.done) last.set(this, step.value);
        return step;
      };
    }`;
    const forgedRows = `{ outcome: '{"ok":true,"rows":999}', batch: '[{"forged":1},{"forged":2}]' }`;
    const crash = `(() => { const rab = new ArrayBuffer(16, { maxByteLength: 64 }); const v = new Uint8Array(rab, 8, 8); rab.resize(4); return { outcome: '{"ok":true,"rows":1}', batch: v }; })()`;
    const cells = [
      `${forgeThen(forgedRows)}\nexport default () => [{ a: 1 }]`,
      `${hijackIterator}\n${forgeThen(forgedRows)}\nexport default () => [{ a: 1 }]`,
      `${hijackIterator}\n${forgeThen(crash)}\nexport default () => [{ a: 1 }]`,
    ];
    await expectHealthy(pool);
    const [pid] = pool.pids;
    // A task alongside, running while the hostile ones end.
    const alongside = runCell(pool, "export default async () => { const t = Date.now(); while (Date.now() - t < 300) {} return [{ ok: 1 }] }");
    for (const code of cells) {
      const out = await runCell(pool, code);
      if (!out.ok) throw out.error;
      expect(out.rows).toEqual([{ a: 1 }]);
      expect(out.count).toBe(1);
    }
    const other = await alongside;
    if (!other.ok) throw other.error;
    expect(other.rows).toEqual([{ ok: 1 }]);
    expect(pool.pids).toEqual([pid]);
    await expectHealthy(pool);
  });

  it("options inherited from a polluted Object.prototype do not change how values cross", async () => {
    const out = await expectOk(
      pool,
      `for (const k of ["reference", "externalCopy", "copy", "promise", "timeout", "release", "transferList"]) Object.prototype[k] = true;
      export default async (inputs, ctx) => {
        const seen = [];
        for await (const r of ctx.rows("t")) seen.push(typeof r, r.constructor === Object);
        seen.push(inputs.t.length);
        console.log("still strings");
        return [{ seen }];
      }`,
      { inputs: { t: [{ a: 1 }] } },
    );
    expect(out.rows).toEqual([{ seen: ["object", true, 1] }]);
    expect(out.logs).toEqual([{ level: "info", message: "still strings" }]);
    await expectHealthy(pool);
  });

  it("FinalizationRegistry callbacks never outlive the task", async () => {
    const done = await expectOk(
      pool,
      `export default () => {
        const reg = new FinalizationRegistry(() => { console.log("after the end"); for (;;) {} });
        for (let i = 0; i < 100000; i++) reg.register({ i }, i);
        return [{ ok: 1 }];
      }`,
    );
    expect(done.rows).toEqual([{ ok: 1 }]);
    const t0 = performance.now();
    const hang = await expectFail(
      pool,
      `export default async () => {
        const reg = new FinalizationRegistry(() => { for (;;) {} });
        for (let i = 0; i < 100000; i++) reg.register({ i }, i);
        await new Promise(() => {});
      }`,
      { limits: { timeoutMs: 800 } },
    );
    expect(hang.error.kind).toBe("timeout");
    expect(performance.now() - t0).toBeLessThan(3000);
    await expectHealthy(pool);
    await new Promise((r) => setTimeout(r, 200));
    expect(done.logs.some((l) => l.message === "after the end")).toBe(false);
  });

  it("cannot read the environment or touch the file system, and the runner's own environment is minimal", async () => {
    const out = await expectOk(
      pool,
      `const grab = ${grab};
      export default () => {
        const r = [grab(globalThis), grab(console), grab([]), grab(async function* () {}), grab(Symbol)];
        try { r.push(String(new Function("return this")().process)) } catch (e) { r.push(e.message) }
        return [{ r }];
      }`,
    );
    expect(JSON.stringify(out.rows)).not.toContain(CANARY);
    for (const r of (out.rows[0] as { r: string[] }).r) expect(r).toMatch(/blocked: process is not defined|undefined/);
    const [pid] = pool.pids;
    expect(pid).toBeGreaterThan(0);
    const environ = readFileSync(`/proc/${pid}/environ`, "utf8");
    expect(environ).not.toContain(CANARY);
    expect(environ).not.toContain("DATABASE_URL");
    const names = environ.split("\0").filter(Boolean).map((kv) => kv.split("=")[0]);
    expect(names.filter((n) => !n!.startsWith("NODE_CHANNEL_")).sort()).toEqual(["NODE_ENV", "TRIBUTARY_SANDBOX"]);
  });

  it("escape attempts running alongside normal tasks leave them unharmed", async () => {
    const attacks = [
      "export default () => { while (true) {} }",
      "export default function () { return this.constructor.constructor('return process')().env }",
      "export default () => { const a = []; for (;;) a.push(new Array(1e5).fill(1)) }",
      "export default () => { const f = () => f(); f() }",
    ];
    const normals = Array.from({ length: 4 }, (_, k) => `export default async function* () { for (let i = 0; i < 1000; i++) { await null; yield { k: ${k}, i } } }`);
    const outs = await Promise.all([...attacks, ...normals].map((code) => runCell(pool, code, { limits: { timeoutMs: 2000 } })));
    outs.slice(0, attacks.length).forEach((o) => expect(o.ok).toBe(false));
    for (const o of outs.slice(attacks.length)) {
      expect(o.ok).toBe(true);
      if (o.ok) expect(o.count).toBe(1000);
    }
    await expectHealthy(pool);
  });

  it("binary input batches: the decoder calls nothing a cell replaced, and no buffer beyond the cell's own bytes crosses", async () => {
    // The cell hooks what a decoder might touch — instanceof, species, the typed array getters,
    // Object.prototype — and freezes Object.prototype; then reads rows whose columns include
    // names Object.prototype has. Another task reads a secret at the same time.
    const columns = [{ name: "n", type: "bigint" }, { name: "s", type: "text" }, { name: "constructor", type: "text" }, { name: "toString", type: "text" }];
    const kinds: [string, InputKind][] = [["n", "i8"], ["s", "t"], ["constructor", "t"], ["toString", "t"]];
    const batchOf = (rows: Record<string, unknown>[]): BinaryRows => ({ tuples: toCopyBinary(rows, columns)!, columns: kinds, rows: rows.length });
    const mine = [{ n: 1, s: "a", constructor: "c1", toString: "t1" }, { n: 2, s: "ü", constructor: null, toString: "t2" }];
    const SECRET = `secret-${process.pid}`;
    const ioFor = (rows: Record<string, unknown>[], out: Record<string, unknown>[]): JsCellIO => ({
      readInput: async (_name, cursor) => (cursor === 0 ? batchOf(rows) : { json: "[]", rows: 0 }),
      writeRows: async (batch) => void out.push(...batch),
      log: () => {},
    });
    const attack = `export default (inputs, ctx) => {
      const seen = [];
      const note = (what, v) => { seen.push(what + ":" + (v && v.byteLength !== undefined ? v.byteLength : typeof v)); };
      Object.defineProperty(Uint8Array, Symbol.hasInstance, { value(v) { note("instanceof", v); return true; } });
      Object.defineProperty(Uint8Array, Symbol.species, { get() { note("species"); return Uint8Array; } });
      const TA = Object.getPrototypeOf(Uint8Array.prototype);
      for (const k of ["length", "buffer", "byteLength", "byteOffset"]) {
        const d = Object.getOwnPropertyDescriptor(TA, k);
        Object.defineProperty(TA, k, { get() { note(k, this); return d.get.call(this); }, configurable: true });
      }
      Object.defineProperty(Object.prototype, "s", { set(v) { note("setter", v); }, get() { return undefined; }, configurable: true });
      Object.freeze(Object.prototype);
      const rows = inputs.src;
      return [{ seen: seen.join(","), rows: JSON.stringify(rows), own: rows.map((r) => Object.keys(r).join(",")).join(";") }];
    }`;
    const attacked: Record<string, unknown>[] = [];
    const other: Record<string, unknown>[] = [];
    const req = (code: string) => ({ code, inputNames: ["src"], params: {}, logicalDate: "2026-03-01", runId: "r", limits: TEST_LIMITS });
    await Promise.all([
      pool.run(req(attack), ioFor(mine, attacked)),
      pool.run(req("export default (inputs) => inputs.src.map((r) => ({ s: r.s }))"), ioFor([{ n: 9, s: SECRET, constructor: "x", toString: "y" }], other)),
    ]);
    expect(other).toEqual([{ s: SECRET }]);
    expect(attacked).toHaveLength(1);
    expect(attacked[0]!.seen).toBe("");
    expect(JSON.parse(attacked[0]!.rows as string)).toEqual(mine);
    expect(attacked[0]!.own).toBe("n,s,constructor,toString;n,s,constructor,toString");
    expect(JSON.stringify(attacked)).not.toContain(SECRET);
    await expectHealthy(pool);
  });
  it("binary output batches: nothing a cell replaces changes the array that crosses to the runner", async () => {
    // Once the writer asks for binary (its answer to the first JSON batch), the bootstrap encodes
    // rows into tuples in the isolate and hands each batch to the runner as a Uint8Array, which
    // isolated-vm copies with its whole buffer — a view of a shrunk resizable buffer crashed the
    // copy (and the runner with it), a view of a huge one made the runner copy all of it. The
    // cell here replaces everything a batch could be cut or copied with; its rows still arrive
    // whole and exact, and a task alongside is unharmed.
    const columns: Column[] = [{ name: "n", type: "bigint" }, { name: "s", type: "text" }];
    const N = 15_000;
    const hostile = `export default function* () {
      for (let i = 0; i < ${N}; i++) {
        // Rows 1–10,000 go as JSON (before the writer's answer came); the batch after them is binary.
        if (i === 10_000) {
          const shrunk = () => { const b = new ArrayBuffer(64, { maxByteLength: 128 }); const v = new Uint8Array(b, 8, 14); b.resize(4); return v; };
          const huge = new Uint8Array(64 * 1024 * 1024);
          const TA = Object.getPrototypeOf(Uint8Array.prototype);
          for (const k of ["slice", "subarray"]) Uint8Array.prototype[k] = TA[k] = function () { return shrunk(); };
          Uint8Array.prototype.set = TA.set = function () {};
          Uint8Array.prototype.constructor = function () { return huge.subarray(0, 1); };
          Object.defineProperty(Uint8Array, Symbol.species, { get() { return function () { return shrunk(); }; } });
          Object.defineProperty(TA, "buffer", { get() { return shrunk().buffer; }, configurable: true });
        }
        yield { n: i, s: "row " + i };
      }
    }`;
    const written: { format: string; rows: number; data: string | Uint8Array }[] = [];
    let jsonRows = 0;
    let asked = false;
    const io: JsCellIO = {
      readInput: async () => [],
      writeRows: async () => {},
      writeJson: async (json) => { const n = (JSON.parse(json) as unknown[]).length; jsonRows += n; asked = true; return n; },
      copyFormat: () => (asked ? { format: "binary", columns } : null),
      writeCopy: async (format, data, rows) => { written.push({ format, rows, data }); return rows; },
      log: () => {},
    };
    const req = { code: hostile, inputNames: [], params: {}, logicalDate: "2026-03-01", runId: "r", limits: TEST_LIMITS };
    const [result, other] = await Promise.all([
      pool.run(req, io),
      runCell(pool, "export default async function* () { for (let i = 0; i < 3000; i++) { await null; yield { i } } }"),
    ]);
    expect(other.ok && other.count).toBe(3000);
    expect(result.rows).toBe(N);
    // Rows 5,001–10,000 came as JSON or, when the writer's answer reached the runner first, as
    // tuples the runner encoded; the last 5,000 as one batch the isolate encoded, exactly.
    const last = written.at(-1)!;
    expect(jsonRows + written.slice(0, -1).reduce((n, w) => n + w.rows, 0)).toBe(10_000);
    expect([last.format, last.rows]).toEqual(["binary", 5_000]);
    const data = last.data as Uint8Array;
    expect(Buffer.from(data).equals(Buffer.from(toCopyBinary(Array.from({ length: 5_000 }, (_, k) => ({ n: 10_000 + k, s: `row ${10_000 + k}` })), columns)!))).toBe(true);
    await expectHealthy(pool);
  });
});
