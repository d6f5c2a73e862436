"use client";
/**
 * Under a SQL or JS cell: the result of the last run started from it (Ctrl+Enter
 * or "Run cell"). The cell ran as part of a whole run of the pipeline; when its
 * node settles this shows the node's output grid, or its error.
 */
import { useShallow } from "zustand/react/shallow";
import { PreviewGrid } from "./preview-grid";
import { StateBadge } from "./state-badge";
import { useRunView } from "./store";
import { errorPosition, formatCount, shortId, TERMINAL_RUN, type RunNode } from "./types";
import { useRunDetail } from "./use-live-run";

const SETTLED = new Set(["success", "failed", "upstream_failed", "skipped", "canceled"]);

/** The cell's last run: its node's state and error (with a position in the text that ran, if any). */
export function useCellRun(nodeId: string) {
  const cellRun = useRunView((s) => s.cellRuns[nodeId]);
  const detail = useRunDetail(cellRun?.runId ?? null);
  const node: RunNode | undefined = detail.data?.nodes.find((n) => n.nodeId === nodeId);
  const position = node?.state === "failed" && node.error && cellRun ? errorPosition(node.error, cellRun.text) : null;
  return { cellRun, detail: detail.data, node, position };
}

export function CellResult({ nodeId, compact }: { nodeId: string; compact?: boolean }) {
  const { cellRun, detail, node } = useCellRun(nodeId);
  const { show, setCellRun, shownRun, pipelineId } = useRunView(useShallow((s) => ({ show: s.show, setCellRun: s.setCellRun, shownRun: s.runId, pipelineId: s.pipelineId })));
  if (!cellRun) return null;
  const runFinished = detail ? TERMINAL_RUN.has(detail.run.state) : false;
  const state = node?.state ?? "queued";
  return (
    <section className="mt-2 rounded-md border border-line bg-surface-2/60 px-3 py-2" aria-label={`Result of ${node?.name ?? "the cell"}`} data-testid={`cell-result-${nodeId}`}>
      <header className="mb-1.5 flex flex-wrap items-center gap-2 text-xs">
        <StateBadge state={state} testId="cell-state" />
        <span className="text-muted">
          Ran as part of run{" "}
          {shownRun === cellRun.runId || !pipelineId ? (
            <span className="font-mono text-fg" title={cellRun.runId}>{shortId(cellRun.runId)}</span>
          ) : (
            <button type="button" className="font-mono text-accent underline" title="Show this run on the canvas" onClick={() => show(pipelineId, cellRun.runId)}>
              {shortId(cellRun.runId)}
            </button>
          )}{" "}
          (the whole pipeline{runFinished ? "" : ", running"})
          {node?.state === "success" && node.rows !== null ? ` · ${formatCount(node.rows)} rows` : ""}
        </span>
        <button type="button" className="btn btn-ghost btn-sm ml-auto py-0" onClick={() => setCellRun(nodeId, null)} aria-label="Dismiss the cell's result">✕</button>
      </header>
      {!node || !SETTLED.has(state) ? (
        <p className="text-xs text-muted" aria-live="polite">Waiting for {node?.name ?? "the node"} to finish…</p>
      ) : state === "success" ? (
        <PreviewGrid key={`${cellRun.runId}:${node.finishedAt}`} runId={cellRun.runId} node={node.name} height={compact ? 180 : 220} label={`Output of ${node.name} (cell run)`} />
      ) : node.error ? (
        <p role="alert" className="rounded border border-danger/30 bg-danger-soft px-2.5 py-1.5 font-mono text-xs whitespace-pre-wrap text-danger" data-testid="cell-error">
          {node.error.message}
        </p>
      ) : (
        <p className="text-xs text-muted">The node did not run: it is {state.replace("_", " ")}.</p>
      )}
    </section>
  );
}
