"use client";
/** The one canvas node: kind badge, name, and a red outline + count when the node has errors. */
import { Handle, Position, type NodeProps } from "@xyflow/react";
import { memo, type CSSProperties } from "react";
import type { CanvasNode } from "./adapter";
import { kindStyle } from "./node-kinds";

function PipelineNodeView({ data, selected }: NodeProps<CanvasNode>) {
  const style = kindStyle(data.kind);
  const hasErrors = data.errors > 0;
  const ring = hasErrors
    ? "border-danger ring-2 ring-danger/25"
    : selected
      ? "border-accent ring-2 ring-accent/30"
      : "border-line-strong";
  return (
    <div
      className={`relative flex h-full w-full items-stretch overflow-hidden rounded-lg border bg-surface text-fg shadow-sm ${ring}`}
      style={{ "--kind-hue": style.hue } as CSSProperties}
      title={data.description ?? `${data.kind} ${data.name}`}
      data-testid={`node-${data.name}`}
    >
      <div aria-hidden="true" className="w-1.5 shrink-0" style={{ background: `hsl(${style.hue} 65% 50%)` }} />
      <div className="flex min-w-0 flex-1 flex-col justify-center gap-1 px-3">
        <div className="flex items-center gap-1.5 pr-6">
          <span className="kind-badge" title={data.kind}>{style.label}</span>
          <span className="truncate font-mono text-[10.5px] text-muted">{data.summary || data.kind}</span>
        </div>
        <div className="truncate font-mono text-[13px] font-semibold" title={data.name}>{data.name}</div>
      </div>
      {(hasErrors || data.warnings > 0) && (
        <span
          className={`absolute top-1.5 right-1.5 rounded-full px-1.5 py-px text-[10px] font-bold ${hasErrors ? "bg-danger text-white" : "bg-warning-soft text-warning"}`}
          aria-label={hasErrors ? `${data.errors} error${data.errors === 1 ? "" : "s"}` : `${data.warnings} warning${data.warnings === 1 ? "" : "s"}`}
        >
          {hasErrors ? data.errors : `⚠ ${data.warnings}`}
        </span>
      )}
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
}

export const PipelineNode = memo(PipelineNodeView);
