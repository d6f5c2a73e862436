/**
 * The headless entry: validate, import, export and list pipelines.
 * Every command takes --data-dir and --json; exit 0 on success, 1 on a
 * problem with the input, 2 on a usage error.
 */
import fs from "node:fs";
import path from "node:path";
import { Command, CommanderError } from "commander";
import { openDatabaseFromEnv, type DatabaseHandle } from "@/db/client";
import { getPipeline, getVersion, importPipeline, listPipelines } from "@/db/pipeline-store";
import { formatProblem, isError, parsePipelineText, serializePipeline, type Problem } from "@/server/pipeline";
import { loadSqlAnalyzer } from "@/server/pipeline/sql-references";
import { registerDraftCommand } from "./cli-draft";
import { CliUsageError, registerRunCommands } from "./cli-runs";

interface GlobalOptions {
  dataDir?: string;
  json?: boolean;
}

/** What a command prints: human lines, or one JSON object as the last line. */
class Output {
  constructor(private readonly json: boolean) {}
  line(text: string) {
    if (!this.json) process.stdout.write(text + "\n");
  }
  error(text: string) {
    process.stderr.write(text + "\n");
  }
  result(value: unknown) {
    if (this.json) process.stdout.write(JSON.stringify(value) + "\n");
  }
}

function readPipelineFile(file: string) {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message}`);
  }
  return text;
}

class UsageError extends Error {}

async function withDatabase<T>(opts: GlobalOptions, fn: (handle: DatabaseHandle) => Promise<T>): Promise<T> {
  const handle = await openDatabaseFromEnv(opts.dataDir ? path.resolve(opts.dataDir) : undefined);
  try {
    return await fn(handle);
  } finally {
    await handle.close();
  }
}

function printProblems(out: Output, file: string, problems: Problem[]) {
  for (const p of problems) out.line(`${file}: ${formatProblem(p)}`);
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command("tributary")
    .description("Tributary: validate, import, export, list and run pipelines")
    .option("--data-dir <dir>", "embedded database folder (default: TRIBUTARY_DATA_DIR or .data)")
    .option("--json", "print one JSON object as the last line")
    .showHelpAfterError()
    .exitOverride();
  const globals = () => program.opts<GlobalOptions>();

  program
    .command("validate")
    .description("check a pipeline file; print every problem with its path")
    .argument("<file>", "a tributary/v1 JSON file")
    .action(async (file: string) => {
      const out = new Output(!!globals().json);
      const parsed = parsePipelineText(readPipelineFile(file), { sql: await loadSqlAnalyzer() });
      const errors = parsed.problems.filter(isError).length;
      printProblems(out, file, parsed.problems);
      out.line(errors ? `${file}: ${errors} error(s), ${parsed.problems.length - errors} warning(s)` : `${file}: valid${parsed.problems.length ? ` (${parsed.problems.length} warning(s))` : ""}`);
      out.result({ file, valid: errors === 0, name: parsed.pipeline?.name ?? null, problems: parsed.problems });
      setExit(errors ? 1 : 0);
    });

  program
    .command("import")
    .description("create the pipeline, or a new version of the one with its name")
    .argument("<file>", "a tributary/v1 JSON file")
    .option("--allow-invalid", "save even if validation finds errors (as a draft)")
    .action(async (file: string, cmd: { allowInvalid?: boolean }) => {
      const out = new Output(!!globals().json);
      const sql = await loadSqlAnalyzer();
      const parsed = parsePipelineText(readPipelineFile(file), { sql });
      printProblems(out, file, parsed.problems);
      const errors = parsed.problems.filter(isError);
      if (!parsed.ok || (errors.length && !cmd.allowInvalid)) {
        out.line(`${file}: not imported (${errors.length} error(s)${parsed.ok ? "; --allow-invalid saves it as a draft" : ""})`);
        out.result({ file, imported: false, problems: parsed.problems });
        return setExit(1);
      }
      const saved = await withDatabase(globals(), ({ db }) => importPipeline(db, parsed.pipeline, { sql }));
      out.line(
        saved.created
          ? `created ${saved.name} (version ${saved.version})`
          : saved.changed
            ? `updated ${saved.name} to version ${saved.version}`
            : `${saved.name} unchanged (version ${saved.version})`,
      );
      out.result({ file, imported: true, ...saved, problems: parsed.problems });
      setExit(0);
    });

  program
    .command("export")
    .description("print a pipeline's file (canonical JSON)")
    .argument("<name>", "pipeline name")
    .option("--out <file>", "write to this file instead of standard output")
    .option("--version <n>", "an older version", (v) => {
      if (!/^[1-9]\d*$/.test(v)) throw new UsageError(`--version must be a positive whole number, not '${v}'`);
      return Number(v);
    })
    .action(async (name: string, cmd: { out?: string; version?: number }) => {
      const json = !!globals().json;
      const out = new Output(json);
      const { text, version } = await withDatabase(globals(), async ({ db }) => {
        const detail = await getPipeline(db, { name });
        const doc = cmd.version ? await getVersion(db, detail.id, cmd.version) : detail.document;
        return { text: serializePipeline(doc), version: cmd.version ?? detail.currentVersion };
      });
      if (cmd.out) {
        fs.writeFileSync(cmd.out, text);
        out.line(`wrote ${name} version ${version} to ${cmd.out}`);
      } else if (!json) process.stdout.write(text);
      out.result({ name, version, ...(cmd.out ? { out: cmd.out } : { document: JSON.parse(text) as unknown }) });
      setExit(0);
    });

  program
    .command("list")
    .description("list the pipelines")
    .action(async () => {
      const out = new Output(!!globals().json);
      const rows = await withDatabase(globals(), ({ db }) => listPipelines(db));
      if (rows.length === 0) out.line("no pipelines yet (tributary import FILE creates one)");
      else {
        const w = Math.max(4, ...rows.map((r) => r.name.length));
        out.line(`${"NAME".padEnd(w)}  VERSION  NODES  ERRORS  UPDATED`);
        for (const r of rows) {
          out.line(`${r.name.padEnd(w)}  ${String(r.currentVersion).padStart(7)}  ${String(r.nodeCount).padStart(5)}  ${String(r.errorCount).padStart(6)}  ${r.updatedAt}`);
        }
      }
      out.result({ pipelines: rows });
      setExit(0);
    });

  registerRunCommands(program, globals, setExit);
  registerDraftCommand(program, globals, setExit);
  return program;
}

/** Run the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => (code = c));
  const json = argv.includes("--json");
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const message = (error as Error).message;
    const usage = error instanceof UsageError || error instanceof CliUsageError;
    const stack = process.env.TRIBUTARY_DEBUG ? `\n${(error as Error).stack ?? ""}` : "";
    process.stderr.write(`tributary: ${message}${stack}\n`);
    if (json) process.stdout.write(JSON.stringify({ error: message }) + "\n");
    return usage ? 2 : 1;
  }
}
