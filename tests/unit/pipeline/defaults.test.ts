import { describe, expect, it } from "vitest";
import {
  BUILTIN_DEFAULTS,
  resolveNodeSettings,
  retryDelaySeconds,
  retryPolicyOf,
  type RetryPolicy,
} from "@/server/pipeline/defaults";
import type { PipelineNode } from "@/server/pipeline/schema";

const node = (extra: Partial<PipelineNode> = {}): PipelineNode =>
  ({ id: "n1", kind: "js", name: "step", config: { code: "export default () => []" }, ...extra }) as PipelineNode;

describe("resolveNodeSettings", () => {
  it("uses the built-ins when nothing is set", () => {
    expect(resolveNodeSettings({}, node())).toEqual({ ...BUILTIN_DEFAULTS, triggerRule: "all_success" });
  });

  it("pipeline defaults beat the built-ins", () => {
    const s = resolveNodeSettings({ defaults: { retries: 2, retryDelaySeconds: 10, timeoutSeconds: 600, pool: "heavy" } }, node());
    expect(s).toMatchObject({ retries: 2, retryDelaySeconds: 10, timeoutSeconds: 600, pool: "heavy" });
    expect(s.retryBackoff).toBe(BUILTIN_DEFAULTS.retryBackoff);
    expect(s.priority).toBe(BUILTIN_DEFAULTS.priority);
  });

  it("the node's own settings beat the pipeline defaults", () => {
    const s = resolveNodeSettings(
      { defaults: { retries: 2, retryBackoff: "linear", priority: 5 } },
      node({ retries: 7, retryBackoff: "fixed", triggerRule: "all_done" }),
    );
    expect(s).toMatchObject({ retries: 7, retryBackoff: "fixed", priority: 5, triggerRule: "all_done" });
  });

  it("an explicit 0 on the node wins over a non-zero default (0 is not 'unset')", () => {
    const s = resolveNodeSettings({ defaults: { retries: 3, retryDelaySeconds: 30, priority: 9 } }, node({ retries: 0, retryDelaySeconds: 0, priority: 0 }));
    expect(s).toMatchObject({ retries: 0, retryDelaySeconds: 0, priority: 0 });
  });

  it("retryPolicyOf carries the resolved retry settings", () => {
    const s = resolveNodeSettings({ defaults: { retries: 2 } }, node({ retryDelaySeconds: 4, retryMaxDelaySeconds: 60 }));
    expect(retryPolicyOf(s)).toEqual({ retries: 2, delaySeconds: 4, backoff: "exponential", maxDelaySeconds: 60 });
  });
});

describe("retryDelaySeconds", () => {
  const policy = (backoff: RetryPolicy["backoff"], delaySeconds = 10, maxDelaySeconds = 3600): RetryPolicy => ({
    retries: 5,
    delaySeconds,
    backoff,
    maxDelaySeconds,
  });

  it("fixed: the same delay every time", () => {
    expect([1, 2, 3, 10].map((a) => retryDelaySeconds(policy("fixed"), a))).toEqual([10, 10, 10, 10]);
  });

  it("linear: delay × attempt", () => {
    expect([1, 2, 3, 4].map((a) => retryDelaySeconds(policy("linear"), a))).toEqual([10, 20, 30, 40]);
  });

  it("exponential: delay × 2^(attempt-1)", () => {
    expect([1, 2, 3, 4].map((a) => retryDelaySeconds(policy("exponential"), a))).toEqual([10, 20, 40, 80]);
  });

  it("is capped at the maximum delay", () => {
    expect(retryDelaySeconds(policy("exponential", 10, 60), 4)).toBe(60);
    expect(retryDelaySeconds(policy("exponential", 10, 60), 100)).toBe(60);
    expect(retryDelaySeconds(policy("linear", 10, 25), 3)).toBe(25);
    expect(retryDelaySeconds(policy("fixed", 100, 30), 1)).toBe(30);
  });

  it("treats attempt 0 or below as the first attempt", () => {
    expect(retryDelaySeconds(policy("exponential"), 0)).toBe(10);
    expect(retryDelaySeconds(policy("linear"), -3)).toBe(10);
  });

  it("a zero delay stays zero", () => {
    expect(retryDelaySeconds(policy("exponential", 0), 5)).toBe(0);
  });
});
