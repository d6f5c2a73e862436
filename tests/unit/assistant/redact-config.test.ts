import { describe, expect, it } from "vitest";
import { assistantConfig, assistantStatus } from "@/server/assistant/config";
import { REDACTED, redactDocument, restoreSecrets } from "@/server/assistant/redact";
import type { PipelineFile } from "@/server/pipeline";

const doc: PipelineFile = {
  format: "tributary/v1",
  name: "p",
  nodes: [
    { id: "h", kind: "source.http", name: "h", config: { url: "https://api.example.com/x", headers: { Authorization: "Bearer abc", "X-Api-Key": "k1", Accept: "application/json" } } },
    { id: "n", kind: "notify", name: "n", config: { channel: "slack", url: "https://hooks.slack.com/services/T/B/XYZ", text: "done" } },
  ],
  edges: [],
};

describe("secrets never reach the model", () => {
  it("redacts notify URLs and credential-like headers, keeps the rest, and does not change the input", () => {
    const red = redactDocument(doc);
    expect(red.nodes[0]).toMatchObject({ config: { url: "https://api.example.com/x", headers: { Authorization: REDACTED, "X-Api-Key": REDACTED, Accept: "application/json" } } });
    expect(red.nodes[1]).toMatchObject({ config: { url: REDACTED, text: "done" } });
    expect(JSON.stringify(red)).not.toMatch(/abc|k1|XYZ/);
    expect(doc.nodes[0]).toMatchObject({ config: { headers: { Authorization: "Bearer abc" } } });
  });

  it("restores them by node id in an answer; a new node cannot borrow another node's secret", () => {
    const answer = JSON.parse(JSON.stringify(redactDocument(doc))) as { nodes: { id: string; config: Record<string, unknown> }[] };
    answer.nodes.push({ id: "other", config: { channel: "slack", url: REDACTED, text: "x" } });
    const restored = restoreSecrets(answer, doc) as typeof answer;
    expect(restored.nodes[0]!.config.headers).toEqual({ Authorization: "Bearer abc", "X-Api-Key": "k1", Accept: "application/json" });
    expect(restored.nodes[1]!.config.url).toBe("https://hooks.slack.com/services/T/B/XYZ");
    expect(restored.nodes[2]!.config.url).toBe(REDACTED);
  });
});

const env = (vars: Record<string, string>) => vars as NodeJS.ProcessEnv;

describe("provider configuration", () => {
  it("is off without a key or a base URL, and says how to configure a local server", () => {
    expect(assistantConfig(env({}))).toBeNull();
    expect(assistantStatus(env({}))).toMatchObject({ configured: false, help: expect.stringMatching(/OPENAI_BASE_URL=http:\/\/127\.0\.0\.1:11434\/v1/) });
  });

  it("takes a local server without a key; the status never holds the key", () => {
    expect(assistantConfig(env({ OPENAI_BASE_URL: "http://127.0.0.1:11434/v1" }))).toMatchObject({ apiKey: "no-key", model: "gpt-4o-mini", maxRepairRounds: 3, sampleRows: 5 });
    const status = assistantStatus(env({ OPENAI_API_KEY: "sk-123", OPENAI_MODEL: "m", TRIBUTARY_ASSISTANT_SAMPLE_ROWS: "0" }));
    expect(status).toMatchObject({ configured: true, model: "m", provider: "OpenAI", sampleRows: 0 });
    expect(JSON.stringify(status)).not.toContain("sk-123");
    // Out-of-range numbers fall back to the defaults.
    expect(assistantConfig(env({ OPENAI_API_KEY: "k", TRIBUTARY_ASSISTANT_REPAIR_ROUNDS: "99", TRIBUTARY_ASSISTANT_TIMEOUT_MS: "x" }))).toMatchObject({ maxRepairRounds: 3, timeoutMs: 120_000 });
  });
});
