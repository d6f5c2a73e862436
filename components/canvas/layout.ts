/**
 * Automatic layout for nodes that have no saved position, left to right.
 * Up to DAGRE_LIMIT nodes: dagre (fewest crossings, ≈0.5 s at 200 nodes).
 * Beyond it dagre takes seconds to tens of seconds (28 s for 1,000 nodes), so
 * a linear-time layered layout takes over: same columns, simpler ordering.
 */
import dagre from "@dagrejs/dagre";

export interface LayoutEdge {
  from: string;
  to: string;
}

export interface Size {
  width: number;
  height: number;
}

type Positions = Map<string, { x: number; y: number }>;

export const DAGRE_LIMIT = 200;
const NODE_SEP = 28;
const RANK_SEP = 72;

/** Positions (top-left corners) for `ids`; edges to other ids are ignored. */
export function layoutLeftToRight(ids: readonly string[], edges: readonly LayoutEdge[], size: Size): Positions {
  const known = new Set(ids);
  const inside = edges.filter((e) => known.has(e.from) && known.has(e.to) && e.from !== e.to);
  return ids.length <= DAGRE_LIMIT ? dagreLayout(ids, inside, size) : layeredLayout(ids, inside, size);
}

/**
 * dagre: build the graph (all nodes one size), rank it left to right (dagre
 * breaks cycles itself), and turn its centre points into top-left corners.
 */
function dagreLayout(ids: readonly string[], edges: readonly LayoutEdge[], size: Size): Positions {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", nodesep: NODE_SEP, ranksep: RANK_SEP, marginx: 0, marginy: 0 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const id of ids) graph.setNode(id, { width: size.width, height: size.height });
  for (const edge of edges) graph.setEdge(edge.from, edge.to);
  dagre.layout(graph);
  const out: Positions = new Map();
  for (const id of ids) {
    const node = graph.node(id);
    out.set(id, { x: (node?.x ?? 0) - size.width / 2, y: (node?.y ?? 0) - size.height / 2 });
  }
  return out;
}

/**
 * A fast layered layout for big graphs.
 *
 * 1. Rank = longest path from a source (Kahn's order); nodes left on a cycle go
 *    one column after their ranked parents.
 * 2. Order each column by the mean row of its parents (one barycenter sweep).
 * 3. Columns are RANK_SEP apart, rows NODE_SEP apart, each column centred on y = 0.
 */
function layeredLayout(ids: readonly string[], edges: readonly LayoutEdge[], size: Size): Positions {
  const parents = new Map<string, string[]>(ids.map((id) => [id, []]));
  const children = new Map<string, string[]>(ids.map((id) => [id, []]));
  const indegree = new Map<string, number>(ids.map((id) => [id, 0]));
  for (const { from, to } of edges) {
    parents.get(to)!.push(from);
    children.get(from)!.push(to);
    indegree.set(to, indegree.get(to)! + 1);
  }

  const rank = new Map<string, number>();
  const queue = ids.filter((id) => indegree.get(id) === 0);
  for (const id of queue) rank.set(id, 0);
  for (let head = 0; head < queue.length; head++) {
    const id = queue[head]!;
    for (const child of children.get(id)!) {
      rank.set(child, Math.max(rank.get(child) ?? 0, rank.get(id)! + 1));
      const left = indegree.get(child)! - 1;
      indegree.set(child, left);
      if (left === 0) queue.push(child);
    }
  }
  for (const id of ids) {
    if (indegree.get(id)! > 0) rank.set(id, 1 + Math.max(0, ...parents.get(id)!.map((p) => rank.get(p) ?? 0)));
  }

  const columns: string[][] = [];
  for (const id of ids) (columns[rank.get(id)!] ??= []).push(id);
  const row = new Map<string, number>();
  columns.forEach((column, c) => {
    if (c > 0) {
      const key = (id: string) => {
        const rows = parents.get(id)!.map((p) => row.get(p)).filter((r): r is number => r !== undefined);
        return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : Number.MAX_SAFE_INTEGER;
      };
      const keys = new Map(column.map((id) => [id, key(id)]));
      column.sort((a, b) => keys.get(a)! - keys.get(b)!);
    }
    column.forEach((id, i) => row.set(id, i - (column.length - 1) / 2));
  });

  const out: Positions = new Map();
  columns.forEach((column, c) => {
    for (const id of column) {
      out.set(id, { x: c * (size.width + RANK_SEP), y: row.get(id)! * (size.height + NODE_SEP) - size.height / 2 });
    }
  });
  return out;
}
