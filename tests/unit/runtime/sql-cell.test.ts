/** A SQL cell becomes one SELECT with bound params: never spliced, never anything but a SELECT. */
import { beforeAll, describe, expect, it } from "vitest";
import { loadSqlAnalyzer, type SqlAnalyzer } from "@/server/pipeline/sql-references";
import { TaskFailure } from "@/server/runtime/errors";
import { itemValue, originalOffset, prepareSelect } from "@/server/runtime/sql-cell";

let analyze: SqlAnalyzer;
beforeAll(async () => {
  analyze = await loadSqlAnalyzer();
});

const failure = (fn: () => unknown): TaskFailure => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TaskFailure);
    return error as TaskFailure;
  }
  throw new Error("no failure");
};

describe("prepareSelect", () => {
  it("binds each named param once, with a cast from its type", () => {
    const p = prepareSelect("select :n + 1 as m, :label as l, :n * 2 as d", { n: { value: 41, type: "integer" }, label: { value: "x'; drop table t; --", type: "string" } }, analyze);
    expect(p.text).toBe("select ($1::bigint) + 1 as m, ($2::text) as l, ($1::bigint) * 2 as d");
    expect(p.values).toEqual([41, "x'; drop table t; --"]);
  });

  it("uses the given placeholder form (the cell wrapper's jsonb array)", () => {
    const p = prepareSelect("select :a as a, :b as b", { a: { value: true, type: "boolean" }, b: { value: "2026-01-01", type: "date" } }, analyze, "SQL", (i, cast) => `(($1->>${i})::${cast})`);
    // Params are numbered in the order they first appear; each index points at its value.
    expect(p.text).toBe("select (($1->>0)::boolean) as a, (($1->>1)::date) as b");
    expect(p.values).toEqual([true, "2026-01-01"]);
  });

  it("replaces the table references it is given a replacement for, and maps positions back", () => {
    const sql = 'select o.id, "orders".amount, :n as n from orders join "orders" o2 using (id), public.orders p, Orders o where o.x > :n';
    const seen: string[] = [];
    const p = prepareSelect(sql, { n: { value: 1, type: "integer" } }, analyze, "SQL", undefined, (ref) => {
      seen.push(`${ref.schema ?? ""}.${ref.name}:${ref.span ?? "-"}:${ref.aliased ? "a" : ""}`);
      return ref.schema === undefined ? `run_1.t_9${ref.aliased ? "" : " as orders"}` : undefined;
    });
    // Unqualified references (quoted or any case) are replaced; an alias is kept, else the name becomes one.
    expect(p.text).toBe('select o.id, "orders".amount, ($1::bigint) as n from run_1.t_9 as orders join run_1.t_9 o2 using (id), public.orders p, run_1.t_9 o where o.x > ($1::bigint)');
    expect(seen).toEqual([".orders:6:", ".orders:8:a", "public.orders:-:a", ".orders:6:a"]);
    // An offset in the prepared text maps onto the cell's own SQL: inside a replacement to its start, after it shifted back.
    const inJoin = p.text.indexOf("run_1.t_9 o2") + 3;
    expect(originalOffset(p, inJoin)).toBe(sql.indexOf('"orders" o2'));
    expect(originalOffset(p, p.text.indexOf("using"))).toBe(sql.indexOf("using"));
    expect(originalOffset(p, p.text.indexOf("o.x"))).toBe(sql.indexOf("o.x"));
    expect(p.ctes).toEqual([]);
    expect(prepareSelect("with a as (select 1 as x) select * from a", {}, analyze).ctes).toEqual(["a"]);
  });

  it("finds references after non-ASCII text at their character offsets", () => {
    const sql = "select 'café ☕ 𝔘' as s, :n as n from orders";
    const a = analyze(sql);
    if (!a.ok) throw new Error(a.message);
    expect(a.tables[0]).toMatchObject({ name: "orders", offset: sql.indexOf("orders"), span: 6 });
    expect(a.params[0]).toMatchObject({ name: "n", offset: sql.indexOf(":n") });
  });

  it("refuses anything but exactly one SELECT, not retryable", () => {
    for (const sql of ["insert into t values (1)", "set role postgres", "copy (select 1) to program 'id'", "select 1; select 2", "create table t as select 1"]) {
      const f = failure(() => prepareSelect(sql, {}, analyze, "node 'x'"));
      expect(f.message).toMatch(/^node 'x' must be exactly one SELECT/);
      expect([f.kind, f.retryable]).toEqual(["sql_not_select", false]);
    }
  });

  it("names a param without a value and a syntax error's position", () => {
    expect(failure(() => prepareSelect("select :nope as x", {}, analyze, "node 'x'")).message).toBe("node 'x' uses :nope, which has no value in this run");
    const f = failure(() => prepareSelect("select from where", {}, analyze, "node 'x'"));
    expect([f.kind, f.retryable]).toEqual(["sql_syntax", false]);
    expect(f.message).toMatch(/^node 'x': .* at position \d+$/);
  });
});

describe("itemValue", () => {
  it("types a forEach item's field from its JavaScript value", () => {
    expect(itemValue(true)).toEqual({ value: true, type: "boolean" });
    expect(itemValue(3)).toEqual({ value: 3, type: "bigint" });
    expect(itemValue(1.5)).toEqual({ value: 1.5, type: "double" });
    expect(itemValue({ a: 1 })).toEqual({ value: '{"a":1}', type: "jsonb" });
    expect(itemValue(null)).toEqual({ value: null, type: "string" });
    expect(itemValue("b")).toEqual({ value: "b", type: "string" });
  });
});
