/**
 * `npm run bench`: measures, prints one JSON document. Each entry compares our
 * path with the direct baseline in the same run; targets are reported, never
 * asserted in tests.
 *
 *   npm run bench                      # PGlite, plus Postgres when BENCH_DATABASE_URL or TEST_DATABASE_URL is set
 *   npm run bench -- --only validate   # one group: validate, save, chain, parallel, rows, workers, ui
 *   npm run bench -- --only rows --rows 100000
 *   npm run bench -- --only chain --target postgres   # one runtime target: pglite or postgres
 */
import { spawnSync } from "node:child_process";
import postgres from "postgres";
import { openDatabase, type DatabaseHandle } from "@/db/client";
import { createPipeline, getPipeline, savePipeline } from "@/db/pipeline-store";
import { parsePipeline, serializePipeline, type PipelineFile } from "@/server/pipeline";
import { loadSqlAnalyzer, type SqlAnalyzer } from "@/server/pipeline/sql-references";
import { generatePipeline } from "@/tests/fixtures/pipelines";
import { trpcRequest } from "@/tests/fixtures/trpc";
import { benchChain, benchParallel, benchRows, benchWorkers, type Target } from "./runtime";

interface Stats {
  runs: number;
  medianMs: number;
  minMs: number;
  p90Ms: number;
}

async function measure(runs: number, fn: () => unknown | Promise<unknown>, warmup = 2): Promise<Stats> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  return { runs, medianMs: round(times[Math.floor(runs / 2)]!), minMs: round(times[0]!), p90Ms: round(times[Math.floor(runs * 0.9)]!) };
}

/** validate + canonicalize a generated 5,000-node pipeline, against JSON.parse + JSON.stringify of the same text. */
async function benchValidate(sql: SqlAnalyzer) {
  const doc = generatePipeline(5000);
  const text = JSON.stringify(doc);
  const ours = await measure(15, () => serializePipeline(parsePipeline(JSON.parse(text) as unknown).pipeline!));
  const withSql = await measure(7, () => serializePipeline(parsePipeline(JSON.parse(text) as unknown, { sql }).pipeline!));
  const baseline = await measure(15, () => JSON.stringify(JSON.parse(text) as unknown, null, 2));
  return {
    name: "validate_canonicalize_5000_nodes",
    nodes: doc.nodes.length,
    edges: doc.edges.length,
    bytes: text.length,
    targetMs: 200,
    validateCanonicalize: ours,
    validateCanonicalizeWithSqlAnalysis: withSql,
    baselineJsonParseStringify: baseline,
    meetsTarget: ours.medianMs < 200,
    overBaseline: Math.round((ours.medianMs / baseline.medianMs) * 10) / 10,
  };
}

/** Save + load of the 5,000-node pipeline through tRPC's HTTP handler, against the store called directly. */
async function benchSaveLoad(driver: string, handle: DatabaseHandle, sql: SqlAnalyzer) {
  const doc = generatePipeline(5000);
  const ctx = { db: handle.db, sql };
  const call = async (path: string, input: unknown, method: "GET" | "POST") => {
    const res = await trpcRequest(ctx, path, input, method);
    const body = (await res.json()) as { result?: { data: unknown }; error?: { message: string } };
    if (body.error) throw new Error(`${path}: ${body.error.message}`);
    return body.result!.data;
  };
  const trpcDoc = { ...doc, name: `bench_${driver}` };
  const directDoc = { ...doc, name: `bench_direct_${driver}` };
  const created = (await call("pipelines.create", { name: trpcDoc.name }, "POST")) as { id: string };
  let version = 1;
  const trpcSave = await measure(7, async () => {
    const saved = (await call("pipelines.update", { id: created.id, baseVersion: version, document: trpcDoc }, "POST")) as { version: number };
    version = saved.version;
  });
  const trpcLoad = await measure(7, () => call("pipelines.byId", { id: created.id }, "GET"));

  const direct = await createPipeline(handle.db, directDoc satisfies PipelineFile);
  let directVersion = 1;
  const directSave = await measure(7, async () => {
    directVersion = (await savePipeline(handle.db, { id: direct.id, baseVersion: directVersion, document: directDoc }, { problems: [] })).version;
  });
  const directLoad = await measure(7, () => getPipeline(handle.db, { id: direct.id }));
  return {
    name: `save_load_5000_nodes_trpc_${driver}`,
    trpcSave,
    trpcLoad,
    baselineStoreWriteOnly: directSave,
    baselineStoreReadOnly: directLoad,
    note: "tRPC save = input schema parse + validate() with SQL analysis + write; tRPC load = read + validate() with SQL analysis (problems are always fresh); baselines call the store directly without validation",
  };
}

async function openBenchPostgres(url: string) {
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  const name = `tributary_bench_${process.pid}`;
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const u = new URL(url);
  u.pathname = `/${name}`;
  const handle = await openDatabase({ url: u.toString() });
  return {
    handle,
    drop: async () => {
      await handle.close();
      const again = postgres(url, { max: 1, onnotice: () => {} });
      await again.unsafe(`drop database if exists ${name} with (force)`);
      await again.end();
    },
  };
}

/**
 * The editor's numbers, measured in headless Chromium by Playwright specs that log
 * one JSON line each ({"bench": …}): canvas ready / drag fps / key-to-paint with
 * 1,000 nodes, and the first page of a 100,000-row preview.
 */
function browserBench(): unknown[] {
  const res = spawnSync(process.execPath, ["node_modules/@playwright/test/cli.js", "test", "tests/e2e/editor-perf.spec.ts", "tests/e2e/runs.spec.ts", "-g", "perf|preview", "--reporter=line"], {
    encoding: "utf8",
    env: { ...process.env },
    maxBuffer: 64 * 1024 * 1024,
  });
  const lines = `${res.stdout}\n${res.stderr}`.split("\n").map((l) => l.trim()).filter((l) => l.startsWith('{"bench"'));
  const found = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  if (found.length === 0) return [{ name: "browser", error: `no measurements (playwright exit ${res.status}): ${res.stderr.slice(-500)}` }];
  return found.map((f) => ({
    name: `ui_${String(f.bench)}`,
    ...f,
    targets: f.bench === "editor" ? { interactiveMs: 1500, dragFps: 50, keyToPaintMs: 50 } : { firstPageMs: "no target; shown for reference" },
  }));
}

/** benchRows for one target in a child process (this script with --only rows --target): its result. */
function rowsInChild(driver: Target["driver"], rows: number): unknown {
  const res = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, "--only", "rows", "--target", driver, "--rows", String(rows)], {
    encoding: "utf8",
    env: process.env,
    maxBuffer: 64 * 1024 * 1024,
  });
  try {
    const report = JSON.parse(res.stdout) as { results: unknown[] };
    return report.results[0] ?? { name: `rows_${rows}_${driver}`, error: "no result" };
  } catch {
    return { name: `rows_${rows}_${driver}`, error: `bench child failed (exit ${res.status}): ${res.stderr.slice(-500)}` };
  }
}

function arg(name: string): string | undefined {
  return process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined;
}

async function main() {
  const only = arg("--only");
  const sql = await loadSqlAnalyzer();
  const results: unknown[] = [];
  const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!only || only === "validate") results.push(await benchValidate(sql));
  if (!only || only === "save") {
    const pglite = await openDatabase({ dataDir: "memory://" });
    try {
      results.push(await benchSaveLoad("pglite", pglite, sql));
    } finally {
      await pglite.close();
    }
    if (pgUrl) {
      const pg = await openBenchPostgres(pgUrl);
      try {
        results.push(await benchSaveLoad("postgres", pg.handle, sql));
      } finally {
        await pg.drop();
      }
    } else {
      results.push({ name: "save_load_5000_nodes_trpc_postgres", skipped: "set BENCH_DATABASE_URL or TEST_DATABASE_URL to measure on Postgres" });
    }
  }
  const runtimeTargets: Target[] = [{ driver: "pglite" as const }, ...(pgUrl ? [{ driver: "postgres" as const, serverUrl: pgUrl }] : [])].filter(
    (t) => !arg("--target") || t.driver === arg("--target"),
  );
  const rowsCount = Number(arg("--rows") ?? 1_000_000);
  for (const target of runtimeTargets) {
    if (!only || only === "chain") {
      results.push(await benchChain(target, sql, "js", 500));
      results.push(await benchChain(target, sql, "sql", 500));
    }
    if (!only || only === "parallel") results.push(await benchParallel(target, sql, 40));
    if (!only || only === "rows") {
      // In a process of its own: its peak memory is then this target's alone, not what the
      // benches before it (or the other target's embedded databases) left in this process.
      if (arg("--target")) {
        if (arg("--target") === target.driver) results.push(await benchRows(target, sql, rowsCount));
      } else results.push(rowsInChild(target.driver, rowsCount));
    }
    if (!only || only === "workers") results.push(await benchWorkers(target, sql, Number(arg("--tasks") ?? 5000)));
  }
  if (!only || only === "ui") results.push(...browserBench());
  const report = {
    at: new Date().toISOString(),
    node: process.version,
    cpus: (await import("node:os")).cpus().length,
    results,
  };
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
