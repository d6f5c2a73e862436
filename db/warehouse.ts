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
  /**
   * Run one statement alone (its own transaction) with `timeoutMs` as its statement_timeout,
   * cancelled when `signal` aborts: what a cell's SQL runs as. Postgres: on a connection whose
   * statement_timeout is set when it connects (a pool per timeout) — one round trip per
   * statement, no BEGIN/COMMIT, no SET. PGlite: the statement as is (it cannot stop a
   * running statement; the runtime's timer fails the task when it ends — see docs/runtime.md).
   */
  timed<T = Row>(text: string, params: unknown[], opts: { timeoutMs: number; signal?: AbortSignal }): Promise<T[]>;
  /** COPY rows (CSV text with a header-less column order) into `table`. */
  copyCsv(table: string, columns: string[], csv: string): Promise<void>;
  /**
   * Start one COPY of CSV chunks into `table` (Postgres: one streamed COPY, one transaction, on a
   * connection of the COPY pool; PGlite: chunks gathered into COPYs of about 8 MB). `write` resolves when the chunk may be reused (backpressure); `end`
   * resolves when every row is in. `abort` gives up (nothing of this copy may stay).
   */
  copyCsvStream(table: string, columns: string[]): CsvCopy;
  /**
   * PGlite only: one COPY of rows in PostgreSQL's binary format (`parts`: tuples, without the
   * header and trailer, which are added here).
   */
  copyBinary?(table: string, columns: string[], parts: Uint8Array[]): Promise<void>;
  /**
   * Postgres only: one streamed COPY of rows in PostgreSQL's binary format, as `copyCsvStream`
   * (chunks: tuples, without the header and trailer, which are added here).
   */
  copyBinaryStream?(table: string, columns: string[]): CopyStream<Uint8Array>;
  /**
   * The rows of a SELECT in PostgreSQL's binary COPY format: the tuples, without the header and
   * trailer (`COPY (select) TO` — cheaper for the database than rendering the rows as JSON).
   */
  copyOutBinary?(select: string): Promise<Uint8Array>;
  /**
   * Insert a JSON array of objects (text, parsed by the database) into `table`, keys matched to
   * its columns by name (`json_populate_recordset`, so `json`, not `jsonb`: nested values keep
   * their text). Returns the number of rows inserted.
   */
  insertJson(table: string, json: string): Promise<number>;
  close(): Promise<void>;
}

export interface CopyStream<T> {
  write(chunk: T): Promise<void>;
  end(): Promise<void>;
  abort(): void;
}

export type CsvCopy = CopyStream<string>;

/**
 * At most this many COPY streams at once on Postgres, on connections of their own (a task holds
 * at most one; as many as a worker runs tasks by default). A stream stays open while its JS cell
 * runs, and the cell also reads its inputs: on the pool the reads use, postgres.js sent queries to
 * connections in the middle of a COPY once all were busy ("You cannot execute queries during
 * copy"). More streams wait for a connection (their cells wait on the write) while the others go on.
 */
const COPY_CONNECTIONS = 8;
/** At most this many `timed` statements (cells) with one timeout run at once on Postgres; more wait for a connection. */
const TIMED_CONNECTIONS = 16;
/** Seconds a `timed` connection stays open unused. */
const TIMED_IDLE_SECONDS = 30;
/** Distinct statement timeouts with a pool of their own at once (the least recently used is ended). */
const TIMED_POOLS = 8;

/** The binary COPY stream's header (signature, flags 0, no extension) and trailer (field count -1). */
const COPY_BINARY_HEADER = new Uint8Array([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
const COPY_BINARY_TRAILER = new Uint8Array([0xff, 0xff]);

/** The tuples of a whole binary COPY stream: after the header (and its extension area), before the trailer. */
function copyTuples(data: Uint8Array): Uint8Array {
  const signature = COPY_BINARY_HEADER.subarray(0, 11);
  if (data.length < 21 || signature.some((b, i) => data[i] !== b)) throw new Error("binary COPY data without its header");
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const start = 19 + view.getInt32(15);
  const end = data.length - 2;
  if (start > end || view.getInt16(end) !== -1) throw new Error("binary COPY data without its trailer");
  return data.subarray(start, end);
}

/** PGlite has no streaming COPY: chunks are gathered and loaded this many characters at a time. */
const PGLITE_COPY_CHARS = 8 * 1024 * 1024;

function insertJsonSql(table: string): string {
  return `insert into ${table} select * from json_populate_recordset(null::${table}, $1::text::json)`;
}

/** Identifiers are quoted, never spliced raw: `"run_ab12"."t_34"`. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function openPglite(dir: string): Promise<Warehouse> {
  const { pg, release } = await openLockedPglite(dir, "warehouse", { parsers: { 20: Number } });
  // As on Postgres (openPostgres): scans of a large table start at its first page.
  await pg.query(`set synchronize_seqscans = off`);
  const query = async <T,>(text: string, params: unknown[] = []) => (await pg.query<T>(text, params)).rows;
  /** PGlite has no streaming COPY: chunks gathered and loaded as COPYs of about PGLITE_COPY_CHARS. */
  const copyCsvStream = (table: string, columns: string[]): CsvCopy => {
    const statement = `copy ${table} (${columns.map(ident).join(", ")}) from '/dev/blob' with (format csv)`;
    let parts: string[] = [];
    let size = 0;
    let aborted = false;
    const load = async () => {
      if (aborted) throw new Error("copy aborted");
      if (size === 0) return;
      const blob = new Blob(parts);
      parts = [];
      size = 0;
      await pg.query(statement, [], { blob });
    };
    return {
      write: async (chunk) => {
        parts.push(chunk);
        size += chunk.length;
        if (size >= PGLITE_COPY_CHARS) await load();
      },
      end: load,
      abort: () => {
        aborted = true;
        parts = [];
      },
    };
  };
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
    timed: async <T,>(text: string, params: unknown[], opts: { signal?: AbortSignal }) => {
      opts.signal?.throwIfAborted();
      return query<T>(text, params);
    },
    copyCsv: async (table, columns, csv) => {
      // One chunk: a single COPY, loaded by `end` (or by `write` when it is past PGLITE_COPY_CHARS).
      const copy = copyCsvStream(table, columns);
      await copy.write(csv);
      await copy.end();
    },
    copyCsvStream,
    copyBinary: async (table, columns, parts) => {
      const blob = new Blob([COPY_BINARY_HEADER, ...(parts as BlobPart[]), COPY_BINARY_TRAILER]);
      await pg.query(`copy ${table} (${columns.map(ident).join(", ")}) from '/dev/blob' with (format binary)`, [], { blob });
    },
    copyOutBinary: async (select) => {
      const { blob } = await pg.query(`copy (${select}) to '/dev/blob' with (format binary)`);
      if (!blob) throw new Error("COPY TO returned no data");
      return copyTuples(new Uint8Array(await blob.arrayBuffer()));
    },
    insertJson: async (table, json) => (await pg.query(insertJsonSql(table), [json])).affectedRows ?? 0,
    close: async () => {
      try {
        await pg.close();
      } finally {
        release();
      }
    },
  };
}

/** Whether two postgres:// URLs name the same server (host, port and socket directory); false when unsure. */
export function sameServer(a: string, b: string): boolean {
  try {
    const key = (u: URL) => `${u.hostname.toLowerCase()}:${u.port || "5432"}:${u.searchParams.get("host") ?? ""}`;
    return key(new URL(a)) === key(new URL(b));
  } catch {
    return false;
  }
}

async function openPostgres(url: string, appUrl?: string): Promise<Warehouse> {
  const { default: postgres } = await import("postgres");
  const asNumber = { to: 0, from: [20, 1700], serialize: (x: unknown) => String(x), parse: (x: string) => Number(x) };
  // On the app database's own server, warehouse commits need not wait for the disk: every
  // warehouse write a run depends on is followed by that task's completion, committed with
  // synchronous_commit on in the same write-ahead log, whose flush makes the earlier commit
  // durable too (a crash before it loses both, and the task runs again). Another server gets
  // no such guarantee, so it keeps synchronous commits.
  const relaxed = appUrl !== undefined && sameServer(url, appUrl);
  const options = {
    onnotice: () => {},
    connect_timeout: 10,
    types: { numberish: asNumber } as never,
    ...(relaxed ? { connection: { synchronous_commit: "off" } } : {}),
  };
  // Synchronized scans off: a scan of a large table would start where the previous scan of it
  // stopped, so "the first rows" (LIMIT) and a preview's page at an OFFSET would be other rows each time.
  const sql = postgres(url, { ...options, connection: { ...options.connection, synchronize_seqscans: "off" }, max: 10 });
  /**
   * COPY streams only (see COPY_CONNECTIONS; `begin` would not work here); connections opened on
   * demand, closed when idle. No pipelining (`max_pipeline: 0`): postgres.js otherwise sends a
   * query to a busy connection when all are busy, and one in the middle of a COPY fails it; so a
   * stream beyond COPY_CONNECTIONS waits for a connection of its own. No statement timeout (a
   * stream lasts as long as its cell, which has its own), no type fetching (COPY needs none).
   */
  const noPipelining = { max_pipeline: 0 } as object; // a postgres.js option its types do not list
  const copySql = postgres(url, {
    ...options,
    ...noPipelining,
    connection: { ...options.connection, statement_timeout: 0 },
    fetch_types: false,
    max: COPY_CONNECTIONS,
    idle_timeout: TIMED_IDLE_SECONDS,
  });
  try {
    await sql`select 1`;
  } catch (error) {
    await sql.end({ timeout: 1 });
    throw new Error(`cannot connect to the warehouse at ${redactUrl(url)}: ${(error as Error).message}`);
  }
  /**
   * A COPY … FROM STDIN on postgres.js. Its writable never finishes when the server rejects
   * the data after the last chunk was sent (the error arrives once the stream is closed and
   * only reaches the query's `reject`, whose promise is already resolved), so `reject` is
   * wrapped to hear about it.
   */
  const openCopy = async (table: string, columns: string[], format: "csv" | "binary") => {
    const query = copySql.unsafe(`copy ${table} (${columns.map(ident).join(", ")}) from stdin with (format ${format})`) as unknown as {
      reject: (error: unknown) => void;
      writable: () => Promise<import("node:stream").Writable>;
    };
    let fail!: (error: Error) => void;
    const failed = new Promise<never>((_, reject) => (fail = reject));
    failed.catch(() => {});
    const reject = query.reject;
    query.reject = (error: unknown) => {
      fail(error instanceof Error ? error : new Error(String(error)));
      reject(error);
    };
    const w = await Promise.race([query.writable(), failed]);
    w.on("error", (error) => fail(error));
    return {
      write: (chunk: string | Uint8Array) =>
        Promise.race([failed, new Promise<void>((resolve, reject) => w.write(chunk, (error) => (error ? reject(error) : resolve())))]),
      end: () =>
        Promise.race([
          failed,
          new Promise<void>((resolve) => {
            w.once("finish", () => resolve());
            w.end();
          }),
        ]),
      abort: () => w.destroy(new Error("copy aborted")),
    };
  };
  /** `pending`, cancelled on the server (a cancel request) when `signal` aborts. */
  const cancelOnAbort = async <T,>(pending: Promise<T> & { cancel(): unknown }, signal: AbortSignal | undefined): Promise<T> => {
    const onAbort = () => void pending.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await pending;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  };
  /**
   * Connections for `timed` statements: one small pool per statement_timeout, that timeout a
   * startup parameter of its connections — so a connection Postgres closed (a restart) comes
   * back with it, and no other statement of the runtime ever runs under a cell's timeout.
   * Pools close their connections after TIMED_IDLE_SECONDS unused; past TIMED_POOLS distinct
   * timeouts the least recently used pool is ended.
   */
  const timedPools = new Map<number, ReturnType<typeof postgres>>();
  let closed = false;
  const timedPool = (ms: number) => {
    if (closed) throw new Error("the warehouse is closed");
    let pool = timedPools.get(ms);
    if (pool) {
      timedPools.delete(ms); // most recently used last
    } else {
      pool = postgres(url, {
        ...options,
        max: TIMED_CONNECTIONS,
        idle_timeout: TIMED_IDLE_SECONDS,
        connection: { ...options.connection, statement_timeout: ms },
      });
    }
    timedPools.set(ms, pool);
    if (timedPools.size > TIMED_POOLS) {
      const [oldest, stale] = timedPools.entries().next().value!;
      timedPools.delete(oldest);
      void stale.end({ timeout: 60 }).catch(() => {});
    }
    return pool;
  };
  const timed = async <T,>(text: string, params: unknown[], opts: { timeoutMs: number; signal?: AbortSignal }): Promise<T[]> => {
    opts.signal?.throwIfAborted();
    const pool = timedPool(Math.max(1, Math.round(opts.timeoutMs)));
    // Prepared (the runtime's cell call has one text): otherwise postgres.js first asks for the parameter types, a round trip more.
    return (await cancelOnAbort(pool.unsafe(text, params as never[], { prepare: params.length > 0 }), opts.signal)) as unknown as T[];
  };
  /** One COPY for the whole stream: opened on the first write, fed chunk by chunk (binary: between its header and trailer). */
  function copyStream<T extends string | Uint8Array>(table: string, columns: string[], format: "csv" | "binary"): CopyStream<T> {
    let opened: Promise<Awaited<ReturnType<typeof openCopy>>> | null = null;
    let aborted = false;
    const open = () => {
      if (aborted) return Promise.reject(new Error("copy aborted"));
      opened ??= openCopy(table, columns, format).then(async (copy) => {
        if (format === "binary") await copy.write(COPY_BINARY_HEADER);
        return copy;
      });
      opened.catch(() => {});
      return opened;
    };
    return {
      write: async (chunk) => (await open()).write(chunk),
      end: async () => {
        if (!opened) return;
        const copy = await opened;
        if (format === "binary") await copy.write(COPY_BINARY_TRAILER);
        await copy.end();
      },
      abort: () => {
        aborted = true;
        void opened?.then((c) => c.abort(), () => {});
      },
    };
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
      if (setup.length === 0) {
        const pending = sql.unsafe(text, params as never[]);
        return (await cancelOnAbort(pending, signal)) as unknown as T[];
      }
      // BEGIN, the setup and the statement sent at once on one connection (pipelined: one round
      // trip, not three), then COMMIT once the statement is done — not pipelined with it: a
      // statement with parameters waits for their types to be described, and a COMMIT sent
      // meanwhile would run first, leaving the statement outside the transaction and its settings.
      // After a failure the rest still run, in an aborted transaction; the first error is reported.
      const conn = await sql.reserve();
      try {
        const steps = Promise.allSettled([conn.unsafe("begin"), ...setup.map((s) => conn.unsafe(s))]);
        // With parameters, prepared (the runtime's cell call has one text; a statement is kept per
        // connection): otherwise postgres.js first asks for their types, a round trip more.
        const main = await Promise.allSettled([cancelOnAbort(conn.unsafe(text, params as never[], { prepare: params.length > 0 }), signal)]);
        const failed = [...(await steps), ...main].find((r) => r.status === "rejected");
        await conn.unsafe(failed ? "rollback" : "commit");
        if (failed) throw failed.reason;
        return (main[0] as PromiseFulfilledResult<unknown>).value as T[];
      } finally {
        conn.release();
      }
    },
    timed,
    copyCsv: async (table, columns, csv) => {
      const copy = await openCopy(table, columns, "csv");
      await copy.write(csv);
      await copy.end();
    },
    copyCsvStream: (table, columns) => copyStream(table, columns, "csv"),
    copyBinaryStream: (table, columns) => copyStream(table, columns, "binary"),
    insertJson: async (table, json) => {
      const result = (await sql.unsafe(insertJsonSql(table), [json] as never[])) as unknown as { count?: number };
      return Number(result.count ?? 0);
    },
    close: async () => {
      closed = true;
      const pools = [...timedPools.values()];
      timedPools.clear();
      await Promise.all([sql.end({ timeout: 5 }), copySql.end({ timeout: 5 }), ...pools.map((p) => p.end({ timeout: 5 }))]);
    },
  };
}

/** `appUrl`: the app database's URL, when it is Postgres (see `openPostgres` on commits). */
export function openWarehouse(opts: { url?: string; dir?: string; appUrl?: string }): Promise<Warehouse> {
  return opts.url ? openPostgres(opts.url, opts.appUrl) : openPglite(opts.dir ?? path.join(defaultDataDir(), "warehouse"));
}

/** The warehouse configured by the environment: WAREHOUSE_URL, else PGlite in <data dir>/warehouse. */
export function openWarehouseFromEnv(dataDir = defaultDataDir()): Promise<Warehouse> {
  return openWarehouse({ url: process.env.WAREHOUSE_URL || undefined, dir: path.join(dataDir, "warehouse"), appUrl: process.env.DATABASE_URL || undefined });
}
