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
  const counts = problemCounts(document, problems);

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

  const edges = toFlowEdges(document, new Set());
  return { nodes, edges };
}

/** Error and warning counts per node id. */
export function problemCounts(document: PipelineFile, problems: readonly Problem[]): Map<string, { errors: number; warnings: number }> {
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
  return counts;
}

/**
 * The editor's incremental `toFlow`: same output, but a node whose document
 * object, counts and selection did not change keeps its CanvasNode object, so
 * dragging one node of 1,000 re-renders one node. Nodes need saved positions
 * (the editor places unplaced nodes once, on load).
 *
 * 1. For each document node, reuse the cached CanvasNode when nothing it shows changed.
 * 2. Edges are rebuilt only when the edge list or the edge selection changes (by the caller's memo).
 */
export function createFlowDeriver() {
  const cache = new Map<string, { source: PipelineFile["nodes"][number]; errors: number; warnings: number; selected: boolean; out: CanvasNode }>();
  return function deriveNodes(
    document: PipelineFile,
    counts: ReadonlyMap<string, { errors: number; warnings: number }>,
    selection: ReadonlySet<string>,
  ): CanvasNode[] {
    const seen = new Set<string>();
    const nodes: CanvasNode[] = [];
    for (const node of document.nodes) {
      if (seen.has(node.id)) continue;
      seen.add(node.id);
      const errors = counts.get(node.id)?.errors ?? 0;
      const warnings = counts.get(node.id)?.warnings ?? 0;
      const selected = selection.has(node.id);
      const hit = cache.get(node.id);
      if (hit && hit.source === node && hit.errors === errors && hit.warnings === warnings && hit.selected === selected) {
        nodes.push(hit.out);
        continue;
      }
      const out: CanvasNode = {
        id: node.id,
        type: "pipeline",
        position: node.position ?? { x: 0, y: 0 },
        width: NODE_WIDTH,
        height: NODE_HEIGHT,
        selected,
        data:
          hit && hit.source.name === node.name && hit.source.config === node.config && hit.source.kind === node.kind &&
          hit.source.description === node.description && hit.source.forEach === node.forEach && hit.errors === errors && hit.warnings === warnings
            ? hit.out.data
            : {
                name: node.name,
                kind: node.kind,
                ...(node.description ? { description: node.description } : {}),
                summary: nodeSummary(node),
                errors,
                warnings,
              },
      };
      cache.set(node.id, { source: node, errors, warnings, selected, out });
      nodes.push(out);
    }
    if (cache.size > seen.size) for (const id of cache.keys()) if (!seen.has(id)) cache.delete(id);
    return nodes;
  };
}

/** React Flow edges of the document; ids carry the edge's index so a deletion can find it. */
export function toFlowEdges(document: PipelineFile, selected: ReadonlySet<string>): Edge[] {
  const ids = new Set(document.nodes.map((n) => n.id));
  const edges: Edge[] = [];
  document.edges.forEach((edge, index) => {
    if (!ids.has(edge.from) || !ids.has(edge.to)) return;
    const id = `e${index}:${edge.from}->${edge.to}`;
    edges.push({
      id,
      source: edge.from,
      target: edge.to,
      ...(edge.branch ? { sourceHandle: edge.branch } : {}),
      ...(selected.has(id) ? { selected: true } : {}),
      ...(edge.branch
        ? { label: edge.branch, className: `branch-${edge.branch}`, labelBgPadding: [6, 2] as [number, number], labelBgBorderRadius: 4 }
        : {}),
    });
  });
  return edges;
}

/** Edge index from a React Flow edge id made by `toFlowEdges`. */
export function edgeIndexOf(edgeId: string): number {
  return Number(/^e(\d+):/.exec(edgeId)?.[1] ?? -1);
}

/** The document with every unplaced node given the position `toFlow` would draw it at. */
export function withPositions(document: PipelineFile): PipelineFile {
  if (document.nodes.every((n) => n.position)) return document;
  const at = new Map(toFlow(document, []).nodes.map((n) => [n.id, n.position]));
  return {
    ...document,
    nodes: document.nodes.map((n) => (n.position ? n : { ...n, position: at.get(n.id) ?? { x: 0, y: 0 } })),
  };
}
