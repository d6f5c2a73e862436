/**
 * The assistant's provider settings, from the environment: any OpenAI-compatible
 * server (OpenAI, Ollama, vLLM, llama.cpp). A local server needs no key; OpenAI does.
 */
export interface AssistantConfig {
  apiKey: string;
  baseURL: string | undefined;
  model: string;
  /** Per request to the provider. */
  timeoutMs: number;
  /** Repair rounds after the first answer (each: problems or dry-run errors go back to the model). */
  maxRepairRounds: number;
  /** Tool calls allowed in one round before the model must answer. */
  maxToolCalls: number;
  /** At most this many sample rows per table reach the model. */
  sampleRows: number;
}

export const DEFAULT_MODEL = "gpt-4o-mini";

/** How to configure a provider, shown where the assistant is not configured. */
export const CONFIGURE_HELP =
  "Set OPENAI_API_KEY (and optionally OPENAI_MODEL, default gpt-4o-mini) before starting Tributary. " +
  "For a local model, point OPENAI_BASE_URL at any OpenAI-compatible server, e.g. Ollama: " +
  "OPENAI_BASE_URL=http://127.0.0.1:11434/v1 OPENAI_MODEL=qwen2.5-coder:7b npm start (no key needed).";

function intFrom(value: string | undefined, fallback: number, min: number, max: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= min && n <= max ? n : fallback;
}

/** The configuration, or null when neither a key nor a base URL is set. */
export function assistantConfig(env: NodeJS.ProcessEnv = process.env): AssistantConfig | null {
  const apiKey = env.OPENAI_API_KEY?.trim();
  const baseURL = env.OPENAI_BASE_URL?.trim() || undefined;
  if (!apiKey && !baseURL) return null;
  return {
    // A local server ignores the key, but the SDK wants one.
    apiKey: apiKey || "no-key",
    baseURL,
    model: env.OPENAI_MODEL?.trim() || DEFAULT_MODEL,
    timeoutMs: intFrom(env.TRIBUTARY_ASSISTANT_TIMEOUT_MS, 120_000, 100, 3_600_000),
    maxRepairRounds: intFrom(env.TRIBUTARY_ASSISTANT_REPAIR_ROUNDS, 3, 0, 10),
    maxToolCalls: 12,
    sampleRows: intFrom(env.TRIBUTARY_ASSISTANT_SAMPLE_ROWS, 5, 0, 50),
  };
}

/** What the UI may know about the provider: never the key. */
export function assistantStatus(env: NodeJS.ProcessEnv = process.env) {
  const config = assistantConfig(env);
  if (!config) return { configured: false as const, help: CONFIGURE_HELP };
  let provider = "OpenAI";
  if (config.baseURL) {
    try {
      provider = new URL(config.baseURL).host;
    } catch {
      provider = "(invalid OPENAI_BASE_URL)";
    }
  }
  return { configured: true as const, model: config.model, provider, sampleRows: config.sampleRows, help: CONFIGURE_HELP };
}
