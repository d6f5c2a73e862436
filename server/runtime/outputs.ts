/**
 * Node outputs in the warehouse. Each run has a schema; each task attempt writes
 * its own table `t_<task id>`; when the task succeeds (and only then) a view
 * named after the node points at it, so readers — SQL cells through the
 * search_path, JS cells, `tributary query --run` — see a node's output only once
 * it succeeded, and a late or failed attempt never replaces a good one.
 */
import type { PipelineNode } from "@/server/pipeline";
import { ident, type Row, type Warehouse } from "@/db/warehouse";
import { TaskFailure } from "./errors";

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
export const CELL_EXEC = "tributary_runtime.cell_exec";

export function runSchemaName(runId: string): string {
  return `run_${runId.replace(/-/g, "")}`;
}

export function outputTableName(taskRunId: string): string {
  return `t_${taskRunId.replace(/-/g, "")}`;
}

export function qualified(schema: string, table: string): string {
  return `${ident(schema)}.${ident(table)}`;
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
      await tx.query(`create or replace function ${CELL_EXEC}(stmt text, args jsonb, returns_rows boolean)
         returns setof jsonb language plpgsql security definer as $fn$
         declare n bigint;
         begin
           if returns_rows then
             return query execute 'select to_jsonb(r) from (' || stmt || E'\n) r' using args;
           else
             execute stmt using args;
             get diagnostics n = row_count;
             return next jsonb_build_object('rows', n);
           end if;
         end
         $fn$`);
      await tx.query(`alter function ${CELL_EXEC}(text, jsonb, boolean) owner to ${CELL_ROLE}`);
      // Only the runtime (the warehouse login) may call it; a cell calling it could run any statement.
      await tx.query(`revoke all on function ${CELL_EXEC}(text, jsonb, boolean) from public, ${CELL_ROLE}`);
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

export interface Column {
  name: string;
  type: string;
}

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

function csvField(value: unknown, type: string): string {
  if (value === null || value === undefined) return "";
  let s: string;
  if (type === "jsonb") s = JSON.stringify(value);
  else if (typeof value === "object") s = value instanceof Date ? value.toISOString() : JSON.stringify(value);
  else s = String(value);
  return `"${s.replace(/"/g, '""')}"`;
}

/** Rows as CSV in the columns' order (quoted fields; an empty unquoted field is NULL). */
export function toCsv(rows: readonly Row[], columns: readonly Column[]): string {
  let out = "";
  for (const row of rows) {
    out += columns.map((c) => csvField(row[c.name], c.type)).join(",") + "\n";
  }
  return out;
}

/** Up to this many rows, a batch is inserted with one statement instead of COPY (a COPY costs more round trips, and on PGlite a blob). */
const SMALL_BATCH = 1000;

/** A table being filled in batches: created from the first batch's columns, loaded with COPY. */
export class TableWriter {
  private columns: Column[] | null = null;
  rows = 0;

  constructor(
    private readonly wh: Warehouse,
    private readonly table: string,
    private readonly declared: Record<string, string> = {},
  ) {}

  async write(batch: readonly Row[]): Promise<void> {
    if (batch.length === 0) return;
    if (!this.columns) {
      this.columns = inferColumns(batch, this.declared);
      const cols = this.columns.map((c) => `${ident(c.name)} ${c.type}`).join(", ");
      if (batch.length <= SMALL_BATCH && this.columns.length > 0) {
        // A small first batch creates and fills the table in one statement (most cells return a few rows).
        const names = this.columns.map((c) => ident(c.name)).join(", ");
        try {
          await this.wh.query(`create table ${this.table} as select ${names} from jsonb_to_recordset($1::text::jsonb) as r(${cols})`, [JSON.stringify(batch)]);
        } catch (error) {
          throw new TaskFailure(`writing rows 1–${batch.length} failed: ${(error as Error).message}`, false, "write");
        }
        this.rows += batch.length;
        return;
      }
      await this.wh.query(`create table ${this.table} (${cols})`);
    }
    const known = new Set(this.columns.map((c) => c.name));
    for (let i = 0; i < batch.length; i++) {
      for (const key of Object.keys(batch[i]!)) {
        if (!known.has(key)) {
          throw new TaskFailure(
            `row ${this.rows + i + 1} has a column '${key}' that the first rows did not have (columns: ${[...known].join(", ")}); ` +
              `give every row the same keys, or declare the column in config.columns`,
            false,
            "invalid_result",
          );
        }
      }
    }
    try {
      if (batch.length <= SMALL_BATCH) {
        // A small batch in one statement: COPY FROM STDIN costs a few round trips more.
        const cols = this.columns.map((c) => ident(c.name)).join(", ");
        await this.wh.query(`insert into ${this.table} (${cols}) select ${cols} from jsonb_populate_recordset(null::${this.table}, $1::text::jsonb)`, [
          JSON.stringify(batch),
        ]);
      } else {
        await this.wh.copyCsv(this.table, this.columns.map((c) => c.name), toCsv(batch, this.columns));
      }
    } catch (error) {
      throw new TaskFailure(`writing rows ${this.rows + 1}–${this.rows + batch.length} failed: ${(error as Error).message}`, false, "write");
    }
    this.rows += batch.length;
  }

  /** An empty result still gets a table (with the declared columns, or none). */
  async finish(): Promise<number> {
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
