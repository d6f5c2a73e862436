/** `tributary draft` in a child process, against a scripted fake OpenAI-compatible server. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePipelineText } from "@/server/pipeline";
import { startFakeOpenAI, type FakeOpenAI } from "../../fixtures/fake-openai.mjs";
import { runCli } from "./run-cli";

const drafted = {
  format: "tributary/v1",
  name: "store_qty",
  nodes: [
    { id: "sales", kind: "source.csv", name: "sales", config: { path: "data/sales.csv" } },
    { id: "per_store", kind: "sql", name: "per_store", config: { sql: "select store, sum(qty) as qty from sales group by store" } },
  ],
  edges: [{ from: "sales", to: "per_store" }],
};

describe("tributary draft", () => {
  let fake: FakeOpenAI;
  let tmp: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-draft-"));
    fs.mkdirSync(path.join(tmp, "data", "files", "data"), { recursive: true });
    fs.writeFileSync(path.join(tmp, "data", "files", "data", "sales.csv"), "id,store,qty\n1,a,2\n2,b,3\n");
    env = { OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: "", OPENAI_MODEL: "fake-model", TRIBUTARY_DATA_DIR: path.join(tmp, "data") };
  });
  afterAll(async () => {
    await fake?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("prints a validated, dry-run pipeline file, and writes it with --out", async () => {
    fake.reset();
    fake.script({ toolCalls: [{ name: "list_files", arguments: {} }] }, { content: { explanation: "qty per store", pipeline: drafted } });
    const printed = await runCli(["draft", "quantity per store"], env);
    expect(printed.stderr).toMatch(/looked: list_files/);
    expect(printed.code).toBe(0);
    const parsed = parsePipelineText(printed.stdout);
    expect(parsed.ok && parsed.problems.filter((p) => p.severity === "error")).toEqual([]);
    expect(parsed.pipeline?.nodes.map((n) => n.name)).toEqual(["sales", "per_store"]);
    expect(fake.requests[0].headers.authorization).toBe("Bearer no-key"); // a local server needs no key

    fake.script({ content: { explanation: "x", pipeline: drafted } });
    const out = path.join(tmp, "out.json");
    const written = await runCli(["draft", "quantity per store", "--out", out, "--json"], env);
    expect(written.code).toBe(0);
    expect(written.json()).toMatchObject({ ok: true, out, rounds: 0, usage: { total: 120 } });
    expect(JSON.parse(fs.readFileSync(out, "utf8"))).toMatchObject({ name: "store_qty" });
  });

  it("exits 1 with what is still wrong, and writes nothing", async () => {
    fake.reset();
    const bad = { content: { explanation: "x", pipeline: { ...drafted, nodes: [drafted.nodes[0], { ...drafted.nodes[1], config: { sql: "select nope from sales" } }] } } };
    fake.script(bad, bad, bad, bad);
    const out = path.join(tmp, "bad.json");
    const result = await runCli(["draft", "x y z", "--out", out], { ...env, TRIBUTARY_ASSISTANT_REPAIR_ROUNDS: "1" });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/still wrong after 1 repair round\(s\):\n {2}dry run: node 'per_store' failed: .*nope/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it("without a provider, says how to configure one (exit 2); a 401 is a clear error (exit 1)", async () => {
    const none = await runCli(["draft", "anything"], { ...env, OPENAI_BASE_URL: "", OPENAI_API_KEY: "" });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/not configured\. Set OPENAI_API_KEY .*OPENAI_BASE_URL=http:\/\/127\.0\.0\.1:11434\/v1/);

    fake.reset();
    fake.script({ status: 401 });
    const denied = await runCli(["draft", "anything"], { ...env, OPENAI_API_KEY: "sk-wrong" });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/refused the API key \(401\); check OPENAI_API_KEY/);
    expect(denied.stderr).not.toContain("sk-wrong");
  });
});
