/**
 * The assistant's loop: ask, let the model use its tools, check its answer with the
 * same validation and a dry run, and send what is wrong back for a bounded number
 * of repair rounds. What comes out either validates and passes its dry run, or
 * says exactly what is still wrong. It never saves anything: the caller shows the
 * proposal and the user accepts or rejects it.
 */
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions";
import { asc, eq } from "drizzle-orm";
import { taskLogs } from "@/db/schema";
import {
  canonicalJson, formatProblem, isError, parsePipeline, TABLE_PRODUCING_KINDS, type PipelineFile, type PipelineNode,
} from "@/server/pipeline";
import { publishRunOutputs } from "@/server/runtime/executor";
import { OutputsDroppedError } from "@/server/runtime/retention";
import { columnsOf } from "@/server/runtime/outputs";
import { getRunRow, latestTasks, planOfRun } from "@/server/runtime/run-store";
import { complete, openaiClient } from "./client";
import type { AssistantConfig } from "./config";
import { AssistantError } from "./errors";
import { answerSchema, FORMAT_GUIDE, INSTRUCTIONS, type CapabilityKind } from "./prompts";
import { redactDocument, restoreSecrets } from "./redact";
import { callTool, dryRun, toolDefinitions, type ToolContext } from "./tools";

export type AssistantRequest =
  | { kind: "draft"; description: string }
  | { kind: "suggest"; document: PipelineFile; nodeId: string; instruction?: string }
  | { kind: "cell"; document: PipelineFile; nodeId: string; instruction: string }
  | { kind: "explain"; document: PipelineFile; nodeId: string; runId: string };

export type AssistantEvent =
  | { type: "request"; round: number; messages: { role: string; content: string }[]; tools: string[] }
  | { type: "text"; delta: string }
  | { type: "tool"; name: string; arguments: string; result: string }
  | { type: "check"; round: number; problems: string[] }
  | { type: "result"; result: AssistantResult }
  | { type: "error"; kind: string; message: string };

export interface AssistantResult {
  kind: CapabilityKind;
  /** The proposal validates and passed its dry run (or, for an explanation without a fix, there was nothing to check). */
  ok: boolean;
  explanation: string;
  /** The proposed document (the whole pipeline, with the changed cell for cell/explain); null when there is none. */
  document: PipelineFile | null;
  /** For cell and explain: the node and its proposed code. */
  nodeId: string | null;
  code: string | null;
  /** What is still wrong when ok is false. */
  remaining: string[];
  /** Repair rounds used (0: the first answer passed). */
  rounds: number;
  usage: { prompt: number; completion: number; total: number };
}

interface Answer {
  explanation?: unknown;
  pipeline?: unknown;
  code?: unknown;
}

const sent = (m: ChatCompletionMessageParam) => ({
  role: m.role,
  content: typeof m.content === "string" ? m.content : JSON.stringify(m.content ?? (m as { tool_calls?: unknown }).tool_calls ?? ""),
});

function nodeOf(doc: PipelineFile, nodeId: string): PipelineNode {
  const node = doc.nodes.find((n) => n.id === nodeId) ?? doc.nodes.find((n) => n.name === nodeId);
  if (!node) throw new AssistantError("provider", `no node '${nodeId}' in the document`);
  return node;
}

function withCode(doc: PipelineFile, node: PipelineNode, code: string): PipelineFile {
  const copy = structuredClone(doc);
  const target = copy.nodes.find((n) => n.id === node.id)!;
  if (target.kind === "sql") target.config = { ...target.config, sql: code };
  else if (target.kind === "js") target.config = { ...target.config, code };
  return copy;
}

function codeOf(node: PipelineNode): string {
  return node.kind === "sql" ? node.config.sql : node.kind === "js" ? node.config.code : "";
}

/** The user message for a request: what the model needs to know, nothing secret. */
async function userMessage(req: AssistantRequest, tools: ToolContext): Promise<string> {
  if (req.kind === "draft") return `Description of the pipeline to draft:\n${req.description}`;
  const doc = JSON.stringify(redactDocument(req.document));
  const node = nodeOf(req.document, req.nodeId);
  if (req.kind === "suggest") {
    return `Current document:\n${doc}\n\nSelected node: '${node.name}' (${node.kind}).${req.instruction ? `\nThe user asks: ${req.instruction}` : ""}`;
  }
  if (req.kind === "cell") {
    if (node.kind !== "sql" && node.kind !== "js") throw new AssistantError("provider", `node '${node.name}' is a ${node.kind} node; only sql and js cells have code to write`);
    return `Current document:\n${doc}\n\nSelected node: '${node.name}' (${node.kind}). Its current code:\n${codeOf(node) || "(empty)"}\n\nThe user asks: ${req.instruction}`;
  }
  // explain: the failed task's error, its logs and its inputs' columns.
  const run = await getRunRow(tools.db, req.runId);
  const plan = await planOfRun(tools.db, run);
  const pn = plan.nodes.get(node.id) ?? [...plan.nodes.values()].find((p) => p.node.name === node.name);
  if (!pn) throw new AssistantError("provider", `node '${node.name}' is not part of run ${run.id}`);
  const tasks = (await latestTasks(tools.db, run.id, [pn.node.id])).filter((t) => t.error);
  const failed = tasks[0];
  const logs = failed
    ? (await tools.db.select().from(taskLogs).where(eq(taskLogs.taskRunId, failed.id)).orderBy(asc(taskLogs.id)).limit(50)).map((l) => `${l.level}: ${l.message}`)
    : [];
  // A run whose outputs retention dropped still has its error and logs: explain without its inputs' columns.
  const readable = await publishRunOutputs({ db: tools.db, wh: tools.wh }, run).then(() => true, (error: unknown) => {
    if (error instanceof OutputsDroppedError) return false;
    throw error;
  });
  const inputs: Record<string, unknown> = {};
  for (const e of readable ? pn.upstream : []) {
    const up = plan.nodes.get(e.from);
    if (!up || !TABLE_PRODUCING_KINDS.has(up.node.kind)) continue;
    inputs[up.node.name] = await columnsOf(tools.wh, run.schemaName, up.node.name);
  }
  return [
    `Current document:\n${doc}`,
    `Failed node: '${node.name}' (${node.kind}) in run ${run.id}. Its code when it ran:\n${codeOf(pn.node) || "(no code)"}`,
    `Error: ${failed?.error?.message ?? "(the task has no error recorded)"}`,
    `Logs (last ${logs.length}):\n${logs.join("\n") || "(none)"}`,
    `Input columns by upstream node: ${JSON.stringify(inputs)}`,
  ].join("\n\n");
}

/** Leaves: table-producing nodes no other table-producing node reads. */
function leaves(doc: PipelineFile): PipelineNode[] {
  const producing = new Set(doc.nodes.filter((n) => TABLE_PRODUCING_KINDS.has(n.kind)).map((n) => n.id));
  const feeds = new Set(doc.edges.filter((e) => producing.has(e.to)).map((e) => e.from));
  return doc.nodes.filter((n) => producing.has(n.id) && !feeds.has(n.id));
}

/** Dry-run `nodes`; the failures as problems naming the node. */
async function dryRunProblems(tools: ToolContext, doc: PipelineFile, nodes: PipelineNode[]): Promise<string[]> {
  const problems: string[] = [];
  for (const node of nodes) {
    const result = await dryRun(tools, doc, node.id);
    if (result.state === "success") continue;
    const failed = (result.nodes ?? []).filter((n) => n.state !== "success" && n.state !== "skipped");
    if (failed.length) for (const f of failed) problems.push(`dry run: node '${f.name}' ${f.state}${f.error ? `: ${f.error}` : ""}`);
    else problems.push(`dry run of node '${node.name}': ${result.error ?? result.state}`);
  }
  return [...new Set(problems)];
}

interface Checked {
  problems: string[];
  document: PipelineFile | null;
  code: string | null;
}

/** Check an answer: its shape, the same validation the server uses, the rules of the capability, and a dry run. */
async function check(req: AssistantRequest, answer: Answer, tools: ToolContext): Promise<Checked> {
  if (req.kind === "draft" || req.kind === "suggest") {
    const raw = restoreSecrets(structuredClone(answer.pipeline), req.kind === "suggest" ? req.document : undefined);
    const parsed = parsePipeline(raw, { sql: tools.sql });
    const errors = parsed.problems.filter(isError).map(formatProblem);
    if (!parsed.ok || errors.length) return { problems: errors.length ? errors : ["pipeline: missing or not a tributary/v1 document"], document: parsed.pipeline, code: null };
    const doc = parsed.pipeline;
    if (req.kind === "draft") return { problems: await dryRunProblems(tools, doc, leaves(doc)), document: doc, code: null };
    // suggest: only additions, attached to the selected node.
    const problems: string[] = [];
    const before = new Map(req.document.nodes.map((n) => [n.id, n]));
    const after = new Map(doc.nodes.map((n) => [n.id, n]));
    for (const [id, n] of before) {
      const now = after.get(id);
      if (!now) problems.push(`node '${n.name}' was removed; only add nodes`);
      else if (canonicalJson({ ...now, position: undefined }) !== canonicalJson({ ...n, position: undefined })) problems.push(`node '${n.name}' was changed; only add nodes`);
    }
    const added = doc.nodes.filter((n) => !before.has(n.id));
    if (!added.length) problems.push("no node was added");
    if (problems.length) return { problems, document: doc, code: null };
    return { problems: await dryRunProblems(tools, doc, added.filter((n) => TABLE_PRODUCING_KINDS.has(n.kind))), document: doc, code: null };
  }
  const node = nodeOf(req.document, req.nodeId);
  if (req.kind === "explain" && (answer.code === null || answer.code === undefined)) return { problems: [], document: null, code: null };
  if (typeof answer.code !== "string" || !answer.code.trim()) return { problems: ["code: give the node's complete code as a string"], document: null, code: null };
  const doc = withCode(req.document, node, answer.code);
  const index = doc.nodes.findIndex((n) => n.id === node.id);
  const errors = parsePipeline(doc, { sql: tools.sql }).problems.filter(isError).filter((p) => p.path[0] === "nodes" && p.path[1] === index).map(formatProblem);
  if (errors.length) return { problems: errors, document: doc, code: answer.code };
  return { problems: await dryRunProblems(tools, doc, [node]), document: doc, code: answer.code };
}

/**
 * 1. System prompt (format guide + the capability's instruction), the user's message.
 * 2. Each round: the model may call tools (bounded); its final answer is parsed and checked.
 * 3. Problems go back to the model; after `maxRepairRounds` the last proposal is returned with what is still wrong.
 */
export async function runAssistant(
  req: AssistantRequest,
  config: AssistantConfig,
  tools: ToolContext,
  emit: (event: AssistantEvent) => void,
): Promise<AssistantResult> {
  const client = openaiClient(config);
  const schema = answerSchema(req.kind);
  const toolDefs = toolDefinitions(tools.allowSamples);
  if (req.kind !== "draft") tools.document = req.document;
  const messages: ChatCompletionMessageParam[] = [
    { role: "system", content: `${FORMAT_GUIDE}\n\n${INSTRUCTIONS[req.kind]}\nAnswer with a single JSON object following the given schema, nothing else.` },
    { role: "user", content: await userMessage(req, tools) },
  ];
  let shown = 0;
  const usage = { prompt: 0, completion: 0, total: 0 };
  let last: Checked = { problems: [], document: null, code: null };
  let explanation = "";

  for (let round = 0; round <= config.maxRepairRounds; round++) {
    let answerText: string | null = null;
    for (let calls = 0; answerText === null; ) {
      emit({ type: "request", round, messages: messages.slice(shown).map(sent), tools: toolDefs.map((t) => t.function.name) });
      shown = messages.length;
      const mustAnswer = calls >= config.maxToolCalls;
      const reply = await complete(client, config, {
        messages: mustAnswer ? [...messages, { role: "user", content: "No more tool calls: answer now." }] : messages,
        tools: mustAnswer ? [] : toolDefs,
        schema,
        signal: tools.signal,
        onText: (delta) => emit({ type: "text", delta }),
      });
      usage.prompt += reply.usage.prompt;
      usage.completion += reply.usage.completion;
      usage.total = usage.prompt + usage.completion;
      if (reply.toolCalls.length && !mustAnswer) {
        messages.push({
          role: "assistant",
          content: reply.content || null,
          tool_calls: reply.toolCalls.map((c) => ({ id: c.id, type: "function" as const, function: { name: c.name, arguments: c.arguments } })),
        });
        for (const call of reply.toolCalls) {
          calls++;
          const result = await callTool(tools, call.name, call.arguments);
          emit({ type: "tool", name: call.name, arguments: call.arguments, result });
          messages.push({ role: "tool", tool_call_id: call.id, content: result });
        }
        continue;
      }
      answerText = reply.content;
    }
    messages.push({ role: "assistant", content: answerText });

    let answer: Answer;
    try {
      const value = JSON.parse(stripFences(answerText)) as unknown;
      if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("not a JSON object");
      answer = value as Answer;
    } catch (error) {
      last = { problems: [`the answer is not a JSON object (${(error as Error).message}): ${answerText.slice(0, 200)}${answerText.length > 200 ? "…" : ""}`], document: last.document, code: last.code };
      emit({ type: "check", round, problems: last.problems });
      messages.push({ role: "user", content: `Your answer could not be used: ${last.problems[0]}\nAnswer again with one JSON object following the schema.` });
      continue;
    }
    explanation = typeof answer.explanation === "string" ? answer.explanation : explanation;
    last = await check(req, answer, tools);
    if (last.document) tools.document = last.document;
    emit({ type: "check", round, problems: last.problems });
    if (!last.problems.length) {
      return { kind: req.kind, ok: true, explanation, document: last.document, nodeId: req.kind === "cell" || req.kind === "explain" ? req.nodeId : null, code: last.code, remaining: [], rounds: round, usage };
    }
    messages.push({
      role: "user",
      content: `Your answer has problems:\n${last.problems.map((p) => `- ${p}`).join("\n")}\nFix them (use the tools to look again if needed) and answer with the complete corrected JSON object.`,
    });
  }
  return {
    kind: req.kind, ok: false, explanation, document: last.document,
    nodeId: req.kind === "cell" || req.kind === "explain" ? req.nodeId : null, code: last.code,
    remaining: last.problems, rounds: config.maxRepairRounds, usage,
  };
}

/** Models often wrap JSON in a markdown fence; the content inside is what counts. */
function stripFences(text: string): string {
  const m = /^\s*```(?:json)?\s*([\s\S]*?)\s*```\s*$/.exec(text);
  return m ? m[1]! : text;
}
