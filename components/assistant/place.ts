/**
 * Where the assistant's proposed nodes go on the canvas. Models rarely give
 * positions, and the canvas needs them, so a proposal is placed before it is
 * shown. Pure.
 *
 * - Nodes the current document has keep their current positions.
 * - A suggested node goes right of its upstream nodes, siblings stacked.
 * - A drafted pipeline is laid out left to right (dagre), below the current
 *   nodes when there are any, so the overlay does not stack them.
 */
import type { PipelineFile } from "@/server/pipeline";
import { NODE_HEIGHT, NODE_WIDTH, withPositions } from "@/components/canvas/adapter";

const GAP_X = 80;
const GAP_Y = 36;

export function placeProposal(current: PipelineFile, proposed: PipelineFile): PipelineFile {
  const known = new Map(current.nodes.map((n) => [n.id, n.position]));
  const at = new Map<string, { x: number; y: number }>();
  for (const n of proposed.nodes) {
    const p = n.position ?? known.get(n.id);
    if (p) at.set(n.id, p);
  }
  const unplaced = proposed.nodes.filter((n) => !at.has(n.id));
  if (!unplaced.length) return withAt(proposed, at);

  if (at.size === 0) {
    // A whole new graph: lay it out, then move it below what is on the canvas now.
    const laid = withPositions(proposed);
    const ys = current.nodes.map((n) => n.position?.y ?? 0);
    const xs = current.nodes.map((n) => n.position?.x ?? 0);
    const dy = ys.length ? Math.max(...ys) + NODE_HEIGHT + 120 : 0;
    const dx = xs.length ? Math.min(...xs) : 0;
    return { ...laid, nodes: laid.nodes.map((n) => ({ ...n, position: { x: n.position!.x + dx, y: n.position!.y + dy } })) };
  }

  // Next to what they read, in the order of the edges; several of one parent stack downwards.
  const children = new Map<string, number>();
  let pending = unplaced;
  for (let pass = 0; pending.length && pass < proposed.nodes.length + 1; pass++) {
    const rest: typeof pending = [];
    for (const n of pending) {
      const ups = proposed.edges.filter((e) => e.to === n.id).map((e) => at.get(e.from)).filter((p): p is { x: number; y: number } => !!p);
      if (!ups.length && proposed.edges.some((e) => e.to === n.id)) {
        rest.push(n); // its upstream is not placed yet
        continue;
      }
      if (!ups.length) {
        // No upstream: below everything placed so far.
        const bottom = Math.max(...[...at.values()].map((p) => p.y)) + NODE_HEIGHT + GAP_Y;
        const left = Math.min(...[...at.values()].map((p) => p.x));
        at.set(n.id, { x: left, y: bottom });
        continue;
      }
      const parent = proposed.edges.find((e) => e.to === n.id && at.has(e.from))!.from;
      const index = children.get(parent) ?? 0;
      children.set(parent, index + 1);
      const x = Math.max(...ups.map((p) => p.x)) + NODE_WIDTH + GAP_X;
      const y = Math.min(...ups.map((p) => p.y)) + index * (NODE_HEIGHT + GAP_Y);
      at.set(n.id, freeSpot(at, { x, y }));
    }
    if (rest.length === pending.length) break;
    pending = rest;
  }
  // Whatever is left (a cycle among new nodes): below.
  for (const n of pending) {
    const bottom = Math.max(0, ...[...at.values()].map((p) => p.y)) + NODE_HEIGHT + GAP_Y;
    at.set(n.id, { x: 0, y: bottom });
  }
  return withAt(proposed, at);
}

/** `p`, or the first spot below it that no placed node covers. */
function freeSpot(at: Map<string, { x: number; y: number }>, p: { x: number; y: number }) {
  const taken = [...at.values()];
  let y = p.y;
  for (let i = 0; i < 50 && taken.some((q) => Math.abs(q.x - p.x) < NODE_WIDTH && Math.abs(q.y - y) < NODE_HEIGHT + 8); i++) y += NODE_HEIGHT + GAP_Y;
  return { x: p.x, y };
}

function withAt(doc: PipelineFile, at: Map<string, { x: number; y: number }>): PipelineFile {
  return {
    ...doc,
    nodes: doc.nodes.map((n) => {
      const p = at.get(n.id);
      return p && (!n.position || n.position.x !== p.x || n.position.y !== p.y) ? { ...n, position: { x: Math.round(p.x), y: Math.round(p.y) } } : n;
    }),
  };
}
