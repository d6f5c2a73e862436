"use client";
/**
 * The run drawer of one node: its state, its attempts (state, time, rows,
 * error), the logs of the chosen attempt, "Rerun from here", and its output
 * preview grid. Shown under the canvas when a node is clicked while a run is shown.
 */
import { useMutation, useQuery } from "@tanstack/react-query";
import { useEffect, useId, useState } from "react";
import { useTRPC } from "@/components/trpc/client";
import { errorMessage } from "@/components/pipelines/errors";
import { PreviewGrid } from "./preview-grid";
import { StateBadge } from "./state-badge";
import { useRunView } from "./store";
import { formatCount, formatDuration, shortId, TERMINAL_RUN, type RunDetail } from "./types";

type Tab = "output" | "attempts" | "logs";

export function NodeDrawer({ detail, nodeId, onClose }: { detail: RunDetail; nodeId: string; onClose: () => void }) {
  const trpc = useTRPC();
  const node = detail.nodes.find((n) => n.nodeId === nodeId);
  const attempts = detail.attempts.filter((a) => a.nodeId === nodeId).sort((a, b) => a.mapIndex - b.mapIndex || a.attempt - b.attempt);
  const [tab, setTab] = useState<Tab>("output");
  const [logOf, setLogOf] = useState<string | null>(null);
  const tabsId = useId();
  const show = useRunView((s) => s.show);
  const rerun = useMutation(trpc.runs.rerunFrom.mutationOptions());
  const finished = TERMINAL_RUN.has(detail.run.state);

  // A failed node opens on its attempts (the error); a newer attempt becomes the logged one.
  const lastAttempt = attempts.filter((a) => a.startedAt).at(-1)?.id ?? null;
  useEffect(() => setLogOf(lastAttempt), [lastAttempt]);
  const failed = node?.state === "failed";
  useEffect(() => {
    if (failed) setTab("attempts");
  }, [failed, nodeId]);

  if (!node) return null;
  const runOf = () =>
    rerun.mutate(
      { runId: detail.run.id, nodeId },
      { onSuccess: (run) => show(detail.run.pipelineId, run.id) },
    );

  return (
    <section aria-label={`Run of ${node.name}`} className="flex h-full min-h-0 flex-col bg-surface" data-testid="node-drawer">
      <header className="flex flex-wrap items-center gap-x-3 gap-y-1 border-b border-line px-4 py-2">
        <h2 className="font-mono text-sm font-semibold">{node.name}</h2>
        <StateBadge state={node.state} testId="drawer-state" />
        <span className="text-xs text-muted">
          {node.rows !== null ? `${formatCount(node.rows)} rows` : "no rows yet"}
          {node.attempts > 1 ? ` · ${node.attempts} attempts` : ""}
          {node.startedAt && node.finishedAt ? ` · ${formatDuration(Date.parse(node.finishedAt) - Date.parse(node.startedAt))}` : ""}
        </span>
        <div role="tablist" aria-label="Node run details" className="ml-2 flex rounded-md border border-line-strong p-0.5">
          {(["output", "attempts", "logs"] as const).map((t) => (
            <button
              key={t}
              type="button"
              role="tab"
              id={`${tabsId}-${t}`}
              aria-selected={tab === t}
              aria-controls={`${tabsId}-${t}-panel`}
              onClick={() => setTab(t)}
              className="rounded px-2 py-0.5 text-xs font-medium text-muted aria-selected:bg-accent-soft aria-selected:text-fg"
            >
              {t === "output" ? "Output" : t === "attempts" ? `Attempts (${attempts.length})` : "Logs"}
            </button>
          ))}
        </div>
        <div className="ml-auto flex items-center gap-2">
          {rerun.error && <span role="alert" className="text-xs text-danger">{errorMessage(rerun.error)}</span>}
          <button
            type="button"
            className="btn btn-sm"
            onClick={runOf}
            disabled={!finished || rerun.isPending || !!detail.run.outputsDroppedAt}
            title={
              detail.run.outputsDroppedAt
                ? "This run's outputs were dropped by retention: start a new run"
                : finished ? `Run ${node.name} and everything downstream of it again, in this run` : "Wait for the run to finish"
            }
          >
            {rerun.isPending ? "Starting…" : "Rerun from here"}
          </button>
          <button type="button" className="btn btn-ghost btn-sm" onClick={onClose} aria-label="Close the run drawer">✕</button>
        </div>
      </header>
      {node.error && (
        <p role="alert" className="mx-4 mt-2 rounded-md border border-danger/30 bg-danger-soft px-3 py-1.5 font-mono text-xs whitespace-pre-wrap text-danger" data-testid="node-error">
          {node.error.message}
        </p>
      )}
      <div role="tabpanel" id={`${tabsId}-${tab}-panel`} aria-labelledby={`${tabsId}-${tab}`} className="min-h-0 flex-1 overflow-auto px-4 py-2.5">
        {tab === "output" &&
          (node.state === "success" ? (
            <PreviewGrid key={`${detail.run.id}:${node.name}:${node.finishedAt}`} runId={detail.run.id} node={node.name} height={220} />
          ) : (
            <p className="text-xs text-muted">
              {node.state === "running" || node.state === "queued" || node.state === "pending" || node.state === "up_for_retry"
                ? "The output appears when the node succeeds."
                : `No output: the node is ${node.state.replace("_", " ")}.`}
            </p>
          ))}
        {tab === "attempts" && <Attempts attempts={attempts} />}
        {tab === "logs" && (
          <div className="space-y-2">
            {attempts.length > 1 && (
              <label className="flex items-center gap-2 text-xs text-muted">
                Attempt
                <select className="input w-auto py-0.5 text-xs" value={logOf ?? ""} onChange={(e) => setLogOf(e.target.value || null)}>
                  {attempts.map((a) => (
                    <option key={a.id} value={a.id}>
                      {a.mapIndex >= 0 ? `item ${a.mapIndex} · ` : ""}attempt {a.attempt} ({a.state.replace("_", " ")})
                    </option>
                  ))}
                </select>
              </label>
            )}
            {logOf ? <Logs taskRunId={logOf} live={!finished} /> : <p className="text-xs text-muted">No attempt has started yet.</p>}
          </div>
        )}
      </div>
    </section>
  );
}

function Attempts({ attempts }: { attempts: RunDetail["attempts"] }) {
  if (!attempts.length) return <p className="text-xs text-muted">No attempts yet.</p>;
  const items = attempts.some((a) => a.mapIndex >= 0);
  return (
    <table className="w-full text-left text-xs" aria-label="Attempts">
      <thead className="text-muted">
        <tr className="border-b border-line">
          {items && <th className="py-1 pr-3 font-medium">Item</th>}
          <th className="py-1 pr-3 font-medium">Attempt</th>
          <th className="py-1 pr-3 font-medium">State</th>
          <th className="py-1 pr-3 font-medium">Started</th>
          <th className="py-1 pr-3 font-medium">Took</th>
          <th className="py-1 pr-3 text-right font-medium">Rows</th>
          <th className="py-1 font-medium">Error</th>
        </tr>
      </thead>
      <tbody>
        {attempts.map((a) => (
          <tr key={a.id} className="border-b border-line/60 align-top">
            {items && <td className="py-1 pr-3 font-mono">{a.mapIndex >= 0 ? a.mapIndex : "—"}</td>}
            <td className="py-1 pr-3 font-mono">{a.attempt}</td>
            <td className="py-1 pr-3"><StateBadge state={a.state} /></td>
            <td className="py-1 pr-3 whitespace-nowrap text-muted">{a.startedAt ? new Date(a.startedAt).toLocaleTimeString() : "—"}</td>
            <td className="py-1 pr-3 whitespace-nowrap">{a.startedAt && a.finishedAt ? formatDuration(Date.parse(a.finishedAt) - Date.parse(a.startedAt)) : "—"}</td>
            <td className="py-1 pr-3 text-right font-mono tabular-nums">{formatCount(a.rows)}</td>
            <td className="py-1 font-mono break-words text-danger">{a.error?.message ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Logs({ taskRunId, live }: { taskRunId: string; live: boolean }) {
  const trpc = useTRPC();
  const logs = useQuery({ ...trpc.runs.logs.queryOptions({ taskRunId }), refetchInterval: live ? 2_000 : false });
  if (logs.isPending) return <p className="text-xs text-muted">Loading logs…</p>;
  if (logs.error) return <p role="alert" className="text-xs text-danger">{errorMessage(logs.error)}</p>;
  if (!logs.data.length) return <p className="text-xs text-muted">No log lines for attempt {shortId(taskRunId)}.</p>;
  return (
    <ol className="space-y-0.5 font-mono text-xs" aria-label="Log lines">
      {logs.data.map((l, i) => (
        <li key={i} className="flex gap-2">
          <span className="shrink-0 text-muted">{new Date(l.at).toLocaleTimeString()}</span>
          <span className={`w-10 shrink-0 uppercase ${l.level === "error" ? "text-danger" : l.level === "warn" ? "text-warning" : "text-muted"}`}>{l.level}</span>
          <span className="min-w-0 break-words whitespace-pre-wrap">{l.message}</span>
        </li>
      ))}
    </ol>
  );
}
