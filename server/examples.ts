/**
 * The example pipelines of `examples/`, loaded into a new workspace on its
 * first start so that a new user sees them. Loaded once: a user who deletes
 * them does not get them back on the next start.
 */
import fs from "node:fs";
import path from "node:path";
import { eq } from "drizzle-orm";
import { appRoot, defaultDataDir, filesDirOf, type Db } from "@/db/client";
import { importPipeline } from "@/db/pipeline-store";
import { appSettings } from "@/db/schema";
import { formatProblem, parsePipelineText, type SqlAnalyzer } from "@/server/pipeline";

const MARK = "examples_loaded";

export function examplesDir(): string {
  return path.join(appRoot(), "examples");
}

/**
 * Load the examples unless that was done before.
 *
 * 1. If the mark is set, do nothing.
 * 2. Copy `examples/data/` into the app's files folder (relative paths resolve there).
 * 3. Import every `examples/*.json`; a broken example is reported and skipped.
 * 4. Set the mark.
 */
export async function ensureExamples(db: Db, sql?: SqlAnalyzer, dataDir = defaultDataDir()): Promise<string[]> {
  const [mark] = await db.select().from(appSettings).where(eq(appSettings.key, MARK));
  if (mark) return [];
  const dir = examplesDir();
  if (!fs.existsSync(dir)) return [];
  const dataSrc = path.join(dir, "data");
  if (fs.existsSync(dataSrc)) fs.cpSync(dataSrc, path.join(filesDirOf(dataDir), "data"), { recursive: true, force: false, errorOnExist: false });
  const loaded: string[] = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
    const parsed = parsePipelineText(fs.readFileSync(path.join(dir, file), "utf8"), { sql });
    if (!parsed.ok) {
      console.error(`example ${file} is invalid and was skipped:\n${parsed.problems.map(formatProblem).join("\n")}`);
      continue;
    }
    await importPipeline(db, parsed.pipeline, { sql });
    loaded.push(parsed.pipeline.name);
  }
  await db.insert(appSettings).values({ key: MARK, value: { at: new Date().toISOString(), loaded } }).onConflictDoNothing();
  return loaded;
}
