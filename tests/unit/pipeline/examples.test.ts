import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { serializePipeline } from "@/server/pipeline/canonical";
import { loadSqlAnalyzer, type SqlAnalyzer } from "@/server/pipeline/sql-references";
import { parsePipelineText } from "@/server/pipeline/validate";

const examplesDir = fileURLToPath(new URL("../../../examples/", import.meta.url));
const files = readdirSync(examplesDir).filter((f) => f.endsWith(".json")).sort();

let sql: SqlAnalyzer;
beforeAll(async () => {
  sql = await loadSqlAnalyzer();
});

describe("examples/", () => {
  it("holds the two reference pipelines", () => {
    expect(files).toEqual(expect.arrayContaining(["contact_sync.json", "daily_sales.json"]));
  });

  describe.each(files)("%s", (file) => {
    const text = readFileSync(examplesDir + file, "utf8");

    it("validates with zero problems, not even warnings", () => {
      const result = parsePipelineText(text, { sql });
      expect(result.problems).toEqual([]);
      expect(result.ok).toBe(true);
    });

    it("is in canonical form", () => {
      const result = parsePipelineText(text, { sql });
      if (!result.ok) throw new Error("does not parse");
      expect(serializePipeline(result.pipeline)).toBe(text);
    });

    it("is named after its file", () => {
      const result = parsePipelineText(text);
      expect(result.pipeline?.name).toBe(file.replace(/\.json$/, ""));
    });

    it("ships every file its CSV sources read", () => {
      const result = parsePipelineText(text);
      for (const node of result.pipeline?.nodes ?? []) {
        if (node.kind === "source.csv") expect(existsSync(examplesDir + node.config.path), node.config.path).toBe(true);
      }
    });
  });

  it("the marketing sample the contact sync fetches is served by the app", () => {
    const publicCopy = fileURLToPath(new URL("../../../public/samples/marketing_contacts.json", import.meta.url));
    const served = readFileSync(publicCopy, "utf8");
    expect(readFileSync(examplesDir + "data/marketing_contacts.json", "utf8")).toBe(served);
    expect(JSON.parse(served).length).toBeGreaterThan(100);
    const sync = parsePipelineText(readFileSync(examplesDir + "contact_sync.json", "utf8")).pipeline!;
    const http = sync.nodes.find((n) => n.kind === "source.http");
    expect(http?.kind === "source.http" && http.config.url).toBe("http://127.0.0.1:3000/samples/marketing_contacts.json");
  });
});
