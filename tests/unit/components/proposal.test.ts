import { describe, expect, it } from "vitest";
import { placeProposal } from "@/components/assistant/place";
import { NODE_WIDTH, toProposalFlow } from "@/components/canvas/adapter";
import type { PipelineFile } from "@/server/pipeline";
import { twoSqlNodes } from "@/tests/fixtures/pipelines";

const current: PipelineFile = twoSqlNodes({ id: "gone", kind: "sql", name: "gone", config: { sql: "select 2 as y" }, position: { x: 0, y: 200 } });

describe("the assistant's proposal on the canvas", () => {
  it("marks added, changed and removed nodes and edges; unchanged ones carry no mark", () => {
    const proposed: PipelineFile = {
      ...current,
      nodes: [
        { id: "a", kind: "sql", name: "a", config: { sql: "select 1 as x" }, position: { x: 5, y: 5 } }, // moved only: unchanged
        { id: "b", kind: "sql", name: "b", config: { sql: "select x * 2 as x from a" } },
        { id: "c", kind: "sql", name: "c", config: { sql: "select * from b" } },
      ],
      edges: [{ from: "a", to: "b" }, { from: "b", to: "c" }],
    };
    const flow = toProposalFlow(current, proposed);
    expect(Object.fromEntries(flow.nodes.map((n) => [n.id, n.data.proposal ?? null]))).toEqual({ a: null, b: "changed", c: "added", gone: "removed" });
    expect(flow.nodes.every((n) => n.draggable === false)).toBe(true);
    expect(flow.edges.map((e) => [e.source, e.target, e.className ?? null])).toEqual([["a", "b", null], ["b", "c", "proposal-added"]]);
  });

  it("places unplaced suggested nodes right of their upstream, siblings below each other, keeping known positions", () => {
    const proposed: PipelineFile = {
      ...current,
      nodes: [
        ...current.nodes.map(({ position: _p, ...n }) => n),
        { id: "c1", kind: "sql", name: "c1", config: { sql: "select * from b" } },
        { id: "c2", kind: "sql", name: "c2", config: { sql: "select * from b" } },
      ],
      edges: [...current.edges, { from: "b", to: "c1" }, { from: "b", to: "c2" }],
    };
    const placed = placeProposal(current, proposed);
    const at = Object.fromEntries(placed.nodes.map((n) => [n.id, n.position]));
    expect(at.a).toEqual({ x: 0, y: 0 });
    expect(at.b).toEqual({ x: 300, y: 0 });
    expect(at.c1!.x).toBeGreaterThan(300 + NODE_WIDTH);
    expect(at.c2!.x).toBe(at.c1!.x);
    expect(at.c2!.y).toBeGreaterThan(at.c1!.y);
  });

  it("lays out a whole new draft below what is on the canvas", () => {
    const draft: PipelineFile = {
      format: "tributary/v1",
      name: "new",
      nodes: [
        { id: "s", kind: "sql", name: "s", config: { sql: "select 1 as x" } },
        { id: "t", kind: "sql", name: "t", config: { sql: "select * from s" } },
      ],
      edges: [{ from: "s", to: "t" }],
    };
    const placed = placeProposal(current, draft);
    for (const n of placed.nodes) expect(n.position!.y).toBeGreaterThan(200);
    expect(placed.nodes[1]!.position!.x).toBeGreaterThan(placed.nodes[0]!.position!.x);
  });
});
