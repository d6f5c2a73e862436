"use client";
/**
 * Every node kind, grouped by family. Drag an item onto the canvas, or focus it
 * and press Enter (or click it) to add the node at the centre of the view.
 */
import type { CSSProperties, DragEvent } from "react";
import type { NodeKind } from "@/server/pipeline";
import { kindStyle } from "@/components/canvas/node-kinds";
import { KIND_TEMPLATES, PALETTE_ORDER } from "./node-templates";

export const PALETTE_MIME = "application/x-tributary-kind";

const GROUPS: { title: string; families: string[] }[] = [
  { title: "Sources", families: ["source"] },
  { title: "Transform", families: ["transform"] },
  { title: "Control", families: ["control"] },
  { title: "Output", families: ["sink", "notify", "pipeline"] },
];

export function Palette({ onAdd }: { onAdd: (kind: NodeKind) => void }) {
  const onDragStart = (event: DragEvent, kind: NodeKind) => {
    event.dataTransfer.setData(PALETTE_MIME, kind);
    event.dataTransfer.effectAllowed = "copy";
  };
  return (
    <nav aria-label="Node palette" className="w-56 shrink-0 overflow-y-auto border-r border-line bg-surface px-2.5 py-3">
      <h2 className="px-1 text-xs font-semibold tracking-wide text-muted uppercase">Add a node</h2>
      {GROUPS.map((group) => {
        const kinds = PALETTE_ORDER.filter((k) => group.families.includes(kindStyle(k).family));
        return (
          <div key={group.title} className="mt-3">
            <h3 className="px-1 text-[11px] font-medium text-muted">{group.title}</h3>
            <ul className="mt-1 space-y-1">
              {kinds.map((kind) => (
                <li key={kind}>
                  <button
                    type="button"
                    draggable
                    onDragStart={(e) => onDragStart(e, kind)}
                    onClick={() => onAdd(kind)}
                    aria-label={`Add ${kind} node`}
                    title={`${KIND_TEMPLATES[kind].hint} — drag onto the canvas, or press Enter`}
                    data-kind={kind}
                    className="flex w-full cursor-grab items-center gap-2 rounded-md border border-line bg-surface px-2 py-1.5 text-left hover:border-line-strong hover:bg-surface-2 active:cursor-grabbing"
                    style={{ "--kind-hue": kindStyle(kind).hue } as CSSProperties}
                  >
                    <span className="kind-badge w-[3.75rem] shrink-0 justify-center">{kindStyle(kind).label}</span>
                    <span className="min-w-0">
                      <span className="block truncate font-mono text-[11px]">{kind}</span>
                      <span className="block truncate text-[11px] text-muted">{KIND_TEMPLATES[kind].hint}</span>
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          </div>
        );
      })}
    </nav>
  );
}
