"use client";
/**
 * One Monaco cell (SQL or JavaScript). Client-only: load it through
 * `./code-cell` (next/dynamic, ssr: false). EditContext is off, so typing works
 * the same in every browser and in Playwright.
 *
 * SQL: highlighting, completion of upstream names and declared columns,
 * Shift+Alt+F / Format (sql-formatter, PostgreSQL), the server's SQL problems as markers.
 * JS: checked by the TypeScript worker; `Inputs<"this_node">` types the upstream outputs.
 * Ctrl/⌘+Enter and "Run cell" call `onRunCell`; a failed run's error with a
 * position becomes a marker there (`runError`).
 */
import Editor, { type OnMount } from "@monaco-editor/react";
import type * as Monaco from "monaco-editor";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { Problem } from "@/server/pipeline";
import { editorTheme, setupMonaco } from "./setup";
import { dropSqlContext, formatSql, setSqlContext, sqlMarkers, type SqlContext } from "./sql";

const monaco = setupMonaco();

const BASE_LIB = `type Row = Record<string, unknown>;
/** Upstream outputs of each JS node, by node name (filled in by the editor). */
interface TributaryInputs {}
/** The upstream outputs of node N: one array of rows per upstream node name. */
type Inputs<N extends keyof TributaryInputs> = TributaryInputs[N];
`;
monaco.typescript.javascriptDefaults.addExtraLib(BASE_LIB, "file:///tributary/base.d.ts");

const TS_TYPES: Record<string, string> = {
  text: "string", integer: "number", bigint: "number | string", numeric: "number | string", double: "number",
  boolean: "boolean", date: "string", timestamp: "string", timestamptz: "string", json: "unknown",
};

export interface CodeEditorProps {
  /** Distinguishes two editors of one node (panel and notebook). */
  host: string;
  nodeId: string;
  nodeName: string;
  language: "sql" | "javascript";
  value: string;
  onChange: (value: string) => void;
  /** SQL problems of this text (with positions) to show as markers. */
  problems: readonly Problem[];
  upstream: SqlContext["upstream"];
  upstreamTypes?: Record<string, Record<string, string>>;
  params: string[];
  height: number;
  label: string;
  onRunCell?: () => void;
  /** The error of the cell's last run, when it names a line and column of this text. */
  runError?: { message: string; line: number; column: number; exact: boolean } | null;
}

export default function CodeEditor(props: CodeEditorProps) {
  const { host, nodeId, nodeName, language, value, onChange, problems, upstream, upstreamTypes, params, height, label } = props;
  const [editor, setEditor] = useState<Monaco.editor.IStandaloneCodeEditor | null>(null);
  const runRef = useRef(props.onRunCell);
  runRef.current = props.onRunCell;
  const path = `file:///cells/${host}/${nodeId}.${language === "sql" ? "sql" : "js"}`;
  // Stable across keystrokes: a new options object makes Monaco re-apply every option,
  // and a new onChange makes @monaco-editor/react subscribe to the model again.
  const handleChange = useCallback((v: string | undefined) => onChange(v ?? ""), [onChange]);
  const options = useMemo(
    (): Monaco.editor.IStandaloneEditorConstructionOptions => ({
      editContext: false,
      minimap: { enabled: false },
      fontSize: 12.5,
      lineNumbers: "on",
      lineNumbersMinChars: 3,
      scrollBeyondLastLine: false,
      wordWrap: "on",
      tabSize: 2,
      automaticLayout: true,
      fixedOverflowWidgets: true,
      renderLineHighlight: "line",
      renderLineHighlightOnlyWhenFocus: true,
      overviewRulerLanes: 0,
      padding: { top: 6, bottom: 6 },
      ariaLabel: label,
      quickSuggestions: { other: true, strings: false, comments: false },
    }),
    [label],
  );

  const onMount: OnMount = (instance) => {
    instance.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.Enter, () => runRef.current?.());
    const textarea = instance.getDomNode()?.querySelector("textarea");
    textarea?.setAttribute("aria-label", label);
    setEditor(instance);
  };

  // SQL: completion context and markers.
  useEffect(() => {
    const model = editor?.getModel();
    if (!model || language !== "sql") return;
    setSqlContext(model, { upstream, params });
    return () => dropSqlContext(model);
  }, [editor, language, upstream, params]);

  useEffect(() => {
    const model = editor?.getModel();
    if (!model || language !== "sql") return;
    monaco.editor.setModelMarkers(model, "tributary", sqlMarkers(monaco, model, problems));
  }, [editor, language, problems]);

  // The last run's error, at the position it names.
  const runError = props.runError;
  useEffect(() => {
    const model = editor?.getModel();
    if (!model) return;
    if (!runError?.exact) {
      monaco.editor.setModelMarkers(model, "tributary-run", []);
      return;
    }
    const line = Math.min(Math.max(1, runError.line), model.getLineCount());
    const column = Math.min(Math.max(1, runError.column), model.getLineMaxColumn(line));
    const word = model.getWordAtPosition({ lineNumber: line, column });
    monaco.editor.setModelMarkers(model, "tributary-run", [{
      severity: monaco.MarkerSeverity.Error,
      message: `Run failed: ${runError.message}`,
      startLineNumber: line,
      startColumn: word?.startColumn ?? column,
      endLineNumber: line,
      endColumn: word?.endColumn ?? Math.min(column + 1, model.getLineMaxColumn(line)),
      source: "run",
    }]);
  }, [editor, runError?.exact, runError?.line, runError?.column, runError?.message]);

  // JS: this node's Inputs type, from its upstream names and declared columns.
  useEffect(() => {
    if (language !== "javascript") return;
    const fields = upstream.map((u) => {
      const types = upstreamTypes?.[u.name];
      const row = types && Object.keys(types).length
        ? `{ ${Object.entries(types).map(([c, t]) => `${JSON.stringify(c)}: ${TS_TYPES[t] ?? "unknown"} | null;`).join(" ")} [column: string]: unknown }`
        : "Row";
      return `    ${JSON.stringify(u.name)}: ${row}[];`;
    });
    const lib = `interface TributaryInputs {\n  ${JSON.stringify(nodeName)}: {\n${fields.join("\n")}\n  };\n}\n`;
    const handle = monaco.typescript.javascriptDefaults.addExtraLib(lib, `file:///tributary/${host}/${nodeId}.d.ts`);
    return () => handle.dispose();
  }, [language, upstream, upstreamTypes, nodeName, nodeId, host]);

  const format = () => {
    const model = editor?.getModel();
    if (!editor || !model) return;
    const formatted = formatSql(model.getValue());
    if (formatted === model.getValue()) return;
    editor.pushUndoStop();
    editor.executeEdits("format", [{ range: model.getFullModelRange(), text: formatted }]);
    editor.pushUndoStop();
  };

  return (
    <div className="overflow-hidden rounded-md border border-line-strong bg-surface" data-testid={`code-${nodeId}`}>
      <div className="flex items-center justify-between gap-2 border-b border-line bg-surface-2 px-2 py-1 text-[11px] text-muted">
        <span className="min-w-0 truncate" title={language === "sql" ? "Ctrl+Space completes upstream names and columns · Shift+Alt+F formats · Ctrl+Enter runs the cell" : "Ctrl+Space completes · Inputs<\"name\"> types the upstream rows · Ctrl+Enter runs the cell"}>
          {language === "sql" ? "SQL (PostgreSQL)" : "JavaScript (checked)"} · <kbd className="font-sans">Ctrl+Space</kbd> completes
        </span>
        <span className="flex shrink-0 items-center gap-1 whitespace-nowrap">
          {language === "sql" && (
            <button type="button" className="btn btn-ghost btn-sm py-0.5" onClick={format} aria-label={`Format SQL of ${nodeName}`} title="Format (Shift+Alt+F)">
              Format
            </button>
          )}
          {props.onRunCell && (
            <button
              type="button"
              className="btn btn-ghost btn-sm py-0.5 text-accent"
              onClick={props.onRunCell}
              aria-label={`Run cell ${nodeName}`}
              title="Run this cell and what it reads on the document as it is, unsaved edits included; its output shows here (Ctrl+Enter)"
            >
              ▶ Run cell
            </button>
          )}
        </span>
      </div>
      <Editor
        height={height}
        path={path}
        language={language}
        value={value}
        onChange={handleChange}
        onMount={onMount}
        theme={editorTheme()}
        loading={<div className="p-3 text-xs text-muted">Loading editor…</div>}
        options={options}
      />
    </div>
  );
}
