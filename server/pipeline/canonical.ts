/**
 * The canonical text of a pipeline file: keys sorted at every depth, edges
 * sorted, positions rounded to whole pixels, two-space indentation and a final
 * newline. No volatile fields (ids of saves, timestamps) are part of the file,
 * so export → import → export is byte-identical and a file diffs well in git.
 */
import type { PipelineFile } from "./schema";

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key];
    if (v !== undefined) out[key] = sortKeys(v);
  }
  return out;
}

/** Any JSON value as text with keys sorted at every depth (for comparing and hashing). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? "null";
}

/** The same pipeline in canonical form (a new object; the input is not changed). */
export function canonicalize(pipeline: PipelineFile): PipelineFile {
  const nodes = pipeline.nodes.map((n) =>
    n.position ? { ...n, position: { x: Math.round(n.position.x), y: Math.round(n.position.y) } } : n,
  );
  const edges = [...pipeline.edges].sort(
    (a, b) => cmp(a.from, b.from) || cmp(a.to, b.to) || cmp(a.branch ?? "", b.branch ?? ""),
  );
  return sortKeys({ ...pipeline, nodes, edges }) as PipelineFile;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The canonical file text. */
export function serializePipeline(pipeline: PipelineFile): string {
  return JSON.stringify(canonicalize(pipeline), null, 2) + "\n";
}
