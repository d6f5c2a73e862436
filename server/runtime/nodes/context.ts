/** What a node kind's runner gets, and what it returns. */
import type { Row, Warehouse } from "@/db/warehouse";
import type { PipelineFile, PipelineNode, ResolvedSettings } from "@/server/pipeline";
import type { SqlAnalyzer } from "@/server/pipeline/sql-references";
import type { SandboxPool } from "../sandbox";
import type { BoundValue } from "../sql-cell";
import type { TaskOutcome } from "../run-store";

export interface UpstreamOutput {
  name: string;
  kind: string;
  /** The physical tables behind the node's output (several for a forEach node). */
  tables: string[];
}

export interface NodeContext {
  wh: Warehouse;
  sql: SqlAnalyzer;
  sandbox: () => SandboxPool;
  pipeline: PipelineFile;
  node: PipelineNode;
  settings: ResolvedSettings;
  runId: string;
  /** The run's warehouse schema. */
  schema: string;
  /** The table this attempt writes its output into (in `schema`). */
  outputTable: string;
  /** Upstream outputs by node name (table-producing upstream nodes only). */
  upstream: Map<string, UpstreamOutput>;
  params: Record<string, unknown>;
  logicalDate: Date;
  /** Named values SQL can bind: params, logical_date, run_id, and item_<column> for a forEach item. */
  bindings: Record<string, BoundValue>;
  item?: Row;
  filesDir: string;
  signal: AbortSignal;
  log(level: "info" | "warn" | "error", message: string): void;
}

export type NodeRunner = (ctx: NodeContext) => Promise<TaskOutcome>;

/** `set local` statements every SQL a cell runs starts with: its schema first, its timeout, its role. */
export function cellSetup(ctx: NodeContext, role = true): string[] {
  const ms = Math.max(1, Math.round(ctx.settings.timeoutSeconds * 1000));
  return [
    `set local search_path = "${ctx.schema}", public`,
    `set local statement_timeout = ${ms}`,
    ...(role ? [`set local role tributary_cell`] : []),
  ];
}
