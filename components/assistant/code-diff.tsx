"use client";
/**
 * The assistant's proposed code next to the node's current code: Monaco's diff
 * editor (bundled Monaco, see components/editor/monaco/setup.ts), read-only,
 * inline (the panel is narrow). Loaded client-only through next/dynamic.
 */
import { DiffEditor, type DiffOnMount } from "@monaco-editor/react";
import { useEffect, useRef } from "react";
import { setupMonaco } from "@/components/editor/monaco/setup";

setupMonaco();

export interface CodeDiffProps {
  /** Keeps the diff's models apart from the cell editors' and from other diffs. */
  id: string;
  language: "sql" | "javascript";
  original: string;
  proposed: string;
  label: string;
  height?: number;
}

export default function CodeDiff({ id, language, original, proposed, label, height = 240 }: CodeDiffProps) {
  const ext = language === "sql" ? "sql" : "js";
  // The library disposes the models before the diff editor lets go of them, and Monaco throws
  // ("TextModel got disposed before DiffEditorWidget model got reset"): keep them, and on
  // unmount detach them first, then dispose them here.
  const mounted = useRef<Parameters<DiffOnMount>[0] | null>(null);
  const models = useRef<{ dispose(): void }[]>([]);
  const generation = useRef(0);
  useEffect(() => {
    const mine = ++generation.current;
    return () => {
      // Deferred: a remount in the same tick (React's development double effects) keeps them.
      window.setTimeout(() => {
        if (generation.current !== mine) return;
        try {
          mounted.current?.setModel(null);
        } catch {
          // the editor is already disposed
        }
        for (const m of models.current) m.dispose();
        models.current = [];
      }, 0);
    };
  }, []);
  const onMount: DiffOnMount = (editor) => {
    mounted.current = editor;
    const model = editor.getModel();
    if (model) models.current = [model.original, model.modified];
  };
  return (
    <div className="overflow-hidden rounded-md border border-line-strong bg-surface" role="group" aria-label={label} data-testid="assistant-diff">
      <div className="flex items-center justify-between border-b border-line bg-surface-2 px-2 py-1 text-[11px] text-muted">
        <span>
          <span className="font-semibold text-danger">−</span> current · <span className="font-semibold text-success">+</span> proposed
        </span>
        <span>{language === "sql" ? "SQL" : "JavaScript"}</span>
      </div>
      <DiffEditor
        height={height}
        language={language}
        original={original}
        modified={proposed}
        originalModelPath={`file:///assistant/${id}/current.${ext}`}
        modifiedModelPath={`file:///assistant/${id}/proposed.${ext}`}
        onMount={onMount}
        keepCurrentOriginalModel
        keepCurrentModifiedModel
        theme={prefersDark() ? "vs-dark" : "vs"}
        loading={<div className="p-3 text-xs text-muted">Loading diff…</div>}
        options={{
          readOnly: true,
          originalEditable: false,
          renderSideBySide: false,
          minimap: { enabled: false },
          fontSize: 12,
          lineNumbersMinChars: 3,
          scrollBeyondLastLine: false,
          wordWrap: "on",
          automaticLayout: true,
          renderOverviewRuler: false,
          overviewRulerLanes: 0,
          hideUnchangedRegions: { enabled: false },
          ariaLabel: label,
        }}
      />
    </div>
  );
}

function prefersDark(): boolean {
  return typeof window !== "undefined" && window.matchMedia?.("(prefers-color-scheme: dark)").matches;
}
