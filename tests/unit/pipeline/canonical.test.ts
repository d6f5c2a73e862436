import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { canonicalize, serializePipeline } from "@/server/pipeline/canonical";
import { parsePipelineText } from "@/server/pipeline/validate";
import type { PipelineFile } from "@/server/pipeline/schema";
import { chain, generatePipeline, validPipeline } from "@/tests/fixtures/pipelines";

const examplesDir = fileURLToPath(new URL("../../../examples/", import.meta.url));
const exampleFiles = readdirSync(examplesDir).filter((f) => f.endsWith(".json"));

/** export → import → export */
function roundTrip(pipeline: PipelineFile): { first: string; second: string } {
  const first = serializePipeline(pipeline);
  const parsed = parsePipelineText(first);
  expect(parsed.problems).toEqual([]);
  if (!parsed.ok) throw new Error("did not parse");
  return { first, second: serializePipeline(parsed.pipeline) };
}

/** The same value with the keys of every object in reverse order. */
function shuffleKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(shuffleKeys) as T;
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.keys(value).reverse().map((k) => [k, shuffleKeys((value as Record<string, unknown>)[k])])) as T;
}

/** Every object's keys are in sorted order, at every depth. */
function expectSortedKeys(value: unknown, where = "$"): void {
  if (Array.isArray(value)) return value.forEach((v, i) => expectSortedKeys(v, `${where}[${i}]`));
  if (value === null || typeof value !== "object") return;
  const keys = Object.keys(value);
  expect(keys, where).toEqual([...keys].sort());
  for (const k of keys) expectSortedKeys((value as Record<string, unknown>)[k], `${where}.${k}`);
}

describe("serializePipeline: byte-stable round trip", () => {
  const fixtures: [string, () => PipelineFile][] = [
    ["validPipeline", validPipeline],
    ["chain(20, sql)", () => chain(20, "sql")],
    ["chain(20, js)", () => chain(20, "js")],
    ["generatePipeline(300)", () => generatePipeline(300)],
  ];
  it.each(fixtures)("%s: export → import → export is byte-identical", (_, make) => {
    const { first, second } = roundTrip(make());
    expect(second).toBe(first);
  });

  it("has examples to check", () => {
    expect(exampleFiles).toEqual(expect.arrayContaining(["daily_sales.json", "contact_sync.json"]));
  });

  it.each(exampleFiles)("examples/%s: export → import → export is byte-identical", (file) => {
    const text = readFileSync(examplesDir + file, "utf8");
    const parsed = parsePipelineText(text);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const { first, second } = roundTrip(parsed.pipeline);
    expect(second).toBe(first);
  });
});

describe("canonical form", () => {
  it("sorts keys at every depth and ends with one newline", () => {
    const text = serializePipeline(shuffleKeys(validPipeline()));
    expectSortedKeys(JSON.parse(text));
    expect(text.startsWith('{\n  "defaults": {\n')).toBe(true);
    expect(text.endsWith("}\n")).toBe(true);
    expect(text.endsWith("\n\n")).toBe(false);
  });

  it("a copy with shuffled keys and shuffled edges serializes identically", () => {
    const p = generatePipeline(200);
    const shuffled = shuffleKeys(p);
    shuffled.edges.reverse();
    expect(serializePipeline(shuffled)).toBe(serializePipeline(p));
  });

  it("sorts edges by from, to and branch", () => {
    const p = validPipeline();
    p.edges = [
      { from: "n2", to: "n3" },
      { from: "n1", to: "n3" },
      { from: "n1", to: "n2" },
    ];
    expect(canonicalize(p).edges).toEqual([
      { from: "n1", to: "n2" },
      { from: "n1", to: "n3" },
      { from: "n2", to: "n3" },
    ]);
    const b = validPipeline();
    b.edges = [
      { from: "n1", to: "n2", branch: "true" },
      { from: "n1", to: "n2", branch: "false" },
    ];
    expect(canonicalize(b).edges.map((e) => e.branch)).toEqual(["false", "true"]);
  });

  it("keeps the node order (it is the canvas's and the run's tie-break order)", () => {
    const p = validPipeline();
    p.nodes.reverse();
    expect(canonicalize(p).nodes.map((n) => n.id)).toEqual(["n3", "n2", "n1"]);
  });

  it("rounds positions to whole pixels", () => {
    const p = validPipeline();
    p.nodes[0]!.position = { x: 12.4, y: -7.6 };
    p.nodes[1]!.position = { x: 280.5000001, y: 0.0000001 };
    const c = canonicalize(p);
    expect(c.nodes[0]!.position).toEqual({ x: 12, y: -8 });
    expect(c.nodes[1]!.position).toEqual({ x: 281, y: 0 });
    expect(serializePipeline(p)).toContain('"x": 12,');
  });

  it("drops undefined fields and does not change its input", () => {
    const p = validPipeline();
    p.nodes[0]!.description = undefined;
    p.nodes[0]!.position = { x: 1.5, y: 2 };
    const before = JSON.stringify(p);
    const text = serializePipeline(p);
    expect(JSON.stringify(p)).toBe(before);
    expect(text).not.toContain("description\": null");
    expect(Object.keys(JSON.parse(text).nodes[0])).not.toContain("description");
  });

  it("keeps the text of SQL and code cells exactly", () => {
    const p = validPipeline();
    const code = "export default ({ store_daily }) =>\n\tstore_daily.filter(r => r.revenue < 100) // \"quoted\" ü";
    p.nodes[2]!.config = { code };
    const { second } = roundTrip(p);
    expect(JSON.parse(second).nodes[2].config.code).toBe(code);
  });
});
