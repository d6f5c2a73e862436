"use client";
/**
 * The notebook: the same document's nodes as cells in topological order
 * (upstream first). SQL and JS cells edit in place; other kinds show a summary
 * and "Edit", which selects the node and opens its panel. Edits go through the
 * store, so switching between canvas and notebook keeps selection and edits.
 */
import { useVirtualizer } from "@tanstack/react-virtual";
import { useMemo, useRef, type CSSProperties } from "react";
import { useShallow } from "zustand/react/shallow";
import { topologicalOrder, type PipelineFile, type PipelineNode } from "@/server/pipeline";
import { kindStyle, nodeSummary } from "@/components/canvas/node-kinds";
import { problemCounts } from "@/components/canvas/adapter";
import { CodeCell } from "./code-cell";
import { useProblems } from "./problems";
import { useEditor } from "./store";

/** Topological order; with a cycle, the document's order (the cycle is a listed problem). */
function cellOrder(doc: Pick<PipelineFile, "nodes" | "edges">): PipelineNode[] {
  try {
    const byId = new Map(doc.nodes.map((n) => [n.id, n]));
    return topologicalOrder(doc.nodes, doc.edges).map((id) => byId.get(id)!).filter(Boolean);
  } catch {
    return doc.nodes;
  }
}

export function Notebook() {
  const { nodes, edges, selection } = useEditor(useShallow((s) => ({ nodes: s.document.nodes, edges: s.document.edges, selection: s.selection })));
  const select = useEditor((s) => s.select);
  const problems = useProblems();
  const counts = useMemo(() => problemCounts(useEditor.getState().document, problems), [problems]);
  const order = useMemo(() => cellOrder({ nodes, edges }), [nodes, edges]);
  const upstream = useMemo(() => {
    const byId = new Map(nodes.map((n) => [n.id, n.name]));
    const map = new Map<string, string[]>();
    for (const e of edges) map.set(e.to, [...(map.get(e.to) ?? []), byId.get(e.from) ?? e.from]);
    return map;
  }, [nodes, edges]);

  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: order.length,
    getScrollElement: () => scroller.current,
    estimateSize: (i) => (order[i]?.kind === "sql" || order[i]?.kind === "js" ? 300 : 110),
    overscan: 4,
    getItemKey: (i) => order[i]?.id ?? i,
  });

  if (!order.length) {
    return (
      <div className="grid h-full place-items-center p-6 text-center">
        <div className="card max-w-sm px-6 py-5">
          <h2 className="font-semibold">No cells yet</h2>
          <p className="mt-1.5 text-sm text-muted">Switch to the canvas and drag a source from the palette to start.</p>
        </div>
      </div>
    );
  }

  return (
    <div ref={scroller} className="h-full overflow-y-auto" role="region" aria-label="Notebook">
      <ol className="relative mx-auto max-w-4xl px-6" style={{ height: virtual.getTotalSize() + 48 }} aria-label="Cells">
        {virtual.getVirtualItems().map((item) => {
          const node = order[item.index]!;
          const style = kindStyle(node.kind);
          const selected = selection.includes(node.id);
          const c = counts.get(node.id);
          const code = node.kind === "sql" || node.kind === "js";
          return (
            <li
              key={item.key}
              ref={virtual.measureElement}
              data-index={item.index}
              className="absolute right-6 left-6 pt-4"
              style={{ transform: `translateY(${item.start + 8}px)` }}
              aria-label={`Cell ${node.name}`}
            >
              <article
                className={`card px-4 py-3 ${selected ? "ring-2 ring-accent/40" : ""}`}
                style={{ "--kind-hue": style.hue } as CSSProperties}
                onFocusCapture={() => !selected && select([node.id])}
              >
                <header className="flex items-center gap-2">
                  <span className="w-6 shrink-0 text-right font-mono text-[11px] text-muted">{item.index + 1}</span>
                  <span className="kind-badge">{style.label}</span>
                  <h3 className="truncate font-mono text-sm font-semibold">{node.name}</h3>
                  {upstream.get(node.id)?.length ? (
                    <span className="truncate text-xs text-muted">← {upstream.get(node.id)!.join(", ")}</span>
                  ) : null}
                  <span className="ml-auto flex shrink-0 items-center gap-2">
                    {c && (c.errors > 0 || c.warnings > 0) && (
                      <span className={`rounded-full px-1.5 py-px text-[10px] font-bold ${c.errors ? "bg-danger text-white" : "bg-warning-soft text-warning"}`}>
                        {c.errors ? `${c.errors} error${c.errors === 1 ? "" : "s"}` : `${c.warnings} warning${c.warnings === 1 ? "" : "s"}`}
                      </span>
                    )}
                    {/* The last run's state goes here once the runtime reports runs. */}
                    <span data-slot="last-run" className="empty:hidden" />
                    <button type="button" className="btn btn-sm" onClick={() => select([node.id])} aria-label={`Edit ${node.name}`}>
                      {code ? "Settings" : "Edit"}
                    </button>
                  </span>
                </header>
                <div className="mt-2.5 pl-8">
                  {code ? (
                    <CodeCell nodeId={node.id} host="notebook" height={Math.min(320, 16 + 19 * lineCount(node))} />
                  ) : (
                    <p className="truncate font-mono text-xs text-muted">{nodeSummary(node) || node.kind}</p>
                  )}
                </div>
              </article>
            </li>
          );
        })}
      </ol>
    </div>
  );
}

function lineCount(node: PipelineNode): number {
  const text = node.kind === "sql" ? node.config.sql : node.kind === "js" ? node.config.code : "";
  return Math.max(3, text.split("\n").length + 1);
}
