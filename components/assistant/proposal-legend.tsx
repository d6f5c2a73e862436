"use client";
/** The legend of the assistant's proposal over the canvas: what the colours mean and how many of each. */
import { Panel } from "@xyflow/react";
import type { CanvasNode } from "@/components/canvas/adapter";
import { useAssistant } from "./store";

export function ProposalLegend({ nodes }: { nodes: readonly CanvasNode[] }) {
  const open = useAssistant((s) => s.open);
  const setOpen = useAssistant((s) => s.setOpen);
  const count = (mark: string) => nodes.filter((n) => n.data.proposal === mark).length;
  const items = [
    { mark: "added", label: "added", swatch: "border-2 border-success bg-success/15" },
    { mark: "changed", label: "changed", swatch: "border-2 border-warning bg-warning-soft" },
    { mark: "removed", label: "removed", swatch: "border-2 border-dashed border-danger bg-danger-soft" },
  ];
  return (
    <Panel position="top-left" className="!m-3">
      <section aria-label="Proposal legend" className="card space-y-1 px-3 py-2 text-xs">
        <div className="flex items-center gap-2">
          <span className="font-semibold">Assistant&apos;s proposal</span>
          <span className="text-muted">· not applied until you accept it</span>
          {!open && (
            <button type="button" className="btn btn-sm ml-1 py-0.5" onClick={() => setOpen(true)}>
              Review
            </button>
          )}
        </div>
        <ul className="flex items-center gap-3">
          {items.map((i) => (
            <li key={i.mark} className="flex items-center gap-1.5">
              <span aria-hidden="true" className={`inline-block size-3 rounded-sm ${i.swatch}`} />
              <span>
                <span className="font-semibold tabular-nums">{count(i.mark)}</span> {i.label}
              </span>
            </li>
          ))}
        </ul>
      </section>
    </Panel>
  );
}
