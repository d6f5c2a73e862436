/**
 * The pure rules of the runtime: trigger rules, branch edges, forEach
 * aggregation, a run's outcome and the reduction of its events.
 */
import { describe, expect, it } from "vitest";
import { reduceRunState, runEventFor, type EventType } from "@/server/runtime/events";
import {
  aggregateItems, decide, edgeState, isTerminal, runOutcome, TERMINAL_TASK_STATES, type TaskState, type TriggerRule,
} from "@/server/runtime/states";

const ALL_STATES: TaskState[] = ["pending", "queued", "running", "success", "failed", "up_for_retry", "upstream_failed", "skipped", "canceled"];
const NOT_DONE: TaskState[] = ["pending", "queued", "running", "up_for_retry"];
const RULES: TriggerRule[] = ["all_success", "all_done", "one_failed", "none_failed"];

describe("isTerminal", () => {
  it("knows which task states are final", () => {
    expect(ALL_STATES.filter(isTerminal)).toEqual(["success", "failed", "upstream_failed", "skipped", "canceled"]);
    expect([...TERMINAL_TASK_STATES].sort()).toEqual(["canceled", "failed", "skipped", "success", "upstream_failed"]);
  });
});

describe("decide", () => {
  it("runs a node without upstream at once, whatever its rule", () => {
    for (const rule of RULES) expect([rule, decide(rule, [])]).toEqual([rule, "run"]);
  });

  it("waits while an upstream is unfinished (unless the outcome is already known)", () => {
    for (const s of NOT_DONE) {
      expect(decide("all_success", ["success", s])).toBe("wait");
      expect(decide("all_done", ["failed", s])).toBe("wait");
      expect(decide("one_failed", ["success", s])).toBe("wait");
      expect(decide("none_failed", ["skipped", s])).toBe("wait");
    }
  });

  const table: [TriggerRule, TaskState[], ReturnType<typeof decide>][] = [
    // all_success
    ["all_success", ["success"], "run"],
    ["all_success", ["success", "success"], "run"],
    ["all_success", ["failed"], "upstream_failed"],
    ["all_success", ["upstream_failed", "success"], "upstream_failed"],
    ["all_success", ["failed", "running"], "upstream_failed"],
    ["all_success", ["canceled", "success"], "upstream_failed"],
    ["all_success", ["skipped"], "skipped"],
    ["all_success", ["success", "skipped"], "skipped"],
    ["all_success", ["skipped", "failed"], "upstream_failed"],
    // all_done
    ["all_done", ["success"], "run"],
    ["all_done", ["failed"], "run"],
    ["all_done", ["upstream_failed", "skipped", "canceled", "success"], "run"],
    ["all_done", ["skipped"], "run"],
    // one_failed
    ["one_failed", ["failed"], "run"],
    ["one_failed", ["failed", "running"], "run"],
    ["one_failed", ["upstream_failed", "success"], "run"],
    ["one_failed", ["success"], "skipped"],
    ["one_failed", ["success", "skipped"], "skipped"],
    ["one_failed", ["canceled"], "skipped"],
    // none_failed
    ["none_failed", ["success"], "run"],
    ["none_failed", ["skipped"], "run"],
    ["none_failed", ["success", "skipped"], "run"],
    ["none_failed", ["failed"], "upstream_failed"],
    ["none_failed", ["upstream_failed", "skipped"], "upstream_failed"],
    ["none_failed", ["failed", "pending"], "upstream_failed"],
    ["none_failed", ["canceled", "success"], "upstream_failed"],
  ];
  it.each(table)("%s with %j → %s", (rule, upstream, expected) => {
    expect(decide(rule, upstream)).toBe(expected);
  });

  it("gives every rule a decision for every single upstream state", () => {
    const seen = RULES.map((rule) => [rule, ALL_STATES.map((s) => decide(rule, [s]))]);
    expect(seen).toEqual([
      ["all_success", ["wait", "wait", "wait", "run", "upstream_failed", "wait", "upstream_failed", "skipped", "upstream_failed"]],
      ["all_done", ["wait", "wait", "wait", "run", "run", "wait", "run", "run", "run"]],
      ["one_failed", ["wait", "wait", "wait", "skipped", "run", "wait", "run", "skipped", "skipped"]],
      ["none_failed", ["wait", "wait", "wait", "run", "upstream_failed", "wait", "upstream_failed", "run", "upstream_failed"]],
    ]);
  });
});

describe("edgeState", () => {
  it("passes the upstream state through a plain edge", () => {
    for (const s of ALL_STATES) expect(edgeState({}, { state: s })).toBe(s);
    expect(edgeState({}, { state: "success", branch: false })).toBe("success");
  });

  it("is success on the taken branch edge and skipped on the other", () => {
    expect(edgeState({ branch: "true" }, { state: "success", branch: true })).toBe("success");
    expect(edgeState({ branch: "false" }, { state: "success", branch: true })).toBe("skipped");
    expect(edgeState({ branch: "false" }, { state: "success", branch: false })).toBe("success");
    expect(edgeState({ branch: "true" }, { state: "success", branch: false })).toBe("skipped");
  });

  it("carries a branch node's own non-success state on both edges", () => {
    for (const s of ["failed", "upstream_failed", "skipped", "canceled", "running", "pending"] as TaskState[]) {
      expect(edgeState({ branch: "true" }, { state: s })).toBe(s);
      expect(edgeState({ branch: "false" }, { state: s, branch: true })).toBe(s);
    }
  });

  it("feeds decide: a not-taken branch skips all_success and lets none_failed run", () => {
    const notTaken = edgeState({ branch: "false" }, { state: "success", branch: true });
    expect(decide("all_success", [notTaken])).toBe("skipped");
    expect(decide("none_failed", [notTaken, "success"])).toBe("run");
    expect(decide("one_failed", [notTaken])).toBe("skipped");
    expect(decide("all_done", [notTaken])).toBe("run");
  });
});

describe("aggregateItems", () => {
  it.each([
    [[], "success"],
    [["success", "success"], "success"],
    [["success", "running"], "running"],
    [["queued"], "running"],
    [["up_for_retry", "failed"], "running"],
    [["success", "failed"], "failed"],
    [["upstream_failed", "success"], "failed"],
    [["success", "canceled"], "canceled"],
    [["failed", "canceled"], "failed"],
    [["skipped", "success"], "success"],
  ] as [TaskState[], TaskState][])("%j → %s", (items, expected) => {
    expect(aggregateItems(items)).toBe(expected);
  });
});

describe("runOutcome", () => {
  it.each([
    [[], "success"],
    [["success", "skipped"], "success"],
    [["success", "running"], null],
    [["failed", "pending"], null],
    [["success", "failed"], "failed"],
    [["upstream_failed", "success"], "failed"],
    [["failed", "canceled"], "canceled"],
    [["skipped", "skipped"], "success"],
  ] as [TaskState[], string | null][])("%j → %s", (states, expected) => {
    expect(runOutcome(states)).toBe(expected);
  });
});

describe("reduceRunState", () => {
  const ev = (...types: EventType[]) => types.map((type) => ({ type }));
  it("follows run events and ignores task events", () => {
    expect(reduceRunState([])).toBe("queued");
    expect(reduceRunState(ev("RUN_QUEUED"))).toBe("queued");
    expect(reduceRunState(ev("RUN_QUEUED", "RUN_STARTED", "TASK_QUEUED", "TASK_STARTED"))).toBe("running");
    expect(reduceRunState(ev("RUN_QUEUED", "RUN_STARTED", "TASK_SUCCEEDED", "RUN_SUCCEEDED"))).toBe("success");
    expect(reduceRunState(ev("RUN_QUEUED", "RUN_STARTED", "TASK_FAILED", "RUN_FAILED", "TASK_CANCELED"))).toBe("failed");
    expect(reduceRunState(ev("RUN_QUEUED", "RUN_STARTED", "TASK_CANCELED", "RUN_CANCELED"))).toBe("canceled");
  });
  it("goes back to queued, then running, when a finished run is retried", () => {
    expect(reduceRunState(ev("RUN_QUEUED", "RUN_STARTED", "RUN_FAILED", "RUN_RETRIED", "RUN_QUEUED"))).toBe("queued");
    expect(reduceRunState(ev("RUN_QUEUED", "RUN_STARTED", "RUN_FAILED", "RUN_RETRIED", "RUN_QUEUED", "RUN_STARTED", "RUN_SUCCEEDED"))).toBe("success");
    expect(reduceRunState(ev("RUN_FAILED", "RUN_RETRIED"))).toBe("running");
  });
  it("maps each run state to its event, and back", () => {
    for (const s of ["queued", "running", "success", "failed", "canceled"] as const) {
      expect(reduceRunState([{ type: "RUN_QUEUED" }, { type: runEventFor(s) }])).toBe(s);
    }
  });
});
