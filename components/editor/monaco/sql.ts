"use client";
/**
 * SQL cells: completion of upstream node names (and their declared columns),
 * formatting with sql-formatter (PostgreSQL), and the server's SQL problems as
 * markers. Each editor registers its model's context here by model URI.
 */
import type * as Monaco from "monaco-editor";
import { format } from "sql-formatter";
import type { Problem } from "@/server/pipeline";

export interface SqlContext {
  /** Upstream node names with their declared columns (empty when undeclared). */
  upstream: { name: string; kind: string; columns: string[] }[];
  params: string[];
}

const contexts = new Map<string, SqlContext>();

export function setSqlContext(model: Monaco.editor.ITextModel, context: SqlContext): void {
  contexts.set(model.uri.toString(), context);
}

export function dropSqlContext(model: Monaco.editor.ITextModel): void {
  contexts.delete(model.uri.toString());
}

export function formatSql(text: string): string {
  try {
    return format(text, { language: "postgresql", keywordCase: "lower", tabWidth: 2 });
  } catch {
    return text; // unparseable SQL stays as it is; its syntax problem is already shown
  }
}

let registered = false;

export function registerSqlSupport(monaco: typeof Monaco): void {
  if (registered) return;
  registered = true;

  monaco.languages.registerCompletionItemProvider("sql", {
    // "." lists the columns of the name before it. Not " ": names and columns come up as a word
    // is typed (quickSuggestions) or with Ctrl+Space, not on every space.
    triggerCharacters: ["."],
    provideCompletionItems(model, position) {
      const context = contexts.get(model.uri.toString());
      if (!context) return { suggestions: [] };
      const word = model.getWordUntilPosition(position);
      const range = new monaco.Range(position.lineNumber, word.startColumn, position.lineNumber, word.endColumn);
      const before = model.getValueInRange(new monaco.Range(position.lineNumber, 1, position.lineNumber, word.startColumn));
      const qualifier = /([a-z_][a-z0-9_]*)\.$/i.exec(before)?.[1];
      const Kind = monaco.languages.CompletionItemKind;
      if (qualifier) {
        const table = context.upstream.find((u) => u.name === qualifier);
        return {
          suggestions: (table?.columns ?? []).map((c) => ({ label: c, kind: Kind.Field, insertText: c, range, detail: `column of ${table!.name}` })),
        };
      }
      return {
        suggestions: [
          ...context.upstream.map((u) => ({
            label: u.name, kind: Kind.Struct, insertText: u.name, range, detail: `upstream ${u.kind}`, sortText: `0${u.name}`,
          })),
          ...context.upstream.flatMap((u) =>
            u.columns.map((c) => ({ label: c, kind: Kind.Field, insertText: c, range, detail: `column of ${u.name}`, sortText: `1${c}` })),
          ),
          ...context.params.map((p) => ({ label: `:${p}`, kind: Kind.Variable, insertText: `:${p}`, range, detail: "param", sortText: `2${p}` })),
        ],
      };
    },
  });

  monaco.languages.registerDocumentFormattingEditProvider("sql", {
    provideDocumentFormattingEdits(model) {
      return [{ range: model.getFullModelRange(), text: formatSql(model.getValue()) }];
    },
  });
}

/** Markers for SQL problems that carry a position in this text. */
export function sqlMarkers(monaco: typeof Monaco, model: Monaco.editor.ITextModel, problems: readonly Problem[]): Monaco.editor.IMarkerData[] {
  return problems.map((p) => {
    const line = Math.min(Math.max(1, p.position?.line ?? 1), model.getLineCount());
    const column = p.position?.column ?? 1;
    const word = p.position ? model.getWordAtPosition({ lineNumber: line, column }) : null;
    return {
      severity: p.severity === "error" ? monaco.MarkerSeverity.Error : monaco.MarkerSeverity.Warning,
      message: p.message,
      startLineNumber: line,
      startColumn: p.position ? column : 1,
      endLineNumber: line,
      endColumn: p.position ? (word?.endColumn ?? column + 1) : model.getLineMaxColumn(line),
      source: "tributary",
    };
  });
}
