"use client";
/**
 * A node's output rows: a virtualized grid over `runs.preview`. The header
 * names each column with its type; the body holds only the rows in view
 * (plus a few), and fetches the 200-row pages they fall in as the user
 * scrolls — an output is never loaded whole.
 */
import { useQueries, useQuery } from "@tanstack/react-query";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useMemo, useRef } from "react";
import { useTRPC } from "@/components/trpc/client";
import { errorCode, errorMessage } from "@/components/pipelines/errors";
import { formatCount } from "./types";

export const PAGE_SIZE = 200;
const ROW_HEIGHT = 26;
const NUMERIC = /^(integer|bigint|smallint|numeric|double precision|real)/;

function columnWidth(name: string, type: string): number {
  const chars = Math.max(name.length, type.length * 0.85, NUMERIC.test(type) ? 8 : 14);
  return Math.min(320, Math.max(90, Math.round(chars * 7.4 + 28)));
}

function cellText(value: unknown, type: string): string {
  if (value === null || value === undefined) return "NULL";
  // A date column's values arrive as midnight timestamps: show the date.
  if (type === "date" && typeof value === "string" && /^\d{4}-\d{2}-\d{2}T00:00:00(\.0+)?Z$/.test(value)) return value.slice(0, 10);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function PreviewGrid({ runId, node, height = 320, label }: { runId: string; node: string; height?: number; label?: string }) {
  const trpc = useTRPC();
  const first = useQuery({ ...trpc.runs.preview.queryOptions({ runId, node, offset: 0, limit: PAGE_SIZE }), staleTime: Infinity, retry: false });
  const scroller = useRef<HTMLDivElement>(null);
  const total = first.data?.total ?? 0;
  const columns = useMemo(() => first.data?.columns ?? [], [first.data]);
  const widths = useMemo(() => columns.map((c) => columnWidth(c.name, c.type)), [columns]);
  const numberWidth = Math.max(48, String(total).length * 8 + 20);
  const innerWidth = numberWidth + widths.reduce((a, b) => a + b, 0);

  const virtual = useVirtualizer({
    count: total,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
  });
  const items = virtual.getVirtualItems();

  // The pages the visible rows fall in (page 0 is `first`).
  const pageIndexes = useMemo(() => {
    if (!items.length) return [];
    const from = Math.floor(items[0]!.index / PAGE_SIZE);
    const to = Math.floor(items[items.length - 1]!.index / PAGE_SIZE);
    const out: number[] = [];
    for (let p = Math.max(1, from); p <= to; p++) out.push(p);
    return out;
  }, [items]);
  const pages = useQueries({
    queries: pageIndexes.map((p) => ({
      ...trpc.runs.preview.queryOptions({ runId, node, offset: p * PAGE_SIZE, limit: PAGE_SIZE }),
      staleTime: Infinity,
      enabled: first.isSuccess,
    })),
  });
  const rowAt = (index: number): Record<string, unknown> | undefined => {
    const p = Math.floor(index / PAGE_SIZE);
    const data = p === 0 ? first.data : pages[pageIndexes.indexOf(p)]?.data;
    return data?.rows[index - p * PAGE_SIZE] as Record<string, unknown> | undefined;
  };

  if (first.isPending) return <p className="px-1 py-3 text-xs text-muted" aria-busy="true">Loading output of {node}…</p>;
  if (first.error) {
    return (
      <p className="rounded-md bg-surface-2 px-3 py-2 text-xs text-muted">
        {errorCode(first.error) === "NOT_FOUND" ? `${node} has no output in this run (it has not succeeded, or it writes no table).` : errorMessage(first.error)}
      </p>
    );
  }

  return (
    <div className="flex min-h-0 flex-col">
      <p className="mb-1.5 text-xs text-muted" data-testid="preview-total">
        <strong className="font-semibold text-fg">{formatCount(total)}</strong> row{total === 1 ? "" : "s"} · {columns.length} column{columns.length === 1 ? "" : "s"}
      </p>
      <div
        ref={scroller}
        className="overflow-auto rounded-md border border-line bg-surface font-mono text-xs"
        style={{ height: total === 0 ? undefined : height }}
        role="grid"
        aria-label={label ?? `Output of ${node}`}
        aria-rowcount={total + 1}
        aria-colcount={columns.length + 1}
        tabIndex={0}
      >
        <div style={{ width: innerWidth, minWidth: "100%" }}>
          <div role="rowgroup" className="sticky top-0 z-10 border-b border-line-strong bg-surface-2">
            <div role="row" aria-rowindex={1} className="flex">
              <div role="columnheader" className="shrink-0 px-2 py-1 text-right text-muted" style={{ width: numberWidth }}>#</div>
              {columns.map((c, i) => (
                <div key={c.name} role="columnheader" className="shrink-0 border-l border-line px-2 py-1" style={{ width: widths[i] }} title={`${c.name} (${c.type})`}>
                  <div className="truncate font-semibold text-fg">{c.name}</div>
                  <div className="truncate text-[10px] font-normal text-muted" data-testid="column-type">{c.type}</div>
                </div>
              ))}
            </div>
          </div>
          {total === 0 ? (
            <p className="px-3 py-3 font-sans text-muted">No rows.</p>
          ) : (
            <div role="rowgroup" className="relative" style={{ height: virtual.getTotalSize() }}>
              {items.map((item) => {
                const row = rowAt(item.index);
                return (
                  <div
                    key={item.key}
                    role="row"
                    aria-rowindex={item.index + 2}
                    className="absolute left-0 flex w-full border-b border-line/60 hover:bg-surface-2"
                    style={{ height: ROW_HEIGHT, transform: `translateY(${item.start}px)` }}
                  >
                    <div role="rowheader" className="shrink-0 px-2 py-1 text-right text-muted" style={{ width: numberWidth }}>{item.index + 1}</div>
                    {columns.map((c, i) => {
                      const v = row?.[c.name];
                      return (
                        <div
                          key={c.name}
                          role="gridcell"
                          className={`shrink-0 truncate border-l border-line/60 px-2 py-1 ${NUMERIC.test(c.type) ? "text-right tabular-nums" : ""} ${row && (v === null || v === undefined) ? "text-muted italic" : ""}`}
                          style={{ width: widths[i] }}
                        >
                          {row ? cellText(v, c.type) : <span className="text-muted" aria-label="loading">…</span>}
                        </div>
                      );
                    })}
                  </div>
                );
              })}
            </div>
          )}
        </div>
      </div>
    </div>
  );
}
