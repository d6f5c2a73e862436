/**
 * Rows in COPY's formats (what the sandbox's runner sends once the writer asks for COPY).
 * The byte layout is checked here; that the databases read it back as the JSON path would
 * is checked end to end in tests/integration/runtime/semantics.test.ts.
 */
import { describe, expect, it } from "vitest";
import { binarySlices } from "@/server/runtime/outputs";
import { binaryCopyable, CopyValueError, countTuples, toCopyBinary, toCsv, tupleEnds, type Column } from "@/server/runtime/sandbox/rows-copy";

const col = (name: string, type: string): Column => ({ name, type });

/** The tuples back as [field count, …fields as hex or null]. */
function tuples(bytes: Uint8Array): (number | string | null)[][] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: (number | string | null)[][] = [];
  let at = 0;
  while (at < bytes.length) {
    const n = view.getInt16(at);
    at += 2;
    const row: (number | string | null)[] = [n];
    for (let i = 0; i < n; i++) {
      const len = view.getInt32(at);
      at += 4;
      if (len < 0) row.push(null);
      else {
        row.push(Buffer.from(bytes.subarray(at, at + len)).toString("hex"));
        at += len;
      }
    }
    out.push(row);
  }
  return out;
}

describe("binary COPY tuples", () => {
  const columns = [col("i", "bigint"), col("f", "double precision"), col("b", "boolean"), col("s", "text"), col("j", "jsonb")];

  it("writes each type in its binary form, big-endian, NULL as length -1", () => {
    const bytes = toCopyBinary(
      [
        { i: 1, f: 1.5, b: true, s: "é", j: { a: 1 } },
        { i: -1, f: -0, b: false, s: "", j: "x" },
        { i: null, f: Number.NaN, b: undefined, s: null },
      ],
      columns,
    )!;
    expect(tuples(bytes)).toEqual([
      [5, "0000000000000001", "3ff8000000000000", "01", "c3a9", `01${Buffer.from('{"a":1}').toString("hex")}`],
      // -1 as two's complement; -0 written as 0 (as JSON writes it); '' is a zero-length field, not NULL.
      [5, "ffffffffffffffff", "0000000000000000", "00", "", `01${Buffer.from('"x"').toString("hex")}`],
      // null, NaN (JSON's null), undefined and a missing key are all NULL.
      [5, null, null, null, null, null],
    ]);
  });

  it("reads only a row's own keys: a missing `constructor` or `__proto__` is NULL", () => {
    const cols = [col("constructor", "text"), col("__proto__", "jsonb")];
    expect(tuples(toCopyBinary([{}], cols)!)).toEqual([[2, null, null]]);
    expect(toCsv([{}], cols)).toBe(",\n");
  });

  it("writes the largest safe integers exactly", () => {
    const bytes = toCopyBinary([{ i: Number.MAX_SAFE_INTEGER }, { i: Number.MIN_SAFE_INTEGER }, { i: 2 ** 32 }, { i: -(2 ** 32) - 1 }], [col("i", "bigint")])!;
    expect(tuples(bytes).map((t) => BigInt.asIntN(64, BigInt(`0x${t[1]}`)))).toEqual([
      BigInt(Number.MAX_SAFE_INTEGER), BigInt(Number.MIN_SAFE_INTEGER), BigInt(2 ** 32), BigInt(-(2 ** 32) - 1),
    ]);
  });

  it("writes other values in a text column as the JSON path reads them", () => {
    const bytes = toCopyBinary([{ s: 5 }, { s: true }, { s: [1, "a"] }, { s: "😀" }], [col("s", "text")])!;
    expect(tuples(bytes).map((t) => Buffer.from(t[1] as string, "hex").toString("utf8"))).toEqual(["5", "true", '[1,"a"]', "😀"]);
  });

  it("grows its buffer for long texts", () => {
    const long = "ß".repeat(100_000);
    const [row] = tuples(toCopyBinary([{ s: long }], [col("s", "text")])!);
    expect(Buffer.from(row![1] as string, "hex").toString("utf8")).toBe(long);
  });

  it("gives up (null: the batch goes as CSV) on a value that is not of its column's own kind", () => {
    expect(toCopyBinary([{ i: "7" }], [col("i", "bigint")])).toBeNull();
    expect(toCopyBinary([{ i: 1.5 }], [col("i", "bigint")])).toBeNull();
    expect(toCopyBinary([{ i: 2 ** 53 }], [col("i", "bigint")])).toBeNull();
    expect(toCopyBinary([{ f: "2.5" }], [col("f", "double precision")])).toBeNull();
    expect(toCopyBinary([{ b: "yes" }], [col("b", "boolean")])).toBeNull();
    expect(toCopyBinary([{ d: "2026-01-01" }], [col("d", "date")])).toBeNull();
  });

  it("is offered only for the types it writes", () => {
    expect(binaryCopyable(columns)).toBe(true);
    expect(binaryCopyable([...columns, col("d", "date")])).toBe(false);
    expect(binaryCopyable([])).toBe(false);
  });
});

describe("CSV rows", () => {
  it("quotes texts, leaves NULL unquoted, and writes NaN and ±Infinity as NULL as JSON does", () => {
    const csv = toCsv(
      [
        { n: 1, f: Number.NaN, s: 'a "b",\nc', e: "" },
        { n: null, f: Number.POSITIVE_INFINITY, s: 7, e: undefined },
      ],
      [col("n", "bigint"), col("f", "double precision"), col("s", "text"), col("e", "text")],
    );
    expect(csv).toBe('1,,"a ""b"",\nc",""\n,,"7",\n');
  });
});

describe("CSV values as the JSON path reads them", () => {
  it("writes -0 as 0, a jsonb string as JSON text, and other values in a text column as JSON", () => {
    expect(toCsv([{ f: -0, j: "x", s: [1, { a: true }] }], [col("f", "double precision"), col("j", "jsonb"), col("s", "text")])).toBe(
      '0,"""x""","[1,{""a"":true}]"\n',
    );
  });
});

describe("text that is not valid Unicode", () => {
  it("is refused by both encoders, naming the column (the JSON path refuses it too); a surrogate pair is fine", () => {
    const lone = { s: "a\ud800b" };
    expect(() => toCsv([lone], [col("s", "text")])).toThrow(new CopyValueError("column 's' holds text that is not valid Unicode (a lone UTF-16 surrogate)"));
    expect(() => toCopyBinary([lone], [col("s", "text")])).toThrow(CopyValueError);
    // Inside JSON (a jsonb column, an object in a text column) it is escaped text (\\udc00), read as the JSON path reads it.
    expect(toCsv([{ j: { k: "\udc00" } }], [col("j", "jsonb")])).toBe('"{""k"":""\\udc00""}"\n');
    expect(toCsv([{ s: "😀" }], [col("s", "text")])).toBe('"😀"\n');
  });
});

describe("binary COPY buffer growth", () => {
  it("keeps every field of rows written across the buffer's growth", () => {
    // Texts longer than the first estimate make the buffer grow; every field before and after must survive.
    const rows = Array.from({ length: 50 }, (_, i) => ({ s: "x".repeat(i * 40), i, f: i + 0.5, b: i % 2 === 0 }));
    const cols = [col("s", "text"), col("i", "bigint"), col("f", "double precision"), col("b", "boolean")];
    const back = tuples(toCopyBinary(rows, cols)!).map((t) => [
      Buffer.from(t[1] as string, "hex").toString("utf8").length,
      Number(BigInt.asIntN(64, BigInt(`0x${t[2]}`))),
      Buffer.from(t[3] as string, "hex").readDoubleBE(0),
      t[4],
    ]);
    expect(back).toEqual(rows.map((r) => [r.s.length, r.i, r.f, r.b ? "01" : "00"]));
  });
});

describe("tupleEnds", () => {
  const columns = [
    { name: "n", type: "bigint" },
    { name: "s", type: "text" },
  ];
  it("finds where each tuple ends, NULL fields included", () => {
    const data = toCopyBinary([{ n: 1, s: "ab" }, { n: null, s: "" }, { n: 3 }], columns)!;
    // 2 + (4 + 8) + (4 + 2) = 20; then 2 + 4 + (4 + 0) = 10; then 2 + 12 + 4 = 18.
    expect(tupleEnds(data, 2)).toEqual([20, 30, 48]);
    expect(tupleEnds(new Uint8Array(0), 2)).toEqual([]);
  });
  it("refuses data cut short or with another number of fields", () => {
    const data = toCopyBinary([{ n: 1, s: "ab" }, { n: 2, s: "cd" }], columns)!;
    expect(() => tupleEnds(data.subarray(0, data.length - 1), 2)).toThrow(/tuple 2 is cut short/);
    expect(() => tupleEnds(data.subarray(0, 21), 2)).toThrow(/tuple 2 (is cut short|does not have 2 fields)/);
    expect(() => tupleEnds(data, 3)).toThrow(/tuple 1 does not have 3 fields/);
  });
});

describe("countTuples (the runner's check of tuples encoded in a cell's isolate)", () => {
  const columns = [col("n", "bigint"), col("f", "double precision"), col("b", "boolean"), col("s", "text"), col("j", "jsonb")];
  const good = toCopyBinary([{ n: 1, f: 0.5, b: true, s: "é", j: "x" }, { n: null, f: null, b: null, s: null, j: null }, { s: "" }], columns)!;
  /** `good` with the bytes at `at` replaced. */
  const patched = (at: number, ...bytes: number[]) => {
    const copy = good.slice();
    copy.set(bytes, at);
    return copy;
  };
  it("counts whole tuples whose fields have their types' sizes", () => {
    expect(countTuples(good, columns)).toBe(3);
    expect(countTuples(new Uint8Array(0), columns)).toBe(0);
  });
  it("refuses another number of fields, a trailer, a field cut short, a wrong fixed size, or jsonb not of version 1", () => {
    expect(() => countTuples(good, columns.slice(0, 4))).toThrow(/tuple 1 does not have 4 fields/);
    expect(() => countTuples(patched(0, 0xff, 0xff), columns)).toThrow(/tuple 1 does not have 5 fields/);
    expect(() => countTuples(good.subarray(0, good.length - 1), columns)).toThrow(/tuple 3 is cut short/);
    // The bigint's length (bytes 2–5) said 4, then 9; the boolean's (after 2 + 12 + 12) said 2.
    expect(() => countTuples(patched(2, 0, 0, 0, 4), columns)).toThrow(/tuple 1, field 1 is malformed/);
    expect(() => countTuples(patched(2, 0, 0, 0, 9), columns)).toThrow(/tuple 1, field 1 is malformed/);
    expect(() => countTuples(patched(26, 0, 0, 0, 2), columns)).toThrow(/tuple 1, field 3 is malformed/);
    // A negative length other than -1 (NULL), and a length past the end (as tupleEnds says it).
    expect(() => countTuples(patched(2, 0xff, 0xff, 0xff, 0xfe), columns)).toThrow(/tuple 1, field 1 is malformed/);
    expect(() => countTuples(patched(2, 0x7f, 0, 0, 0), columns)).toThrow(/tuple 1 is cut short/);
    // The jsonb field: 2 + 12 + 12 + 5 + (4 + 2) = 37 holds its length, 41 its version byte.
    expect(good[41]).toBe(1);
    expect(() => countTuples(patched(41, 2), columns)).toThrow(/tuple 1, field 5 is malformed/);
  });
  it("takes jsonb only as JSON.stringify writes a string, number or boolean (what the isolate encodes)", () => {
    const j = [col("j", "jsonb")];
    /** One tuple of one jsonb field: version 1, then these bytes. */
    const field = (bytes: number[] | string) => {
      const body = typeof bytes === "string" ? [...new TextEncoder().encode(bytes)] : bytes;
      const size = body.length + 1;
      return new Uint8Array([0, 1, size >>> 24, (size >>> 16) & 255, (size >>> 8) & 255, size & 255, 1, ...body]);
    };
    for (const ok of ['"x"', '"q\\"uote"', "12", "-1.25", "1e+21", "true", '"\\ud800"']) expect([ok, countTuples(field(ok), j)]).toEqual([ok, 1]);
    for (const bad of ["1e1000", "1.50", "[1]", '{"a":1}', "null", " 1", '"x" ', "", "'x'"]) {
      expect(() => countTuples(field(bad), j), bad).toThrow(/tuple 1, field 1 is malformed/);
    }
    expect(() => countTuples(field([0x22, 0xc3, 0x22]), j)).toThrow(/tuple 1, field 1 is malformed/); // not UTF-8
  });
  it("refuses columns of a type it has no binary check for", () => {
    expect(() => countTuples(good, [...columns.slice(0, 4), col("d", "date")])).toThrow(/no binary encoding for type date/);
  });
});

describe("binarySlices", () => {
  const columns = [{ name: "n", type: "bigint" }];
  const rows = Array.from({ length: 10 }, (_, i) => ({ n: i }));
  const batch = { tuples: toCopyBinary(rows, columns)!, columns: [["n", "i8"]] as [string, "i8"][], rows: 10 };
  const values = (b: { tuples: Uint8Array }) => tupleEnds(b.tuples, 1).length;
  it("slices a batch by rows and by bytes (a tuple here is 14 bytes), one row at least", () => {
    expect([...binarySlices(batch, 4, Infinity)].map((b) => [b.rows, values(b)])).toEqual([[4, 4], [4, 4], [2, 2]]);
    expect([...binarySlices(batch, 100, 30)].map((b) => b.rows)).toEqual([2, 2, 2, 2, 2]);
    expect([...binarySlices(batch, 100, 5)].map((b) => b.rows)).toEqual(Array(10).fill(1));
  });
  it("skips rows, keeping the tuples after them in order", () => {
    const [rest] = [...binarySlices(batch, Infinity, Infinity, 7)];
    expect(rest!.rows).toBe(3);
    expect(Buffer.from(rest!.tuples)).toEqual(Buffer.from(toCopyBinary(rows.slice(7), columns)!));
  });
});
