/**
 * The warehouse connection: where node outputs live. Embedded PGlite in its own
 * directory, or Postgres through postgres.js. Besides queries it offers what the
 * runtime needs: a transaction on one connection, bulk loading with COPY, and
 * cancelling a running statement.
 */
import path from "node:path";
import { defaultDataDir, openLockedPglite, redactUrl } from "./client";

export type Row = Record<string, unknown>;

export interface Querier {
  query<T = Row>(text: string, params?: unknown[]): Promise<T[]>;
}

export interface Warehouse extends Querier {
  driver: "pglite" | "postgres";
  location: string;
  /** Run `fn` in one transaction on one connection; it rolls back if `fn` throws. */
  transaction<T>(fn: (tx: Querier) => Promise<T>): Promise<T>;
  /**
   * Run one statement that `signal` can cancel (Postgres: a cancel request to the
   * server; PGlite runs statements to the end — see docs/runtime.md).
   */
  cancellable<T = Row>(text: string, params: unknown[], signal: AbortSignal | undefined, setup?: string[]): Promise<T[]>;
  /** COPY rows (CSV text with a header-less column order) into `table`. */
  copyCsv(table: string, columns: string[], csv: string): Promise<void>;
  close(): Promise<void>;
}

/** Identifiers are quoted, never spliced raw: `"run_ab12"."t_34"`. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function openPglite(dir: string): Promise<Warehouse> {
  const { pg, release } = await openLockedPglite(dir, "warehouse", { parsers: { 20: Number } });
  const query = async <T,>(text: string, params: unknown[] = []) => (await pg.query<T>(text, params)).rows;
  return {
    driver: "pglite",
    location: dir,
    query,
    transaction: (fn) => pg.transaction((tx) => fn({ query: async <T,>(t: string, p: unknown[] = []) => (await tx.query<T>(t, p)).rows })),
    cancellable: async <T,>(text: string, params: unknown[], signal: AbortSignal | undefined, setup: string[] = []) => {
      signal?.throwIfAborted();
      if (setup.length === 0) return query<T>(text, params);
      return pg.transaction(async (tx) => {
        for (const s of setup) await tx.query(s);
        return (await tx.query<T>(text, params)).rows;
      });
    },
    copyCsv: async (table, columns, csv) => {
      await pg.query(`copy ${table} (${columns.map(ident).join(", ")}) from '/dev/blob' with (format csv)`, [], { blob: new Blob([csv]) });
    },
    close: async () => {
      try {
        await pg.close();
      } finally {
        release();
      }
    },
  };
}

async function openPostgres(url: string): Promise<Warehouse> {
  const { default: postgres } = await import("postgres");
  const asNumber = { to: 0, from: [20, 1700], serialize: (x: unknown) => String(x), parse: (x: string) => Number(x) };
  const sql = postgres(url, { max: 10, onnotice: () => {}, connect_timeout: 10, types: { numberish: asNumber } as never });
  try {
    await sql`select 1`;
  } catch (error) {
    await sql.end({ timeout: 1 });
    throw new Error(`cannot connect to the warehouse at ${redactUrl(url)}: ${(error as Error).message}`);
  }
  const run = <T,>(q: { unsafe: (t: string, p?: never[]) => unknown }, text: string, params: unknown[] = []) =>
    q.unsafe(text, params as never[]) as unknown as Promise<T[]>;
  return {
    driver: "postgres",
    location: redactUrl(url),
    query: (text, params) => run(sql, text, params),
    transaction: <T,>(fn: (tx: Querier) => Promise<T>) =>
      sql.begin((tx) => fn({ query: (t, p) => run(tx as never, t, p) })) as Promise<T>,
    cancellable: async <T,>(text: string, params: unknown[], signal: AbortSignal | undefined, setup: string[] = []) => {
      signal?.throwIfAborted();
      return (await sql.begin(async (tx) => {
        for (const s of setup) await tx.unsafe(s);
        const pending = tx.unsafe(text, params as never[]);
        const onAbort = () => void pending.cancel();
        signal?.addEventListener("abort", onAbort, { once: true });
        try {
          return await pending;
        } finally {
          signal?.removeEventListener("abort", onAbort);
        }
      })) as unknown as T[];
    },
    copyCsv: async (table, columns, csv) => {
      const writable = await sql.unsafe(`copy ${table} (${columns.map(ident).join(", ")}) from stdin with (format csv)`).writable();
      await new Promise<void>((resolve, reject) => {
        writable.on("error", reject);
        writable.on("finish", () => resolve());
        writable.end(csv);
      });
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

export function openWarehouse(opts: { url?: string; dir?: string }): Promise<Warehouse> {
  return opts.url ? openPostgres(opts.url) : openPglite(opts.dir ?? path.join(defaultDataDir(), "warehouse"));
}

/** The warehouse configured by the environment: WAREHOUSE_URL, else PGlite in <data dir>/warehouse. */
export function openWarehouseFromEnv(dataDir = defaultDataDir()): Promise<Warehouse> {
  return openWarehouse({ url: process.env.WAREHOUSE_URL || undefined, dir: path.join(dataDir, "warehouse") });
}
