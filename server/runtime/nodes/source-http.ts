/** source.http: fetch JSON, NDJSON or CSV over HTTP(S) into the output table. */
import { parse } from "csv-parse/sync";
import { TaskFailure } from "../errors";
import { declaredColumns, qualified, TableWriter } from "../outputs";
import type { NodeRunner } from "./context";

function at(value: unknown, dotted: string | undefined): unknown {
  if (!dotted) return value;
  let cur = value;
  for (const key of dotted.split(".")) cur = cur !== null && typeof cur === "object" ? (cur as Record<string, unknown>)[key] : undefined;
  return cur;
}

export const runHttpSource: NodeRunner = async (ctx) => {
  if (ctx.node.kind !== "source.http") throw new Error("not a source.http node");
  const config = ctx.node.config;
  if (config.connection) throw new TaskFailure(`node '${ctx.node.name}': connections are not supported yet; put non-secret headers in 'headers'`, false, "unsupported");
  let response: Response;
  try {
    response = await fetch(config.url, { method: config.method ?? "GET", headers: config.headers, body: config.body, signal: ctx.signal, redirect: "follow" });
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    throw new TaskFailure(`node '${ctx.node.name}': cannot reach ${config.url}: ${(error as Error).cause ? String((error as { cause: unknown }).cause) : (error as Error).message}`, true, "http");
  }
  if (!response.ok) {
    throw new TaskFailure(`node '${ctx.node.name}': ${config.url} answered ${response.status} ${response.statusText}`, response.status >= 500 || response.status === 429, "http");
  }
  const text = await response.text();
  let records: unknown;
  try {
    const format = config.format ?? "json";
    if (format === "csv") records = parse(text, { columns: true, skip_empty_lines: true, bom: true });
    else if (format === "ndjson") records = text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown);
    else records = at(JSON.parse(text) as unknown, config.recordsPath);
  } catch (error) {
    throw new TaskFailure(`node '${ctx.node.name}': the answer of ${config.url} is not valid ${config.format ?? "json"}: ${(error as Error).message}`, false, "http");
  }
  if (!Array.isArray(records)) {
    throw new TaskFailure(`node '${ctx.node.name}': expected a list of records${config.recordsPath ? ` at '${config.recordsPath}'` : ""}, got ${records === null ? "null" : typeof records}`, false, "http");
  }
  const writer = new TableWriter(ctx.wh, qualified(ctx.schema, ctx.outputTable), declaredColumns(ctx.node), `node '${ctx.node.name}'`);
  const rows = (ctx.sampleRows !== undefined ? records.slice(0, ctx.sampleRows) : records).map((r) => (r !== null && typeof r === "object" && !Array.isArray(r) ? (r as Record<string, unknown>) : { value: r }));
  try {
    for (let i = 0; i < rows.length; i += 5000) await writer.write(rows.slice(i, i + 5000));
    return { rows: await writer.finish(), outputTable: ctx.outputTable };
  } catch (error) {
    writer.abort();
    throw error;
  }
};
