/**
 * What the model is told: how a tributary/v1 pipeline works, how to use its tools,
 * and what each capability must answer. The JSON schemas of the answers come from
 * the same zod schemas the server validates with.
 */
import { z } from "zod";
import { pipelineFileSchema } from "@/server/pipeline";

export const FORMAT_GUIDE = `Tributary pipelines are JSON documents in the "tributary/v1" format:
{"format":"tributary/v1","name":"snake_case_name","description":"…","params":{…},"nodes":[…],"edges":[{"from":"<node id>","to":"<node id>"}]}
Rules:
- Every node has a unique "id", a unique snake_case "name" (lowercase letters, digits, _; starts with a letter), a "kind" and a "config". Use the name as the id.
- Data passes as tables: a node that yields rows writes a table named after its "name". A node reads ONLY its direct upstream nodes: draw an edge A → B for B to read A.
- "sql": config.sql is ONE PostgreSQL SELECT reading upstream nodes by name (select … from orders). Params are bound as :name (also :logical_date, :run_id). No DDL, no writes.
- "js": config.code is an ES module: export default (inputs, ctx) => rows, where inputs has each upstream output by name as an array of row objects; return an array of plain objects (or yield them). No require, no fetch, no process.
- "source.csv": config.path is a file in the files folder (use list_files to see which exist and their header), e.g. "data/pos_sales.csv". Column types are inferred; declare them in config.columns when needed.
- "source.http": config.url, format json|ndjson|csv, recordsPath for nested JSON.
- "check": config.rules (not_null, unique, accepted_values, range, expression) and onViolation "fail" or "warn"; its output is the violating rows.
- "branch": config.sql returns one boolean; outgoing edges carry "branch":"true" or "false".
- "sensor": waits until config.sql returns true.
- "sink.table": loads its single upstream into config.table with mode append|replace|upsert (upsert needs key columns).
- "notify": channel webhook|slack with a url; use triggerRule "all_done" or "one_failed" to report failures.
- Optional per-node settings: retries, retryDelaySeconds, retryBackoff, timeoutSeconds, pool, priority, triggerRule, forEach (run once per row of an upstream node; :item_<column> params).
Never invent tables, files or columns: look first (list_tables, describe_table, list_files, sample_rows), and check your SQL and JS with validate_pipeline and dry_run before you answer.`;

export type CapabilityKind = "draft" | "suggest" | "cell" | "explain";

export const INSTRUCTIONS: Record<CapabilityKind, string> = {
  draft: "Draft a complete pipeline for the user's description. Answer with {explanation, pipeline}: the whole tributary/v1 document.",
  suggest:
    "Suggest the next 1 to 3 nodes after the selected node, connected to it. Answer with {explanation, pipeline}: the whole current document with your nodes and edges added. Do not change, rename or remove any existing node or edge.",
  cell: "Write or change the code of the selected node (SQL for a sql node, a JS module for a js node) as the user asks. Answer with {explanation, code}: the node's complete new code. Do not change anything else.",
  explain:
    "A task failed. Explain in a few sentences why, from its error, logs and inputs, and propose a fix. Answer with {explanation, code}: code is the node's complete fixed code, or null when the fix is not in this node's code (say where it is).",
};

/** The JSON schema of each capability's answer. */
export function answerSchema(kind: CapabilityKind): Record<string, unknown> {
  const pipeline = z.toJSONSchema(pipelineFileSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  delete pipeline.$schema;
  const code = kind === "explain" ? { type: ["string", "null"] } : { type: "string" };
  const props = kind === "draft" || kind === "suggest"
    ? { explanation: { type: "string" }, pipeline }
    : { explanation: { type: "string" }, code };
  return { type: "object", properties: props, required: Object.keys(props), additionalProperties: false };
}
