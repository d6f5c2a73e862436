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

/** Servers (by base URL and model) that refused `response_format: json_schema`: asked without it from then on. */
const noSchemaSupport = new Set<string>();

function refusedSchema(error: unknown): boolean {
  return error instanceof OpenAI.BadRequestError && /response_format|json_schema/i.test(error.message);
}

export async function complete(client: OpenAI, config: AssistantConfig, req: CompletionRequest): Promise<Completion> {
  const where = config.baseURL ?? "api.openai.com";
  const key = `${where} ${config.model}`;
  const out: Completion = { content: "", toolCalls: [], usage: { prompt: 0, completion: 0 } };
  const ask = (withSchema: boolean) =>
    client.chat.completions.create(
      {
        model: config.model,
        messages: withSchema
          ? req.messages
          : [...req.messages, { role: "system", content: `Your final answer must be one JSON object following this JSON schema:\n${JSON.stringify(req.schema)}` }],
        ...(req.tools.length ? { tools: req.tools, tool_choice: "auto" as const } : {}),
        ...(withSchema ? { response_format: { type: "json_schema" as const, json_schema: { name: "answer", schema: req.schema, strict: false } } } : {}),
        stream: true,
        stream_options: { include_usage: true },
      },
      { signal: req.signal },
    );
  try {
    let stream;
    try {
      stream = await ask(!noSchemaSupport.has(key));
    } catch (error) {
      // Some OpenAI-compatible servers do not take a JSON schema: the schema goes into the prompt instead.
      if (!refusedSchema(error) || noSchemaSupport.has(key)) throw error;
      noSchemaSupport.add(key);
      stream = await ask(false);
    }
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
