"use client";
/**
 * A run, live. `useRunDetail` reads `runs.byId`; `useLiveRun` follows the run's
 * events over SSE and patches that cached detail as they arrive (node states,
 * rows, errors, the run's state), then refetches `byId` — throttled while
 * events stream, and once more when the subscription ends or reconnects, so
 * the detail always converges on the server's own reduction.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { useTRPC, useTRPCClient } from "@/components/trpc/client";
import { TERMINAL_RUN, type RunDetail, type RunEventData, type RunNode } from "./types";

const TASK_STATE_OF_EVENT: Record<string, string> = {
  TASK_QUEUED: "queued",
  TASK_STARTED: "running",
  TASK_SUCCEEDED: "success",
  TASK_FAILED: "failed",
  TASK_UP_FOR_RETRY: "up_for_retry",
  TASK_SKIPPED: "skipped",
  TASK_UPSTREAM_FAILED: "upstream_failed",
  TASK_CANCELED: "canceled",
};
const RUN_STATE_OF_EVENT: Record<string, string> = {
  RUN_QUEUED: "queued", RUN_STARTED: "running", RUN_RETRIED: "running", RUN_SUCCEEDED: "success", RUN_FAILED: "failed", RUN_CANCELED: "canceled",
};

/**
 * The detail after one event.
 * 1. A run event sets the run's state (and its finish time when it ends).
 * 2. A task event of a node's own task (not a forEach item) sets that node's
 *    state; TASK_STARTED counts the attempt, TASK_SUCCEEDED sets its rows,
 *    TASK_FAILED its error. Item events wait for the next refetch.
 */
export function applyRunEvent(detail: RunDetail, event: RunEventData): RunDetail {
  const runState = RUN_STATE_OF_EVENT[event.type];
  if (runState) {
    const finished = TERMINAL_RUN.has(runState);
    return {
      ...detail,
      run: {
        ...detail.run,
        state: runState as RunDetail["run"]["state"],
        startedAt: detail.run.startedAt ?? (runState === "running" ? event.at : null),
        finishedAt: finished ? (detail.run.finishedAt ?? event.at) : null,
      },
    };
  }
  const state = TASK_STATE_OF_EVENT[event.type];
  const p = event.payload ?? {};
  if (!state || !p.node || (p.mapIndex ?? -1) >= 0) return detail;
  const nodes = detail.nodes.map((n): RunNode => {
    if (n.nodeId !== p.node) return n;
    const next: RunNode = { ...n, state: state as RunNode["state"] };
    if (event.type === "TASK_QUEUED" || event.type === "TASK_UP_FOR_RETRY") next.finishedAt = null;
    if (event.type === "TASK_STARTED") {
      next.attempts = Math.max(n.attempts, p.attempt ?? n.attempts + 1);
      next.startedAt = event.at;
      next.finishedAt = null;
      next.error = null;
      next.rows = null;
      if (event.taskRunId) next.taskRunId = event.taskRunId;
    }
    if (event.type === "TASK_SUCCEEDED") {
      next.rows = p.rows ?? null;
      next.finishedAt = event.at;
    }
    if (event.type === "TASK_FAILED") {
      next.error = { message: p.error ?? "failed" };
      next.finishedAt = event.at;
    }
    return next;
  });
  return { ...detail, nodes };
}

/** The run's detail; polled slowly while it is unfinished (events make it live). */
export function useRunDetail(runId: string | null) {
  const trpc = useTRPC();
  return useQuery({
    ...trpc.runs.byId.queryOptions({ runId: runId ?? "00000000-0000-4000-8000-000000000000" }),
    enabled: runId !== null,
    staleTime: 1_000,
    refetchInterval: (q) => (q.state.data && TERMINAL_RUN.has(q.state.data.run.state) ? false : 4_000),
  });
}

/** Follow `runId`'s events while it is shown; patch its `byId` detail from them. */
export function useLiveRun(runId: string | null, follow = 0, onFinished?: () => void) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();

  useEffect(() => {
    if (!runId) return;
    const key = trpc.runs.byId.queryKey({ runId });
    // A run shown again (a retry or rerun reopened it) starts from the server's view.
    if (follow > 0) refetchNow();
    let timer: number | null = null;
    let closed = false;
    const refetch = () => void queryClient.invalidateQueries({ queryKey: key, exact: true });
    function refetchNow() {
      void queryClient.invalidateQueries({ queryKey: trpc.runs.byId.queryKey({ runId: runId! }), exact: true });
    }
    const refetchSoon = () => {
      if (timer !== null) return;
      timer = window.setTimeout(() => {
        timer = null;
        if (!closed) refetch();
      }, 1_000);
    };
    let connected = false;
    const sub = client.runs.events.subscribe(
      { runId, lastEventId: null },
      {
        onData(tracked) {
          const event = tracked.data as RunEventData;
          queryClient.setQueryData<RunDetail>(key, (old) => (old ? applyRunEvent(old, event) : old));
          refetchSoon();
        },
        onConnectionStateChange(state) {
          // A reconnect may have missed nothing (tracked ids resume), but refetch to be sure.
          if (state.state === "pending") {
            if (connected) refetch();
            connected = true;
          }
        },
        onComplete() {
          refetch();
          onFinished?.();
        },
        onError() {
          refetch();
        },
      },
    );
    return () => {
      closed = true;
      if (timer !== null) window.clearTimeout(timer);
      sub.unsubscribe();
    };
    // onFinished is read once per subscription on purpose.
  }, [runId, follow, client, queryClient, trpc]);
}
