import { beforeAll, describe, expect, it } from "vitest";
import { serializePipeline } from "@/server/pipeline/canonical";
import { topologicalOrder } from "@/server/pipeline/graph";
import { MAX_EDGES, MAX_NODES } from "@/server/pipeline/schema";
import { loadSqlAnalyzer, type SqlAnalyzer } from "@/server/pipeline/sql-references";
import { parsePipelineText, validate } from "@/server/pipeline/validate";
import { chain, generatePipeline } from "@/tests/fixtures/pipelines";

let sql: SqlAnalyzer;
beforeAll(async () => {
  sql = await loadSqlAnalyzer();
});

describe("large pipelines", () => {
  it("generatePipeline(5000) has 5,000 nodes and about 1.2 edges per node", () => {
    const p = generatePipeline(5_000);
    expect(p.nodes).toHaveLength(5_000);
    expect(p.edges.length / p.nodes.length).toBeGreaterThan(1.1);
    expect(p.edges.length / p.nodes.length).toBeLessThan(1.3);
    expect(p.nodes[0]!.name).toBe("node_0");
    expect(p.nodes.every((n) => n.position !== undefined)).toBe(true);
    expect(topologicalOrder(p.nodes, p.edges)).toHaveLength(5_000);
  });

  it("is deterministic", () => {
    expect(serializePipeline(generatePipeline(1_000))).toBe(serializePipeline(generatePipeline(1_000)));
    expect(serializePipeline(generatePipeline(1_000, 7))).not.toBe(serializePipeline(generatePipeline(1_000)));
  });

  it("a generated 5,000-node pipeline validates with no problems, SQL included, and round-trips", () => {
    const p = generatePipeline(5_000);
    const started = performance.now();
    expect(validate(p, { sql })).toEqual([]);
    const text = serializePipeline(p);
    const parsed = parsePipelineText(text, { sql });
    expect(parsed.problems).toEqual([]);
    expect(parsed.ok).toBe(true);
    expect(serializePipeline(parsed.pipeline!)).toBe(text);
    // Generous: the point is that nothing is quadratic.
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  it("MAX_NODES nodes are allowed", () => {
    expect(validate(chain(MAX_NODES))).toEqual([]);
  });

  it("a file over MAX_NODES gets one clear problem", () => {
    const problems = validate(chain(MAX_NODES + 1));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ code: "schema", severity: "error", path: ["nodes"] });
    expect(problems[0]!.message).toContain(`at most ${MAX_NODES} nodes`);
    expect(problems[0]!.message).toContain(`${MAX_NODES + 1}`);
  });

  it("a file over MAX_EDGES gets a clear problem", () => {
    const p = chain(2);
    p.edges = Array.from({ length: MAX_EDGES + 1 }, () => ({ from: "s0", to: "s1" }));
    const problems = validate(p).filter((x) => x.code === "schema");
    expect(problems).toHaveLength(1);
    expect(problems[0]!.path).toEqual(["edges"]);
    expect(problems[0]!.message).toContain(`at most ${MAX_EDGES} edges`);
  });
});
