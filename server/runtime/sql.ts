/** Raw SQL through drizzle on either driver: rows come back as an array. */
import type { SQL } from "drizzle-orm";
import type { PgDialect } from "drizzle-orm/pg-core";
import type { Db } from "@/db/client";
import { errorCode } from "./errors";

export async function rowsOf<T>(db: Db, query: SQL): Promise<T[]> {
  const lite = pgliteOf(db);
  const dialect = dialectOf(db);
  if (lite && dialect) {
    // Straight to PGlite: drizzle would pass its type parsers with the query, which PGlite then
    // merges into a copy of its own for every query (≈ 0.1 ms); the app database's instance has
    // the same parsers set once (db/client.ts), so the values are the same.
    const q = dialect.sqlToQuery(query);
    return (await lite.query<T>(q.sql, q.params)).rows;
  }
  const result = (await db.execute(query)) as unknown;
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/** The SQL dialect of a drizzle database, which turns a query into text and values. */
function dialectOf(db: Db): PgDialect | undefined {
  return (db as unknown as { dialect?: PgDialect }).dialect;
}

interface Pglite {
  query<T>(text: string, params: unknown[]): Promise<{ rows: T[] }>;
  transaction(fn: unknown): Promise<unknown>;
}

/** The PGlite instance behind a drizzle database (not a transaction, which must use its own client), if that is its driver. */
function pgliteOf(db: Db): Pglite | undefined {
  const client = (db as { $client?: unknown }).$client as Partial<Pglite & PostgresJs> | undefined;
  return client && typeof client.query === "function" && typeof client.transaction === "function" && typeof client.unsafe !== "function"
    ? (client as Pglite)
    : undefined;
}

/** The postgres.js client behind a drizzle database (not a transaction), if that is its driver. */
function postgresJsOf(db: Db): PostgresJs | undefined {
  const client = (db as { $client?: unknown }).$client as Partial<PostgresJs & { begin: unknown }> | undefined;
  return client && typeof client.unsafe === "function" && typeof client.begin === "function" ? (client as PostgresJs) : undefined;
}

/**
 * Whether the app database is embedded PGlite: one connection in one process, so its
 * transactions run one after another and never see each other in flight.
 */
export function isEmbedded(db: Db): boolean {
  const client = (db as { $client?: unknown }).$client;
  return client !== undefined && postgresJsOf(db) === undefined;
}

interface PostgresJs {
  unsafe(text: string, params: unknown[], options: { prepare: boolean }): Promise<unknown[]>;
}

/**
 * Like `rowsOf`, but on postgres.js as a prepared statement: a statement whose text does not
 * change (the runtime's function calls) is parsed once per connection, and sent with its values
 * in one round trip — unprepared, postgres.js first asks the server for the parameters' types,
 * a round trip more per call. Anything else (PGlite, a transaction) runs as `rowsOf` does.
 */
export async function preparedRowsOf<T>(db: Db, query: SQL): Promise<T[]> {
  const client = postgresJsOf(db);
  const dialect = dialectOf(db);
  if (!client || !dialect) return rowsOf<T>(db, query);
  const q = dialect.sqlToQuery(query);
  return (await client.unsafe(q.sql, q.params, { prepare: true })) as T[];
}

/** Deadlocks and serialization failures are the database asking to try again: do, a few times. */
export async function withDbRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const code = errorCode(error);
      if (attempt >= 5 || (code !== "40P01" && code !== "40001")) throw error;
      await new Promise((r) => setTimeout(r, 10 * attempt + Math.random() * 20));
    }
  }
}
