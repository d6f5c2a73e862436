import { describe, expect, it } from "vitest";
import { FORMAT_MIGRATIONS, migrateFormat, parseJsonText, type FormatMigration } from "@/server/pipeline/format";
import { parsePipeline, parsePipelineText } from "@/server/pipeline/validate";
import { validPipeline } from "@/tests/fixtures/pipelines";

/** A made-up v0: edges were `{ source, target }` and the node list was called `steps`. */
const v0ToV1: FormatMigration = {
  to: "tributary/v1",
  migrate: (doc) => {
    const { steps, edges, ...rest } = doc as { steps: unknown[]; edges: { source: string; target: string }[] };
    return { ...rest, nodes: steps, edges: edges.map((e) => ({ from: e.source, to: e.target })) };
  },
};

function v0Document(): Record<string, unknown> {
  const v1 = validPipeline();
  const { nodes, edges, ...rest } = v1;
  return { ...rest, format: "tributary/v0", steps: nodes, edges: edges.map((e) => ({ source: e.from, target: e.to })) };
}

describe("migrateFormat", () => {
  it("has no migrations yet: v1 is the first published format", () => {
    expect(Object.keys(FORMAT_MIGRATIONS)).toEqual([]);
  });

  it("passes a current document through unchanged", () => {
    const doc = validPipeline();
    const result = migrateFormat(doc);
    expect(result).toEqual({ ok: true, value: doc });
  });

  it("upgrades a v0 document to a valid v1 with a migration table", () => {
    const result = parsePipeline(v0Document(), { migrations: { "tributary/v0": v0ToV1 } });
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.pipeline).toEqual(validPipeline());
  });

  it("upgrades from text as well", () => {
    const result = parsePipelineText(JSON.stringify(v0Document()), { migrations: { "tributary/v0": v0ToV1 } });
    expect(result.ok).toBe(true);
    expect(result.pipeline?.edges).toEqual([
      { from: "n1", to: "n2" },
      { from: "n2", to: "n3" },
    ]);
  });

  it("chains migrations: alpha → v0 → v1", () => {
    const calls: string[] = [];
    const migrations: Record<string, FormatMigration> = {
      "tributary/alpha": {
        to: "tributary/v0",
        migrate: (doc) => {
          calls.push("alpha");
          const { title, ...rest } = doc as { title: string };
          return { ...rest, name: title };
        },
      },
      "tributary/v0": {
        to: "tributary/v1",
        migrate: (doc) => {
          calls.push("v0");
          return v0ToV1.migrate(doc);
        },
      },
    };
    const { name, ...rest } = v0Document();
    const alpha = { ...rest, format: "tributary/alpha", title: name };
    const result = parsePipeline(alpha, { migrations });
    expect(calls).toEqual(["alpha", "v0"]);
    expect(result.problems).toEqual([]);
    expect(result.pipeline).toEqual(validPipeline());
  });

  it("a migrated document is still validated as v1", () => {
    const doc = v0Document();
    (doc.steps as { name: string }[])[1]!.name = "Store Daily";
    const result = parsePipeline(doc, { migrations: { "tributary/v0": v0ToV1 } });
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => [p.code, p.path])).toEqual([["invalid_name", ["nodes", 1, "name"]]]);
  });

  it("refuses v0 with the default table, naming the supported format", () => {
    const result = parsePipeline(v0Document());
    expect(result.ok).toBe(false);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatchObject({ code: "unsupported_format", severity: "error", path: ["format"] });
    expect(result.problems[0]!.message).toContain('"tributary/v0"');
    expect(result.problems[0]!.message).toContain("tributary/v1");
  });

  it("refuses an unknown format and lists what the table can read", () => {
    const result = migrateFormat({ ...validPipeline(), format: "airflow/dag" }, { "tributary/v0": v0ToV1 });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems[0]!.code).toBe("unsupported_format");
    expect(result.problems[0]!.message).toContain('"airflow/dag"');
    expect(result.problems[0]!.message).toContain("tributary/v1");
    expect(result.problems[0]!.message).toContain("tributary/v0");
  });

  it("refuses a non-string format", () => {
    const result = migrateFormat({ ...validPipeline(), format: 1 });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems[0]!.message).toContain("unsupported format 1");
  });

  it("stops a migration table that loops", () => {
    const loop: Record<string, FormatMigration> = {
      "x/a": { to: "x/b", migrate: (d) => d },
      "x/b": { to: "x/a", migrate: (d) => d },
    };
    const result = migrateFormat({ format: "x/a" }, loop);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems[0]!.code).toBe("unsupported_format");
  });

  it("does not change the document it is given", () => {
    const doc = v0Document();
    const before = JSON.stringify(doc);
    migrateFormat(doc, { "tributary/v0": v0ToV1 });
    expect(JSON.stringify(doc)).toBe(before);
  });
});

describe("parseJsonText", () => {
  it("parses valid JSON", () => {
    expect(parseJsonText('{"a": [1, 2]}')).toEqual({ ok: true, value: { a: [1, 2] } });
  });

  it("refuses comments and trailing commas, with their line", () => {
    for (const text of ['{\n  "a": 1, // note\n  "b": 2\n}', '{\n  "a": [1, 2,],\n  "b": 2\n}']) {
      const result = parseJsonText(text);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.problems[0]!.position?.line).toBe(2);
    }
  });

  it("an empty text is one problem at line 1, column 1", () => {
    const result = parseJsonText("");
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems[0]).toMatchObject({ code: "invalid_json", position: { line: 1, column: 1 } });
  });
});
