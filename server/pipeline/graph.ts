/**
 * Graph algorithms over nodes and edges by id. They take the minimal shapes
 * so that validation can run them on a document that is not yet fully valid.
 */

export interface GraphNode {
  id: string;
}
export interface GraphEdge {
  from: string;
  to: string;
}

/** Upstream and downstream ids of every node; edges to unknown ids are ignored. */
export function adjacency(nodes: readonly GraphNode[], edges: readonly GraphEdge[]) {
  const upstream = new Map<string, string[]>();
  const downstream = new Map<string, string[]>();
  for (const n of nodes) {
    upstream.set(n.id, []);
    downstream.set(n.id, []);
  }
  for (const e of edges) {
    const down = downstream.get(e.from);
    const up = upstream.get(e.to);
    if (!down || !up) continue;
    down.push(e.to);
    up.push(e.from);
  }
  return { upstream, downstream };
}

/**
 * The cycles of the graph, each as the ids along one closed path.
 *
 * 1. Find strongly connected components with an iterative Tarjan (no recursion, so
 *    a 10,000-node chain cannot overflow the stack).
 * 2. A component of two or more nodes, or one node with an edge to itself, holds a cycle.
 * 3. Walk one closed path through it from its first node, to name the nodes in order.
 */
export function findCycles(nodes: readonly GraphNode[], edges: readonly GraphEdge[]): string[][] {
  const { downstream } = adjacency(nodes, edges);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;

  for (const root of nodes) {
    if (index.has(root.id)) continue;
    const work: { id: string; next: number }[] = [{ id: root.id, next: 0 }];
    index.set(root.id, counter);
    low.set(root.id, counter++);
    stack.push(root.id);
    onStack.add(root.id);
    while (work.length) {
      const frame = work[work.length - 1]!;
      const succ = downstream.get(frame.id)!;
      if (frame.next < succ.length) {
        const w = succ[frame.next++]!;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ id: w, next: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.id, Math.min(low.get(frame.id)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.id, Math.min(low.get(parent.id)!, low.get(frame.id)!));
      if (low.get(frame.id) === index.get(frame.id)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== frame.id);
        const selfLoop = comp.length === 1 && downstream.get(comp[0]!)!.includes(comp[0]!);
        if (comp.length > 1 || selfLoop) components.push(comp);
      }
    }
  }

  const order = new Map(nodes.map((n, i) => [n.id, i]));
  return components.map((comp) => {
    const members = new Set(comp);
    const start = comp.reduce((a, b) => (order.get(a)! <= order.get(b)! ? a : b));
    return closedPath(start, members, downstream);
  });
}

/** A closed path from `start` back to it inside `members` (breadth-first, so it is short). */
function closedPath(start: string, members: Set<string>, downstream: Map<string, string[]>): string[] {
  const prev = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const cur = queue[i]!;
    for (const next of downstream.get(cur)!) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [cur];
        while (path[0] !== start) path.unshift(prev.get(path[0]!)!);
        return path;
      }
      if (!prev.has(next)) {
        prev.set(next, cur);
        queue.push(next);
      }
    }
  }
  return [start];
}

/**
 * Node ids in an order where every node comes after all of its upstream nodes
 * (Kahn's algorithm; ties keep the document's order). Throws when there is a cycle.
 */
export function topologicalOrder(nodes: readonly GraphNode[], edges: readonly GraphEdge[]): string[] {
  const { downstream } = adjacency(nodes, edges);
  const indegree = new Map<string, number>(nodes.map((n) => [n.id, 0]));
  for (const [, succ] of downstream) for (const s of succ) indegree.set(s, indegree.get(s)! + 1);
  const position = new Map(nodes.map((n, i) => [n.id, i]));
  // A binary heap by document position keeps the order stable and the whole sort O(n log n).
  const heap: string[] = [];
  const push = (id: string) => {
    heap.push(id);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (position.get(heap[p]!)! <= position.get(heap[i]!)!) break;
      [heap[p], heap[i]] = [heap[i]!, heap[p]!];
      i = p;
    }
  };
  const pop = () => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && position.get(heap[l]!)! < position.get(heap[m]!)!) m = l;
        if (r < heap.length && position.get(heap[r]!)! < position.get(heap[m]!)!) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  };
  for (const n of nodes) if (indegree.get(n.id) === 0) push(n.id);
  const out: string[] = [];
  while (heap.length) {
    const id = pop();
    out.push(id);
    for (const s of downstream.get(id)!) {
      const d = indegree.get(s)! - 1;
      indegree.set(s, d);
      if (d === 0) push(s);
    }
  }
  if (out.length !== indegree.size) throw new Error("the graph has a cycle; no topological order exists");
  return out;
}

/** Every id reachable downstream of `id`, itself included. */
export function descendants(id: string, edges: readonly GraphEdge[]): Set<string> {
  const down = new Map<string, string[]>();
  for (const e of edges) {
    const list = down.get(e.from);
    if (list) list.push(e.to);
    else down.set(e.from, [e.to]);
  }
  const seen = new Set([id]);
  const queue = [id];
  while (queue.length) {
    for (const next of down.get(queue.pop()!) ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return seen;
}

/** Every id reachable upstream of `id`, itself included. */
export function ancestors(id: string, edges: readonly GraphEdge[]): Set<string> {
  return descendants(id, edges.map((e) => ({ ...e, from: e.to, to: e.from })));
}
