"use client";
/** What an import did, or why it failed, with each problem's place in the file. */
import Link from "next/link";
import { formatPath, type Problem } from "@/server/pipeline";
import type { ImportOutcome } from "./import-button";
import { plural } from "./format";

export function ImportReport({ outcome, onDismiss, linkToPipeline = true }: { outcome: ImportOutcome; onDismiss: () => void; linkToPipeline?: boolean }) {
  const failed = !outcome.ok;
  const errors = outcome.problems.filter((p) => p.severity === "error").length;
  return (
    <div
      role={failed ? "alert" : "status"}
      className={`card flex items-start gap-3 px-4 py-3 text-sm ${failed ? "border-danger/40 bg-danger-soft" : ""}`}
    >
      <div className="min-w-0 flex-1">
        <p className="font-medium">
          {outcome.ok ? (
            <>
              {outcome.created ? "Imported " : outcome.changed ? "Updated " : "No changes to "}
              {linkToPipeline ? (
                <Link className="font-mono text-accent underline-offset-2 hover:underline" href={`/pipelines/${outcome.id}`}>
                  {outcome.name}
                </Link>
              ) : (
                <span className="font-mono">{outcome.name}</span>
              )}
              {outcome.created ? ` as a new pipeline (version ${outcome.version})` : outcome.changed ? ` to version ${outcome.version}` : ` (still version ${outcome.version})`}
              {` from ${outcome.file}.`}
              {outcome.problems.length > 0 && ` It has ${plural(outcome.problems.length, "problem")} to fix${errors ? "" : " (warnings only)"}.`}
            </>
          ) : (
            <span className="text-danger">
              Could not import {outcome.file}
              {outcome.problems.length ? ` (${plural(outcome.problems.length, "problem")}):` : `: ${outcome.message}`}
            </span>
          )}
        </p>
        {!outcome.ok && outcome.problems.length > 0 && <ProblemLines problems={outcome.problems} />}
      </div>
      <button type="button" className="btn btn-sm btn-ghost" onClick={onDismiss} aria-label="Dismiss import message">
        ✕
      </button>
    </div>
  );
}

function ProblemLines({ problems }: { problems: Problem[] }) {
  return (
    <ul className="mt-2 space-y-1">
      {problems.slice(0, 20).map((problem, i) => (
        <li key={i} className="flex flex-wrap gap-x-2 text-fg">
          {problem.position ? (
            <span className="font-mono text-xs text-muted">
              line {problem.position.line}, column {problem.position.column}
            </span>
          ) : (
            <span className="font-mono text-xs text-muted">{formatPath(problem.path)}</span>
          )}
          <span>{problem.message}</span>
        </li>
      ))}
      {problems.length > 20 && <li className="text-muted">… and {problems.length - 20} more</li>}
    </ul>
  );
}
