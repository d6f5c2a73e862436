"use client";
/**
 * One pipeline, editable: header (name, version, save, undo/redo, Canvas |
 * Notebook), the canvas with its palette or the notebook, and a side panel
 * with the selected node's config, or the problems and version history.
 * Runs: "Run" / "Save & run" in the header; the shown run's bar under it,
 * its states on the canvas nodes, and a drawer per node under the canvas.
 *
 * The editor store holds the document being edited; this view loads it from
 * `byId`, and reloads it when a newer version appears (import, restore,
 * rename) unless there are unsaved edits. Its problems come from
 * `pipelines.problems`, asked for once the document is in: SQL analysis of a
 * big pipeline does not hold back the canvas.
 */
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useCallback, useEffect, useState, type ReactNode } from "react";
import { useShallow } from "zustand/react/shallow";
import { useTRPC, useTRPCClient } from "@/components/trpc/client";
import { validate } from "@/server/pipeline";
import { errorCode, errorMessage } from "@/components/pipelines/errors";
import { ExportButton } from "@/components/pipelines/export-button";
import { ImportButton, type ImportOutcome } from "@/components/pipelines/import-button";
import { ImportReport } from "@/components/pipelines/import-report";
import { StatusBadge } from "@/components/pipelines/pipeline-table";
import { RenameButton } from "@/components/pipelines/rename-dialog";
import { EditorMessage } from "@/components/editor/message";
import { Notebook } from "@/components/editor/notebook";
import { NodePanel } from "@/components/editor/panels/node-panel";
import { expectProblems, ProblemSync, seedProblems, useProblems } from "@/components/editor/problems";
import { useSave } from "@/components/editor/save";
import { useEditorShortcuts } from "@/components/editor/shortcuts";
import { selectDirty, useEditor } from "@/components/editor/store";
import { withPositions } from "./adapter";
// Imported, not lazy: the canvas is the page, and its code then loads with the
// page's own instead of after the document (next/dynamic also suspends, and
// React holds a revealed Suspense boundary back for up to 300 ms).
import FlowCanvas, { type FocusRequest } from "./flow-canvas";
import { ProblemsPanel } from "./problems-panel";
import { NodeDrawer } from "@/components/runs/node-drawer";
import { RunBar, RunButton, useRunActions } from "@/components/runs/run-controls";
import { useRunView } from "@/components/runs/store";
import { useLiveRun, useRunDetail } from "@/components/runs/use-live-run";
import { VersionHistory } from "./version-history";
import { AssistantButton, AssistantPanel } from "@/components/assistant/assistant-panel";
import { useAssistant } from "@/components/assistant/store";

const SIDE_PANEL_WIDTH = 380;
const ASSISTANT_WIDTH = 440;
type View = "canvas" | "notebook";

export function PipelineView({ id }: { id: string }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const router = useRouter();
  const pipeline = useQuery(trpc.pipelines.byId.queryOptions({ id }));
  const [outcome, setOutcome] = useState<ImportOutcome | null>(null);
  const loaded = useEditor((s) => s.pipelineId === id);

  // Load the document into the editor: once, and again for a newer version when nothing is unsaved.
  const data = pipeline.data;
  useEffect(() => {
    if (!data) return;
    const s = useEditor.getState();
    const fresh = s.pipelineId !== data.id;
    if (fresh || (data.currentVersion > s.baseVersion && !selectDirty(s))) {
      s.load(data.id, withPositions(data.document), data.currentVersion);
      // Its problems (SQL analysis included) come apart, computed while the canvas draws.
      const loadedDocument = useEditor.getState().document;
      expectProblems(loadedDocument, data.currentVersion);
      client.pipelines.problems
        .query({ id: data.id, version: data.currentVersion })
        .then((answer) => seedProblems(answer.problems, answer.version))
        .catch(() => seedProblems(validate(loadedDocument), data.currentVersion));
    } else if (data.currentVersion > s.baseVersion) {
      s.notify(`Version ${data.currentVersion} was saved elsewhere; saving will ask whether to overwrite it.`);
    }
  }, [data, client]);

  const onImported = (result: ImportOutcome) => {
    setOutcome(result);
    if (result.ok && result.id !== id) router.push(`/pipelines/${result.id}`);
  };

  if (pipeline.error) {
    const missing = errorCode(pipeline.error) === "NOT_FOUND" || errorCode(pipeline.error) === "BAD_REQUEST";
    return (
      <main className="mx-auto max-w-3xl px-6 py-16 text-center">
        <h1 className="text-xl font-semibold">{missing ? "Pipeline not found" : "Could not load this pipeline"}</h1>
        <p className="mt-2 text-sm text-muted">{errorMessage(pipeline.error)}</p>
        <Link href="/" className="btn mt-6">← Back to pipelines</Link>
      </main>
    );
  }
  if (!pipeline.data || !loaded) {
    return <main className="grid h-[calc(100vh-3rem)] place-items-center text-sm text-muted" aria-busy="true">Loading pipeline…</main>;
  }
  const p = pipeline.data;
  return (
    <Editor
      header={{ id: p.id, name: p.name, description: p.description, currentVersion: p.currentVersion }}
      actions={
        <>
          <ImportButton onResult={onImported} />
          <ExportButton id={p.id} name={p.name} />
          <RenameButton pipeline={p} className="btn" />
        </>
      }
      report={outcome && <ImportReport outcome={outcome} onDismiss={() => setOutcome(null)} linkToPipeline={outcome.ok && outcome.id !== id} />}
    />
  );
}

interface EditorProps {
  header: { id: string; name: string; description?: string | null; currentVersion: number };
  actions: ReactNode;
  report: ReactNode;
}

function Editor({ header, actions, report }: EditorProps) {
  const [view, setView] = useState<View>("canvas");
  const [focus, setFocus] = useState<FocusRequest | null>(null);
  // Not the document itself: this view re-renders for what it shows (counts, dirty,
  // selection), not for every keystroke in a cell or every frame of a drag.
  const { nodeCount, edgeCount, selection, dirty, canUndo, canRedo, baseVersion } = useEditor(
    useShallow((s) => ({
      nodeCount: s.document.nodes.length, edgeCount: s.document.edges.length, selection: s.selection,
      dirty: selectDirty(s), canUndo: s.past.length > 0, canRedo: s.future.length > 0, baseVersion: s.baseVersion,
    })),
  );
  const { undo, redo, select } = useEditor(useShallow((s) => ({ undo: s.undo, redo: s.redo, select: s.select })));
  const assistantOpen = useAssistant((s) => s.open);
  const problems = useProblems();
  const { save, saveNow, saving, dialog } = useSave();
  useEditorShortcuts(save);

  // Runs: the shown run, live; its node states for the canvas; the cell action for Monaco.
  const { runId, follow, drawerNodeId, show, openDrawer } = useRunView(
    useShallow((s) => ({ runId: s.pipelineId === header.id ? s.runId : null, follow: s.follow, drawerNodeId: s.drawerNodeId, show: s.show, openDrawer: s.openDrawer })),
  );
  const { startRun, runCell, starting } = useRunActions(header.id, saveNow);
  const runDetail = useRunDetail(runId);
  useLiveRun(runId, follow);
  useEffect(() => {
    if (useRunView.getState().pipelineId !== header.id) show(header.id, null);
  }, [header.id, show]);
  useEffect(() => {
    useRunView.setState({ runCell });
    return () => useRunView.setState({ runCell: null });
  }, [runCell]);
  const detail = runId && runDetail.data?.run.id === runId ? runDetail.data : undefined;
  useEffect(() => {
    useRunView.setState({
      nodeRuns: detail ? Object.fromEntries(detail.nodes.map((n) => [n.nodeId, { state: n.state, rows: n.rows }])) : null,
    });
  }, [detail]);

  // Leaving with unsaved edits asks first.
  useEffect(() => {
    if (!dirty) return;
    const guard = (event: BeforeUnloadEvent) => {
      event.preventDefault();
      event.returnValue = "";
    };
    window.addEventListener("beforeunload", guard);
    return () => window.removeEventListener("beforeunload", guard);
  }, [dirty]);

  const focusNode = useCallback(
    (nodeId: string) => {
      select([nodeId]);
      setFocus({ nodeId, nonce: Date.now() });
    },
    [select],
  );

  const errors = problems.filter((x) => x.severity === "error").length;
  const selectedId = selection.length === 1 ? selection[0]! : null;
  const panelNodeId = useEditor((s) => (selectedId !== null && s.document.nodes.some((n) => n.id === selectedId) ? selectedId : null));

  // Selecting a node (click or keyboard) while a run is shown opens its run drawer.
  useEffect(() => {
    if (runId && selectedId) openDrawer(selectedId);
  }, [runId, selectedId, openDrawer]);
  const drawerNode = detail && drawerNodeId && detail.nodes.some((n) => n.nodeId === drawerNodeId) ? drawerNodeId : null;

  return (
    <main className="relative flex h-[calc(100vh-3rem)] flex-col">
      <header className="shrink-0 border-b border-line bg-surface px-5 py-2.5">
        <div className="flex flex-wrap items-center gap-x-5 gap-y-2">
          <div className="min-w-0 flex-1">
            <Link href="/" className="rounded text-xs text-muted hover:text-fg">← Pipelines</Link>
            <div className="mt-0.5 flex flex-wrap items-center gap-2.5">
              <h1 className="font-mono text-lg font-semibold">{header.name}</h1>
              <span className="rounded bg-surface-2 px-1.5 py-0.5 font-mono text-xs text-muted" title="Current version">v{header.currentVersion}</span>
              <StatusBadge errorCount={errors} nodeCount={nodeCount} />
              <span className="text-xs text-muted">{nodeCount} nodes · {edgeCount} edges</span>
              {dirty && (
                <span className="rounded-full bg-warning-soft px-2 py-px text-xs font-medium text-warning" title={`Edited since version ${baseVersion}`}>
                  Unsaved changes
                </span>
              )}
            </div>
            <p className="mt-0.5 truncate text-sm text-muted">{header.description || "No description"}</p>
          </div>
          <div className="flex items-center gap-2">
            <div className="flex rounded-md border border-line-strong p-0.5" role="group" aria-label="View">
              {(["canvas", "notebook"] as const).map((v) => (
                <button
                  key={v}
                  type="button"
                  aria-pressed={view === v}
                  onClick={() => setView(v)}
                  className="rounded px-2.5 py-1 text-sm font-medium text-muted aria-pressed:bg-accent-soft aria-pressed:text-fg"
                >
                  {v === "canvas" ? "Canvas" : "Notebook"}
                </button>
              ))}
            </div>
            <span className="mx-1 h-6 w-px bg-line" aria-hidden="true" />
            <button type="button" className="btn btn-ghost px-2" onClick={undo} disabled={!canUndo} aria-label="Undo" title="Undo (Ctrl+Z)">
              <svg aria-hidden="true" viewBox="0 0 20 20" className="size-4" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round"><path d="M7 4 3 8l4 4" /><path d="M3 8h9a5 5 0 0 1 0 10H9" /></svg>
            </button>
            <button type="button" className="btn btn-ghost px-2" onClick={redo} disabled={!canRedo} aria-label="Redo" title="Redo (Ctrl+Shift+Z)">
              <svg aria-hidden="true" viewBox="0 0 20 20" className="size-4" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round"><path d="m13 4 4 4-4 4" /><path d="M17 8H8a5 5 0 0 0 0 10h3" /></svg>
            </button>
            <button type="button" className="btn" onClick={save} disabled={!dirty || saving} title="Save (Ctrl+S)">
              {saving ? "Saving…" : "Save"}
            </button>
            <RunButton onStart={startRun} starting={starting} saving={saving} />
            <AssistantButton />
            <span className="mx-1 h-6 w-px bg-line" aria-hidden="true" />
            {actions}
          </div>
        </div>
        {report && <div className="mt-3">{report}</div>}
      </header>

      <RunBar pipelineId={header.id} currentVersion={header.currentVersion} detail={detail} loading={runDetail.isLoading} />

      <div className="flex min-h-0 flex-1">
        <div className="flex min-w-0 flex-1 flex-col">
          <div className="relative min-h-0 min-w-0 flex-1">
            {view === "canvas" ? <FlowCanvas focus={focus} reservedWidth={SIDE_PANEL_WIDTH + 224} /> : <Notebook />}
          </div>
          {detail && drawerNode && (
            <div className="h-[min(22rem,45%)] shrink-0 border-t border-line-strong shadow-[0_-2px_6px_rgb(16_24_40/0.06)]">
              <NodeDrawer key={drawerNode} detail={detail} nodeId={drawerNode} onClose={() => openDrawer(null)} />
            </div>
          )}
        </div>
        {assistantOpen ? <AssistantPanel pipelineId={header.id} width={ASSISTANT_WIDTH} /> : (
        <aside className="shrink-0 space-y-6 overflow-y-auto border-l border-line bg-surface px-4 py-4" style={{ width: SIDE_PANEL_WIDTH }} aria-label="Pipeline details">
          {panelNodeId ? (
            <>
              {detail && drawerNode !== panelNodeId && detail.nodes.some((n) => n.nodeId === panelNodeId) && (
                <button type="button" className="btn btn-sm w-full" onClick={() => openDrawer(panelNodeId)}>
                  Show this node in run {detail.run.id.slice(0, 8)}
                </button>
              )}
              <NodePanel key={panelNodeId} nodeId={panelNodeId} onClose={() => select([])} />
            </>
          ) : (
            <>
              {selection.length > 1 && (
                <p className="rounded-md bg-surface-2 px-3 py-2 text-sm text-muted">
                  {selection.length} nodes selected — Delete removes them, Ctrl+C / Ctrl+D copies or duplicates them.
                </p>
              )}
              <ProblemsPanel problems={problems} selectedId={selectedId} onFocusNode={focusNode} />
              <VersionHistory id={header.id} currentVersion={header.currentVersion} />
            </>
          )}
        </aside>
        )}
      </div>
      <EditorMessage />
      <ProblemSync />
      {dialog}
    </main>
  );
}
