import { beforeAll, describe, expect, it } from "vitest";
import { changedPipeline, validPipeline } from "@/tests/fixtures/pipelines";
import { parsePipeline, parsePipelineText, validate } from "@/server/pipeline/validate";
import { formatProblem, type Problem, type ProblemCode } from "@/server/pipeline/problems";
import { loadSqlAnalyzer, type SqlAnalyzer } from "@/server/pipeline/sql-references";

let sql: SqlAnalyzer;
beforeAll(async () => {
  sql = await loadSqlAnalyzer();
});

const doc = changedPipeline;

/** The only problem of the document, which must have `code`. */
function only(problems: Problem[], code: ProblemCode): Problem {
  expect(problems.map((p) => p.code)).toEqual([code]);
  return problems[0]!;
}

describe("validate: a valid pipeline", () => {
  it("has no problems, with and without the SQL analyzer", () => {
    expect(validate(validPipeline())).toEqual([]);
    expect(validate(validPipeline(), { sql })).toEqual([]);
    const result = parsePipelineText(JSON.stringify(validPipeline()), { sql });
    expect(result.ok).toBe(true);
    expect(result.problems).toEqual([]);
  });
});

describe("validate: reading the file", () => {
  it("invalid_json: reports line AND column of a multi-line text", () => {
    const text = '{\n  "format": "tributary/v1",\n  "name": "x"\n  "nodes": []\n}';
    const result = parsePipelineText(text);
    expect(result.ok).toBe(false);
    const p = only(result.problems, "invalid_json");
    expect(p.severity).toBe("error");
    expect(p.path).toEqual([]);
    expect(p.position).toEqual({ line: 4, column: 3, offset: text.indexOf('"nodes"') });
    expect(p.message).toContain("line 4, column 3");
  });

  it("invalid_json: an unexpected token still gets its own line and column, not the end of the text", () => {
    const text = '{\n  "format": "tributary/v1",\n  "name": },\n  "nodes": [],\n  "edges": []\n}';
    const p = only(parsePipelineText(text).problems, "invalid_json");
    expect(p.position).toMatchObject({ line: 3, column: 11 });
    expect(p.message).toContain("line 3, column 11");
    expect(p.message).toContain("near '},'"); // what it found there
    expect(p.message).not.toContain('"format"'); // no copy of the whole text
  });

  it("invalid_json: a text that ends too early points at its end", () => {
    const text = '{\n  "format": "tributary/v1",\n  "nodes": [';
    const p = only(parsePipelineText(text).problems, "invalid_json");
    expect(p.position).toMatchObject({ line: 3, offset: text.length });
  });

  it("unsupported_format: a wrong format says which formats are supported", () => {
    const p = only(validate(doc((d) => (d.format = "tributary/v2"))), "unsupported_format");
    expect(p.severity).toBe("error");
    expect(p.path).toEqual(["format"]);
    expect(p.message).toContain('"tributary/v2"');
    expect(p.message).toContain("tributary/v1");
  });

  it("unsupported_format: a missing format and a non-object document", () => {
    const missing = only(validate(doc((d) => delete d.format)), "unsupported_format");
    expect(missing.path).toEqual(["format"]);
    expect(missing.message).toContain("tributary/v1");
    const list = only(validate([]), "unsupported_format");
    expect(list.path).toEqual([]);
    expect(list.message).toMatch(/JSON object/);
  });
});

describe("validate: schema", () => {
  it("unknown_field: reported with its path, never silently dropped", () => {
    const d = doc((d) => {
      d.nodes[0].colour = "red";
      d.nodes[1].config.dialect = "mysql";
      d.owner = "sales-team";
    });
    const problems = validate(d);
    expect(problems.map((p) => [p.code, p.path])).toEqual([
      ["unknown_field", ["nodes", 0, "colour"]],
      ["unknown_field", ["nodes", 1, "config", "dialect"]],
      ["unknown_field", ["owner"]],
    ]);
    expect(problems[0]).toMatchObject({ severity: "error", nodeId: "n1" });
    expect(problems[0]!.message).toContain("'colour'");
    expect(problems[0]!.message).toContain("pos_sales");
    expect(problems[1]).toMatchObject({ nodeId: "n2" });
    expect(problems[1]!.message).toContain("'dialect'");
    expect(problems[1]!.message).toContain("nodes[1].config");
    expect(problems[2]!.message).toContain("'owner'");
    expect(problems[2]!.nodeId).toBeUndefined();
    // The document is not accepted with the field quietly removed.
    expect(parsePipeline(d).ok).toBe(false);
  });

  it("missing_field: names the node and the field", () => {
    const p = only(validate(doc((d) => delete d.nodes[1].config.sql)), "missing_field");
    expect(p).toMatchObject({ severity: "error", path: ["nodes", 1, "config", "sql"], nodeId: "n2" });
    expect(p.message).toContain("store_daily");
    expect(p.message).toContain("'sql'");
  });

  it("missing_field: a top-level field", () => {
    const p = only(validate(doc((d) => delete d.edges)), "missing_field");
    expect(p.path).toEqual(["edges"]);
    expect(p.message).toContain("'edges'");
  });

  it("missing_config: a node without config", () => {
    const p = only(validate(doc((d) => delete d.nodes[2].config)), "missing_config");
    expect(p).toMatchObject({ severity: "error", path: ["nodes", 2, "config"], nodeId: "n3" });
    expect(p.message).toContain("flagged");
  });

  it("unknown_kind: names the kind it got and the known kinds", () => {
    const p = only(validate(doc((d) => (d.nodes[1].kind = "python"))), "unknown_kind");
    expect(p).toMatchObject({ severity: "error", path: ["nodes", 1, "kind"], nodeId: "n2" });
    expect(p.message).toContain('"python"');
    expect(p.message).toContain("store_daily");
    expect(p.message).toContain("source.csv");
    expect(p.message).toContain("sink.table");
  });

  it("invalid_name: a name with spaces is refused with a suggestion", () => {
    const p = only(validate(doc((d) => (d.nodes[1].name = "Daily Sales"))), "invalid_name");
    expect(p).toMatchObject({ severity: "error", path: ["nodes", 1, "name"], nodeId: "n2" });
    expect(p.message).toContain("'Daily Sales'");
    expect(p.message).toContain("try 'daily_sales'");
  });

  it("invalid_name: a SQL keyword is refused with a suggestion", () => {
    const p = only(validate(doc((d) => (d.nodes[2].name = "select"))), "invalid_name");
    expect(p).toMatchObject({ path: ["nodes", 2, "name"], nodeId: "n3" });
    expect(p.message).toContain("'select'");
    expect(p.message).toContain("reserved");
    expect(p.message).toContain("'select_data'");
  });

  it("invalid_name: the pipeline's own name", () => {
    const p = only(validate(doc((d) => (d.name = "Daily-Sales"))), "invalid_name");
    expect(p.path).toEqual(["name"]);
    expect(p.nodeId).toBeUndefined();
    expect(p.message).toContain("try 'daily_sales'");
  });

  it("schema: an out-of-range setting names the node, the field and the value", () => {
    const p = only(validate(doc((d) => (d.nodes[1].retries = -1))), "schema");
    expect(p).toMatchObject({ severity: "error", path: ["nodes", 1, "retries"], nodeId: "n2" });
    expect(p.message).toContain("store_daily");
    expect(p.message).toContain("retries");
    expect(p.message).toContain("-1");
  });

  it("schema: a wrong type names the value it got", () => {
    const p = only(validate(doc((d) => (d.nodes[2].triggerRule = "sometimes"))), "schema");
    expect(p.path).toEqual(["nodes", 2, "triggerRule"]);
    expect(p.message).toContain('"sometimes"');
  });

  it("schema: an upsert sink without key columns", () => {
    const p = only(
      validate(
        doc((d) => {
          d.nodes.push({ id: "n4", kind: "sink.table", name: "load", config: { table: "dash.store", mode: "upsert" } });
          d.edges.push({ from: "n2", to: "n4" });
        }),
      ),
      "schema",
    );
    expect(p).toMatchObject({ path: ["nodes", 3, "config", "key"], nodeId: "n4" });
    expect(p.message).toContain("upsert");
  });

  it("schema: an invalid cron and an invalid time zone", () => {
    const cron = only(validate(doc((d) => (d.schedule.cron = "every morning"))), "schema");
    expect(cron.path).toEqual(["schedule", "cron"]);
    expect(cron.message).toContain("'every morning'");
    const tz = only(validate(doc((d) => (d.schedule.timezone = "Mars/Olympus"))), "schema");
    expect(tz.path).toEqual(["schedule", "timezone"]);
    expect(tz.message).toContain("'Mars/Olympus'");
  });

  it("schema: a param default that does not fit its type", () => {
    const p = only(validate(doc((d) => (d.params.region = { type: "integer", default: "all" }))), "schema");
    expect(p.path).toEqual(["params", "region", "default"]);
    expect(p.message).toContain('"all" is not an integer');
  });
});

describe("validate: graph", () => {
  it("duplicate_id: names both places", () => {
    const d = doc((d) => d.nodes.push({ id: "n2", kind: "js", name: "other", config: { code: "export default () => []" } }));
    const p = only(validate(d), "duplicate_id");
    expect(p).toMatchObject({ severity: "error", path: ["nodes", 3, "id"], nodeId: "n2" });
    expect(p.message).toContain("'n2'");
    expect(p.message).toContain("nodes[1]");
    expect(p.message).toContain("nodes[3]");
  });

  it("duplicate_name: names the name and both node ids", () => {
    const p = only(validate(doc((d) => (d.nodes[2].name = "store_daily"))), "duplicate_name");
    expect(p).toMatchObject({ severity: "error", path: ["nodes", 2, "name"], nodeId: "n3" });
    expect(p.message).toContain("'store_daily'");
    expect(p.message).toContain("'n2'");
    expect(p.message).toContain("'n3'");
  });

  it("dangling_edge: an edge to a missing node", () => {
    const p = only(validate(doc((d) => d.edges.push({ from: "n3", to: "n9" }))), "dangling_edge");
    // The node that exists carries the problem, so the canvas can show it.
    expect(p).toMatchObject({ severity: "error", path: ["edges", 2, "to"], nodeId: "n3" });
    expect(p.message).toContain("'n9'");
    expect(p.message).toContain("flagged → n9");
  });

  it("dangling_edge: both ends missing gives two problems", () => {
    const problems = validate(doc((d) => d.edges.push({ from: "x", to: "y" })));
    expect(problems.map((p) => [p.code, p.path])).toEqual([
      ["dangling_edge", ["edges", 2, "from"]],
      ["dangling_edge", ["edges", 2, "to"]],
    ]);
  });

  it("duplicate_edge: names the nodes and both edges", () => {
    const p = only(validate(doc((d) => d.edges.push({ from: "n1", to: "n2" }))), "duplicate_edge");
    expect(p).toMatchObject({ severity: "error", path: ["edges", 2], nodeId: "n2" });
    expect(p.message).toContain("pos_sales → store_daily");
    expect(p.message).toContain("edges[0]");
    expect(p.message).toContain("edges[2]");
  });

  it("cycle: names the nodes in order and lists their ids", () => {
    const d = doc((d) => {
      d.nodes = [
        { id: "a", kind: "js", name: "a", config: { code: "export default () => []" } },
        { id: "b", kind: "js", name: "b", config: { code: "export default () => []" } },
        { id: "c", kind: "js", name: "c", config: { code: "export default () => []" } },
      ];
      d.edges = [
        { from: "a", to: "b" },
        { from: "b", to: "c" },
        { from: "c", to: "a" },
      ];
    });
    const p = only(validate(d), "cycle");
    expect(p).toMatchObject({ severity: "error", path: ["nodes", 0], nodeId: "a", nodeIds: ["a", "b", "c"] });
    expect(p.message).toContain("a → b → c → a");
  });

  it("cycle: uses node names, not ids, in the message", () => {
    const p = only(validate(doc((d) => d.edges.push({ from: "n3", to: "n1" }))), "cycle");
    expect(p.nodeIds).toEqual(["n1", "n2", "n3"]);
    expect(p.message).toContain("pos_sales → store_daily → flagged → pos_sales");
  });

  it("cycle: a self-loop", () => {
    const p = only(validate(doc((d) => d.edges.push({ from: "n3", to: "n3" }))), "cycle");
    expect(p).toMatchObject({ path: ["nodes", 2], nodeId: "n3", nodeIds: ["n3"] });
    expect(p.message).toContain("flagged → flagged");
  });

  it("branch_edge_from_non_branch: a labelled edge that leaves a non-branch node", () => {
    const p = only(validate(doc((d) => (d.edges[0].branch = "true"))), "branch_edge_from_non_branch");
    expect(p).toMatchObject({ severity: "error", path: ["edges", 0, "branch"], nodeId: "n1" });
    expect(p.message).toContain("pos_sales → store_daily");
    expect(p.message).toContain("source.csv");
  });

  it("branch_edge_unlabelled: an edge leaving a branch node without a label", () => {
    const d = doc((d) => {
      d.nodes[1] = { id: "n2", kind: "branch", name: "has_sales", config: { condition: "select count(*) > 0 from pos_sales" } };
      d.nodes[2].config.code = "export default ({ pos_sales }) => pos_sales";
      d.nodes.push({ id: "n4", kind: "js", name: "no_sales", config: { code: "export default () => []" } });
      d.edges.push({ from: "n2", to: "n4", branch: "false" });
    });
    const p = only(validate(d, { sql }), "branch_edge_unlabelled");
    expect(p).toMatchObject({ severity: "error", path: ["edges", 1], nodeId: "n2" });
    expect(p.message).toContain("has_sales → flagged");
    expect(p.message).toContain('"branch"');
    // Labelled, it is valid.
    d.edges[1].branch = "true";
    expect(validate(d, { sql })).toEqual([]);
  });

  it("foreach_not_upstream: forEach must name a direct upstream node", () => {
    const p = only(validate(doc((d) => (d.nodes[2].forEach = "pos_sales"))), "foreach_not_upstream");
    expect(p).toMatchObject({ severity: "error", path: ["nodes", 2, "forEach"], nodeId: "n3" });
    expect(p.message).toContain("'pos_sales'");
    expect(p.message).toContain("flagged");
    expect(p.message).toContain("upstream: store_daily");
    expect(validate(doc((d) => (d.nodes[2].forEach = "store_daily")))).toEqual([]);
  });

  it("input_not_upstream: config.input must name a direct upstream node", () => {
    const d = doc((d) => {
      d.nodes.push({ id: "n4", kind: "sink.table", name: "load", config: { table: "dash.flagged", mode: "append", input: "pos_sales" } });
      d.edges.push({ from: "n3", to: "n4" });
    });
    const p = only(validate(d), "input_not_upstream");
    expect(p).toMatchObject({ severity: "error", path: ["nodes", 3, "config", "input"], nodeId: "n4" });
    expect(p.message).toContain("'pos_sales'");
    expect(p.message).toContain("upstream: flagged");
  });
});

describe("validate: SQL", () => {
  it("sql_syntax: the position is a line and column inside the SQL", () => {
    const text = "select store_id,\n  sum(qty * unit_price) as revenue\nfrom pos_sales\ngroup by by 1";
    const p = only(validate(doc((d) => (d.nodes[1].config.sql = text)), { sql }), "sql_syntax");
    expect(p).toMatchObject({ severity: "error", path: ["nodes", 1, "config", "sql"], nodeId: "n2" });
    expect(p.position).toEqual({ line: 4, column: 13, offset: text.lastIndexOf("1") });
    expect(p.message).toContain("store_daily");
    expect(p.message).toContain("line 4, column 13");
    expect(p.message).toMatch(/syntax error/);
  });

  it("sql_syntax: is not checked without an analyzer", () => {
    expect(validate(doc((d) => (d.nodes[1].config.sql = "selec 1 from pos_sales")))).toEqual([]);
  });

  it("sql_syntax: also in a sensor or branch condition", () => {
    const d = doc((d) => {
      d.nodes.push({ id: "n4", kind: "sensor", name: "wait_for_sales", config: { condition: "select count(* > 0 from pos_sales" } });
      d.edges.push({ from: "n1", to: "n4" });
    });
    const p = only(validate(d, { sql }), "sql_syntax");
    expect(p).toMatchObject({ path: ["nodes", 3, "config", "condition"], nodeId: "n4" });
  });

  it("a named param :region and a ::date cast are not syntax errors", () => {
    const text =
      "select sold_at::date as sales_date, count(*) as n\nfrom pos_sales\nwhere :region = 'all' or store_id::text = :region\ngroup by 1";
    expect(validate(doc((d) => (d.nodes[1].config.sql = text)), { sql })).toEqual([]);
  });

  it("sql_not_upstream: reading a node that exists but is not upstream", () => {
    const text = "select *\nfrom pos_sales join flagged using (store_id)";
    const p = only(validate(doc((d) => (d.nodes[1].config.sql = text)), { sql }), "sql_not_upstream");
    expect(p).toMatchObject({ severity: "error", path: ["nodes", 1, "config", "sql"], nodeId: "n2" });
    expect(p.position).toMatchObject({ line: 2, column: text.split("\n")[1]!.indexOf("flagged") + 1 });
    expect(p.message).toContain("'flagged'");
    expect(p.message).toContain("connect flagged → store_daily");
  });

  it("sql_not_upstream: reading an upstream node that has no output table", () => {
    const d = doc((d) => {
      d.nodes.push({
        id: "n4", kind: "notify", name: "tell", config: { channel: "webhook", url: "http://127.0.0.1:9/hook" },
      });
      d.nodes.push({ id: "n5", kind: "sql", name: "after", config: { sql: "select * from tell" } });
      d.edges.push({ from: "n3", to: "n4" }, { from: "n4", to: "n5" });
    });
    const p = only(validate(d, { sql }), "sql_not_upstream");
    expect(p).toMatchObject({ path: ["nodes", 4, "config", "sql"], nodeId: "n5" });
    expect(p.message).toContain("notify");
  });

  it("sql_unknown_table: a warning naming the table and the upstream nodes", () => {
    const text = "select * from pos_sales join weather using (store_id)";
    const p = only(validate(doc((d) => (d.nodes[1].config.sql = text)), { sql }), "sql_unknown_table");
    expect(p).toMatchObject({ severity: "warning", path: ["nodes", 1, "config", "sql"], nodeId: "n2" });
    expect(p.position?.offset).toBe(text.indexOf("weather"));
    expect(p.message).toContain("'weather'");
    expect(p.message).toContain("upstream tables: pos_sales");
  });

  it("schema-qualified tables and CTE names are not reported", () => {
    const text = "with s as (select * from pos_sales) select * from s join dim.stores using (store_id)";
    expect(validate(doc((d) => (d.nodes[1].config.sql = text)), { sql })).toEqual([]);
  });

  it("sql_reads_no_upstream: a warning when the SQL reads none of its upstream nodes", () => {
    const p = only(validate(doc((d) => (d.nodes[1].config.sql = "select 1 as one")), { sql }), "sql_reads_no_upstream");
    expect(p).toMatchObject({ severity: "warning", path: ["nodes", 1, "config", "sql"], nodeId: "n2" });
    expect(p.message).toContain("store_daily");
    expect(p.message).toContain("pos_sales");
  });

  it("a warning does not stop the document from parsing", () => {
    const result = parsePipeline(doc((d) => (d.nodes[1].config.sql = "select 1 as one")), { sql });
    expect(result.ok).toBe(true);
    expect(result.problems.map((p) => p.severity)).toEqual(["warning"]);
  });
});

describe("validate: all problems at once", () => {
  it("a document with 5 different problems gives all 5, sorted by path", () => {
    const d = doc((d) => {
      d.owner = "me"; // unknown_field
      d.nodes[0].name = "Pos Sales"; // invalid_name
      d.nodes[1].kind = "python"; // unknown_kind
      d.edges.push({ from: "n3", to: "ghost" }); // dangling_edge
      d.nodes.push({ id: "n4", kind: "js", name: "flagged", config: { code: "export default () => []" } }); // duplicate_name
    });
    const problems = validate(d, { sql });
    expect(problems.map((p) => p.code).sort()).toEqual(
      ["dangling_edge", "duplicate_name", "invalid_name", "unknown_field", "unknown_kind"].sort(),
    );
    expect(problems.map((p) => p.path)).toEqual([
      ["edges", 2, "to"],
      ["nodes", 0, "name"],
      ["nodes", 1, "kind"],
      ["nodes", 3, "name"],
      ["owner"],
    ]);
  });

  it("a schema error in one node does not hide a cycle or a SQL error elsewhere", () => {
    const d = doc((d) => {
      d.nodes[0].config.delimiter = ";;"; // schema
      d.nodes[2].kind = "sql";
      d.nodes[2].config = { sql: "select * frm store_daily" }; // sql_syntax
      d.edges.push({ from: "n3", to: "n2" }); // cycle n2 → n3 → n2
    });
    const codes = validate(d, { sql }).map((p) => p.code);
    expect(codes).toContain("schema");
    expect(codes).toContain("cycle");
    expect(codes).toContain("sql_syntax");
  });

  it("formatProblem renders path, position and message on one line", () => {
    const text = "select 1 frm pos_sales";
    const p = only(validate(doc((d) => (d.nodes[1].config.sql = text)), { sql }), "sql_syntax");
    expect(formatProblem(p)).toBe(`error: nodes[1].config.sql: ${p.message}`);
    expect(formatProblem(p)).toMatch(/^error: nodes\[1\]\.config\.sql: node 'store_daily': .*\(line 1, column 14 of the SQL\)$/);
  });
});
