/** Rules added after review: params in SQL, inputs, check expressions, pools, branch edges. */
import { beforeAll, describe, expect, it } from "vitest";
import { changedPipeline } from "@/tests/fixtures/pipelines";
import { validate } from "@/server/pipeline/validate";
import type { Problem } from "@/server/pipeline/problems";
import { loadSqlAnalyzer, type SqlAnalyzer } from "@/server/pipeline/sql-references";

/* eslint-disable @typescript-eslint/no-explicit-any -- tests break documents on purpose */
type Doc = any;

let sql: SqlAnalyzer;
beforeAll(async () => {
  sql = await loadSqlAnalyzer();
});

const doc = changedPipeline;
const codes = (problems: Problem[]) => problems.map((p) => p.code);

describe("named params in SQL", () => {
  it("accepts declared and built-in params, and ':x' inside a string literal", () => {
    const d = doc((d) => {
      d.nodes[1].config.sql =
        "select store_id, ':not_a_param' as label, :logical_date::date as day, :run_id as run from pos_sales where :region = 'all' group by 1";
    });
    expect(validate(d, { sql })).toEqual([]);
  });

  it("sql_unknown_param: a misspelt param is an error at its position", () => {
    const d = doc((d) => {
      d.nodes[1].config.sql = "select store_id from pos_sales\nwhere region = :regoin";
    });
    const [p, ...rest] = validate(d, { sql });
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ code: "sql_unknown_param", severity: "error", nodeId: "n2", path: ["nodes", 1, "config", "sql"], position: { line: 2, column: 16 } });
    expect(p!.message).toContain(":regoin");
    expect(p!.message).toContain("region");
  });

  it("refuses a user param that shadows a built-in one", () => {
    const d = doc((d) => (d.params.logical_date = { type: "date" }));
    expect(validate(d)).toEqual([expect.objectContaining({ code: "invalid_name", path: ["params", "logical_date"] })]);
  });
});

describe("inputs of sinks and checks", () => {
  function twoSources(kind: "sink.table" | "check", input?: string): Doc {
    return doc((d) => {
      d.nodes.push({ id: "n4", kind: "source.csv", name: "returns", config: { path: "r.csv" } });
      d.nodes.push(
        kind === "sink.table"
          ? { id: "n5", kind, name: "load", config: { table: "dash.sales", mode: "append", ...(input ? { input } : {}) } }
          : { id: "n5", kind, name: "load", config: { rules: [{ type: "not_null", column: "x" }], ...(input ? { input } : {}) } },
      );
      d.edges.push({ from: "n1", to: "n5" }, { from: "n4", to: "n5" });
    });
  }

  it("input_required: a sink with two upstream tables must say which it loads", () => {
    const problems = validate(twoSources("sink.table"));
    expect(problems).toEqual([expect.objectContaining({ code: "input_required", nodeId: "n5", path: ["nodes", 4, "config", "input"] })]);
    expect(problems[0]!.message).toContain("pos_sales, returns");
    expect(validate(twoSources("sink.table", "returns"))).toEqual([]);
  });

  it("input_required applies to checks too", () => {
    expect(codes(validate(twoSources("check")))).toEqual(["input_required"]);
    expect(validate(twoSources("check", "pos_sales"))).toEqual([]);
  });
});

describe("check rules", () => {
  it("a syntax error in an expression rule points into the expression", () => {
    const d = doc((d) => {
      d.nodes.push({ id: "n4", kind: "check", name: "sane", config: { rules: [{ type: "expression", sql: "qty > 0 and and unit_price > 0" }] } });
      d.edges.push({ from: "n1", to: "n4" });
    });
    const problems = validate(d, { sql });
    expect(problems).toEqual([
      expect.objectContaining({ code: "sql_syntax", path: ["nodes", 3, "config", "rules", 0, "sql"], position: expect.objectContaining({ line: 1, column: 13 }) }),
    ]);
    expect(problems[0]!.message).toContain("of the expression");
  });

  it("range and row_count rules need a bound, and min must not exceed max", () => {
    const d = doc((d) => {
      d.nodes.push({
        id: "n4", kind: "check", name: "sane",
        config: { rules: [{ type: "range", column: "qty", min: 5, max: 1 }, { type: "row_count" }] },
      });
      d.edges.push({ from: "n1", to: "n4" });
    });
    const problems = validate(d);
    expect(problems.map((p) => [p.path.join("."), p.message])).toEqual([
      ["nodes.3.config.rules.0.max", "node 'sane': max 1 is below min 5"],
      ["nodes.3.config.rules.1.min", "node 'sane': give min, max or both"],
    ]);
  });
});

describe("pools, connections and record keys", () => {
  it("accepts the built-in pool 'default' and labels with dashes", () => {
    expect(validate(doc((d) => (d.nodes[0].pool = "default")))).toEqual([]);
    expect(validate(doc((d) => (d.defaults.pool = "heavy-sql")))).toEqual([]);
  });

  it("reports a bad record key as invalid_name naming the key", () => {
    const problems = validate(doc((d) => (d.nodes[1].config.columns = { Revenue: "numeric" })));
    expect(problems).toEqual([expect.objectContaining({ code: "invalid_name", path: ["nodes", 1, "config", "columns", "Revenue"] })]);
    expect(problems[0]!.message).toContain("key 'Revenue'");
    expect(problems[0]!.message).toContain("try 'revenue'");
  });
});

describe("edges and upstream kinds", () => {
  it("a branch may send its true and its false edge to the same node", () => {
    const d = doc((d) => {
      d.nodes.push({ id: "b", kind: "branch", name: "has_rows", config: { condition: "select count(*) > 0 from store_daily" } });
      d.nodes.push({ id: "z", kind: "notify", name: "tell", config: { channel: "slack", connection: "alerts", text: "done" } });
      d.edges.push({ from: "n2", to: "b" }, { from: "b", to: "z", branch: "true" }, { from: "b", to: "z", branch: "false" });
    });
    expect(validate(d, { sql })).toEqual([]);
  });

  it("a SQL node after a sensor gets no 'reads no upstream' warning for the sensor", () => {
    const d = doc((d) => {
      d.nodes.push({ id: "s", kind: "sensor", name: "ready", config: { condition: "select true" } });
      d.nodes.push({ id: "q", kind: "sql", name: "after", config: { sql: "select 1 as x" } });
      d.edges.push({ from: "s", to: "q" });
    });
    expect(validate(d, { sql })).toEqual([]);
  });

  it("an unknown kind is reported once, without false SQL problems downstream", () => {
    const d = doc((d) => (d.nodes[0].kind = "source.excel"));
    expect(codes(validate(d, { sql }))).toEqual(["unknown_kind"]);
  });
});

describe("forEach item params", () => {
  it("allows :item_<column> in the SQL of a forEach node, and only there", () => {
    const d = doc((d) => {
      d.nodes.push({ id: "r", kind: "sql", name: "regions", config: { sql: "select distinct store_id from store_daily" } });
      d.nodes.push({ id: "p", kind: "sql", name: "per_store", forEach: "regions", config: { sql: "select * from store_daily where store_id = :item_store_id" } });
      d.nodes.push({ id: "q", kind: "sql", name: "not_mapped", config: { sql: "select :item_store_id as x from store_daily" } });
      d.edges.push({ from: "n2", to: "r" }, { from: "r", to: "p" }, { from: "n2", to: "p" }, { from: "n2", to: "q" });
    });
    const problems = validate(d, { sql });
    expect(problems.map((p) => [p.code, p.nodeId])).toEqual([["sql_unknown_param", "q"]]);
  });
});
