/**
 * The append-only run events. A run's state is a pure reduction of its events;
 * `runs.state` is a cache of that reduction, written in the same transaction
 * as the event. Event names never change once stored.
 */
import type { RunState } from "./states";

export const EVENT_TYPES = [
  "RUN_QUEUED", "RUN_STARTED", "RUN_SUCCEEDED", "RUN_FAILED", "RUN_CANCELED", "RUN_RETRIED",
  "TASK_QUEUED", "TASK_STARTED", "TASK_SUCCEEDED", "TASK_FAILED", "TASK_UP_FOR_RETRY",
  "TASK_SKIPPED", "TASK_UPSTREAM_FAILED", "TASK_CANCELED", "TASK_LEASE_LOST", "TASK_EXPANDED",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface RunEvent {
  runId: string;
  taskRunId?: string | null;
  type: EventType;
  payload?: Record<string, unknown>;
}

const RUN_TRANSITIONS: Partial<Record<EventType, RunState>> = {
  RUN_QUEUED: "queued",
  RUN_STARTED: "running",
  RUN_SUCCEEDED: "success",
  RUN_FAILED: "failed",
  RUN_CANCELED: "canceled",
  RUN_RETRIED: "running",
};

/** The run's state after these events, in order (task events do not change it). */
export function reduceRunState(events: readonly Pick<RunEvent, "type">[]): RunState {
  let state: RunState = "queued";
  for (const e of events) state = RUN_TRANSITIONS[e.type] ?? state;
  return state;
}

/** The run-level event for a transition into `state`. */
export function runEventFor(state: RunState): EventType {
  return ({ queued: "RUN_QUEUED", running: "RUN_STARTED", success: "RUN_SUCCEEDED", failed: "RUN_FAILED", canceled: "RUN_CANCELED" } as const)[state];
}
