/**
 * The pure adapter from a pipeline file to React Flow's nodes and edges. The
 * document is the only state; these are derived from it on every change.
 */
import type { Edge, Node } from "@xyflow/react";
import type { PipelineFile, Problem } from "@/server/pipeline";
import { layoutLeftToRight } from "./layout";
import { nodeSummary } from "./node-kinds";

export const NODE_WIDTH = 240;
export const NODE_HEIGHT = 64;

export type CanvasNodeData = {
  name: string;
  kind: string;
  description?: string;
  /** One short line under the name, e.g. the CSV path or the sink table. */
  summary: string;
  errors: number;
  warnings: number;
};
export type CanvasNode = Node<CanvasNodeData, "pipeline">;

/**
 * The node a problem is about: its `nodeId`, the first node of a cycle, the
 * node at `nodes[i]`, or the surviving end of a dangling edge at `edges[i]`.
 */
export function problemNodeId(problem: Problem, document: PipelineFile): string | undefined {
  if (problem.nodeId) return problem.nodeId;
  if (problem.nodeIds?.length) return problem.nodeIds[0];
  const [collection, index] = problem.path;
  if (typeof index !== "number") return undefined;
  if (collection === "nodes") return document.nodes[index]?.id;
  if (collection === "edges") {
    const edge = document.edges[index];
    const ids = new Set(document.nodes.map((n) => n.id));
    if (edge && ids.has(edge.from)) return edge.from;
    if (edge && ids.has(edge.to)) return edge.to;
  }
  return undefined;
}

/**
 * Derive React Flow nodes and edges.
 *
 * 1. Count error and warning problems per node (every node of a cycle counts).
 * 2. Keep the first node of each id (a duplicate id is already a listed problem).
 * 3. Nodes with a saved position keep it; the rest are laid out by dagre, below
 *    the positioned ones when there are any.
 * 4. Edges whose ends both exist become edges; branch edges are labelled.
 */
export function toFlow(document: PipelineFile, problems: readonly Problem[]): { nodes: CanvasNode[]; edges: Edge[] } {
  const counts = new Map<string, { errors: number; warnings: number }>();
  for (const problem of problems) {
    const ids = problem.nodeIds?.length ? problem.nodeIds : [problemNodeId(problem, document)];
    for (const id of new Set(ids)) {
      if (!id) continue;
      const c = counts.get(id) ?? { errors: 0, warnings: 0 };
      if (problem.severity === "error") c.errors++;
      else c.warnings++;
      counts.set(id, c);
    }
  }

  const seen = new Set<string>();
  const unique = document.nodes.filter((n) => (seen.has(n.id) ? false : (seen.add(n.id), true)));
  const unplaced = unique.filter((n) => !n.position).map((n) => n.id);
  let auto = new Map<string, { x: number; y: number }>();
  if (unplaced.length) {
    auto = layoutLeftToRight(unplaced, document.edges, { width: NODE_WIDTH, height: NODE_HEIGHT });
    const placed = unique.filter((n) => n.position);
    if (placed.length) {
      const minX = Math.min(...placed.map((n) => n.position!.x));
      const bottom = Math.max(...placed.map((n) => n.position!.y)) + NODE_HEIGHT + 80;
      for (const [id, p] of auto) auto.set(id, { x: p.x + minX, y: p.y + bottom });
    }
  }

  const nodes: CanvasNode[] = unique.map((node) => ({
    id: node.id,
    type: "pipeline",
    position: node.position ?? auto.get(node.id) ?? { x: 0, y: 0 },
    width: NODE_WIDTH,
    height: NODE_HEIGHT,
    data: {
      name: node.name,
      kind: node.kind,
      ...(node.description ? { description: node.description } : {}),
      summary: nodeSummary(node),
      errors: counts.get(node.id)?.errors ?? 0,
      warnings: counts.get(node.id)?.warnings ?? 0,
    },
  }));

  const edges: Edge[] = [];
  document.edges.forEach((edge, index) => {
    if (!seen.has(edge.from) || !seen.has(edge.to)) return;
    edges.push({
      id: `e${index}:${edge.from}->${edge.to}`,
      source: edge.from,
      target: edge.to,
      ...(edge.branch
        ? { label: edge.branch, className: `branch-${edge.branch}`, labelBgPadding: [6, 2] as [number, number], labelBgBorderRadius: 4 }
        : {}),
    });
  });
  return { nodes, edges };
}
