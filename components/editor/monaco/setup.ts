"use client";
/**
 * Monaco, bundled with the app (no CDN): `@monaco-editor/react` is pointed at
 * the imported `monaco-editor`, and workers come from the package's own
 * entry points ("exports": "./*" → "./esm/vs/*.js", so
 * `monaco-editor/editor/editor.worker` is esm/vs/editor/editor.worker.js).
 * Imported only from client-only modules (next/dynamic, ssr: false).
 */
import * as monaco from "monaco-editor";
import { loader } from "@monaco-editor/react";
import { registerSqlSupport } from "./sql";

declare global {
  interface Window {
    MonacoEnvironment?: monaco.Environment;
  }
}

let ready = false;

export function setupMonaco(): typeof monaco {
  if (ready) return monaco;
  ready = true;
  window.MonacoEnvironment = {
    getWorker(_workerId: string, label: string) {
      if (label === "typescript" || label === "javascript") {
        return new Worker(new URL("monaco-editor/language/typescript/ts.worker", import.meta.url), { type: "module", name: "ts" });
      }
      return new Worker(new URL("monaco-editor/editor/editor.worker", import.meta.url), { type: "module", name: "editor" });
    },
  };
  loader.config({ monaco });

  // JS cells: checked as JavaScript by the TypeScript worker, ES modules, DOM-free.
  const js = monaco.typescript.javascriptDefaults;
  js.setCompilerOptions({
    target: monaco.typescript.ScriptTarget.ES2020,
    module: monaco.typescript.ModuleKind.ESNext,
    allowJs: true,
    checkJs: true,
    allowNonTsExtensions: true,
    lib: ["es2022"],
    noEmit: true,
  });
  js.setDiagnosticsOptions({ noSemanticValidation: false, noSyntaxValidation: false });
  js.setEagerModelSync(true);

  registerSqlSupport(monaco);

  // Monaco's own dark theme is grey (#1e1e1e) on the app's blue-black panels: match the tokens (app/globals.css).
  monaco.editor.defineTheme(DARK_THEME, {
    base: "vs-dark",
    inherit: true,
    rules: [],
    colors: {
      "editor.background": "#121a25",
      "editorGutter.background": "#121a25",
      "editor.lineHighlightBackground": "#192332",
      "editor.lineHighlightBorder": "#192332",
      "editorLineNumber.foreground": "#5d6b80",
      "editorLineNumber.activeForeground": "#97a3b6",
      "editorWidget.background": "#192332",
      "editorWidget.border": "#34435a",
      "editorSuggestWidget.background": "#192332",
      "editorSuggestWidget.border": "#34435a",
      "editorHoverWidget.background": "#192332",
      "editorHoverWidget.border": "#34435a",
    },
  });
  return monaco;
}

export const DARK_THEME = "tributary-dark";
export const LIGHT_THEME = "vs";

/** The app's theme: an explicit `.dark` / `.light` on <html>, else the system's. */
export function editorTheme(): string {
  if (typeof window === "undefined") return LIGHT_THEME;
  const root = document.documentElement.classList;
  const dark = root.contains("dark") || (!root.contains("light") && window.matchMedia?.("(prefers-color-scheme: dark)").matches);
  return dark ? DARK_THEME : LIGHT_THEME;
}

export type Monaco = typeof monaco;
