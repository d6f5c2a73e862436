/** The assistant router over the fetch handler: status, a session streamed over SSE, and the unconfigured case. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { trpcRequest } from "@/tests/fixtures/trpc";
import { startFakeOpenAI, type FakeOpenAI } from "../../fixtures/fake-openai.mjs";
import { openRuntime, type Runtime } from "../runtime/harness";

describe("assistant router", () => {
  let rt: Runtime;
  let fake: FakeOpenAI;
  const env = { ...process.env };
  const call = (path: string, input: unknown, method: "GET" | "POST") =>
    trpcRequest({ db: rt.app.db, sql: rt.sql, runtime: { wh: rt.wh, wake: () => rt.worker.wake(), filesDir: rt.filesDir } }, path, input, method);

  beforeAll(async () => {
    rt = await openRuntime("pglite");
    fake = await startFakeOpenAI();
  });
  afterAll(async () => {
    await fake?.close();
    await rt?.close();
  });
  afterEach(() => {
    for (const k of ["OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"]) {
      if (env[k] === undefined) delete process.env[k];
      else process.env[k] = env[k];
    }
  });

  it("without a provider: status says how to configure one, start refuses with that message", async () => {
    delete process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_BASE_URL;
    const status = (await (await call("assistant.status", undefined, "GET")).json()) as { result: { data: { configured: boolean; help: string } } };
    expect(status.result.data).toMatchObject({ configured: false, help: expect.stringContaining("OPENAI_BASE_URL=http://127.0.0.1:11434/v1") });
    const start = (await (await call("assistant.start", { request: { kind: "draft", description: "anything at all" } }, "POST")).json()) as { error: { message: string; data: { code: string } } };
    expect(start.error.data.code).toBe("PRECONDITION_FAILED");
    expect(start.error.message).toMatch(/not configured/);
  });

  it("streams a session's events over SSE: what was sent, the streamed answer, the check and the result; the key never appears", async () => {
    process.env.OPENAI_BASE_URL = fake.url;
    process.env.OPENAI_API_KEY = "sk-secret-key";
    process.env.OPENAI_MODEL = "fake-model";
    const status = (await (await call("assistant.status", undefined, "GET")).json()) as { result: { data: unknown } };
    expect(status.result.data).toMatchObject({ configured: true, model: "fake-model", provider: new URL(fake.url).host });
    expect(JSON.stringify(status)).not.toContain("sk-secret-key");

    fake.script({ content: { explanation: "one number", pipeline: { format: "tributary/v1", name: "one", nodes: [{ id: "n", kind: "sql", name: "n", config: { sql: "select 1 as x" } }], edges: [] } } });
    const started = (await (await call("assistant.start", { request: { kind: "draft", description: "a single number" }, allowSamples: false }, "POST")).json()) as { result: { data: { sessionId: string } } };
    const sse = await call("assistant.events", { sessionId: started.result.data.sessionId }, "GET");
    expect(sse.headers.get("content-type")).toContain("text/event-stream");
    const text = await sse.text();
    const types = [...text.matchAll(/"type":"(\w+)"/g)].map((m) => m[1]);
    expect(types[0]).toBe("request");
    expect(types).toContain("text");
    expect(types.filter((t) => t === "check" || t === "result")).toEqual(["check", "result"]);
    expect(text).toContain("a single number");
    expect(text).toMatch(/"ok":true/);
    expect(text).not.toContain("sk-secret-key");

    const unknown = await call("assistant.events", { sessionId: crypto.randomUUID() }, "GET");
    expect(await unknown.text()).toMatch(/no assistant session/);
  });
});
