/**
 * The one client factory: embedded PGlite under the data directory when no URL
 * is given, postgres.js when one is. The same drizzle schema and migrations
 * serve both; migrations apply on open.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import * as schema from "./schema";
import { acquireDataDirLock } from "./data-dir-lock";

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface DatabaseHandle {
  db: Db;
  driver: "pglite" | "postgres";
  /** Where it lives: the PGlite directory or the URL without its password. */
  location: string;
  /** Run raw SQL and get rows, whatever the driver. */
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** postgres:// URL; when absent, PGlite in `dataDir`. */
  url?: string;
  /** A PGlite directory; `memory://` for a throwaway in-memory database. */
  dataDir?: string;
  migrate?: boolean;
}

/** The repository root, where `db/migrations` lives (set by the CLI launcher; else the working directory). */
export function appRoot(): string {
  return path.resolve(/* turbopackIgnore: true */ process.env.TRIBUTARY_APP_ROOT ?? process.cwd());
}

export function migrationsFolder(): string {
  return path.join(/* turbopackIgnore: true */ appRoot(), "db", "migrations");
}

/** The data directory from the environment: TRIBUTARY_DATA_DIR, default `.data` under the working directory. */
export function defaultDataDir(): string {
  return path.resolve(/* turbopackIgnore: true */ process.env.TRIBUTARY_DATA_DIR ?? ".data");
}

/** Where files of pipelines in the app live (uploads, the examples' data): TRIBUTARY_FILES_DIR, else <data dir>/files. */
export function filesDirOf(dataDir = defaultDataDir()): string {
  return process.env.TRIBUTARY_FILES_DIR
    ? path.resolve(/* turbopackIgnore: true */ process.env.TRIBUTARY_FILES_DIR)
    : path.join(/* turbopackIgnore: true */ dataDir, "files");
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable database URL)";
  }
}

/**
 * The type parsers drizzle's PGlite driver passes with each of its queries (dates, timestamps
 * and intervals, and arrays of them and of numerics, arrive as text: drizzle maps them), set
 * on the app database's instance too. The runtime's raw statements go to PGlite directly,
 * without per-query parsers (PGlite copies its whole parser table for a query that brings its
 * own: ≈ 0.1 ms of a ≈ 0.25 ms statement), and get the same values as through drizzle
 * (tests/integration/db/client.test.ts).
 */
const DRIZZLE_PGLITE_PARSERS: Record<number, (x: string) => unknown> = Object.fromEntries(
  [1114, 1184, 1186, 1082, 1231, 1115, 1185, 1187, 1182].map((oid) => [oid, (value: string) => value]),
);

/**
 * Open a raw connection (no migrations, no schema): PGlite under `dir` or postgres.js on `url`.
 * Used for the app database and for the warehouse alike.
 */
export async function openConnection(opts: { url?: string; dir?: string }): Promise<Omit<DatabaseHandle, "db"> & { drizzle: () => Db }> {
  if (opts.url) {
    const { default: postgres } = await import("postgres");
    const { drizzle } = await import("drizzle-orm/postgres-js");
    const client = postgres(opts.url, { max: 10, onnotice: () => {}, connect_timeout: 10 });
    try {
      await client`select 1`;
    } catch (error) {
      await client.end({ timeout: 1 });
      throw new Error(`cannot connect to ${redactUrl(opts.url)}: ${(error as Error).message}`);
    }
    return {
      driver: "postgres",
      location: redactUrl(opts.url),
      query: async <T,>(text: string, params: unknown[] = []) =>
        (await client.unsafe(text, params as never[])) as unknown as T[],
      close: () => client.end({ timeout: 5 }),
      drizzle: () => drizzle(client, { schema }) as unknown as Db,
    };
  }
  const dir = opts.dir ?? path.join(defaultDataDir(), "app");
  const { drizzle } = await import("drizzle-orm/pglite");
  const { pg: client, release } = await openLockedPglite(dir, "database");
  // Set once the instance is ready: it registers parsers for array types while opening.
  Object.assign(client.parsers, DRIZZLE_PGLITE_PARSERS);
  return {
    driver: "pglite",
    location: dir,
    query: async <T,>(text: string, params: unknown[] = []) => (await client.query<T>(text, params)).rows,
    close: async () => {
      try {
        await client.close();
      } finally {
        release();
      }
    },
    drizzle: () => drizzle(client, { schema }) as unknown as Db,
  };
}

/** Create a PGlite cluster in `dir` from a child process; false when that failed (the caller creates it). */
async function createClusterInChild(dir: string): Promise<boolean> {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve("@electric-sql/pglite");
  } catch {
    return false;
  }
  const code =
    `const { PGlite } = require(${JSON.stringify(entry)});` +
    `(async () => { const pg = new PGlite(${JSON.stringify(dir)}); await pg.waitReady; await pg.close(); })()` +
    `.catch((e) => { console.error(String(e && e.message || e)); process.exit(1); });`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "ignore", "ignore"] });
    child.on("error", () => resolve(false));
    child.on("exit", (status) => resolve(status === 0 && fs.existsSync(path.join(dir, "PG_VERSION"))));
  });
}

/**
 * Open PGlite in `dir` (or in memory for `memory://…`) for this process only:
 * the folder is created, the lock beside it taken (a second process is refused
 * naming the holder), and released again if opening fails.
 */
export async function openLockedPglite(dir: string, what: string, options: { parsers?: Record<number, (x: string) => unknown> } = {}) {
  const { PGlite } = await import("@electric-sql/pglite");
  const inMemory = dir.startsWith("memory://");
  // Checked before anything is created or locked.
  const defaults = (PGlite as unknown as { defaultStartParams?: string[] }).defaultStartParams;
  const buffers = process.env.TRIBUTARY_PGLITE_SHARED_BUFFERS || "16MB";
  const size = /^(\d+)(kB|MB|GB)$/.exec(buffers);
  const kb = size ? Number(size[1]) * { kB: 1, MB: 1024, GB: 1024 * 1024 }[size[2] as "kB" | "MB" | "GB"] : 0;
  if (!size || kb < 128 || kb > 16 * 1024 * 1024) {
    throw new Error(`TRIBUTARY_PGLITE_SHARED_BUFFERS must be a size from 128kB to 16GB such as 16MB (kB, MB or GB), not '${buffers}'`);
  }
  let release = () => {};
  if (!inMemory) {
    fs.mkdirSync(dir, { recursive: true });
    release = acquireDataDirLock(dir);
  }
  try {
    // Creating the cluster (initdb) grows an instance's WebAssembly memory by about 400 MB that it
    // never gives back (a database opened after it was created takes a third of that). So a new
    // cluster is created by a short-lived child process; if that is not possible, here, and then
    // reopened (the first instance's memory goes back when it is collected).
    const fresh = !inMemory && !fs.existsSync(path.join(dir, "PG_VERSION"));
    const created = fresh && (await createClusterInChild(dir));
    // relaxedDurability: PGlite then does not wait, after each query, for its file system's sync —
    // which for Node's file system is a no-op (writes go straight to the files), so waiting only
    // cost a lock and a turn of the event loop per query (a third of a small CREATE TABLE).
    // shared_buffers: Postgres's default of 128 MB sits in the instance's WebAssembly memory, which
    // never shrinks. On disk the operating system's page cache already keeps the files, so a small
    // buffer pool is as fast here (1M rows created and aggregated: the same time at 16 MB) and
    // each instance peaks ≈ 150 MB lower (TRIBUTARY_PGLITE_SHARED_BUFFERS changes it).
    // wal_level=minimal: nothing reads this write-ahead log but the instance's own recovery (no
    // replica, no archive), so a table created and filled in one transaction — every output
    // table — is not written to it row by row: at commit its pages go to the file instead
    // (PGlite runs with fsync off, so to the operating system, as every other write), and a
    // small one is logged whole. A 857k-row SQL step took 20–30 % less (700/564 against 881/823 ms).
    const startParams = defaults
      ? { startParams: [...defaults, "-c", `shared_buffers=${buffers}`, "-c", "wal_level=minimal", "-c", "max_wal_senders=0"] }
      : {};
    const opts = { ...options, relaxedDurability: true, ...startParams };
    // In memory: the options alone (`new PGlite(undefined, opts)` ignores them).
    let pg = inMemory ? new PGlite(opts) : new PGlite(dir, opts);
    await pg.waitReady;
    if (fresh && !created) {
      await pg.close();
      pg = new PGlite(dir, opts);
      await pg.waitReady;
    }
    return { pg, release };
  } catch (error) {
    release();
    throw new Error(`cannot open the embedded ${what} in ${dir}: ${(error as Error).message}`);
  }
}

/** Open the app database and bring its schema up to date. */
export async function openDatabase(opts: OpenOptions = {}): Promise<DatabaseHandle> {
  const conn = await openConnection({ url: opts.url, dir: opts.dataDir });
  const db = conn.drizzle();
  if (opts.migrate !== false) {
    try {
      await migrateDatabase(db, conn.driver);
    } catch (error) {
      await conn.close();
      throw new Error(`migrating the database at ${conn.location} failed: ${(error as Error).message}`);
    }
  }
  return { db, driver: conn.driver, location: conn.location, query: conn.query, close: conn.close };
}

export async function migrateDatabase(db: Db, driver: DatabaseHandle["driver"]): Promise<void> {
  const config = { migrationsFolder: migrationsFolder() };
  if (driver === "pglite") {
    const { migrate } = await import("drizzle-orm/pglite/migrator");
    await migrate(db as never, config);
  } else {
    const { migrate } = await import("drizzle-orm/postgres-js/migrator");
    await migrate(db as never, config);
  }
}

/** The app database as configured by the environment: DATABASE_URL, else PGlite in TRIBUTARY_DATA_DIR/app. */
export function openDatabaseFromEnv(dataDir = defaultDataDir()): Promise<DatabaseHandle> {
  return openDatabase({ url: process.env.DATABASE_URL || undefined, dataDir: path.join(dataDir, "app") });
}
