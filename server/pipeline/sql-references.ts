/**
 * What a SQL cell reads, found with the real PostgreSQL parser (libpg-query,
 * compiled to WebAssembly). Server side only: the browser gets these results
 * from the API, so the WASM module never enters the client bundle.
 */
import { loadModule, parseSync } from "libpg-query";

export interface TableReference {
  schema?: string;
  name: string;
  /** 0-based offset of the reference in the SQL text. */
  offset: number;
  /**
   * For an unqualified name: how many characters of the text it spans (`"Name"` with its
   * quotes), when the text there is that name. The runtime replaces the span by the table it
   * stands for; without a span it leaves the reference alone.
   */
  span?: number;
  /** The reference has an alias (`from orders o`), so its replacement needs none. */
  aliased?: boolean;
}

/** A named bind parameter (`:region`) the SQL uses, outside string literals and comments. */
export interface ParamReference {
  name: string;
  offset: number;
}

export type SqlAnalysis =
  | { ok: true; tables: TableReference[]; params: ParamReference[]; statements: string[]; ctes: string[] }
  | { ok: false; message: string; offset: number };

/** Parses SQL and lists the tables it reads. Injected into `validate` so that validation stays pure. */
export type SqlAnalyzer = (sql: string) => SqlAnalysis;

let ready: Promise<SqlAnalyzer> | undefined;

/** Load the parser once (≈ 50 ms) and return the analyzer (remembering recent answers: see `remembered`). */
export function loadSqlAnalyzer(): Promise<SqlAnalyzer> {
  ready ??= loadModule().then(() => remembered(analyzeSql));
  return ready;
}

/** How many characters of SQL `remembered` keeps analyses for (≈ 2 MB of text), and the longest text it keeps one for. */
const REMEMBERED_TOTAL_CHARS = 1_000_000;
const REMEMBERED_CHARS = 20_000;

/**
 * The analyzer, answering a text it analyzed recently from memory: a run's cells were just
 * analyzed when the run was validated, and each task analyzes its cell again (a parse is
 * ≈ 0.1 ms of the server's thread per task). Analyses are read, never changed, by their users.
 */
function remembered(analyze: SqlAnalyzer): SqlAnalyzer {
  const recent = new Map<string, SqlAnalysis>();
  let chars = 0;
  return (sql) => {
    const known = recent.get(sql);
    if (known) {
      // Most recently used last: the first entry is the one to forget.
      recent.delete(sql);
      recent.set(sql, known);
      return known;
    }
    const analysis = analyze(sql);
    if (sql.length <= REMEMBERED_CHARS) {
      recent.set(sql, analysis);
      chars += sql.length;
      while (chars > REMEMBERED_TOTAL_CHARS) {
        const oldest = recent.keys().next().value!;
        recent.delete(oldest);
        chars -= oldest.length;
      }
    }
    return analysis;
  };
}

/**
 * Replace named bind parameters (`:region`, `:logical_date`) by positional ones
 * of the same length, so that the parser accepts them and offsets stay true.
 * `::` casts are left alone.
 */
export function neutralizeNamedParams(sql: string): string {
  return sql.replace(NAMED_PARAM, (match) => "$1".padEnd(match.length, " "));
}

const NAMED_PARAM = /(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * The analysis of one SQL text.
 *
 * 1. Parse it (after neutralizing named params); a syntax error returns its offset.
 * 2. Walk the tree and collect every RangeVar (a table in FROM, JOIN, INSERT, …).
 * 3. Drop the names of common table expressions the query defines itself.
 * 4. List the named params that the parser saw as parameters (so `':x'` in a string is not one).
 * 5. Name each statement's kind (SelectStmt, InsertStmt, …).
 */
export function analyzeSql(sql: string): SqlAnalysis {
  const named = new Map<number, string>();
  for (const m of sql.matchAll(NAMED_PARAM)) named.set(m.index, m[1]!);
  const at = charOffsets(sql);
  let tree: unknown;
  try {
    tree = parseSync(neutralizeNamedParams(sql));
  } catch (error) {
    const details = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    return { ok: false, message: (error as Error).message, offset: Math.max(0, at(details?.cursorPosition ?? 0)) };
  }
  const tables: TableReference[] = [];
  const params: ParamReference[] = [];
  const ctes = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item);
      return;
    }
    if (value === null || typeof value !== "object") return;
    const obj = value as Record<string, unknown>;
    const rv = obj.RangeVar as { schemaname?: string; relname?: string; location?: number; alias?: unknown } | undefined;
    if (rv?.relname) {
      const offset = at(rv.location ?? 0);
      const span = rv.schemaname === undefined ? spanOf(sql, offset, rv.relname) : undefined;
      tables.push({ schema: rv.schemaname, name: rv.relname, offset, ...(span ? { span } : {}), ...(rv.alias ? { aliased: true } : {}) });
    }
    const param = obj.ParamRef as { location?: number } | undefined;
    const paramAt = param?.location !== undefined ? at(param.location) : -1;
    const name = named.get(paramAt);
    if (name !== undefined) params.push({ name, offset: paramAt });
    const cte = obj.CommonTableExpr as { ctename?: string } | undefined;
    if (cte?.ctename) ctes.add(cte.ctename);
    for (const key in obj) walk(obj[key]);
  };
  walk(tree);
  const stmts = ((tree as { stmts?: { stmt?: Record<string, unknown> }[] }).stmts ?? []).map((s) => Object.keys(s.stmt ?? {})[0] ?? "");
  return { ok: true, tables: tables.filter((t) => t.schema !== undefined || !ctes.has(t.name)), params, statements: stmts, ctes: [...ctes] };
}

/** The parser's locations count UTF-8 bytes; the text's offsets count UTF-16 units. Maps one to the other. */
function charOffsets(sql: string): (byteOffset: number) => number {
  if (Buffer.byteLength(sql) === sql.length) return (b) => b;
  const byChar: number[] = [];
  let bytes = 0;
  for (let i = 0; i < sql.length; i++) {
    byChar.push(bytes);
    const code = sql.charCodeAt(i);
    // A surrogate pair is one 4-byte character: 2 bytes for each half.
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code >= 0xd800 && code < 0xe000 ? 2 : 3;
  }
  return (b) => {
    let lo = 0;
    let hi = byChar.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (byChar[mid]! < b) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** How many characters the unqualified name `relname` spans at `offset` (with quotes when quoted); undefined when the text there is not that name. */
function spanOf(sql: string, offset: number, relname: string): number | undefined {
  if (sql[offset] === '"') {
    let i = offset + 1;
    let name = "";
    while (i < sql.length) {
      if (sql[i] === '"') {
        if (sql[i + 1] !== '"') break;
        i++;
      }
      name += sql[i];
      i++;
    }
    return name === relname && i < sql.length ? i + 1 - offset : undefined;
  }
  const text = sql.slice(offset, offset + relname.length);
  const next = sql[offset + relname.length] ?? "";
  return text.toLowerCase() === relname && !/[\w$]/.test(next) ? relname.length : undefined;
}
