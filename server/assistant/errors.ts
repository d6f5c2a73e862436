/**
 * Provider failures as one error class with a kind and a message a user can act
 * on: never a stack trace, never the key.
 */
import OpenAI from "openai";

export type AssistantErrorKind = "not_configured" | "auth" | "rate_limit" | "timeout" | "unreachable" | "malformed" | "provider" | "canceled";

export class AssistantError extends Error {
  constructor(readonly kind: AssistantErrorKind, message: string) {
    super(message);
    this.name = "AssistantError";
  }
}

/** Any error from the SDK (or our own parsing) as an AssistantError. */
export function providerError(error: unknown, where: string): AssistantError {
  if (error instanceof AssistantError) return error;
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new AssistantError("timeout", `the model did not answer within the time limit (${where}); try again, or raise TRIBUTARY_ASSISTANT_TIMEOUT_MS`);
  }
  if (error instanceof OpenAI.APIUserAbortError) return new AssistantError("canceled", "canceled");
  if (error instanceof OpenAI.APIConnectionError) {
    return new AssistantError("unreachable", `cannot reach the model server at ${where}: ${error.cause instanceof Error ? error.cause.message : error.message}`);
  }
  if (error instanceof OpenAI.AuthenticationError || error instanceof OpenAI.PermissionDeniedError) {
    return new AssistantError("auth", `the model server refused the API key (${error.status}); check OPENAI_API_KEY`);
  }
  if (error instanceof OpenAI.RateLimitError) {
    const retry = error.headers?.get?.("retry-after");
    return new AssistantError("rate_limit", `the model server is rate limiting requests (429)${retry ? `; retry after ${retry} s` : ""}; wait and try again`);
  }
  if (error instanceof OpenAI.NotFoundError) {
    return new AssistantError("provider", `the model server does not know this model or endpoint (404): ${short(error.message)}; check OPENAI_MODEL and OPENAI_BASE_URL`);
  }
  if (error instanceof OpenAI.APIError) {
    return new AssistantError("provider", `the model server answered ${error.status ?? "with an error"}: ${short(error.message)}`);
  }
  if (error instanceof SyntaxError) return new AssistantError("malformed", `the model server's answer is not valid JSON: ${short(error.message)}`);
  return new AssistantError("provider", `the model request failed: ${short((error as Error)?.message ?? String(error))}`);
}

function short(text: string): string {
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
