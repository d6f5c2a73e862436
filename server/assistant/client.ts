/**
 * One streamed chat completion through the `openai` SDK: text deltas go to the
 * caller as they arrive; tool calls and usage are assembled from the chunks.
 */
import OpenAI from "openai";
import type { ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions";
import type { AssistantConfig } from "./config";
import { AssistantError, providerError } from "./errors";

export interface Completion {
  content: string;
  toolCalls: { id: string; name: string; arguments: string }[];
  usage: { prompt: number; completion: number };
}

export interface CompletionRequest {
  messages: ChatCompletionMessageParam[];
  tools: ChatCompletionTool[];
  /** The JSON schema the final answer must follow. */
  schema: Record<string, unknown>;
  signal: AbortSignal;
  onText(delta: string): void;
}

export function openaiClient(config: AssistantConfig): OpenAI {
  // Errors are shown to the user at once (a 429 says so); the SDK's silent retries would look like a hang.
  return new OpenAI({ apiKey: config.apiKey, baseURL: config.baseURL, timeout: config.timeoutMs, maxRetries: 0 });
}

export async function complete(client: OpenAI, config: AssistantConfig, req: CompletionRequest): Promise<Completion> {
  const where = config.baseURL ?? "api.openai.com";
  const out: Completion = { content: "", toolCalls: [], usage: { prompt: 0, completion: 0 } };
  try {
    const stream = await client.chat.completions.create(
      {
        model: config.model,
        messages: req.messages,
        tools: req.tools,
        tool_choice: "auto",
        response_format: { type: "json_schema", json_schema: { name: "answer", schema: req.schema, strict: false } },
        stream: true,
        stream_options: { include_usage: true },
      },
      { signal: req.signal },
    );
    for await (const chunk of stream) {
      if (chunk.usage) out.usage = { prompt: chunk.usage.prompt_tokens ?? 0, completion: chunk.usage.completion_tokens ?? 0 };
      const delta = chunk.choices?.[0]?.delta;
      if (!delta) continue;
      if (delta.content) {
        out.content += delta.content;
        req.onText(delta.content);
      }
      for (const call of delta.tool_calls ?? []) {
        const slot = (out.toolCalls[call.index] ??= { id: "", name: "", arguments: "" });
        if (call.id) slot.id = call.id;
        if (call.function?.name) slot.name += call.function.name;
        if (call.function?.arguments) slot.arguments += call.function.arguments;
      }
    }
  } catch (error) {
    if (req.signal.aborted) throw new AssistantError("canceled", "canceled");
    throw providerError(error, where);
  }
  out.toolCalls = out.toolCalls.filter(Boolean).map((c, i) => ({ ...c, id: c.id || `call_${i}` }));
  return out;
}
