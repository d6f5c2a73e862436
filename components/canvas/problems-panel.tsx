"use client";
/**
 * Every validation problem of the document; a problem about a node selects and
 * centres it. It re-renders when the problems change, not on every edit (a
 * drag changes the document once per frame).
 */
import { useMemo } from "react";
import { formatPath, type Problem } from "@/server/pipeline";
import { useEditor } from "@/components/editor/store";
import { problemNodeId } from "./adapter";

interface ProblemsPanelProps {
  problems: readonly Problem[];
  selectedId: string | null;
  onFocusNode: (nodeId: string) => void;
}

export function ProblemsPanel({ problems, selectedId, onFocusNode }: ProblemsPanelProps) {
  const hasNodes = useEditor((s) => s.document.nodes.length > 0);
  // Problems are computed from the document, so its nodes as of the problems are the ones they name.
  const nodeIds = useMemo(() => {
    const document = useEditor.getState().document;
    return problems.map((problem) => problemNodeId(problem, document));
  }, [problems]);
  const errors = problems.filter((p) => p.severity === "error").length;
  const warnings = problems.length - errors;
  return (
    <section aria-labelledby="problems-title">
      <h2 id="problems-title" className="flex items-center gap-2 text-sm font-semibold">
        Problems
        {errors > 0 && <span className="rounded-full bg-danger-soft px-2 py-px text-xs text-danger">{errors} error{errors === 1 ? "" : "s"}</span>}
        {warnings > 0 && <span className="rounded-full bg-warning-soft px-2 py-px text-xs text-warning">{warnings} warning{warnings === 1 ? "" : "s"}</span>}
      </h2>
      {problems.length === 0 ? (
        <p className="mt-2 flex items-center gap-2 text-sm text-muted">
          <span aria-hidden="true" className="text-success">✓</span>
          {hasNodes ? "No problems: this pipeline is valid." : "No problems."}
        </p>
      ) : (
        <ul className="mt-2 space-y-1" aria-label="Problems">
          {problems.map((problem, index) => {
            const nodeId = nodeIds[index];
            const body = <ProblemBody problem={problem} />;
            return (
              <li key={index}>
                {nodeId ? (
                  <button
                    type="button"
                    onClick={() => onFocusNode(nodeId)}
                    aria-current={nodeId === selectedId ? "true" : undefined}
                    className="flex w-full gap-2 rounded-md px-2 py-1.5 text-left hover:bg-surface-2 aria-[current=true]:bg-surface-2"
                  >
                    {body}
                  </button>
                ) : (
                  <div className="flex gap-2 px-2 py-1.5">{body}</div>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function ProblemBody({ problem }: { problem: Problem }) {
  const error = problem.severity === "error";
  return (
    <>
      <SeverityIcon error={error} />
      <span className="min-w-0 text-sm">
        <span className="block truncate font-mono text-[11px] text-muted">
          {formatPath(problem.path)}
          {problem.position ? ` · line ${problem.position.line}, column ${problem.position.column}` : ""}
        </span>
        <span className="block break-words">{problem.message}</span>
      </span>
    </>
  );
}

/** A red circled "!" for errors, an amber triangle for warnings (SVG: no emoji font needed). */
export function SeverityIcon({ error }: { error: boolean }) {
  return (
    <svg role="img" aria-label={error ? "Error" : "Warning"} viewBox="0 0 16 16" className={`mt-0.5 size-4 shrink-0 ${error ? "text-danger" : "text-warning"}`}>
      {error ? <circle cx="8" cy="8" r="7" fill="currentColor" /> : <path d="M8 1.5 15 14H1z" fill="currentColor" strokeLinejoin="round" />}
      <path d={error ? "M8 4.2v4.6" : "M8 6v3.8"} stroke="white" strokeWidth="1.8" strokeLinecap="round" />
      <circle cx="8" cy={error ? 11.3 : 12} r="1" fill="white" />
    </svg>
  );
}
