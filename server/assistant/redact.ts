/**
 * Secrets never reach the model: values that act as credentials (webhook and
 * Slack URLs, auth-like headers) are replaced before a document is sent, and put
 * back, by node id, into what the model answers.
 */
import type { PipelineFile } from "@/server/pipeline";

export const REDACTED = "<redacted>";
const SECRET_HEADER = /authorization|token|secret|password|api[-_]?key|cookie|signature/i;

type Config = Record<string, unknown>;

/** Paths (inside a node's config) whose values are secret in this node. */
function secretPaths(kind: string, config: Config): string[][] {
  const out: string[][] = [];
  if (kind === "notify" && typeof config.url === "string") out.push(["url"]);
  const headers = config.headers;
  if (headers && typeof headers === "object") {
    for (const name of Object.keys(headers)) if (SECRET_HEADER.test(name)) out.push(["headers", name]);
  }
  return out;
}

function get(config: Config, p: string[]): unknown {
  let cur: unknown = config;
  for (const k of p) cur = cur && typeof cur === "object" ? (cur as Config)[k] : undefined;
  return cur;
}

function set(config: Config, p: string[], value: unknown): void {
  let cur = config;
  for (const k of p.slice(0, -1)) cur = cur[k] as Config;
  cur[p[p.length - 1]!] = value;
}

/** The document with secret values replaced by REDACTED (a copy). */
export function redactDocument(doc: PipelineFile): PipelineFile {
  const copy = structuredClone(doc);
  for (const node of copy.nodes) {
    const config = node.config as Config;
    for (const p of secretPaths(node.kind, config)) if (get(config, p) !== undefined) set(config, p, REDACTED);
  }
  return copy;
}

/** Put the original secret values back where the raw answer kept REDACTED (same node id); before it is parsed. */
export function restoreSecrets(answer: unknown, original: PipelineFile | undefined): unknown {
  const nodes = (answer as { nodes?: unknown } | null)?.nodes;
  if (!original || !Array.isArray(nodes)) return answer;
  const byId = new Map(original.nodes.map((n) => [n.id, n]));
  for (const node of nodes as { id?: unknown; kind?: unknown; config?: unknown }[]) {
    const before = typeof node?.id === "string" ? byId.get(node.id) : undefined;
    if (!before || before.kind !== node.kind || !node.config || typeof node.config !== "object") continue;
    const config = node.config as Config;
    for (const p of secretPaths(before.kind, config)) {
      if (get(config, p) === REDACTED) set(config, p, get(before.config as Config, p));
    }
  }
  return answer;
}
