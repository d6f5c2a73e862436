/**
 * Node outputs in the warehouse. Each run has a schema; each task attempt writes
 * its own table `t_<task id>_<claim tag>`; when the task succeeds (and only then) a view
 * named after the node points at it, so readers — SQL cells through the
 * search_path, JS cells, `tributary query --run` — see a node's output only once
 * it succeeded, and a late or failed attempt never replaces a good one.
 */
import type { PipelineNode } from "@/server/pipeline";
import { type CopyStream, ident, type Row, type Warehouse } from "@/db/warehouse";
import { connectionLost, isConnectionLoss, TaskFailure } from "./errors";
import type { BinaryRows, InputKind } from "./sandbox/protocol";
import { binaryCopyable, type Column, type CopyFormat, CopyValueError, toCsv, tupleEnds } from "./sandbox/rows-copy";

export { type Column, csvQuote, toCsv } from "./sandbox/rows-copy";

/** The role SQL cells run as: it can create tables in run schemas and nothing on the app's side. */
export const CELL_ROLE = "tributary_cell";

/**
 * The function every cell's SQL runs through (see `runCellSql`). It is SECURITY DEFINER and
 * owned by the cell role, so the cell runs as that role *and* Postgres refuses to change the
 * role inside it: `set_config('role', 'postgres', …)` or `set_config('session_authorization', …)`
 * fail with "cannot set parameter … within security-definer function". Without it a cell could
 * take back the warehouse login's (super)user with set_config, because SET ROLE is checked
 * against the session user, not the current one. Params arrive as one jsonb array: `($1->>i)`.
 * Only the runtime may execute it (not the cell role), so a cell cannot use it to run non-SELECTs.
 */
export const CELL_EXEC = "tributary_runtime.cell_exec_v3";

export function runSchemaName(runId: string): string {
  return `run_${runId.replace(/-/g, "")}`;
}

/** The table a task's execution writes: `t_<task id>`, and `_<tag>` for a claim that has one (ClaimedTask.tag). */
export function outputTableName(taskRunId: string, tag?: string): string {
  return `t_${taskRunId.replace(/-/g, "")}${tag ? `_${tag}` : ""}`;
}

export function qualified(schema: string, table: string): string {
  return `${ident(schema)}.${ident(table)}`;
}

/** The columns (name, SQL type) of a table or view, in order; none when it does not exist. */
export async function columnsOf(wh: Warehouse, schema: string, relation: string): Promise<{ name: string; type: string }[]> {
  return wh.query<{ name: string; type: string }>(
    `select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute
     where attrelid = to_regclass($1) and attnum > 0 and not attisdropped order by attnum`,
    [qualified(schema, relation)],
  );
}

/** A stored output table: a plain name lives in the run's schema; "schema.table" (a draft run reusing an earlier draft's output) where it says. */
export function storedTable(schema: string, table: string): string {
  const dot = table.indexOf(".");
  return dot < 0 ? qualified(schema, table) : qualified(table.slice(0, dot), table.slice(dot + 1));
}

const prepared = new WeakMap<Warehouse, Map<string, Promise<void>>>();
const roleReady = new WeakMap<Warehouse, Promise<void>>();

/**
 * Create the cell role once per warehouse, and the run's schema with its grants —
 * once per schema and process, under an advisory lock, because concurrent grants
 * on one schema collide in the catalog ("tuple concurrently updated").
 */
export function ensureRunSchema(wh: Warehouse, schema: string): Promise<void> {
  // Concurrent tasks of one run share one preparation (a promise, not a flag set when it is done).
  let done = prepared.get(wh);
  if (!done) prepared.set(wh, (done = new Map()));
  let ready = done.get(schema);
  if (!ready) {
    ready = prepareRunSchema(wh, schema);
    ready.catch(() => done.delete(schema));
    done.set(schema, ready);
  }
  return ready;
}

async function prepareRunSchema(wh: Warehouse, schema: string): Promise<void> {
  let role = roleReady.get(wh);
  if (!role) {
    role = wh.transaction(async (tx) => {
      await tx.query(`select pg_advisory_xact_lock(hashtext('tributary.cell_role'))`);
      await tx.query(`do $$ begin
           if not exists (select 1 from pg_roles where rolname = '${CELL_ROLE}') then
             create role ${CELL_ROLE} nologin noinherit;
           end if;
         end $$`);
      await tx.query(`create schema if not exists tributary_runtime`);
      await tx.query(`revoke all on schema tributary_runtime from public`);
      // search_path is set inside (set_config(…, true) lasts until the statement's transaction
      // ends): the call is the whole transaction, one round trip (`Warehouse.timed`). A cell that
      // changes the session's statement_timeout (set_config(…, false) is a plain SET, which would
      // outlive it on a pooled connection) fails, and its transaction's rollback undoes the change.
      await tx.query(`create or replace function ${CELL_EXEC}(stmt text, args jsonb, returns_rows boolean, p_search_path text)
         returns setof jsonb language plpgsql security definer as $fn$
         declare
           n bigint;
           v_timeout text := current_setting('statement_timeout');
         begin
           perform set_config('search_path', p_search_path, true);
           if returns_rows then
             return query execute 'select to_jsonb(r) from (' || stmt || E'\n) r' using args;
           else
             execute stmt using args;
             get diagnostics n = row_count;
             return next jsonb_build_object('rows', n);
           end if;
           if current_setting('statement_timeout') is distinct from v_timeout then
             raise exception 'a cell may not change statement_timeout' using errcode = '42501';
           end if;
         end
         $fn$`);
      await tx.query(`alter function ${CELL_EXEC}(text, jsonb, boolean, text) owner to ${CELL_ROLE}`);
      // Only the runtime (the warehouse login) may call it; a cell calling it could run any statement.
      await tx.query(`revoke all on function ${CELL_EXEC}(text, jsonb, boolean, text) from public, ${CELL_ROLE}`);
    });
    role.catch(() => roleReady.delete(wh));
    roleReady.set(wh, role);
  }
  await role;
  // One statement (a DO block is one transaction), so one round trip.
  await wh.query(
    `do $do$ begin
       perform pg_advisory_xact_lock(hashtext($k$tributary.schema.${schema}$k$));
       execute $s$create schema if not exists ${ident(schema)}$s$;
       execute $s$grant usage, create on schema ${ident(schema)} to ${CELL_ROLE}$s$;
       execute $s$alter default privileges in schema ${ident(schema)} grant select on tables to ${CELL_ROLE}$s$;
     end $do$`,
  );
}

/** Make `node` name its output: a view over the successful attempt's table(s) (several for forEach). */
export async function publishOutput(wh: Warehouse, schema: string, nodeName: string, tables: string[]): Promise<void> {
  // What this process last published for the view; attempts only ever move forward, so
  // the same table list means the view is already right (a newer one is republished).
  let mine = published.get(wh);
  if (!mine) published.set(wh, (mine = new Map()));
  const key = `${schema}.${nodeName}`;
  const tablesKey = tables.join(",");
  if (mine.get(key) === tablesKey) return;
  const view = qualified(schema, nodeName);
  const body = tables.length
    ? tables.map((t) => `select * from ${storedTable(schema, t)}`).join(" union all ")
    : "select null::text as empty where false";
  // One statement (a DO block is one transaction): names are validated identifiers, so the
  // dollar-quoted literals cannot be broken out of. CREATE OR REPLACE keeps the view's oid,
  // so a reader that resolved the name a moment ago is not left holding a dropped view;
  // only when the columns changed (a rerun with other SQL) is the view dropped and made anew.
  await wh.query(
    `do $do$ begin
       perform pg_advisory_xact_lock(hashtext($k$tributary.view.${schema}.${nodeName}$k$));
       begin
         execute $s$create or replace view ${view} as ${body}$s$;
       exception when others then
         execute $s$drop view if exists ${view}$s$;
         execute $s$create view ${view} as ${body}$s$;
       end;
       execute $s$grant select on ${view} to ${CELL_ROLE}$s$;
     end $do$`,
  );
  mine.set(key, tablesKey);
}

const published = new WeakMap<Warehouse, Map<string, string>>();

// ---------------------------------------------------------------- writing rows

const DECLARED: Record<string, string> = {
  text: "text", integer: "bigint", bigint: "bigint", numeric: "numeric", double: "double precision",
  boolean: "boolean", date: "date", timestamp: "timestamp", timestamptz: "timestamptz", json: "jsonb",
};

/**
 * Column types for rows: declared ones win; the rest are inferred from the values seen
 * (booleans → boolean, whole numbers → bigint, other numbers → double precision,
 * objects/arrays → jsonb, anything else or a mix → text).
 */
export function inferColumns(rows: readonly Row[], declared: Record<string, string> = {}): Column[] {
  const seen = new Map<string, Set<string>>();
  for (const row of rows) {
    for (const key of Object.keys(row)) {
      const v = row[key];
      let kinds = seen.get(key);
      if (!kinds) seen.set(key, (kinds = new Set()));
      if (v === null || v === undefined) continue;
      if (typeof v === "boolean") kinds.add("boolean");
      else if (typeof v === "number") kinds.add(Number.isSafeInteger(v) ? "bigint" : "double precision");
      else if (typeof v === "object") kinds.add("jsonb");
      else kinds.add("text");
    }
  }
  return [...seen.entries()].map(([name, kinds]) => {
    if (declared[name]) return { name, type: DECLARED[declared[name]] ?? "text" };
    if (kinds.size === 0) return { name, type: "text" };
    if (kinds.size === 1) return { name, type: [...kinds][0]! };
    if ([...kinds].every((k) => k === "bigint" || k === "double precision")) return { name, type: "double precision" };
    return { name, type: "text" };
  });
}

/** Up to this many rows, a first batch creates and fills the table in one statement. */
const SMALL_BATCH = 1000;

function isRowObject(r: unknown): r is Row {
  return r !== null && typeof r === "object" && !Array.isArray(r);
}

/** A JSON batch of rows as the sandbox sends it: an array of objects, else the task fails. */
function parseBatch(json: string): Row[] {
  let rows: unknown;
  try {
    rows = JSON.parse(json);
  } catch {
    rows = undefined;
  }
  if (!Array.isArray(rows) || !rows.every(isRowObject)) throw new TaskFailure("the cell produced a malformed batch of rows", false, "invalid_result");
  return rows;
}

/** On PGlite, encoded batches are gathered and loaded about this many characters or bytes at a time. */
const PGLITE_COPY_SIZE = 2 * 1024 * 1024;

/**
 * A table being filled in batches. The first batch creates it (its column types inferred from
 * that batch; a small one is created and loaded in one statement) and is loaded as JSON the
 * database parses; every later batch goes through COPY, which loads faster:
 *
 * - Postgres: a streamed COPY (one transaction, on a connection of the warehouse's COPY pool),
 *   binary when every column is of a type the binary encoders write (bigint, double precision,
 *   text, boolean, jsonb: all that JS rows are inferred as), else CSV; a batch in the other
 *   format (CSV for values binary cannot carry) ends that COPY and starts one in its format.
 *   Measured against a JSON insert per batch: 10,000 rows in 18–41 against 22–62 ms, 50,000 in
 *   59–86 against 106–120 ms. One stream on one connection also keeps the rows in practice in
 *   the order they came (JSON batches over pooled connections interleaved); the database does
 *   not promise it (a later row may fill an earlier page's gap).
 * - PGlite: binary or CSV as on Postgres; gathered and loaded about PGLITE_COPY_SIZE at a time
 *   (small enough that a cell waiting for an input batch, which the same thread reads, does not
 *   wait long), one COPY per run of batches in one format. PGlite's text-to-float8 conversion
 *   is slow (about 1 µs a value): 4 columns load at 215–225k rows/s as JSON, 430–470k as CSV,
 *   1.4M in binary.
 *
 * The encoding is best done where the rows are: once `copyFormat()` said so, a JS cell's batches
 * come encoded — binary tuples by the isolate itself, or by its task runner from the isolate's
 * JSON (off this thread, which on PGlite is the database's) — and are handed to `writeCopy`.
 * Batches that arrive as JSON or rows in COPY mode (one sent before the runner heard, or a
 * caller without a runner) are made CSV here, so rows keep their order.
 */
export class TableWriter {
  private columns: Column[] | null = null;
  private known: Set<string> | null = null;
  /** Postgres: the COPY stream open now, in its format (a batch in the other format ends it and starts one). */
  private copy: { format: CopyFormat; stream: CopyStream<string | Uint8Array> } | null = null;
  /** Rows in the table when the COPY started (its line 1 is the row after them). */
  private copyFrom = 0;
  /** PGlite: encoded batches gathered and not loaded yet, their size, and the row (1-based) they start at. */
  private pending: { format: CopyFormat; data: string | Uint8Array; rows: number }[] = [];
  private pendingSize = 0;
  private pendingFrom = 0;
  /** Batches go through COPY from now on (set once; the runner may already be encoding). */
  private copyMode = false;
  /** Given up (abort): nothing more is loaded. */
  private aborted = false;
  rows = 0;

  constructor(
    private readonly wh: Warehouse,
    private readonly table: string,
    private readonly declared: Record<string, string> = {},
    /** What failures name first (`node 'x'`). */
    private readonly label = "",
  ) {}

  /** A write that failed: the data's fault (not retryable), or a lost connection's (a new attempt follows). */
  private failure(message: string, cause: unknown): TaskFailure {
    if (isConnectionLoss(cause)) return connectionLost(this.label || "writing rows", cause);
    return new TaskFailure(this.label ? `${this.label}: ${message}` : message, false, "write");
  }

  /**
   * The COPY format and columns the next batches should come in (`writeCopy`), once the first
   * batch made the table (null before, or when it has no columns). From the first non-null answer
   * on, the writer is in COPY mode.
   */
  copyFormat(): { format: CopyFormat; columns: Column[] } | null {
    if (!this.columns || this.columns.length === 0) return null;
    this.copyMode = true;
    return { format: this.takesBinary() ? "binary" : "csv", columns: this.columns };
  }

  /** Whether batches may come as binary tuples: the warehouse loads them and every column has a binary encoder. */
  private takesBinary(): boolean {
    return (this.wh.copyBinary !== undefined || this.wh.copyBinaryStream !== undefined) && binaryCopyable(this.columns ?? []);
  }

  /** Rows as objects: their keys are checked here, then they are loaded as one JSON text (or, in COPY mode, as CSV). */
  async write(batch: readonly Row[]): Promise<void> {
    if (batch.length === 0) return;
    if (!this.columns) return this.create(batch, null);
    const known = this.known!;
    for (let i = 0; i < batch.length; i++) {
      for (const key of Object.keys(batch[i]!)) {
        if (!known.has(key)) throw this.unknownColumn(this.rows + i + 1, key);
      }
    }
    if (this.copyMode || this.copyFormat()) await this.writeCopy("csv", this.csvOf(batch, this.rows + 1), batch.length);
    else await this.insert(JSON.stringify(batch), batch.length);
  }

  /**
   * A batch as JSON text (an array of row objects, as the JS sandbox sends it). The first batch is
   * parsed here, for the column types; later ones go to the database as they are (the sandbox
   * checked their keys against the first batch's: `checkColumns`), or in COPY mode are made CSV
   * here. Returns the rows written.
   */
  async writeJson(json: string): Promise<number> {
    if (!this.columns) {
      const rows = parseBatch(json);
      if (rows.length === 0) return 0;
      await this.create(rows, json);
      return rows.length;
    }
    if (this.copyMode) {
      // A batch sent before the runner heard, or one it could not encode: checked here, since it
      // does not go through the database's JSON functions (which refuse anything but objects).
      const rows = parseBatch(json);
      return this.writeCopy("csv", this.csvOf(rows, this.rows + 1), rows.length);
    }
    return this.insert(json, undefined);
  }

  /** Rows as CSV in the table's columns; a value the JSON path would refuse fails the task, naming the rows. */
  private csvOf(rows: readonly Row[], first: number): string {
    try {
      return toCsv(rows, this.columns!);
    } catch (error) {
      const message = error instanceof CopyValueError ? error.message : `could not be written as CSV: ${(error as Error).message}`;
      throw new TaskFailure(`${this.label ? `${this.label}: ` : ""}a row among rows ${first}–${first + rows.length - 1}: ${message}`, false, "invalid_result");
    }
  }

  /**
   * `rows` rows encoded for COPY in the columns of `copyFormat()` (asked first: the table exists):
   * CSV text, or binary tuples. Postgres: into the streamed COPY of its format. PGlite: gathered,
   * and loaded as COPYs of about PGLITE_COPY_SIZE. Returns the rows written.
   */
  async writeCopy(format: CopyFormat, data: string | Uint8Array, rows: number): Promise<number> {
    if (!this.columns) throw new Error("TableWriter.writeCopy before the table was created");
    if (this.aborted) throw new Error("TableWriter.writeCopy after abort");
    this.copyMode = true;
    if (rows === 0) return 0;
    if (format === "binary" ? !(data instanceof Uint8Array) || !this.takesBinary() : typeof data !== "string") {
      throw new Error(`TableWriter: a ${format} batch this table does not take`);
    }
    if (this.wh.driver === "pglite") {
      if (this.pending.length === 0) this.pendingFrom = this.rows + 1;
      this.pending.push({ format, data, rows });
      this.pendingSize += data.length;
      this.rows += rows;
      if (this.pendingSize >= PGLITE_COPY_SIZE) await this.loadPending();
      return rows;
    }
    if (this.copy && this.copy.format !== format) {
      // A batch in the other format (binary tuples after CSV, or CSV for values binary cannot
      // carry): the open COPY ends, its rows in, and one in this format starts — unless the
      // writer was aborted meanwhile (abort() found no COPY to stop; none may open after it).
      await this.endCopy();
      if (this.aborted) throw new Error("TableWriter.writeCopy after abort");
    }
    if (!this.copy) {
      this.copyFrom = this.rows;
      const names = this.columns.map((c) => c.name);
      const stream = format === "binary" ? this.wh.copyBinaryStream!(this.table, names) : this.wh.copyCsvStream(this.table, names);
      this.copy = { format, stream: stream as CopyStream<string | Uint8Array> };
    }
    try {
      await this.copy.stream.write(data);
    } catch (error) {
      throw this.copyFailure(error);
    }
    this.rows += rows;
    return rows;
  }

  /** PGlite: load the gathered batches, one COPY per run of batches in the same format. */
  private async loadPending(): Promise<void> {
    const batches = this.pending;
    this.pending = [];
    this.pendingSize = 0;
    const names = this.columns?.map((c) => c.name) ?? [];
    for (let i = 0; i < batches.length && !this.aborted; ) {
      const format = batches[i]!.format;
      let j = i;
      let rows = 0;
      while (j < batches.length && batches[j]!.format === format) rows += batches[j++]!.rows;
      const group = batches.slice(i, j).map((b) => b.data);
      const from = this.pendingFrom;
      this.pendingFrom += rows;
      try {
        if (format === "binary") await this.wh.copyBinary!(this.table, names, group as Uint8Array[]);
        else await this.wh.copyCsv(this.table, names, (group as string[]).join(""));
      } catch (error) {
        const e = error as { message?: string; where?: string };
        const where = e.where && !(e.message ?? "").includes(e.where) ? ` (${e.where}; its line 1 is row ${from})` : "";
        throw this.failure(`writing rows ${from}–${from + rows - 1} failed: ${e.message ?? String(error)}${where}`, error);
      }
      i = j;
    }
  }

  /** Postgres: end the open COPY stream, if one is open (all its rows are in once this resolves). */
  private async endCopy(): Promise<void> {
    const copy = this.copy;
    if (!copy) return;
    this.copy = null;
    try {
      await copy.stream.end();
    } catch (error) {
      throw this.copyFailure(error);
    }
  }

  /** A COPY error, with where the database says it was (the COPY's line and column; a line is not a row when values hold newlines). */
  private copyFailure(error: unknown): TaskFailure {
    const e = error as { message?: string; where?: string };
    const where = e.where && !(e.message ?? "").includes(e.where) ? ` (${e.where}; its line 1 is row ${this.copyFrom + 1})` : "";
    return this.failure(`writing the rows after row ${this.copyFrom} failed: ${e.message ?? String(error)}${where}`, error);
  }

  /** Give up: a COPY in progress is stopped (nothing of it stays), so the table can be dropped. */
  abort(): void {
    this.aborted = true;
    this.copy?.stream.abort();
    this.copy = null;
    this.pending = [];
    this.pendingSize = 0;
  }

  /** The message for a row with a key the first batch did not have (the sandbox words it the same way). */
  private unknownColumn(row: number, key: string): TaskFailure {
    return new TaskFailure(
      `row ${row} has a column '${key}' that the first rows did not have (columns: ${[...this.known!].join(", ")}); ` +
        `give every row the same keys, or declare the column in config.columns`,
      false,
      "invalid_result",
    );
  }

  private async create(batch: readonly Row[], json: string | null): Promise<void> {
    this.columns = inferColumns(batch, this.declared);
    this.known = new Set(this.columns.map((c) => c.name));
    const cols = this.columns.map((c) => `${ident(c.name)} ${c.type}`).join(", ");
    if (batch.length <= SMALL_BATCH && this.columns.length > 0) {
      // A small first batch creates and fills the table in one statement (most cells return a few rows).
      const names = this.columns.map((c) => ident(c.name)).join(", ");
      try {
        // json (not jsonb): a text column keeps the JSON text as written, as json_populate_recordset and COPY do.
        await this.wh.query(`create table ${this.table} as select ${names} from json_to_recordset($1::text::json) as r(${cols})`, [json ?? JSON.stringify(batch)]);
      } catch (error) {
        throw this.failure(`writing rows 1–${batch.length} failed: ${(error as Error).message}`, error);
      }
      this.rows += batch.length;
      return;
    }
    await this.wh.query(`create table ${this.table} (${cols})`);
    await this.insert(json ?? JSON.stringify(batch), batch.length);
  }

  private async insert(json: string, count: number | undefined): Promise<number> {
    let n: number;
    try {
      n = await this.wh.insertJson(this.table, json);
    } catch (error) {
      const which = count !== undefined ? `rows ${this.rows + 1}–${this.rows + count}` : `the rows after row ${this.rows}`;
      throw this.failure(`writing ${which} failed: ${(error as Error).message}`, error);
    }
    this.rows += n;
    return n;
  }

  /** An empty result still gets a table (with the declared columns, or none). */
  async finish(): Promise<number> {
    await this.loadPending();
    await this.endCopy();
    if (!this.columns) {
      const cols = Object.entries(this.declared).map(([n, t]) => `${ident(n)} ${DECLARED[t] ?? "text"}`);
      await this.wh.query(`create table ${this.table} (${cols.join(", ")})`);
      this.columns = [];
    }
    return this.rows;
  }
}

/** Declared column types of a node, if it declares any. */
export function declaredColumns(node: PipelineNode): Record<string, string> {
  const config = node.config as { columns?: Record<string, string> };
  return config.columns ?? {};
}

// ---------------------------------------------------------------- reading rows

/**
 * Read tables in batches without holding a transaction open: page range after
 * page range (a TID range scan reads just those pages, so the whole read is
 * linear; ORDER BY ctid with LIMIT made every batch sort the rest of the table),
 * table after table. Output tables never change once written.
 */
export async function* readBatches(wh: Warehouse, schema: string, tables: readonly string[], batchSize = 5000): AsyncGenerator<Row[]> {
  const PAGES = 32;
  for (const table of tables) {
    const name = storedTable(schema, table);
    const [size] = await wh.query<{ pages: number }>(
      `select (pg_relation_size($1::regclass) / current_setting('block_size')::int)::int as pages`,
      [name],
    );
    const pages = Number(size?.pages ?? 0);
    for (let first = 0; first < pages; first += PAGES) {
      const rows = await wh.query<Row>(
        `select * from ${name} where ctid >= '(${first},0)'::tid and ctid < '(${first + PAGES},0)'::tid`,
      );
      for (let i = 0; i < rows.length; i += batchSize) yield rows.slice(i, i + batchSize);
    }
  }
}

// ------------------------------------------------------- reading rows as JSON text

/** A batch of rows as the JSON text of an array of objects, and how many rows it holds. */
export interface JsonBatch {
  json: string;
  rows: number;
}

/** Types whose JSON (`to_json`) is what the drivers return for them, re-serialised with JSON.stringify. */
const JSON_AS_IS = new Set(["bool", "int2", "int4", "int8", "text", "varchar", "bpchar", "name", "uuid", "json", "jsonb", "time", "timetz", "interval"]);

let utcHost: boolean | undefined;
/** `timestamp` (no zone) values reach JS as local times (`new Date(text)`): the same text only when the host runs in UTC. */
function hostIsUtc(): boolean {
  utcHost ??= ["UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"].includes(Intl.DateTimeFormat().resolvedOptions().timeZone);
  return utcHost;
}

/**
 * SQL for a column such that the warehouse's JSON of it equals what reading the row through
 * the driver and JSON.stringify gave (what a JS cell saw before rows were read as JSON):
 * NaN/±Infinity → null, -0 → 0, dates and timestamps → `toISOString()` text (out of range → null),
 * numeric → a number on Postgres and a string on PGlite, as their drivers return it.
 * `null`: no such SQL (bytea, arrays, …) — that table is read row by row.
 */
function jsonExpression(driver: Warehouse["driver"], name: string, type: string): string | null {
  const c = ident(name);
  // NaN and ±Infinity as JSON writes them (null), and -0 as 0 (JSON.stringify(-0) is "0").
  const finite = `case when ${c} in ('NaN', 'Infinity', '-Infinity') then null when ${c} = 0 then 0 else ${c} end`;
  const iso = (value: string, low: string, high: string, format: string) =>
    `case when ${c} >= '${low}' and ${c} < '${high}' then to_char(${value}, '${format}') end`;
  switch (type) {
    case "float4":
    case "float8":
      return finite;
    case "numeric":
      return driver === "pglite" ? `${c}::text` : finite;
    case "oid":
      return `${c}::int8`;
    case "date":
      return iso(c, "0001-01-01", "10000-01-01", 'YYYY-MM-DD"T00:00:00.000Z"');
    case "timestamptz":
      return iso(`${c} at time zone 'UTC'`, "0001-01-01 00:00:00+00", "10000-01-01 00:00:00+00", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
    case "timestamp":
      return hostIsUtc() ? iso(c, "0001-01-01 00:00:00", "10000-01-01 00:00:00", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') : null;
    default:
      return JSON_AS_IS.has(type) ? c : null;
  }
}

/** Rows as JSON batches of at most `batchSize` rows and (but for a single row) `maxChars` characters. */
function* jsonSlices(rows: readonly unknown[], batchSize: number, maxChars: number): Generator<JsonBatch> {
  let parts: string[] = [];
  let size = 2;
  for (const row of rows) {
    const s = JSON.stringify(row);
    if (parts.length > 0 && (parts.length >= batchSize || size + s.length + 1 > maxChars)) {
      yield { json: `[${parts.join(",")}]`, rows: parts.length };
      parts = [];
      size = 2;
    }
    parts.push(s);
    size += s.length + 1;
  }
  if (parts.length > 0) yield { json: `[${parts.join(",")}]`, rows: parts.length };
}

/** At most this many pages per read (8 MB of table). */
const MAX_PAGES = 1024;

/** Types whose binary COPY field the isolate decodes as it is (protocol.ts' InputKind). */
const BINARY_AS_IS: Record<string, InputKind> = { int2: "i2", int4: "i4", int8: "i8", float8: "f8", bool: "b", text: "t", varchar: "t", bpchar: "t", name: "t" };
/** Types whose JSON is a string: their JSON expression's text goes as a text field. */
const JSON_STRINGS = new Set(["date", "timestamp", "timestamptz", "uuid", "time", "timetz", "interval"]);

/**
 * A column in a binary input batch: the SQL for its field and how the isolate decodes it, such
 * that the value equals what the JSON path (`jsonExpression`) gives; `null` where there is none.
 */
function binaryColumn(driver: Warehouse["driver"], name: string, type: string): { expr: string; kind: InputKind } | null {
  const c = ident(name);
  const kind = BINARY_AS_IS[type];
  if (kind) return { expr: c, kind };
  if (type === "oid") return { expr: `${c}::int8`, kind: "i8" };
  const json = jsonExpression(driver, name, type);
  if (json === null) return null;
  if (JSON_STRINGS.has(type) || (type === "numeric" && driver === "pglite")) return { expr: `(${json})::text`, kind: "t" };
  return { expr: `to_json(${json})::text`, kind: "j" }; // json, jsonb, float4, numeric on Postgres
}

/** A batch of input rows for a JS cell: JSON text, or binary COPY tuples. */
export type InputBatch = JsonBatch | BinaryRows;

/** Slices of a binary batch, each at most `batchSize` rows and (but for a single row) `maxBytes` bytes. */
export function* binarySlices(batch: BinaryRows, batchSize: number, maxBytes: number, skip = 0): Generator<BinaryRows> {
  const ends = tupleEnds(batch.tuples, batch.columns.length);
  let first = skip;
  while (first < ends.length) {
    const from = first === 0 ? 0 : ends[first - 1]!;
    let last = first + 1;
    while (last < ends.length && last - first < batchSize && ends[last]! - from <= maxBytes) last++;
    yield { tuples: batch.tuples.subarray(from, ends[last - 1]!), columns: batch.columns, rows: last - first };
    first = last;
  }
}

/**
 * Tables as batches for a JS cell, made by the warehouse over ranges of pages, so no row becomes
 * a JS object here: the batch goes to the sandbox as it is.
 * - Where the warehouse can (PGlite) and every column has a binary form: binary COPY tuples
 *   (`COPY (select …) TO`), which the isolate decodes. PGlite makes them in half the time it
 *   takes to render the rows as JSON.
 * - Otherwise JSON text (`json_agg`).
 * - A table with a column type that has no such form (bytea, arrays, …) is read with
 *   `readBatches` and serialised here.
 * Each batch holds at most `batchSize` rows and `maxSize` characters or bytes (a single larger
 * row goes alone); the page range is sized from the rows and size per page seen so far.
 */
export async function* readInputBatches(
  wh: Warehouse,
  schema: string,
  tables: readonly string[],
  batchSize: number,
  maxSize: number,
): AsyncGenerator<InputBatch> {
  for (const table of tables) {
    const name = storedTable(schema, table);
    const [info] = await wh.query<{ pages: number; columns: string }>(
      `select (pg_relation_size($1::regclass) / current_setting('block_size')::int)::int as pages,
              (select coalesce(json_agg(json_build_array(a.attname, case when t.typnamespace = 'pg_catalog'::regnamespace then t.typname else '' end) order by a.attnum), '[]')
                 from pg_attribute a join pg_type t on t.oid = a.atttypid
                where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped)::text as columns`,
      [name],
    );
    const total = Number(info!.pages);
    // Built-in types by name; any other type (a domain, an enum, one named like a built-in) as ''.
    const columns = JSON.parse(info!.columns) as [string, string][];
    const pages = (first: number, last: number) => `${name} where ctid >= '(${first},0)'::tid and ctid < '(${last},0)'::tid`;
    const copyOut = wh.copyOutBinary?.bind(wh);
    const binary = copyOut ? columns.map(([n, t]) => binaryColumn(wh.driver, n, t)) : [];
    if (copyOut && binary.every((b) => b !== null)) {
      const list = binary.map((b) => b.expr).join(", ");
      const described: [string, InputKind][] = binary.map((b, i) => [columns[i]![0], b.kind]);
      yield* pageRanges<BinaryRows>(
        total,
        batchSize,
        maxSize,
        async (first, last) => {
          const tuples = await copyOut(`select ${list} from ${pages(first, last)}`);
          const batch = { tuples, columns: described, rows: tupleEnds(tuples, described.length).length };
          return { batch, size: tuples.length };
        },
        (batch) => binarySlices(batch, batchSize, maxSize),
      );
      continue;
    }
    const exprs = columns.map(([n, t]) => jsonExpression(wh.driver, n, t));
    if (exprs.some((e) => e === null)) {
      for await (const rows of readBatches(wh, schema, [table], batchSize)) yield* jsonSlices(rows, batchSize, maxSize);
      continue;
    }
    const list = exprs.map((e, i) => `${e} as ${ident(columns[i]![0])}`).join(", ");
    yield* pageRanges<JsonBatch>(
      total,
      batchSize,
      maxSize,
      async (first, last) => {
        const [r] = await wh.query<{ n: number; j: string }>(`select count(*)::int as n, coalesce(json_agg(t), '[]')::text as j from (select ${list} from ${pages(first, last)}) t`);
        return { batch: { json: r!.j, rows: Number(r!.n) }, size: r!.j.length };
      },
      (batch) => jsonSlices(JSON.parse(batch.json) as unknown[], batchSize, maxSize),
    );
  }
}

/**
 * A table's `total` pages read as batches, range after range; a range is sized from the rows and
 * size per page seen so far (the first read measures one page), halved when it held more than
 * `batchSize` rows or `maxSize`, and sliced when a single page does.
 */
async function* pageRanges<B extends { rows: number }>(
  total: number,
  batchSize: number,
  maxSize: number,
  read: (first: number, last: number) => Promise<{ batch: B; size: number }>,
  slices: (batch: B) => Iterable<B>,
): AsyncGenerator<B> {
  let span = 1;
  let rowsPerPage = 0;
  let sizePerPage = 0;
  for (let first = 0; first < total; ) {
    const last = Math.min(total, first + span);
    const { batch, size } = await read(first, last);
    const n = batch.rows;
    const pages = last - first;
    rowsPerPage = Math.max(rowsPerPage, n / pages);
    sizePerPage = Math.max(sizePerPage, size / pages);
    const tooBig = n > batchSize || (size > maxSize && n > 1);
    if (tooBig && pages > 1) {
      span = Math.max(1, Math.floor(pages / 2));
      continue;
    }
    first = last;
    if (tooBig) yield* slices(batch);
    else if (n > 0) yield batch;
    span = Math.max(1, Math.min(MAX_PAGES, Math.floor(Math.min(batchSize / Math.max(rowsPerPage, 1e-6), (maxSize * 0.9) / Math.max(sizePerPage, 1e-6)))));
  }
}
