/**
 * A run's plan: the pinned pipeline document as the runtime needs it — nodes by
 * id, their edges both ways, their resolved settings. Pure, and cached per
 * pipeline version (a version never changes).
 */
import { resolveNodeSettings, type PipelineEdge, type PipelineFile, type PipelineNode, type ResolvedSettings } from "@/server/pipeline";

export interface PlanNode {
  node: PipelineNode;
  settings: ResolvedSettings;
  /** Edges into this node. */
  upstream: PipelineEdge[];
  /** Ids of nodes this one feeds. */
  downstream: string[];
}

export interface Plan {
  pipeline: PipelineFile;
  nodes: Map<string, PlanNode>;
  byName: Map<string, PlanNode>;
}

export function buildPlan(pipeline: PipelineFile): Plan {
  const nodes = new Map<string, PlanNode>();
  for (const node of pipeline.nodes) {
    nodes.set(node.id, { node, settings: resolveNodeSettings(pipeline, node), upstream: [], downstream: [] });
  }
  for (const edge of pipeline.edges) {
    nodes.get(edge.to)?.upstream.push(edge);
    nodes.get(edge.from)?.downstream.push(edge.to);
  }
  return { pipeline, nodes, byName: new Map([...nodes.values()].map((p) => [p.node.name, p])) };
}

const cache = new Map<string, Plan>();

/** The plan of a pipeline version, built once per process. */
export function planFor(pipelineId: string, version: number, pipeline: () => PipelineFile): Plan {
  const key = `${pipelineId}@${version}`;
  let plan = cache.get(key);
  if (!plan) {
    plan = buildPlan(pipeline());
    if (cache.size > 500) cache.clear();
    cache.set(key, plan);
  }
  return plan;
}

/** Every node reachable downstream of `ids`, them included. */
export function downstreamClosure(plan: Plan, ids: Iterable<string>): Set<string> {
  const out = new Set<string>();
  const stack = [...ids];
  while (stack.length) {
    const id = stack.pop()!;
    if (out.has(id)) continue;
    out.add(id);
    stack.push(...(plan.nodes.get(id)?.downstream ?? []));
  }
  return out;
}
