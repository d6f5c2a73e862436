/**
 * Task and run states, and the pure rules that move them: trigger rules,
 * branch outcomes and the reduction of a run's events to its state.
 */
import type { PipelineEdge } from "@/server/pipeline";

export type TaskState =
  | "pending" | "queued" | "running" | "success" | "failed" | "up_for_retry" | "upstream_failed" | "skipped" | "canceled";
export type RunState = "queued" | "running" | "success" | "failed" | "canceled";
export type TriggerRule = "all_success" | "all_done" | "one_failed" | "none_failed";

export const TERMINAL_TASK_STATES: ReadonlySet<TaskState> = new Set(["success", "failed", "upstream_failed", "skipped", "canceled"]);
export const TERMINAL_RUN_STATES: ReadonlySet<RunState> = new Set(["success", "failed", "canceled"]);

export function isTerminal(state: TaskState): boolean {
  return TERMINAL_TASK_STATES.has(state);
}

/** What an upstream node means to one downstream edge. */
export interface UpstreamView {
  state: TaskState;
  /** For a branch upstream that succeeded: its outcome. */
  branch?: boolean;
}

/** The state a downstream node sees through one edge: a branch edge not taken is "skipped". */
export function edgeState(edge: Pick<PipelineEdge, "branch">, upstream: UpstreamView): TaskState {
  if (edge.branch !== undefined && upstream.state === "success" && upstream.branch !== undefined) {
    return String(upstream.branch) === edge.branch ? "success" : "skipped";
  }
  return upstream.state;
}

export type Decision = "wait" | "run" | "skipped" | "upstream_failed";

/**
 * Whether a pending node can run, given the states its upstream edges carry.
 *
 * - all_success (default): run when all succeeded; upstream_failed as soon as one failed;
 *   skipped when all are done and one was skipped.
 * - all_done: run when all are done, whatever their outcome.
 * - one_failed: run as soon as one failed; skipped when all are done and none failed.
 * - none_failed: run when all are done and none failed (skipped is fine); upstream_failed once one failed.
 * A node without upstream runs at once.
 */
export function decide(rule: TriggerRule, upstream: readonly TaskState[]): Decision {
  if (upstream.length === 0) return "run";
  const failed = upstream.some((s) => s === "failed" || s === "upstream_failed");
  const canceled = upstream.some((s) => s === "canceled");
  const allDone = upstream.every(isTerminal);
  switch (rule) {
    case "all_success":
      if (failed || canceled) return "upstream_failed";
      if (!allDone) return "wait";
      return upstream.every((s) => s === "success") ? "run" : "skipped";
    case "all_done":
      return allDone ? "run" : "wait";
    case "one_failed":
      if (failed) return "run";
      return allDone ? "skipped" : "wait";
    case "none_failed":
      if (failed || canceled) return "upstream_failed";
      return allDone ? "run" : "wait";
  }
}

/** The state of a node with forEach from its items' states (the expansion itself succeeded). */
export function aggregateItems(items: readonly TaskState[]): TaskState {
  if (items.length === 0) return "success";
  if (items.some((s) => !isTerminal(s))) return "running";
  if (items.some((s) => s === "failed" || s === "upstream_failed")) return "failed";
  if (items.some((s) => s === "canceled")) return "canceled";
  return "success";
}

/** The run's outcome once every node is terminal. */
export function runOutcome(nodeStates: readonly TaskState[]): RunState | null {
  if (!nodeStates.every(isTerminal)) return null;
  if (nodeStates.some((s) => s === "canceled")) return "canceled";
  if (nodeStates.some((s) => s === "failed" || s === "upstream_failed")) return "failed";
  return "success";
}
