"use client";
/**
 * A readable line diff: changed lines with three lines of context around
 * them; long unchanged stretches fold into "… N unchanged lines".
 */
import { useMemo } from "react";
import { lineDiff, type DiffLine } from "./diff";

const CONTEXT = 3;

type Row = DiffLine | { type: "fold"; count: number };

function withFolds(lines: DiffLine[]): Row[] {
  const keep = lines.map((l) => l.type !== "same");
  const near = keep.map((_, i) => {
    for (let d = -CONTEXT; d <= CONTEXT; d++) if (keep[i + d]) return true;
    return false;
  });
  const rows: Row[] = [];
  let folded = 0;
  lines.forEach((line, i) => {
    if (near[i]) {
      if (folded) rows.push({ type: "fold", count: folded });
      folded = 0;
      rows.push(line);
    } else folded++;
  });
  if (folded) rows.push({ type: "fold", count: folded });
  return rows;
}

export function DiffView({ before, after, beforeLabel, afterLabel }: { before: string; after: string; beforeLabel: string; afterLabel: string }) {
  const rows = useMemo(() => withFolds(lineDiff(before, after)), [before, after]);
  const removed = rows.filter((r) => r.type === "removed").length;
  const added = rows.filter((r) => r.type === "added").length;
  return (
    <figure className="min-w-0">
      <figcaption className="flex flex-wrap gap-x-4 gap-y-1 text-xs text-muted">
        <span><span className="font-mono text-danger">−</span> {beforeLabel} ({removed} line{removed === 1 ? "" : "s"})</span>
        <span><span className="font-mono text-success">+</span> {afterLabel} ({added} line{added === 1 ? "" : "s"})</span>
      </figcaption>
      {removed + added === 0 ? (
        <p className="mt-2 text-sm text-muted">No differences.</p>
      ) : (
        <pre className="mt-2 max-h-[50vh] overflow-auto rounded-md border border-line bg-bg py-1 font-mono text-[11.5px] leading-[1.55]" aria-label="Differences">
          {rows.map((row, i) =>
            row.type === "fold" ? (
              <div key={i} className="px-3 text-muted italic">… {row.count} unchanged line{row.count === 1 ? "" : "s"}</div>
            ) : (
              <div
                key={i}
                className={`px-3 whitespace-pre ${row.type === "removed" ? "bg-danger-soft text-danger" : row.type === "added" ? "bg-[color-mix(in_oklab,var(--success)_14%,transparent)] text-success" : ""}`}
              >
                <span aria-hidden="true" className="inline-block w-4 select-none">{row.type === "removed" ? "−" : row.type === "added" ? "+" : " "}</span>
                {row.text}
              </div>
            ),
          )}
        </pre>
      )}
    </figure>
  );
}
