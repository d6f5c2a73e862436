/**
 * The pure adapter from a pipeline file to React Flow's nodes and edges. The
 * document is the only state; these are derived from it on every change.
 */
import type { Edge, Node, NodeHandle, Position } from "@xyflow/react";
import { canonicalJson, type PipelineFile, type Problem } from "@/server/pipeline";
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
  /** Set while the assistant's proposal is shown over the canvas (see `toProposalFlow`). */
  proposal?: ProposalMark;
};
export type ProposalMark = "added" | "changed" | "removed";
export type CanvasNode = Node<CanvasNodeData, "pipeline">;

/** Handle size in px (canvas.css); React Flow centres each handle on the node's edge. */
const HANDLE = 10;
const handle = (type: "source" | "target", position: "left" | "right", top: number, id?: string): NodeHandle => ({
  ...(id ? { id } : {}),
  type,
  position: position as Position,
  x: (position === "left" ? 0 : NODE_WIDTH) - HANDLE / 2,
  y: top - HANDLE / 2,
  width: HANDLE,
  height: HANDLE,
});
const SIZE = { width: NODE_WIDTH, height: NODE_HEIGHT };
const PLAIN_HANDLES: NodeHandle[] = [handle("target", "left", NODE_HEIGHT / 2), handle("source", "right", NODE_HEIGHT / 2)];
const BRANCH_HANDLES: NodeHandle[] = [
  handle("target", "left", NODE_HEIGHT / 2),
  handle("source", "right", NODE_HEIGHT * 0.3, "true"),
  handle("source", "right", NODE_HEIGHT * 0.72, "false"),
];

/**
 * Where PipelineNode draws its handles, declared up front with its size
 * (`measured`): React Flow draws every node it has not measured, even with
 * `onlyRenderVisibleElements`, so without these the first render of a
 * 1,000-node pipeline mounts 1,000 nodes and then removes most of them; and
 * it leaves unmeasured nodes out of fitView. Drawn nodes are still measured.
 */
export function nodeHandles(kind: string): NodeHandle[] {
  return kind === "branch" ? BRANCH_HANDLES : PLAIN_HANDLES;
}

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

  const unique = uniqueNodes(document);
  const auto = autoPositions(document);

  const nodes: CanvasNode[] = unique.map((node) => ({
    id: node.id,
    type: "pipeline",
    position: node.position ?? auto.get(node.id) ?? { x: 0, y: 0 },
    width: NODE_WIDTH,
    height: NODE_HEIGHT,
    measured: SIZE,
    handles: nodeHandles(node.kind),
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

/** The first node of each id (a duplicate id is already a listed problem). */
function uniqueNodes(document: PipelineFile): PipelineFile["nodes"] {
  const seen = new Set<string>();
  return document.nodes.filter((n) => (seen.has(n.id) ? false : (seen.add(n.id), true)));
}

/** Positions for the nodes without a saved one: laid out by dagre, below the positioned ones when there are any. */
function autoPositions(document: PipelineFile): Map<string, { x: number; y: number }> {
  const unique = uniqueNodes(document);
  const unplaced = unique.filter((n) => !n.position).map((n) => n.id);
  if (!unplaced.length) return new Map();
  const auto = layoutLeftToRight(unplaced, document.edges, { width: NODE_WIDTH, height: NODE_HEIGHT });
  const placed = unique.filter((n) => n.position);
  if (placed.length) {
    const minX = Math.min(...placed.map((n) => n.position!.x));
    const bottom = Math.max(...placed.map((n) => n.position!.y)) + NODE_HEIGHT + 80;
    for (const [id, p] of auto) auto.set(id, { x: p.x + minX, y: p.y + bottom });
  }
  return auto;
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
        measured: SIZE,
        handles: nodeHandles(node.kind),
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
  const at = autoPositions(document);
  return {
    ...document,
    nodes: document.nodes.map((n) => (n.position ? n : { ...n, position: at.get(n.id) ?? { x: 0, y: 0 } })),
  };
}

/**
 * The assistant's proposal drawn over the current document: every node of the
 * proposal (marked `added` when its id is new, `changed` when it differs apart
 * from its position), then the current nodes it drops (marked `removed`, where
 * they are now). Edges: the proposal's, with new ones marked, and dropped ones
 * dashed. Nodes need positions (the assistant panel places proposed nodes).
 */
export function toProposalFlow(current: PipelineFile, proposed: PipelineFile): { nodes: CanvasNode[]; edges: Edge[] } {
  const before = new Map(current.nodes.map((n) => [n.id, n]));
  const after = new Set(proposed.nodes.map((n) => n.id));
  const sameNode = (a: PipelineFile["nodes"][number], b: PipelineFile["nodes"][number]) =>
    canonicalJson({ ...a, position: undefined }) === canonicalJson({ ...b, position: undefined });
  const node = (n: PipelineFile["nodes"][number], mark: ProposalMark | undefined): CanvasNode => ({
    id: n.id,
    type: "pipeline",
    position: n.position ?? { x: 0, y: 0 },
    width: NODE_WIDTH,
    height: NODE_HEIGHT,
    measured: SIZE,
    handles: nodeHandles(n.kind),
    draggable: false,
    connectable: false,
    data: {
      name: n.name,
      kind: n.kind,
      ...(n.description ? { description: n.description } : {}),
      summary: nodeSummary(n),
      errors: 0,
      warnings: 0,
      ...(mark ? { proposal: mark } : {}),
    },
  });
  const seen = new Set<string>();
  const nodes: CanvasNode[] = [];
  for (const n of proposed.nodes) {
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    const old = before.get(n.id);
    nodes.push(node(n, !old ? "added" : sameNode(old, n) ? undefined : "changed"));
  }
  for (const n of current.nodes) {
    if (after.has(n.id) || seen.has(n.id)) continue;
    seen.add(n.id);
    nodes.push(node(n, "removed"));
  }

  const key = (e: PipelineFile["edges"][number]) => `${e.from}->${e.to}:${e.branch ?? ""}`;
  const oldEdges = new Set(current.edges.map(key));
  const newEdges = new Set(proposed.edges.map(key));
  const edge = (e: PipelineFile["edges"][number], i: number, mark: "added" | "removed" | null): Edge => ({
    id: `p${i}:${key(e)}`,
    source: e.from,
    target: e.to,
    ...(e.branch ? { sourceHandle: e.branch, label: e.branch, labelBgPadding: [6, 2] as [number, number], labelBgBorderRadius: 4 } : {}),
    selectable: false,
    className: [e.branch ? `branch-${e.branch}` : "", mark ? `proposal-${mark}` : ""].filter(Boolean).join(" ") || undefined,
  });
  const edges: Edge[] = [];
  proposed.edges.forEach((e, i) => {
    if (seen.has(e.from) && seen.has(e.to)) edges.push(edge(e, i, oldEdges.has(key(e)) ? null : "added"));
  });
  current.edges.forEach((e, i) => {
    if (!newEdges.has(key(e)) && seen.has(e.from) && seen.has(e.to)) edges.push(edge(e, proposed.edges.length + i, "removed"));
  });
  return { nodes, edges };
}
