/**
 * notify: a message to a webhook or a Slack-compatible webhook. `{{pipeline}}`,
 * `{{run_id}}`, `{{logical_date}}` and `{{params.NAME}}` in the text are filled in.
 */
import { TaskFailure } from "../errors";
import type { NodeContext, NodeRunner } from "./context";

export function fillTemplate(ctx: Pick<NodeContext, "pipeline" | "runId" | "logicalDate" | "params">, text: string): string {
  return text.replace(/\{\{\s*([a-z_.]+)\s*\}\}/gi, (match, key: string) => {
    if (key === "pipeline") return ctx.pipeline.name;
    if (key === "run_id") return ctx.runId;
    if (key === "logical_date") return ctx.logicalDate.toISOString();
    if (key.startsWith("params.")) return String(ctx.params[key.slice(7)] ?? "");
    return match;
  });
}

export const runNotify: NodeRunner = async (ctx) => {
  if (ctx.node.kind !== "notify") throw new Error("not a notify node");
  const config = ctx.node.config;
  if (config.channel === "email") throw new TaskFailure(`node '${ctx.node.name}': e-mail needs an SMTP connection; connections are not supported yet`, false, "unsupported");
  if (!config.url) throw new TaskFailure(`node '${ctx.node.name}': connection '${config.connection}' is not available (connections are not supported yet); give the webhook 'url'`, false, "unsupported");
  const body =
    config.channel === "slack"
      ? JSON.stringify({ text: fillTemplate(ctx, config.text) })
      : config.body !== undefined
        ? fillTemplate(ctx, config.body)
        : JSON.stringify({ pipeline: ctx.pipeline.name, runId: ctx.runId, logicalDate: ctx.logicalDate.toISOString(), node: ctx.node.name });
  const headers = { "content-type": "application/json", ...(config.channel === "webhook" ? config.headers : {}) };
  let response: Response;
  try {
    response = await fetch(config.url, { method: config.channel === "webhook" ? (config.method ?? "POST") : "POST", headers, body, signal: ctx.signal });
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    throw new TaskFailure(`node '${ctx.node.name}': cannot reach the webhook: ${(error as Error).message}`, true, "http");
  }
  if (!response.ok) throw new TaskFailure(`node '${ctx.node.name}': the webhook answered ${response.status}`, response.status >= 500 || response.status === 429, "http");
  return { result: {} };
};
