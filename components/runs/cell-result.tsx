"use client";
/**
 * Under a SQL or JS cell: the result of the last run started from it (Ctrl+Enter
 * or "Run cell"). A cell runs as a draft run of the editor's document as it is
 * (saved or not): the node and its upstream, reusing unchanged upstream outputs
 * of the previous draft run. Draft runs are not listed among the pipeline's
 * runs. When the node settles this shows its output grid (rows, columns and
 * their types), or its error; a refused run lists the document's problems.
 */
import { useShallow } from "zustand/react/shallow";
import { PreviewGrid } from "./preview-grid";
import { StateBadge } from "./state-badge";
import { useRunView } from "./store";
import { errorPosition, formatCount, shortId, TERMINAL_RUN, type RunNode } from "./types";
import { useLiveRun, useRunDetail } from "./use-live-run";

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
  const { cellRun, detail, node, position } = useCellRun(nodeId);
  const { setCellRun } = useRunView(useShallow((s) => ({ setCellRun: s.setCellRun })));
  const runId = cellRun?.runId ?? null;
  const runFinished = detail ? TERMINAL_RUN.has(detail.run.state) : false;
  // Follow the draft run live until it ends (it is not the run shown on the canvas).
  useLiveRun(runId && !runFinished ? runId : null);
  if (!cellRun) return null;
  const upstream = detail ? detail.nodes.filter((n) => n.nodeId !== nodeId) : [];
  const state = cellRun.refused ? "failed" : (node?.state ?? "queued");
  return (
    <section className="mt-2 rounded-md border border-line bg-surface-2/60 px-3 py-2" aria-label={`Result of ${node?.name ?? "the cell"}`} data-testid={`cell-result-${nodeId}`}>
      <header className="mb-1.5 flex flex-wrap items-center gap-2 text-xs">
        <StateBadge state={state} testId="cell-state" />
        <span className="text-muted" data-testid="cell-run-summary">
          {cellRun.refused ? (
            "Not run"
          ) : runId ? (
            <>
              Draft run <span className="font-mono text-fg" title={`${runId} — not saved, not listed among runs`}>{shortId(runId)}</span>
              {upstream.length ? ` with ${upstream.length} upstream node${upstream.length === 1 ? "" : "s"}` : ""}
              {runFinished ? "" : " · running"}
            </>
          ) : (
            "Starting a draft run…"
          )}
          {node?.state === "success" && node.rows !== null ? (
            <>
              {" · "}
              <span className="text-fg" data-testid="cell-rows">{formatCount(node.rows)} rows</span>
            </>
          ) : null}
        </span>
        <button type="button" className="btn btn-ghost btn-sm ml-auto py-0" onClick={() => setCellRun(nodeId, null)} aria-label="Dismiss the cell's result">✕</button>
      </header>
      {cellRun.refused ? (
        <ul role="alert" className="space-y-0.5 rounded border border-danger/30 bg-danger-soft px-2.5 py-1.5 text-xs text-danger" data-testid="cell-error">
          {cellRun.refused.map((message, i) => <li key={i}>{message}</li>)}
        </ul>
      ) : !runId || !node || !SETTLED.has(state) ? (
        <p className="text-xs text-muted" aria-live="polite">Waiting for {node?.name ?? "the node"} to finish…</p>
      ) : state === "success" ? (
        <PreviewGrid key={`${runId}:${node.finishedAt}`} runId={runId} node={node.name} height={compact ? 180 : 220} label={`Output of ${node.name} (cell run)`} />
      ) : node.error ? (
        <p role="alert" className="rounded border border-danger/30 bg-danger-soft px-2.5 py-1.5 font-mono text-xs whitespace-pre-wrap text-danger" data-testid="cell-error">
          {position && !/\bline \d+/.test(node.error.message) && <span className="mr-1.5 font-semibold">line {position.line}, column {position.column}:</span>}
          {node.error.message}
        </p>
      ) : (
        <CellNotRun state={state} upstream={upstream} />
      )}
    </section>
  );
}

/** The node did not run: say which upstream node failed, when one did. */
function CellNotRun({ state, upstream }: { state: string; upstream: RunNode[] }) {
  const failed = upstream.find((n) => n.state === "failed");
  return (
    <p className="text-xs text-muted">
      The node did not run: it is {state.replace("_", " ")}
      {failed ? (
        <>
          {" "}— <span className="font-mono text-fg">{failed.name}</span> failed{failed.error ? `: ${failed.error.message}` : ""}
        </>
      ) : null}
      .
    </p>
  );
}
