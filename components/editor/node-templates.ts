/**
 * What a new node of each kind starts as: a base name and a config that
 * already passes the schema, so a freshly dropped node can be saved at once.
 */
import { NODE_KINDS, type NodeKind } from "@/server/pipeline";

export interface KindTemplate {
  name: string;
  /** One line in the palette. */
  hint: string;
  config: (name: string) => Record<string, unknown>;
}

export const KIND_TEMPLATES: Record<NodeKind, KindTemplate> = {
  "source.csv": { name: "csv_file", hint: "Read a CSV file", config: () => ({ path: "data/input.csv" }) },
  "source.http": { name: "http_data", hint: "Fetch JSON or CSV", config: () => ({ url: "https://example.com/data.json" }) },
  "source.query": { name: "query_source", hint: "Query a connection", config: () => ({ connection: "warehouse", sql: "select 1 as value" }) },
  sql: { name: "sql", hint: "SQL transform", config: () => ({ sql: "select 1 as value" }) },
  js: { name: "script", hint: "JavaScript transform", config: (name) => ({
      code: `/** @param {Inputs<"${name}">} inputs  the upstream outputs, by node name */\nexport default (inputs) => {\n  return [];\n};\n`,
    }) },
  check: { name: "quality_check", hint: "Data-quality rules", config: () => ({ rules: [{ type: "row_count", min: 1 }] }) },
  branch: { name: "branch", hint: "True / false paths", config: () => ({ condition: "select true" }) },
  sensor: { name: "wait_for", hint: "Wait for a condition", config: () => ({ condition: "select true" }) },
  "sink.table": { name: "load_table", hint: "Load into a table", config: () => ({ table: "output_table", mode: "append" }) },
  notify: { name: "notify", hint: "Webhook, Slack, e-mail", config: () => ({ channel: "webhook", url: "https://hooks.example.com/tributary" }) },
  pipeline: { name: "run_pipeline", hint: "Run a pipeline", config: () => ({ pipeline: "other_pipeline" }) },
};

/** The palette's order: sources, transforms, control, sinks and the rest. */
export const PALETTE_ORDER: NodeKind[] = [
  "source.csv", "source.http", "source.query", "sql", "js", "check", "branch", "sensor", "sink.table", "notify", "pipeline",
].filter((k): k is NodeKind => (NODE_KINDS as string[]).includes(k)) as NodeKind[];

export function defaultName(kind: NodeKind): string {
  return `${KIND_TEMPLATES[kind].name}_1`;
}

export function defaultConfig(kind: NodeKind, name: string): Record<string, unknown> {
  return KIND_TEMPLATES[kind].config(name);
}
