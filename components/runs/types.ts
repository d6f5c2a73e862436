/**
 * The run views as the browser sees them (inferred from the router's type), the
 * task states with their labels and colours, and small formatting helpers.
 */
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "@/server/api/root";

type Outputs = inferRouterOutputs<AppRouter>["runs"];
export type RunView = Outputs["start"];
export type RunDetail = Outputs["byId"];
export type RunNode = RunDetail["nodes"][number];
export type RunAttempt = RunDetail["attempts"][number];
export type PreviewPage = Outputs["preview"];
export type RunEventData = {
  id: number;
  type: string;
  taskRunId: string | null;
  payload: { node?: string; mapIndex?: number; attempt?: number; rows?: number | null; error?: string; final?: boolean; items?: number } | null;
  at: string;
};

export type TaskState = "pending" | "queued" | "running" | "success" | "failed" | "up_for_retry" | "upstream_failed" | "skipped" | "canceled";
export type RunState = "queued" | "running" | "success" | "failed" | "canceled";

export const TERMINAL_RUN: ReadonlySet<string> = new Set(["success", "failed", "canceled"]);

/** Label and token classes of each state: `badge` for pills, `ring` for the canvas node border. */
export const STATE_STYLE: Record<string, { label: string; badge: string; ring: string; icon: string }> = {
  pending: { label: "pending", badge: "bg-surface-2 text-muted", ring: "border-line-strong border-dashed", icon: "○" },
  queued: { label: "queued", badge: "bg-surface-2 text-muted", ring: "border-line-strong border-dashed", icon: "◷" },
  running: { label: "running", badge: "bg-accent-soft text-accent", ring: "border-accent run-pulse", icon: "◌" },
  success: { label: "success", badge: "bg-success/15 text-success", ring: "border-success ring-2 ring-success/25", icon: "✓" },
  failed: { label: "failed", badge: "bg-danger text-white", ring: "border-danger ring-2 ring-danger/30", icon: "✕" },
  up_for_retry: { label: "up for retry", badge: "bg-warning-soft text-warning", ring: "border-warning ring-2 ring-warning/25", icon: "↻" },
  upstream_failed: { label: "upstream failed", badge: "bg-danger-soft text-danger", ring: "border-danger/60 border-dashed", icon: "⤫" },
  skipped: { label: "skipped", badge: "bg-surface-2 text-muted", ring: "border-line-strong border-dashed opacity-70", icon: "⤼" },
  canceled: { label: "canceled", badge: "bg-surface-2 text-muted", ring: "border-line-strong opacity-80", icon: "⊘" },
};

export function stateStyle(state: string) {
  return STATE_STYLE[state] ?? STATE_STYLE.pending!;
}

/** "1.2 s", "3 min 04 s", "1 h 02 min". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined ? "—" : n.toLocaleString("en-US");
}

export const shortId = (id: string) => id.slice(0, 8);

/** Where a task error points in the cell's text: `{line, column}` or an offset (1-based) turned into one. */
export function errorPosition(error: unknown, text: string): { line: number; column: number } | null {
  const p = (error as { position?: unknown } | null)?.position;
  if (p && typeof p === "object") {
    const { line, column } = p as { line?: unknown; column?: unknown };
    if (typeof line === "number") return { line, column: typeof column === "number" ? column : 1 };
  }
  if (typeof p === "number" && p >= 1) {
    const before = text.slice(0, p - 1);
    return { line: before.split("\n").length, column: p - 1 - before.lastIndexOf("\n") };
  }
  return null;
}
