"use client";
/**
 * Starting and following runs from the pipeline page.
 *
 * - `useRunActions`: start a run of the saved version (saving first when the
 *   document is dirty), and run one cell (a draft run of the unsaved document:
 *   the node and its upstream, not saved, not listed; remembered for the cell).
 * - `RunButton`: "Run" / "Save & run"; with params, a dialog with one typed
 *   field per param, defaults prefilled.
 * - `RunBar`: the shown run's state, elapsed time, Cancel, Retry failed, and
 *   a selector of recent runs.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useId, useState, type FormEvent } from "react";
import { useShallow } from "zustand/react/shallow";
import { paramValueProblem, type ParamSpec } from "@/server/pipeline";
import { useTRPC } from "@/components/trpc/client";
import { Dialog, DialogActions } from "@/components/pipelines/dialog";
import { errorMessage, errorProblems } from "@/components/pipelines/errors";
import { selectDirty, useEditor } from "@/components/editor/store";
import { StateBadge } from "./state-badge";
import { useRunView } from "./store";
import { formatDuration, shortId, TERMINAL_RUN, type RunDetail } from "./types";

type Params = Record<string, unknown>;

export function useRunActions(pipelineId: string, saveNow: () => Promise<boolean>) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const start = useMutation(trpc.runs.start.mutationOptions());
  const startDraft = useMutation(trpc.runs.startDraft.mutationOptions());
  const show = useRunView((s) => s.show);

  const startRun = useCallback(
    async (params?: Params): Promise<string | null> => {
      const { notify } = useEditor.getState();
      if (!(await saveNow())) return null;
      try {
        const run = await start.mutateAsync({ pipelineId, ...(params ? { params } : {}) });
        show(pipelineId, run.id);
        useRunView.setState({ lastParams: params ?? null });
        void queryClient.invalidateQueries({ queryKey: trpc.runs.list.queryKey({ pipelineId, limit: 20 }) });
        return run.id;
      } catch (error) {
        notify(`Not started: ${errorMessage(error)}`, "error");
        return null;
      }
    },
    [pipelineId, queryClient, saveNow, show, start, trpc],
  );

  /**
   * Run one cell: a draft run of the editor's document as it is (saved or not)
   * for this node and its upstream; its result shows under the cell. Nothing is
   * saved, and the draft run is not listed among the pipeline's runs.
   */
  const runCell = useCallback(
    async (nodeId: string): Promise<void> => {
      const { document } = useEditor.getState();
      const node = document.nodes.find((n) => n.id === nodeId);
      if (!node) return;
      const text = node.kind === "sql" ? node.config.sql : node.kind === "js" ? node.config.code : "";
      const { setCellRun, lastParams } = useRunView.getState();
      setCellRun(nodeId, { runId: null, text });
      // The last run's params, as far as the document still declares them; the rest take their defaults.
      const declared = document.params ?? {};
      const params = lastParams ? Object.fromEntries(Object.entries(lastParams).filter(([name]) => name in declared)) : {};
      try {
        const run = await startDraft.mutateAsync({ pipelineId, document, nodeId, ...(Object.keys(params).length ? { params } : {}) });
        if (useRunView.getState().cellRuns[nodeId]?.text === text) setCellRun(nodeId, { runId: run.id, text });
      } catch (error) {
        const problems = errorProblems(error);
        setCellRun(nodeId, { runId: null, text, refused: problems.length ? problems.map((p) => p.message) : [errorMessage(error)] });
      }
    },
    [pipelineId, startDraft],
  );

  return { startRun, runCell, starting: start.isPending };
}

export function RunButton({ onStart, starting, saving }: { onStart: (params?: Params) => Promise<unknown>; starting: boolean; saving: boolean }) {
  const { dirty, params } = useEditor(useShallow((s) => ({ dirty: selectDirty(s), params: s.document.params })));
  const [asking, setAsking] = useState(false);
  const specs = Object.entries(params ?? {});
  const label = starting ? "Starting…" : saving ? "Saving…" : dirty ? "Save & run" : "Run";
  return (
    <>
      <button
        type="button"
        className="btn btn-primary"
        disabled={starting || saving}
        onClick={() => (specs.length ? setAsking(true) : void onStart())}
        title={dirty ? "Save the changes as a new version, then run it" : "Run the saved version of this pipeline"}
      >
        <svg aria-hidden="true" viewBox="0 0 20 20" className="size-3.5" fill="currentColor"><path d="M6 4.5v11a.5.5 0 0 0 .77.42l8.5-5.5a.5.5 0 0 0 0-.84l-8.5-5.5A.5.5 0 0 0 6 4.5Z" /></svg>
        {label}
      </button>
      <ParamsDialog
        open={asking}
        specs={specs}
        dirty={dirty}
        onClose={() => setAsking(false)}
        onSubmit={(values) => {
          setAsking(false);
          void onStart(values);
        }}
      />
    </>
  );
}

function initialValue(spec: ParamSpec): string | boolean {
  if (spec.type === "boolean") return spec.default === true;
  return spec.default === undefined ? "" : String(spec.default);
}

function ParamsDialog({
  open, specs, dirty, onClose, onSubmit,
}: { open: boolean; specs: [string, ParamSpec][]; dirty: boolean; onClose: () => void; onSubmit: (values: Params) => void }) {
  const formId = useId();
  const [values, setValues] = useState<Record<string, string | boolean>>({});
  useEffect(() => {
    // Prefilled on each opening, from the document's params at that moment.
    if (open) setValues(Object.fromEntries(specs.map(([name, spec]) => [name, initialValue(spec)])));
  }, [open]);

  const typed = (name: string, spec: ParamSpec): unknown => {
    const raw = values[name];
    if (spec.type === "boolean") return raw === true;
    if (raw === "" || raw === undefined) return undefined;
    if (spec.type === "integer" || spec.type === "number") return Number(raw);
    return raw;
  };
  const problems = Object.fromEntries(
    specs.map(([name, spec]) => {
      const v = typed(name, spec);
      if (v === undefined) return [name, spec.required && spec.default === undefined ? "required" : null];
      return [name, paramValueProblem(spec.type, v)];
    }),
  );
  const invalid = Object.values(problems).some(Boolean);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (invalid) return;
    const out: Params = {};
    for (const [name, spec] of specs) {
      const v = typed(name, spec);
      if (v !== undefined) out[name] = v;
    }
    onSubmit(out);
  };

  return (
    <Dialog open={open} title="Run with parameters" description={dirty ? "Your changes are saved as a new version first; the run uses that version." : "The run uses the saved version."} onClose={onClose}>
      <form id={formId} onSubmit={submit} className="space-y-3" aria-label="Run parameters">
        {specs.map(([name, spec]) => {
          const id = `${formId}-${name}`;
          const problem = problems[name];
          if (spec.type === "boolean") {
            return (
              <label key={name} className="flex items-center gap-2 text-sm">
                <input type="checkbox" checked={values[name] === true} onChange={(e) => setValues({ ...values, [name]: e.target.checked })} />
                <span className="font-mono">{name}</span>
                {spec.description && <span className="text-xs text-muted">— {spec.description}</span>}
              </label>
            );
          }
          return (
            <div key={name}>
              <label htmlFor={id} className="flex items-baseline justify-between gap-2 text-sm font-medium">
                <span className="font-mono">{name}</span>
                <span className="text-xs font-normal text-muted">{spec.type}{spec.required ? " · required" : ""}</span>
              </label>
              <input
                id={id}
                className="input mt-1 font-mono"
                type={spec.type === "integer" || spec.type === "number" ? "number" : spec.type === "date" ? "date" : "text"}
                step={spec.type === "integer" ? 1 : spec.type === "number" ? "any" : undefined}
                value={String(values[name] ?? "")}
                placeholder={spec.default === undefined ? "" : String(spec.default)}
                aria-invalid={problem ? true : undefined}
                aria-describedby={`${id}-hint`}
                onChange={(e) => setValues({ ...values, [name]: e.target.value })}
              />
              <p id={`${id}-hint`} className={`mt-1 text-xs ${problem ? "text-danger" : "text-muted"}`}>
                {problem ?? spec.description ?? (spec.default !== undefined ? `Default: ${String(spec.default)}` : "")}
              </p>
            </div>
          );
        })}
        <DialogActions>
          <button type="button" className="btn" onClick={onClose}>Cancel</button>
          <button type="submit" className="btn btn-primary" disabled={invalid}>{dirty ? "Save & run" : "Run"}</button>
        </DialogActions>
      </form>
    </Dialog>
  );
}

function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [active]);
  return now;
}

export function RunBar({ pipelineId, currentVersion, detail, loading }: { pipelineId: string; currentVersion: number; detail: RunDetail | undefined; loading: boolean }) {
  // Shown while a run is shown, or when the pipeline has runs to pick from.
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { runId, show } = useRunView(useShallow((s) => ({ runId: s.runId, show: s.show })));
  const recent = useQuery(trpc.runs.list.queryOptions({ pipelineId, limit: 20 }));
  const cancel = useMutation(trpc.runs.cancel.mutationOptions());
  const retry = useMutation(trpc.runs.retry.mutationOptions());
  const run = detail?.run;
  const live = !!run && !TERMINAL_RUN.has(run.state);
  const now = useNow(live);
  const selectId = useId();

  // The list shows the shown run's latest state.
  const runState = run?.state;
  useEffect(() => {
    if (runState) void queryClient.invalidateQueries({ queryKey: trpc.runs.list.queryKey({ pipelineId, limit: 20 }) });
  }, [runState, pipelineId, queryClient, trpc]);

  const refresh = () => runId && void queryClient.invalidateQueries({ queryKey: trpc.runs.byId.queryKey({ runId }) });
  const error = cancel.error ?? retry.error;
  const started = run?.startedAt ? Date.parse(run.startedAt) : null;
  const elapsed = started ? (run?.finishedAt ? Date.parse(run.finishedAt) : now) - started : null;
  const counts = detail ? countStates(detail) : null;
  const options = recent.data ?? [];
  if (!runId && !options.length) return null;

  return (
    <div className="flex shrink-0 flex-wrap items-center gap-x-4 gap-y-1.5 border-b border-line bg-surface-2 px-5 py-1.5 text-sm" role="region" aria-label="Run" data-testid="run-bar">
      <div className="flex items-center gap-2">
        <span className="text-xs font-medium text-muted">Run</span>
        {run ? (
          <>
            <span className="font-mono text-xs" title={run.id}>{shortId(run.id)}</span>
            <span className="sr-only">state</span>
            <StateBadge state={run.state} testId="run-state" />
          </>
        ) : (
          <span className="text-xs text-muted">{loading ? "Loading…" : "none shown — pick a recent run, or press Run"}</span>
        )}
      </div>
      {run && (
        <span className="text-xs text-muted" data-testid="run-elapsed">
          {run.state === "queued" ? "waiting to start" : elapsed !== null ? `${live ? "running for" : "took"} ${formatDuration(elapsed)}` : ""}
          {" · "}v{run.version} · {run.trigger}
          {Object.keys(run.params ?? {}).length ? ` · ${Object.entries(run.params as Params).map(([k, v]) => `${k}=${String(v)}`).join(", ")}` : ""}
        </span>
      )}
      {counts && (
        <span className="text-xs text-muted" aria-label="Node states">
          {counts}
        </span>
      )}
      <div className="ml-auto flex items-center gap-2">
        {error && <span role="alert" className="text-xs text-danger">{errorMessage(error)}</span>}
        {run && live && (
          <button type="button" className="btn btn-sm" disabled={cancel.isPending} onClick={() => cancel.mutate({ runId: run.id }, { onSettled: refresh })}>
            {cancel.isPending ? "Canceling…" : "Cancel run"}
          </button>
        )}
        {run && TERMINAL_RUN.has(run.state) && run.version < currentVersion && (
          <span className="text-xs text-warning" data-testid="run-version-note">
            This run is pinned to v{run.version}; retry and rerun use that version — press Run to run v{currentVersion}.
          </span>
        )}
        {run?.outputsDroppedAt && (
          <span className="text-xs text-muted" data-testid="run-outputs-dropped" title={`Dropped ${new Date(run.outputsDroppedAt).toLocaleString()}`}>
            Outputs dropped by retention (TRIBUTARY_KEEP_RUNS) — history only; start a new run to see data.
          </span>
        )}
        {run && run.state === "failed" && !run.outputsDroppedAt && (
          <button
            type="button"
            className="btn btn-sm"
            disabled={retry.isPending}
            onClick={() => retry.mutate({ runId: run.id }, { onSuccess: (r) => show(pipelineId, r.id), onSettled: refresh })}
            title="Run the failed, upstream-failed and canceled nodes again; successful outputs are reused"
          >
            {retry.isPending ? "Retrying…" : "Retry failed"}
          </button>
        )}
        <label htmlFor={selectId} className="text-xs text-muted">Recent runs</label>
        <select
          id={selectId}
          className="input w-56 py-0.5 text-xs"
          value={runId ?? ""}
          onChange={(e) => show(pipelineId, e.target.value || null)}
        >
          {!runId && <option value="">None shown (editing)</option>}
          {!options.some((r) => r.id === runId) && runId && <option value={runId}>{shortId(runId)}</option>}
          {options.map((r) => (
            <option key={r.id} value={r.id}>
              {shortId(r.id)} · {r.state} · {new Date(r.createdAt).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" })}
            </option>
          ))}
        </select>
        {runId && (
          <button type="button" className="btn btn-ghost btn-sm" onClick={() => show(pipelineId, null)} aria-label="Hide the run" title="Hide the run (back to editing)">
            ✕
          </button>
        )}
      </div>
    </div>
  );
}

function countStates(detail: RunDetail): string {
  const by = new Map<string, number>();
  for (const n of detail.nodes) by.set(n.state, (by.get(n.state) ?? 0) + 1);
  const order = ["success", "running", "queued", "up_for_retry", "failed", "upstream_failed", "skipped", "canceled", "pending"];
  return order.filter((s) => by.get(s)).map((s) => `${by.get(s)} ${s.replace("_", " ")}`).join(" · ");
}
