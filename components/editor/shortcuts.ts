"use client";
/**
 * The editor's keyboard shortcuts, on the window:
 * Ctrl/⌘+S save · Ctrl/⌘+Z undo · Ctrl/⌘+Shift+Z and Ctrl+Y redo ·
 * Ctrl/⌘+C / V copy and paste nodes · Ctrl/⌘+D duplicate · Delete/Backspace delete.
 * All but save are ignored while typing (inputs, text areas, selects, Monaco),
 * where the field's own undo, copy and delete apply.
 */
import { useEffect } from "react";
import { edgeIndexOf } from "@/components/canvas/adapter";
import { useEditor } from "./store";

function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target.closest(".monaco-editor")) return true;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
}

export function useEditorShortcuts(onSave: () => void) {
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const mod = event.ctrlKey || event.metaKey;
      const key = event.key.toLowerCase();
      if (mod && key === "s") {
        event.preventDefault();
        onSave();
        return;
      }
      if (isTyping(event.target) || event.defaultPrevented) return;
      // A modal dialog owns the keyboard.
      if (document.querySelector("dialog[open]")) return;
      const s = useEditor.getState();
      if (mod && key === "z" && !event.shiftKey) s.undo();
      else if (mod && ((key === "z" && event.shiftKey) || key === "y")) s.redo();
      else if (mod && key === "c") {
        if (!s.selection.length || window.getSelection()?.toString()) return;
        s.copy();
      } else if (mod && key === "v") s.paste();
      else if (mod && key === "d") s.duplicate();
      else if (!mod && (event.key === "Delete" || event.key === "Backspace")) {
        if (!s.selection.length && !s.edgeSelection.length) return;
        if (s.edgeSelection.length) s.removeEdges(s.edgeSelection.map(edgeIndexOf).filter((i) => i >= 0));
        if (s.selection.length) s.removeNodes(s.selection);
      } else return;
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onSave]);
}
