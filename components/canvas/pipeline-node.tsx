"use client";
/**
 * The one canvas node: kind badge, summary, name, problem count, and the
 * shown run's state of this node (border colour, a badge and its row count).
 * Branch nodes have two outputs, `true` (top) and `false` (bottom).
 */
import { Handle, Position, type NodeProps } from "@xyflow/react";
import { memo, type CSSProperties } from "react";
import { useShallow } from "zustand/react/shallow";
import { StateBadge } from "@/components/runs/state-badge";
import { useRunView } from "@/components/runs/store";
import { formatCount, stateStyle } from "@/components/runs/types";
import type { CanvasNode } from "./adapter";
import { kindStyle } from "./node-kinds";

/** The assistant's proposal over the canvas: added green, changed amber, removed red and dashed. */
const PROPOSAL_STYLE = {
  added: { label: "added", ring: "border-success border-2 ring-4 ring-success/20", badge: "bg-success text-white" },
  changed: { label: "changed", ring: "border-warning border-2 ring-4 ring-warning/20", badge: "bg-warning text-white" },
  removed: { label: "removed", ring: "border-danger border-2 border-dashed opacity-60", badge: "bg-danger-soft text-danger" },
} as const;

function PipelineNodeView({ id, data, selected, isConnectable }: NodeProps<CanvasNode>) {
  const style = kindStyle(data.kind);
  const hasErrors = data.errors > 0;
  const run = useRunView(useShallow((s) => (s.nodeRuns ? (s.nodeRuns[id] ?? { state: "pending", rows: null }) : null)));
  const mark = data.proposal ? PROPOSAL_STYLE[data.proposal] : null;
  const ring = mark
    ? mark.ring
    : run
    ? `${stateStyle(run.state).ring} ${selected ? "outline-2 outline-offset-2 outline-accent" : ""}`
    : hasErrors
      ? `border-danger ring-2 ${selected ? "ring-accent/60" : "ring-danger/25"}`
      : selected
        ? "border-accent ring-2 ring-accent/30"
        : "border-line-strong";
  const runLabel = run
    ? `${data.name}: ${stateStyle(run.state).label}${run.rows !== null ? `, ${formatCount(run.rows)} rows` : ""}`
    : "";
  const problemLabel = [
    hasErrors ? `${data.errors} error${data.errors === 1 ? "" : "s"}` : "",
    data.warnings > 0 ? `${data.warnings} warning${data.warnings === 1 ? "" : "s"}` : "",
  ].filter(Boolean).join(", ");
  return (
    // Handles sit outside the clipped box, so all of each handle can be grabbed and dropped on.
    <div className="relative h-full w-full" data-testid={`node-${data.name}`} data-proposal={data.proposal}>
      <div
        className={`relative flex h-full w-full items-stretch overflow-hidden rounded-lg border bg-surface text-fg shadow-sm ${ring}`}
        style={{ "--kind-hue": style.hue } as CSSProperties}
        title={data.description ?? `${data.kind} ${data.name}`}
      >
        <div aria-hidden="true" className="w-1.5 shrink-0" style={{ background: `hsl(${style.hue} 65% 50%)` }} />
        <div className="flex min-w-0 flex-1 flex-col justify-center gap-1 px-3">
          <div className={`flex items-center gap-1.5 ${run || mark ? "pr-28" : "pr-10"}`}>
            <span className="kind-badge" title={data.kind}>{style.label}</span>
            <span className="truncate font-mono text-[10.5px] text-muted">{data.summary || data.kind}</span>
          </div>
          <div className="truncate font-mono text-[13px] font-semibold" title={data.name}>{data.name}</div>
        </div>
        <div className="absolute top-1.5 right-1.5 flex items-center gap-1">
          {mark && (
            <span role="img" aria-label={`${data.name}: ${mark.label} by the proposal`} className={`rounded-full px-1.5 py-px text-[10px] font-bold ${mark.badge}`}>
              {mark.label}
            </span>
          )}
          <span data-slot="last-run" className="flex items-center gap-1 empty:hidden">
            {run && (
              <span role="img" aria-label={runLabel} title={runLabel} data-run-state={run.state} className="flex items-center gap-1">
                {run.rows !== null && run.state === "success" && (
                  <span className="font-mono text-[10px] text-muted tabular-nums" data-testid="node-rows">{formatCount(run.rows)}</span>
                )}
                <StateBadge state={run.state} />
              </span>
            )}
          </span>
          {problemLabel && (
            <span
              className={`rounded-full px-1.5 py-px text-[10px] font-bold ${hasErrors ? "bg-danger text-white" : "bg-warning-soft text-warning"}`}
              aria-label={problemLabel}
              data-testid="problem-count"
            >
              {hasErrors ? data.errors : `⚠ ${data.warnings}`}
            </span>
          )}
        </div>
      </div>
      <Handle type="target" position={Position.Left} isConnectable={isConnectable} aria-label={`Input of ${data.name}`} />
      {data.kind === "branch" ? (
        <>
          <Handle type="source" id="true" position={Position.Right} style={{ top: "30%" }} className="branch-handle-true" isConnectable={isConnectable} title="true" />
          <Handle type="source" id="false" position={Position.Right} style={{ top: "72%" }} className="branch-handle-false" isConnectable={isConnectable} title="false" />
        </>
      ) : (
        <Handle type="source" position={Position.Right} isConnectable={isConnectable} aria-label={`Output of ${data.name}`} />
      )}
    </div>
  );
}

export const PipelineNode = memo(PipelineNodeView);
