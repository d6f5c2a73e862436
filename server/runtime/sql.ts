/** Raw SQL through drizzle on either driver: rows come back as an array. */
import type { SQL } from "drizzle-orm";
import type { PgDialect } from "drizzle-orm/pg-core";
import type { Db } from "@/db/client";
import { errorCode, isConnectionLoss } from "./errors";

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
  unsafe(text: string, params: unknown[], options: { prepare: boolean }): Promise<unknown[]> & { execute(): Promise<unknown[]> };
  /** A connection of the pool for this caller alone, until `release()`. */
  reserve?(): Promise<PostgresJs & { release(): void }>;
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

/** A statement's rows, and its transaction's commit (see `preparedRowsBeforeCommit`). */
export interface BeforeCommit<T> {
  rows: T[];
  /** Settles when the commit is durable (resolves), or failed (rejects: the statement's work may be lost). */
  committed: Promise<void>;
}

/**
 * Like `preparedRowsOf`, but on postgres.js the rows arrive before the commit has reached the
 * disk: BEGIN, the statement and COMMIT are sent together on one reserved connection, so the
 * server runs the statement, sends its rows, then commits and waits for the write-ahead log's
 * flush while the caller goes on. Nothing the statement wrote is visible to other sessions
 * before `committed` resolves; the caller may act on the rows inside its own process at once,
 * and outside it (anything another process could see) only once committed. When the statement
 * fails, its transaction is rolled back (COMMIT of a failed transaction is a rollback) and the
 * error is thrown. (The first time a statement text is used on a connection, postgres.js asks
 * for its parameter types first and holds the COMMIT behind it: the order stays, one round trip
 * more. A statement postgres.js retries after "prepared statement does not exist" runs after
 * the rollback, on its own, committed before its rows arrive: still nothing early.)
 * At most RESERVED_AT_ONCE such calls hold a connection at a time per pool; more, PGlite
 * (which runs with fsync off) and transactions run as `preparedRowsOf`, committed at once.
 */
export async function preparedRowsBeforeCommit<T>(db: Db, query: SQL): Promise<BeforeCommit<T>> {
  const client = postgresJsOf(db);
  const dialect = dialectOf(db);
  const held = client ? (reservedNow.get(client) ?? 0) : 0;
  if (!client?.reserve || !dialect || held >= RESERVED_AT_ONCE) return { rows: await preparedRowsOf<T>(db, query), committed: Promise.resolve() };
  const q = dialect.sqlToQuery(query);
  reservedNow.set(client, held + 1);
  let conn: Awaited<ReturnType<NonNullable<PostgresJs["reserve"]>>>;
  try {
    conn = await client.reserve();
  } catch (error) {
    reservedNow.set(client, (reservedNow.get(client) ?? 1) - 1);
    throw error;
  }
  // Sent in this order, in one burst: no round trip between them. (postgres.js sends a query on
  // its first `then` or `execute()`, so each is started here, in order.)
  const begin = conn.unsafe("begin", [], { prepare: true }).execute();
  const statement = conn.unsafe(q.sql, q.params, { prepare: true }).execute();
  const commit = conn.unsafe("commit", [], { prepare: true }).execute();
  begin.catch(() => {}); // its failure fails the statement too
  let over = false;
  const done = (error?: unknown) => {
    if (over) return;
    over = true;
    reservedNow.set(client, (reservedNow.get(client) ?? 1) - 1);
    // A connection that broke is not handed back: postgres.js has already put it among its
    // closed ones, and releasing it would list it as idle — the next query sent to it would
    // throw inside the driver, outside any caller (porsager/postgres#1199).
    if (error === undefined || !broken(error)) conn.release();
  };
  const committed = commit.then(
    () => done(),
    (error: unknown) => {
      done(error);
      throw error;
    },
  );
  committed.catch(() => {}); // a caller that stops listening (it failed meanwhile) leaves no unhandled rejection
  try {
    const rows = (await statement) as T[];
    return { rows, committed: committed as Promise<void> };
  } catch (error) {
    if (broken(error)) {
      // The connection is gone. A COMMIT still waiting behind the statement (the first use of
      // its text on this connection is described first) is never sent, and never settles.
      done(error);
      throw error;
    }
    await committed.catch(() => {}); // rolled back
    throw error;
  }
}

/** Whether a query's error means its connection is gone (lost, refused, or ended by the server). */
function broken(error: unknown): boolean {
  return isConnectionLoss(error) || (error as { severity?: string } | null)?.severity === "FATAL";
}

/** Connections held by `preparedRowsBeforeCommit` per pool: a reserved connection serves nothing else (the app's pool has 10). */
const RESERVED_AT_ONCE = 4;
const reservedNow = new WeakMap<PostgresJs, number>();

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
