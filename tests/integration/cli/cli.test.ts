/** The `tributary` command end to end, in child processes, on PGlite and on Postgres. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTempPostgres } from "../databases";
import { repoRoot, runCli } from "./run-cli";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-cli-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, content: unknown): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content, null, 2));
  return file;
}

const good = {
  format: "tributary/v1",
  name: "cli_demo",
  nodes: [
    { id: "a", kind: "sql", name: "first", config: { sql: "select 1 as x" } },
    { id: "b", kind: "sql", name: "second", config: { sql: "select x + 1 as y from first" } },
  ],
  edges: [{ from: "a", to: "b" }],
};

describe("tributary validate", () => {
  it("accepts a valid file (exit 0) and the examples", async () => {
    const res = await runCli(["validate", write("good.json", good)]);
    expect(res.stdout).toContain("valid");
    expect(res.code).toBe(0);
    for (const example of fs.readdirSync(path.join(repoRoot, "examples")).filter((f) => f.endsWith(".json"))) {
      const ex = await runCli(["validate", path.join(repoRoot, "examples", example), "--json"]);
      expect(ex.json(), example).toMatchObject({ valid: true, problems: [] });
    }
  });

  it("prints every problem with its path and exits 1", async () => {
    const bad = {
      ...good,
      name: "Bad Name",
      surprise: true,
      nodes: [...good.nodes, { id: "c", kind: "sql", name: "third", config: { sql: "select * from first where" } }],
      edges: [...good.edges, { from: "b", to: "a" }, { from: "a", to: "missing" }],
    };
    const res = await runCli(["validate", write("bad.json", bad)]);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain("name: name 'Bad Name'");
    expect(res.stdout).toContain("surprise: unknown field 'surprise'");
    expect(res.stdout).toContain("cycle: first → second → first");
    expect(res.stdout).toContain("edges[2].to:");
    expect(res.stdout).toMatch(/nodes\[2\]\.config\.sql: node 'third': syntax error at end of input \(line 1, column 26/);
    const json = (await runCli(["validate", path.join(tmp, "bad.json"), "--json"])).json<{ valid: boolean; problems: { code: string }[] }>();
    expect(json.valid).toBe(false);
    expect(json.problems.map((p) => p.code).sort()).toEqual(["cycle", "dangling_edge", "invalid_name", "sql_reads_no_upstream", "sql_syntax", "unknown_field"]);
  });

  it("reports malformed JSON with line and column", async () => {
    const res = await runCli(["validate", write("broken.json", '{\n  "format": "tributary/v1",\n  "nodes": [,]\n}'), "--json"]);
    expect(res.code).toBe(1);
    expect(res.json<{ problems: unknown[] }>().problems).toEqual([
      expect.objectContaining({ code: "invalid_json", position: expect.objectContaining({ line: 3, column: 13 }) }),
    ]);
  });

  it("says a missing file is a usage error (exit 2)", async () => {
    const res = await runCli(["validate", path.join(tmp, "nope.json")]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("no such file");
  });
});

const cases: { name: string; env: () => Promise<{ env: Record<string, string>; args: string[]; close: () => Promise<void> }> }[] = [
  {
    name: "pglite",
    env: async () => ({ env: {}, args: ["--data-dir", fs.mkdtempSync(path.join(tmp, "data-"))], close: async () => {} }),
  },
  ...(process.env.TEST_DATABASE_URL
    ? [{
        name: "postgres",
        env: async () => {
          const pg = await openTempPostgres("tributary_cli");
          // The CLI opens its own connection; this handle only owns the temp database.
          return { env: { DATABASE_URL: pg.url }, args: [], close: () => pg.close() };
        },
      }]
    : []),
];

describe.each(cases)("tributary import / export / list on $name", ({ env }) => {
  let ctx: Awaited<ReturnType<(typeof cases)[number]["env"]>>;
  beforeAll(async () => {
    ctx = await env();
  });
  afterAll(async () => ctx?.close());
  const cli = (...args: string[]) => runCli([...ctx.args, ...args], ctx.env);

  it("imports, lists, exports byte-identically, and versions on change", async () => {
    const file = write("demo.json", good);
    const first = await cli("import", file, "--json");
    expect(first.code).toBe(0);
    expect(first.json()).toMatchObject({ imported: true, created: true, version: 1 });
    expect((await cli("import", file)).stdout).toContain("cli_demo unchanged (version 1)");

    const list = await cli("list", "--json");
    expect(list.json<{ pipelines: { name: string; currentVersion: number }[] }>().pipelines).toEqual([
      expect.objectContaining({ name: "cli_demo", currentVersion: 1, nodeCount: 2 }),
    ]);
    expect((await cli("list")).stdout).toMatch(/cli_demo\s+1\s+2\s+0/);

    const out = path.join(tmp, `exported-${Date.now()}.json`);
    expect((await cli("export", "cli_demo", "--out", out)).code).toBe(0);
    const exported = fs.readFileSync(out, "utf8");
    // export → import → export is byte-identical
    expect((await cli("import", out)).stdout).toContain("unchanged");
    const again = await cli("export", "cli_demo");
    expect(again.stdout).toBe(exported);

    const changed = { ...good, description: "now with words" };
    const second = await cli("import", write("demo2.json", changed), "--json");
    expect(second.json()).toMatchObject({ created: false, changed: true, version: 2 });
    const v1 = await cli("export", "cli_demo", "--version", "1");
    expect(v1.stdout).toBe(exported);
  });

  it("refuses to import an invalid file unless --allow-invalid, and nothing is written", async () => {
    const bad = { ...good, name: "cli_bad", edges: [{ from: "a", to: "zzz" }] };
    const file = write("bad-import.json", bad);
    const refused = await cli("import", file);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain("not imported");
    expect((await cli("list", "--json")).json<{ pipelines: { name: string }[] }>().pipelines.map((p) => p.name)).not.toContain("cli_bad");
    const draft = await cli("import", file, "--allow-invalid", "--json");
    expect(draft.code).toBe(0);
    const list = (await cli("list", "--json")).json<{ pipelines: { name: string; errorCount: number }[] }>();
    // the dangling edge, and second reading first without an edge from it
    expect(list.pipelines.find((p) => p.name === "cli_bad")?.errorCount).toBe(2);
  });

  it("names a missing pipeline", async () => {
    const res = await cli("export", "no_such_thing");
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("no pipeline named 'no_such_thing'");
  });
});
