/**
 * Rows in COPY's formats, in an output table's column order: CSV (any column types) and
 * PostgreSQL's binary COPY format (the types a JS cell's rows are inferred as). Pure — no
 * database, no Node APIs: the runtime's TableWriter uses it, and so does the sandbox's task
 * runner, which encodes a JS cell's output batches itself, off the server's thread, once the
 * writer asked for a format (see TableWriter.copyFormat).
 *
 * Either way a value means what the same row loaded as JSON (`json_populate_recordset`, the
 * writer's first batches) means, so a table loaded partly each way holds one kind of value:
 * numbers as JSON writes them, NaN and ±Infinity as NULL (JSON's null), a missing key as NULL,
 * objects and arrays as their JSON text, dates as ISO text.
 */

/** An output column: its name and SQL type (`bigint`, `double precision`, `jsonb`, `text`, a declared type…). */
export interface Column {
  name: string;
  type: string;
}

export type CopyFormat = "csv" | "binary";

/** A value COPY cannot carry the way the JSON path would: the batch fails, as it would have as JSON. */
export class CopyValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CopyValueError";
  }
}

/** A lone UTF-16 surrogate (in a `u` regex a pair is one code point, so only lone halves match). */
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Text as it may go to the database: the JSON path fails on a lone surrogate ("Unicode low
 * surrogate must follow a high surrogate"), where UTF-8 encoding would quietly replace it.
 */
function wellFormed(s: string, column: string): string {
  if (LONE_SURROGATE.test(s)) throw new CopyValueError(`column '${column}' holds text that is not valid Unicode (a lone UTF-16 surrogate)`);
  return s;
}

const NUMERIC_TYPES = new Set(["bigint", "integer", "double precision", "numeric"]);

/** A text as a quoted CSV field (a quoted empty field is '', an unquoted one NULL). */
export function csvQuote(s: string): string {
  return s.includes('"') ? `"${s.replace(/"/g, '""')}"` : `"${s}"`;
}

/** A row's own value for a column (a missing key is NULL, even one named like `constructor`). */
function field(row: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(row, name) ? row[name] : undefined;
}

/** A non-null value as the text the JSON path gives a text column (strings as they are; the rest as JSON). */
function asText(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value instanceof Date) return value.toISOString();
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** How a value of a column of `type` is written as a CSV field (quoted unless a finite number; NULL is an empty unquoted field). */
function csvFieldWriter(column: Column): (value: unknown) => string {
  const { name, type } = column;
  const numeric = NUMERIC_TYPES.has(type);
  return (value) => {
    if (value === null || value === undefined) return "";
    if (typeof value === "number") {
      if (!Number.isFinite(value)) return ""; // as JSON.stringify writes it: null
      if (numeric) return String(value);
    }
    if (type === "jsonb") return csvQuote(wellFormed(JSON.stringify(value), name));
    return csvQuote(wellFormed(asText(value), name));
  };
}

/** Rows as CSV in the columns' order (quoted fields; an empty unquoted field is NULL). Throws CopyValueError on text that is not valid Unicode. */
export function toCsv(rows: readonly Record<string, unknown>[], columns: readonly Column[]): string {
  const names = columns.map((c) => c.name);
  const writers = columns.map((c) => csvFieldWriter(c));
  let out = "";
  for (const row of rows) {
    for (let i = 0; i < names.length; i++) {
      if (i) out += ",";
      out += writers[i]!(field(row, names[i]!));
    }
    out += "\n";
  }
  return out;
}

// ------------------------------------------------------------------ binary COPY

/**
 * Column types the binary encoder writes (what inferColumns gives JS rows, and declared
 * text/bigint/double/boolean/json), each with the bytes its field has (-1: any; jsonb: at least
 * its version byte): `countTuples` checks fixed sizes with it.
 */
const FIELD_SIZES = new Map<string, number>([["bigint", 8], ["double precision", 8], ["boolean", 1], ["text", -1], ["jsonb", -1]]);

/** Whether rows of these columns can be written in the binary format. */
export function binaryCopyable(columns: readonly Column[]): boolean {
  return columns.length > 0 && columns.every((c) => FIELD_SIZES.has(c.type));
}

const TWO_32 = 4294967296;
const encoder = new TextEncoder();

/** A growing buffer of big-endian fields. */
class BinaryOut {
  bytes: Uint8Array;
  view: DataView;
  at = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  /**
   * A field: its length (-1: NULL) and room for its bytes; returns where the bytes go. Private:
   * `room` may replace `view` and `bytes`, so the writers below take them only after it.
   */
  private field(length: number): number {
    const size = Math.max(0, length);
    this.room(4 + size);
    this.view.setInt32(this.at, length);
    const data = this.at + 4;
    this.at = data + size;
    return data;
  }

  null(): void {
    this.field(-1);
  }

  /** A safe integer as int8 (two's complement, big-endian, through its high and low 32 bits). */
  int8(v: number): void {
    const at = this.field(8);
    const hi = Math.floor(v / TWO_32);
    this.view.setInt32(at, hi);
    this.view.setUint32(at + 4, v - hi * TWO_32);
  }

  float8(v: number): void {
    const at = this.field(8);
    this.view.setFloat64(at, v);
  }

  bool(v: boolean): void {
    const at = this.field(1);
    this.bytes[at] = v ? 1 : 0;
  }

  room(n: number): void {
    if (this.at + n <= this.bytes.length) return;
    const bigger = new Uint8Array(Math.max(this.bytes.length * 2, this.at + n));
    bigger.set(this.bytes.subarray(0, this.at));
    this.bytes = bigger;
    this.view = new DataView(bigger.buffer);
  }

  text(s: string, prefix?: number): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; the length is written once known.
    this.room(4 + 1 + s.length * 3);
    const lengthAt = this.at;
    this.at += 4;
    if (prefix !== undefined) this.bytes[this.at++] = prefix;
    const { written } = encoder.encodeInto(s, this.bytes.subarray(this.at));
    this.at += written;
    this.view.setInt32(lengthAt, this.at - lengthAt - 4);
  }
}

/**
 * The rows as binary COPY tuples (without the header and trailer, so batches can be joined), or
 * null when a value is not of its column's own kind — a string in a bigint column, a fraction in
 * one, a non-boolean in a boolean one: the binary format cannot say how the database would read
 * it, so such a batch goes as CSV (which then loads or fails the way the JSON path would).
 * Throws CopyValueError on text that is not valid Unicode.
 */
export function toCopyBinary(rows: readonly Record<string, unknown>[], columns: readonly Column[]): Uint8Array | null {
  const names = columns.map((c) => c.name);
  const types = columns.map((c) => c.type);
  const n = names.length;
  const out = new BinaryOut(rows.length * (2 + n * 12) + 64);
  for (const row of rows) {
    out.room(2);
    out.view.setInt16(out.at, n);
    out.at += 2;
    for (let i = 0; i < n; i++) {
      const v = field(row, names[i]!);
      if (v === null || v === undefined || (typeof v === "number" && !Number.isFinite(v))) {
        out.null();
        continue;
      }
      switch (types[i]) {
        case "bigint":
          if (typeof v !== "number" || !Number.isSafeInteger(v)) return null;
          out.int8(v);
          break;
        case "double precision":
          if (typeof v !== "number") return null;
          out.float8(v === 0 ? 0 : v); // -0 as JSON writes it: 0
          break;
        case "boolean":
          if (typeof v !== "boolean") return null;
          out.bool(v);
          break;
        case "jsonb":
          out.text(wellFormed(JSON.stringify(v), names[i]!), 1); // jsonb's binary form: version 1, then the JSON text
          break;
        case "text":
          out.text(wellFormed(asText(v), names[i]!));
          break;
        default:
          return null;
      }
    }
  }
  return out.bytes.slice(0, out.at);
}

/**
 * Where each tuple of binary COPY data (tuples only, no header or trailer) ends, checking that
 * each has `columns` fields, each field a NULL (-1) or whole, and that the data holds whole
 * tuples; `check`, if given, judges each non-NULL field (its index, where its bytes start, and
 * their count). Reading, not decoding: the runtime counts and slices input batches with it, the
 * runner checks the tuples a cell's isolate encoded (`countTuples`), and the isolate decodes.
 */
export function tupleEnds(data: Uint8Array, columns: number, check?: (field: number, at: number, size: number) => boolean): number[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const length = data.length;
  const ends: number[] = [];
  let p = 0;
  while (p < length) {
    const tuple = ends.length + 1;
    if (p + 2 > length || view.getInt16(p) !== columns) throw new Error(`binary COPY data: tuple ${tuple} does not have ${columns} fields`);
    p += 2;
    for (let i = 0; i < columns; i++) {
      if (p + 4 > length) throw new Error(`binary COPY data: tuple ${tuple} is cut short`);
      const size = view.getInt32(p);
      p += 4;
      if (size === -1) continue;
      if (size > length - p) throw new Error(`binary COPY data: tuple ${tuple} is cut short`);
      if (size < 0 || (check && !check(i, p, size))) throw new Error(`binary COPY data: tuple ${tuple}, field ${i + 1} is malformed`);
      p += size;
    }
    ends.push(p);
  }
  return ends;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Whether a jsonb field's bytes (after its version byte) are JSON of one value as JSON.stringify writes a string, number or boolean. */
function plainJson(bytes: Uint8Array): boolean {
  if (bytes[0] === 0x7b || bytes[0] === 0x5b) return false; // an object or array: never encoded in the isolate
  try {
    const text = strictUtf8.decode(bytes);
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value !== "object" && JSON.stringify(value) === text;
  } catch {
    return false;
  }
}

/**
 * How many tuples binary COPY data (tuples only) of these columns holds, checking each field
 * (`tupleEnds`) and more: the fixed size of bigint, double and boolean fields, and that a jsonb
 * field is version 1 of a string, number or boolean written as JSON.stringify writes it. For
 * batches encoded where they cannot be trusted (in a cell's isolate): what passes holds only
 * values the cell could have yielded (the database checks text's UTF-8), and never reads as
 * more or fewer rows than it holds. Throws on anything else.
 */
export function countTuples(data: Uint8Array, columns: readonly Column[]): number {
  const sizes = columns.map((c) => {
    const size = FIELD_SIZES.get(c.type);
    if (size === undefined) throw new Error(`binary COPY data: no binary encoding for type ${c.type}`);
    return size;
  });
  const jsonb = columns.map((c) => c.type === "jsonb");
  const field = (i: number, at: number, size: number) =>
    (sizes[i]! < 0 || size === sizes[i]) && (!jsonb[i] || (size >= 2 && data[at] === 1 && plainJson(data.subarray(at + 1, at + size))));
  return tupleEnds(data, sizes.length, field).length;
}
