/**
 * The one place that knows the built-in defaults, and the one RetryPolicy shape
 * used by the UI and the runtime alike.
 */
import type { PipelineFile, PipelineNode, TaskSettings } from "./schema";

export const BUILTIN_DEFAULTS = {
  retries: 0,
  retryDelaySeconds: 10,
  retryBackoff: "exponential",
  retryMaxDelaySeconds: 3600,
  timeoutSeconds: 3600,
  pool: "default",
  priority: 0,
} as const satisfies Required<TaskSettings>;

/** Params every run has; SQL reads them as `:logical_date` and `:run_id`, JS as `params.logical_date`. */
export const BUILTIN_PARAMS = ["logical_date", "run_id"] as const;

export const DEFAULT_TRIGGER_RULE = "all_success" as const;
export const DEFAULT_MAX_ACTIVE_RUNS = 1;
export const DEFAULT_SENSOR_POLL_SECONDS = 30;
export const DEFAULT_TIMEZONE = "UTC";

export interface RetryPolicy {
  retries: number;
  delaySeconds: number;
  backoff: Required<TaskSettings>["retryBackoff"];
  maxDelaySeconds: number;
}

export type ResolvedSettings = Required<TaskSettings> & {
  triggerRule: NonNullable<PipelineNode["triggerRule"]>;
};

/** A node's effective settings: the node's own, else the pipeline's defaults, else the built-ins. */
export function resolveNodeSettings(pipeline: Pick<PipelineFile, "defaults">, node: PipelineNode): ResolvedSettings {
  const d = pipeline.defaults ?? {};
  return {
    retries: node.retries ?? d.retries ?? BUILTIN_DEFAULTS.retries,
    retryDelaySeconds: node.retryDelaySeconds ?? d.retryDelaySeconds ?? BUILTIN_DEFAULTS.retryDelaySeconds,
    retryBackoff: node.retryBackoff ?? d.retryBackoff ?? BUILTIN_DEFAULTS.retryBackoff,
    retryMaxDelaySeconds: node.retryMaxDelaySeconds ?? d.retryMaxDelaySeconds ?? BUILTIN_DEFAULTS.retryMaxDelaySeconds,
    timeoutSeconds: node.timeoutSeconds ?? d.timeoutSeconds ?? BUILTIN_DEFAULTS.timeoutSeconds,
    pool: node.pool ?? d.pool ?? BUILTIN_DEFAULTS.pool,
    priority: node.priority ?? d.priority ?? BUILTIN_DEFAULTS.priority,
    triggerRule: node.triggerRule ?? DEFAULT_TRIGGER_RULE,
  };
}

export function retryPolicyOf(settings: ResolvedSettings): RetryPolicy {
  return {
    retries: settings.retries,
    delaySeconds: settings.retryDelaySeconds,
    backoff: settings.retryBackoff,
    maxDelaySeconds: settings.retryMaxDelaySeconds,
  };
}

/** Seconds to wait before attempt `attempt + 1`, after `attempt` (1-based) failed. */
export function retryDelaySeconds(policy: RetryPolicy, attempt: number): number {
  const n = Math.max(1, attempt);
  const raw =
    policy.backoff === "fixed"
      ? policy.delaySeconds
      : policy.backoff === "linear"
        ? policy.delaySeconds * n
        : policy.delaySeconds * 2 ** (n - 1);
  return Math.min(raw, policy.maxDelaySeconds);
}
