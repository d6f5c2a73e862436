"use client";
/**
 * A SQL or JS node's code, bound to the editor store: the Monaco editor
 * (loaded client-only), its upstream names for completion and types, and the
 * problems of its text as markers and as a list under it.
 */
import dynamic from "next/dynamic";
import { useCallback, useMemo } from "react";
import { useShallow } from "zustand/react/shallow";
import type { PipelineFile } from "@/server/pipeline";
import { SeverityIcon } from "@/components/canvas/problems-panel";
import { fieldProblems, useProblems } from "./problems";
import { useEditor } from "./store";
import { CellResult, useCellRun } from "@/components/runs/cell-result";
import { useRunView } from "@/components/runs/store";

const CodeEditor = dynamic(() => import("./monaco/code-editor"), {
  ssr: false,
  loading: () => <div className="grid h-24 place-items-center rounded-md border border-line text-xs text-muted">Loading editor…</div>,
});

let codeEditorLoad: Promise<unknown> | null = null;

/**
 * Start loading the code editor (Monaco: ≈ 4 MB of script) before a node's panel needs it —
 * the canvas calls this when the pointer comes over a sql or js node. Loaded on the click
 * instead, its nine files took the browser's connections to the server (the run's preview
 * waited behind them) and its evaluation held up the panel: the first click on a node showed
 * its output ≈ 450 ms later than the next one.
 */
export function preloadCodeEditor(): void {
  codeEditorLoad ??= import("./monaco/code-editor").catch(() => {
    codeEditorLoad = null; // the next pointer over a node tries again
  });
}

/**
 * Run one cell (Ctrl/⌘+Enter, "Run cell"): the pipeline page registers the
 * action (a draft run of this node and its upstream on the unsaved document;
 * its result shows under the cell).
 */
export function onRunCell(nodeId: string): void {
  void useRunView.getState().runCell?.(nodeId);
}

function upstreamOf(doc: PipelineFile, nodeId: string) {
  const ids = new Set(doc.edges.filter((e) => e.to === nodeId).map((e) => e.from));
  return doc.nodes.filter((n) => ids.has(n.id));
}

export function CodeCell({ nodeId, host, height = 180 }: { nodeId: string; host: string; height?: number }) {
  const node = useEditor((s) => s.document.nodes.find((n) => n.id === nodeId));
  const { edges, nodes, params } = useEditor(useShallow((s) => ({ edges: s.document.edges, nodes: s.document.nodes, params: s.document.params })));
  const updateNodeConfig = useEditor((s) => s.updateNodeConfig);
  const allProblems = useProblems();
  const doc = useEditor.getState().document;

  // Upstream names (and declared columns) change rarely; keep their identity stable across keystrokes.
  const upstreamKey = JSON.stringify(
    upstreamOf({ ...doc, nodes, edges }, nodeId).map((n) => ({ name: n.name, kind: n.kind, columns: ("columns" in n.config && n.config.columns) || {} })),
  );
  const { upstream, upstreamTypes } = useMemo(() => {
    const list = JSON.parse(upstreamKey) as { name: string; kind: string; columns: Record<string, string> }[];
    return {
      upstream: list.map((u) => ({ name: u.name, kind: u.kind, columns: Object.keys(u.columns) })),
      upstreamTypes: Object.fromEntries(list.map((u) => [u.name, u.columns])),
    };
  }, [upstreamKey]);
  const { cellRun, node: runNode, position } = useCellRun(nodeId);
  const canRun = useRunView((s) => s.runCell !== null);
  const paramNames = useMemo(() => ["logical_date", "run_id", ...Object.keys(params ?? {})], [params]);
  const field = node?.kind === "js" ? "code" : "sql";
  const onChange = useCallback((value: string) => updateNodeConfig(nodeId, { [field]: value }, `config:${nodeId}:${field}`), [updateNodeConfig, nodeId, field]);

  if (!node || (node.kind !== "sql" && node.kind !== "js")) return null;
  const text = node.kind === "sql" ? node.config.sql : node.config.code;
  const problems = fieldProblems(allProblems, doc, nodeId, ["config", field]);
  // A failed run of this exact text marks the position its error names.
  const runError =
    runNode?.state === "failed" && runNode.error && cellRun?.text === text
      ? { message: runNode.error.message, line: position?.line ?? 1, column: position?.column ?? 1, exact: position !== null }
      : null;
  const nodeProblems = allProblems.filter((p) => p.nodeId === nodeId && p.code.startsWith("sql_") && !problems.includes(p));

  return (
    <div>
      <CodeEditor
        host={host}
        nodeId={nodeId}
        nodeName={node.name}
        language={node.kind === "sql" ? "sql" : "javascript"}
        value={text}
        onChange={onChange}
        problems={problems}
        upstream={upstream}
        upstreamTypes={upstreamTypes}
        params={paramNames}
        height={height}
        label={`${node.kind === "sql" ? "SQL" : "JavaScript"} of ${node.name}`}
        onRunCell={canRun ? () => onRunCell(nodeId) : undefined}
        runError={runError}
      />
      {[...problems, ...nodeProblems].length > 0 && (
        <ul className="mt-1.5 space-y-1" aria-label={`Problems of ${node.name}'s ${field}`}>
          {[...problems, ...nodeProblems].map((p, i) => (
            <li key={i} className="flex gap-1.5 text-xs">
              <SeverityIcon error={p.severity === "error"} />
              <span>
                {p.position ? <span className="font-mono text-muted">{`${p.position.line}:${p.position.column} `}</span> : null}
                {p.message}
              </span>
            </li>
          ))}
        </ul>
      )}
      <CellResult nodeId={nodeId} compact={host === "panel"} />
    </div>
  );
}
