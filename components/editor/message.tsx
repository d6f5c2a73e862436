"use client";
/** The editor's one-line messages (a refused connection, a save), bottom centre; errors are alerts. */
import { useEffect } from "react";
import { useEditor } from "./store";

export function EditorMessage() {
  const message = useEditor((s) => s.message);
  useEffect(() => {
    if (!message) return;
    const timer = window.setTimeout(() => {
      if (useEditor.getState().message?.id === message.id) useEditor.setState({ message: null });
    }, message.tone === "error" ? 9000 : 5000);
    return () => window.clearTimeout(timer);
  }, [message]);
  if (!message) return null;
  const tone =
    message.tone === "error" ? "border-danger/40 bg-danger-soft text-danger" : message.tone === "success" ? "border-line bg-surface text-fg" : "border-line bg-surface text-fg";
  return (
    <div className="pointer-events-none absolute inset-x-0 bottom-5 z-30 flex justify-center px-4">
      <div
        key={message.id}
        role={message.tone === "error" ? "alert" : "status"}
        className={`pointer-events-auto flex max-w-xl items-start gap-3 rounded-lg border px-4 py-2.5 text-sm shadow-lg ${tone}`}
      >
        {message.tone === "success" && <span aria-hidden="true" className="text-success">✓</span>}
        <span className="min-w-0">{message.text}</span>
        <button type="button" className="-mr-1 text-muted hover:text-fg" aria-label="Dismiss message" onClick={() => useEditor.setState({ message: null })}>
          ✕
        </button>
      </div>
    </div>
  );
}
