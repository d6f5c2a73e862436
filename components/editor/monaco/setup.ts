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
  return monaco;
}

export type Monaco = typeof monaco;
