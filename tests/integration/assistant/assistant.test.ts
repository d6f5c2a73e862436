import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AssistantConfig } from "@/server/assistant/config";
import { AssistantError } from "@/server/assistant/errors";
import { runAssistant, type AssistantEvent, type AssistantRequest } from "@/server/assistant/repair-loop";
import type { ToolContext } from "@/server/assistant/tools";
import type { PipelineFile } from "@/server/pipeline";
import { startFakeOpenAI } from "../../fixtures/fake-openai.mjs";
import { targets } from "../databases";
import { openRuntime, type Runtime } from "../runtime/harness";

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;

const csvNode = { id: "sales", kind: "source.csv", name: "sales", config: { path: "data/sales.csv" } } as const;
function pipelineWith(sql: string, extra: PipelineFile["nodes"] = [], edges: PipelineFile["edges"] = []): PipelineFile {
  return {
    format: "tributary/v1",
    name: "store_revenue",
    nodes: [csvNode, { id: "per_store", kind: "sql", name: "per_store", config: { sql } }, ...extra],
    edges: [{ from: "sales", to: "per_store" }, ...edges],
  };
}
const GOOD_SQL = "select store, sum(qty)::int as qty from sales group by store order by store";

describe.each(targets.map((t) => t.name))("assistant against a fake OpenAI server, on %s", (name) => {
  let rt: Runtime;
  let fake: Fake;
  let config: AssistantConfig;
  let events: AssistantEvent[];

  beforeAll(async () => {
    rt = await openRuntime(name);
    fs.mkdirSync(path.join(rt.filesDir, "data"), { recursive: true });
    fs.writeFileSync(path.join(rt.filesDir, "data", "sales.csv"), "id,store,qty\n1,a,2\n2,a,1\n3,b,5\n");
    await rt.wh.query("create table if not exists public.stores (store text primary key, region text)");
    await rt.wh.query("insert into public.stores values ('a', 'north'), ('b', 'south') on conflict do nothing");
    fake = await startFakeOpenAI();
  });
  afterAll(async () => {
    await fake?.close();
    await rt?.close();
  });
  beforeEach(() => {
    fake.reset();
    events = [];
    config = { apiKey: "sk-test", baseURL: fake.url, model: "fake-model", timeoutMs: 5000, maxRepairRounds: 2, maxToolCalls: 6, sampleRows: 3 };
  });

  function tools(extra: Partial<ToolContext> = {}): ToolContext {
    return { db: rt.app.db, wh: rt.wh, sql: rt.sql, filesDir: rt.filesDir, allowSamples: true, sampleRows: 3, wake: () => rt.worker.wake(), signal: new AbortController().signal, ...extra };
  }
  const ask = (req: AssistantRequest, extra: Partial<ToolContext> = {}) => runAssistant(req, config, tools(extra), (e) => events.push(e));
  const userMessages = (i: number) => (fake.requests[i].messages as { role: string; content: string }[]).filter((m) => m.role === "user").map((m) => m.content);
  const toolMessages = (i: number) => (fake.requests[i].messages as { role: string; content: string }[]).filter((m) => m.role === "tool").map((m) => m.content);

  it("drafts a pipeline: the request carries the tools and the schema, the model looks first, an invalid answer gets a repair round", async () => {
    fake.script(
      { toolCalls: [{ name: "list_files", arguments: {} }, { name: "list_tables", arguments: {} }] },
      { content: { explanation: "first try", pipeline: pipelineWith("selec store, sum(qty) from sales group by store") } },
      { content: { explanation: "revenue per store", pipeline: pipelineWith(GOOD_SQL) } },
    );
    const result = await ask({ kind: "draft", description: "quantity sold per store from the sales file" });

    const first = fake.requests[0];
    expect(first.model).toBe("fake-model");
    expect(first.headers.authorization).toBe("Bearer sk-test");
    expect(first.stream).toBe(true);
    expect(first.tools.map((t: { function: { name: string } }) => t.function.name).sort()).toEqual(
      ["describe_table", "dry_run", "list_files", "list_tables", "sample_rows", "validate_pipeline"],
    );
    expect(first.response_format.type).toBe("json_schema");
    expect(first.response_format.json_schema.schema.properties.pipeline.properties.format.const).toBe("tributary/v1");
    expect(first.messages[0].content).toMatch(/Never invent tables, files or columns/);
    expect(userMessages(0)[0]).toMatch(/quantity sold per store/);

    // Grounded: the tool results the model saw are the real files and tables.
    expect(toolMessages(1)[0]).toContain('"path":"data/sales.csv"');
    expect(toolMessages(1)[0]).toContain('"header":"id,store,qty"');
    expect(toolMessages(1)[1]).toContain('"table":"public.stores"');

    // The invalid answer's problems went back, naming the node's field and the unknown table.
    const repair = userMessages(2).at(-1)!;
    expect(repair).toMatch(/nodes\[1\]\.config\.sql/);
    expect(repair).toMatch(/syntax error at or near "selec" \(line 1, column 1 of the SQL\)/);

    expect(result.ok).toBe(true);
    expect(result.rounds).toBe(1);
    expect(result.remaining).toEqual([]);
    expect(result.document?.nodes.map((n) => n.name)).toEqual(["sales", "per_store"]);
    expect(result.usage).toEqual({ prompt: 300, completion: 60, total: 360 });
    // The panel is shown what was sent, and the answer as it streamed.
    expect(events.filter((e) => e.type === "request")).toHaveLength(3);
    expect(events.filter((e) => e.type === "text").map((e) => (e as { delta: string }).delta).join("")).toContain("revenue per store");
    expect(events.filter((e) => e.type === "check").map((e) => (e as { problems: string[] }).problems.length)).toEqual([1, 0]);
  });

  it("feeds a dry-run error back to the model, and accepts the fixed answer", async () => {
    fake.script(
      { content: { explanation: "x", pipeline: pipelineWith("select store, sum(quantity) as qty from sales group by store") } },
      { content: { explanation: "fixed", pipeline: pipelineWith(GOOD_SQL) } },
    );
    const result = await ask({ kind: "draft", description: "quantity per store" });
    const repair = userMessages(1).at(-1)!;
    expect(repair).toMatch(/dry run: node 'per_store' failed/);
    expect(repair).toMatch(/quantity/);
    expect(result.ok).toBe(true);
    expect(result.rounds).toBe(1);
  });

  it("says exactly what is still wrong when the repair rounds run out", async () => {
    const bad = { content: { explanation: "x", pipeline: pipelineWith("select nope from sales") } };
    fake.script(bad, bad, bad);
    const result = await ask({ kind: "draft", description: "something" });
    expect(fake.requests).toHaveLength(3);
    expect(result.ok).toBe(false);
    expect(result.rounds).toBe(2);
    expect(result.remaining.join("\n")).toMatch(/dry run: node 'per_store' failed: .*nope/);
    expect(result.document?.name).toBe("store_revenue");
  });

  it("writes a cell: the new code is checked with a dry run of that node; dry_run tool results hold columns and limited rows", async () => {
    const doc = pipelineWith("select 1 as x");
    fake.script(
      { toolCalls: [{ name: "dry_run", arguments: { node: "sales" } }] },
      { content: { explanation: "sum per store", code: GOOD_SQL } },
    );
    const result = await ask({ kind: "cell", document: doc, nodeId: "per_store", instruction: "sum qty per store" });
    const dry = JSON.parse(toolMessages(1)[0]!);
    expect(dry.state).toBe("success");
    expect(dry.columns.map((c: { name: string }) => c.name)).toEqual(["id", "store", "qty"]);
    expect(dry.firstRows).toHaveLength(3);
    expect(result).toMatchObject({ ok: true, nodeId: "per_store", code: GOOD_SQL, rounds: 0 });
    expect(result.document?.nodes[1]).toMatchObject({ config: { sql: GOOD_SQL } });
    expect(doc.nodes[1]).toMatchObject({ config: { sql: "select 1 as x" } }); // the user's document is never changed
  });

  it("with samples off, offers no sample_rows tool and sends no row values", async () => {
    fake.script(
      { toolCalls: [{ name: "dry_run", arguments: { node: "sales" } }, { name: "sample_rows", arguments: { table: "public.stores" } }] },
      { content: { explanation: "ok", code: GOOD_SQL } },
    );
    await ask({ kind: "cell", document: pipelineWith("select 1 as x"), nodeId: "per_store", instruction: "sum" }, { allowSamples: false });
    expect(fake.requests[0].tools.map((t: { function: { name: string } }) => t.function.name)).not.toContain("sample_rows");
    const [dry, sample] = toolMessages(1);
    expect(JSON.parse(dry!).firstRows).toBeUndefined();
    expect(sample).toMatch(/no tool 'sample_rows'/);
    expect(JSON.stringify(fake.requests)).not.toContain("north");
  });

  it("suggests next nodes; changing an existing node is refused and sent back", async () => {
    const doc = pipelineWith(GOOD_SQL);
    const changed = pipelineWith("select 1 as x", [{ id: "top", kind: "sql", name: "top", config: { sql: "select * from per_store" } }], [{ from: "per_store", to: "top" }]);
    const good = pipelineWith(GOOD_SQL, [{ id: "top", kind: "sql", name: "top", config: { sql: "select * from per_store order by qty desc limit 1" } }], [{ from: "per_store", to: "top" }]);
    fake.script({ content: { explanation: "x", pipeline: changed } }, { content: { explanation: "the best store", pipeline: good } });
    const result = await ask({ kind: "suggest", document: doc, nodeId: "per_store" });
    expect(userMessages(1).at(-1)).toMatch(/node 'per_store' was changed; only add nodes/);
    expect(result.ok).toBe(true);
    expect(result.document?.nodes.map((n) => n.name)).toEqual(["sales", "per_store", "top"]);
  });

  it("explains a failed task from its error and inputs, and proposes checked code", async () => {
    const failing = await rt.start(pipelineWith("select store, sum(quantity) as qty from sales group by store"));
    const { run, tasks } = await rt.wait(failing.id);
    expect(run.state).toBe("failed");
    const doc = pipelineWith("select store, sum(quantity) as qty from sales group by store");
    fake.script({ content: { explanation: "the column is called qty, not quantity", code: GOOD_SQL } });
    const result = await ask({ kind: "explain", document: doc, nodeId: "per_store", runId: run.id });
    const context = userMessages(0)[0]!;
    expect(context).toContain(tasks.get("per_store")!.error!.message);
    expect(context).toMatch(/"sales":\[\{"name":"id","type":"bigint"\},\{"name":"store","type":"text"\},\{"name":"qty","type":"bigint"\}\]/);
    expect(result).toMatchObject({ ok: true, code: GOOD_SQL, explanation: "the column is called qty, not quantity" });
  });

  it("never sends secrets: webhook URLs and auth headers are redacted, and restored in the proposal", async () => {
    const hook = "https://hooks.example.com/services/T000/B000/SECRETSECRET";
    const doc = pipelineWith(GOOD_SQL, [{ id: "tell", kind: "notify", name: "tell", config: { channel: "webhook", url: hook } }], [{ from: "per_store", to: "tell" }]);
    fake.script({
      content: {
        explanation: "x",
        pipeline: { ...doc, nodes: [...doc.nodes.map((n) => (n.id === "tell" ? { ...n, config: { channel: "webhook", url: "<redacted>" } } : n)), { id: "top", kind: "sql", name: "top", config: { sql: "select * from per_store limit 1" } }], edges: [...doc.edges, { from: "per_store", to: "top" }] },
      },
    });
    const result = await ask({ kind: "suggest", document: doc, nodeId: "per_store" });
    expect(JSON.stringify(fake.requests)).not.toContain("SECRETSECRET");
    expect(result.ok).toBe(true);
    expect(result.document?.nodes.find((n) => n.id === "tell")).toMatchObject({ config: { url: hook } });
  });

  it("a non-JSON answer gets a repair round, and is reported clearly when it persists", async () => {
    fake.script({ content: "Sure! Here is your pipeline: it reads sales." }, { content: "still prose" }, { content: "```json\n{\"explanation\": 1\n```" });
    const result = await ask({ kind: "draft", description: "x y z" });
    expect(userMessages(1).at(-1)).toMatch(/could not be used: the answer is not a JSON object/);
    expect(result.ok).toBe(false);
    expect(result.remaining[0]).toMatch(/not a JSON object/);
  });

  it("a server that refuses a JSON schema answer format gets the schema in the prompt instead", async () => {
    config.model = "old-local-model";
    fake.script(
      { status: 400, error: "response_format of type json_schema is not supported" },
      { content: { explanation: "ok", pipeline: pipelineWith(GOOD_SQL) } },
      { content: { explanation: "ok", pipeline: pipelineWith(GOOD_SQL) } },
    );
    const result = await ask({ kind: "draft", description: "qty per store" });
    expect(result.ok).toBe(true);
    expect(fake.requests[0].response_format).toBeDefined();
    expect(fake.requests[1].response_format).toBeUndefined();
    expect(fake.requests[1].messages.at(-1).content).toMatch(/must be one JSON object following this JSON schema/);
    // Remembered: the next request goes without it at once.
    await ask({ kind: "draft", description: "qty per store" });
    expect(fake.requests[2].response_format).toBeUndefined();
  });

  it("turns 401, 429, a timeout and a broken body into clear errors", async () => {
    fake.script({ status: 401, error: "Incorrect API key provided" });
    await expect(ask({ kind: "draft", description: "abc" })).rejects.toMatchObject({ kind: "auth", message: expect.stringMatching(/refused the API key \(401\); check OPENAI_API_KEY/) });

    fake.script({ status: 429, error: "Rate limit reached" });
    await expect(ask({ kind: "draft", description: "abc" })).rejects.toMatchObject({ kind: "rate_limit", message: expect.stringMatching(/rate limiting requests \(429\); retry after 20 s/) });

    config.timeoutMs = 300;
    fake.script({ hang: true });
    const started = Date.now();
    const timedOut = await ask({ kind: "draft", description: "abc" }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(AssistantError);
    expect(timedOut).toMatchObject({ kind: "timeout", message: expect.stringMatching(/did not answer within the time limit/) });
    expect(Date.now() - started).toBeLessThan(4000);

    config.timeoutMs = 5000;
    fake.script({ status: 500, error: "upstream model crashed" });
    await expect(ask({ kind: "draft", description: "abc" })).rejects.toMatchObject({ kind: "provider", message: expect.stringMatching(/answered 500: .*upstream model crashed/) });

    fake.script({ rawBody: "<html>502 Bad Gateway</html>" }, { rawBody: "<html>502 Bad Gateway</html>" }, { rawBody: "<html>502 Bad Gateway</html>" });
    const broken = await ask({ kind: "draft", description: "abc" }).catch((e: unknown) => e);
    if (broken instanceof AssistantError) expect(broken.message).toMatch(/JSON|answer/);
    else expect(broken).toMatchObject({ ok: false, remaining: [expect.stringMatching(/not a JSON object/)] });
  });
});
