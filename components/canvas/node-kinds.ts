/**
 * How each node kind looks on the canvas: a short label and a hue (the badge
 * and the minimap derive their colors from it). Kinds of one family share a hue.
 */
import type { NodeKind, PipelineNode } from "@/server/pipeline";

export interface KindStyle {
  label: string;
  hue: number;
  family: "source" | "transform" | "sink" | "control" | "notify" | "pipeline";
}

export const KIND_STYLES: Record<NodeKind, KindStyle> = {
  "source.csv": { label: "CSV", hue: 210, family: "source" },
  "source.http": { label: "HTTP", hue: 210, family: "source" },
  "source.query": { label: "Query", hue: 210, family: "source" },
  sql: { label: "SQL", hue: 262, family: "transform" },
  js: { label: "JS", hue: 42, family: "transform" },
  check: { label: "Check", hue: 174, family: "control" },
  branch: { label: "Branch", hue: 24, family: "control" },
  sensor: { label: "Sensor", hue: 24, family: "control" },
  "sink.table": { label: "Table", hue: 142, family: "sink" },
  notify: { label: "Notify", hue: 330, family: "notify" },
  pipeline: { label: "Pipeline", hue: 220, family: "pipeline" },
};

const UNKNOWN: KindStyle = { label: "?", hue: 220, family: "pipeline" };

export function kindStyle(kind: string): KindStyle {
  return (KIND_STYLES as Record<string, KindStyle>)[kind] ?? UNKNOWN;
}

/** A short line about what a node does, shown under its name ("data/pos.csv", "dashboard.daily · replace"). */
export function nodeSummary(node: PipelineNode): string {
  switch (node.kind) {
    case "source.csv":
      return node.config.path;
    case "source.http":
      return hostOf(node.config.url);
    case "source.query":
      return `via ${node.config.connection}`;
    case "sink.table":
      return `${node.config.table} · ${node.config.mode}`;
    case "check":
      return `${node.config.rules.length} rule${node.config.rules.length === 1 ? "" : "s"}${node.config.onViolation === "warn" ? " · warn" : ""}`;
    case "sensor":
      return oneLine(node.config.condition);
    case "notify":
      return node.config.channel;
    case "pipeline":
      return `runs ${node.config.pipeline}`;
    case "branch":
      return oneLine(node.config.condition);
    case "sql":
      return node.forEach ? `for each row of ${node.forEach}` : oneLine(node.config.sql);
    case "js":
      return node.forEach ? `for each row of ${node.forEach}` : "";
  }
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 60 ? `${flat.slice(0, 59)}…` : flat;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
