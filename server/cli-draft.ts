/**
 * `tributary draft "description"`: the assistant drafts a pipeline, checked by
 * validation and a dry run on sample data, and prints the file (canonical text)
 * for scripting. Progress goes to stderr; stdout holds only the file (or, with
 * --json, one JSON object).
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { serializePipeline } from "@/server/pipeline";
import { assistantConfig, CONFIGURE_HELP } from "@/server/assistant/config";
import { runAssistant, type AssistantEvent } from "@/server/assistant/repair-loop";
import { toolContextOf } from "@/server/assistant/tools";
import { openRuntimeService } from "@/server/runtime/service";
import { CliUsageError } from "./cli-runs";

interface Globals {
  dataDir?: string;
  json?: boolean;
}

function progress(event: AssistantEvent): string | null {
  switch (event.type) {
    case "tool":
      return `  looked: ${event.name}(${event.arguments.length > 80 ? `${event.arguments.slice(0, 80)}…` : event.arguments})`;
    case "check":
      return event.problems.length ? `  round ${event.round + 1}: ${event.problems.length} problem(s), asking for a fix:\n${event.problems.map((p) => `    ${p}`).join("\n")}` : `  round ${event.round + 1}: valid, dry run passed`;
    default:
      return null;
  }
}

export function registerDraftCommand(program: Command, globals: () => Globals, setExit: (code: number) => void): void {
  program
    .command("draft")
    .description("draft a pipeline from a description with the assistant (validated and dry-run) and print the file")
    .argument("<description>", "what the pipeline should do")
    .option("--out <file>", "write the file here instead of printing it")
    .option("--no-samples", "send no sample rows to the model")
    .action(async (description: string, cmd: { out?: string; samples: boolean }) => {
      const g = globals();
      const json = !!g.json;
      const config = assistantConfig();
      if (!config) throw new CliUsageError(`the assistant is not configured. ${CONFIGURE_HELP}`);
      const rt = await openRuntimeService({ dataDir: g.dataDir ? path.resolve(g.dataDir) : undefined, startWorker: true });
      try {
        const controller = new AbortController();
        const result = await runAssistant(
          { kind: "draft", description },
          config,
          toolContextOf(rt, { allowSamples: cmd.samples, sampleRows: config.sampleRows, signal: controller.signal }),
          (event) => {
            const line = progress(event);
            if (line) process.stderr.write(line + "\n");
          },
        );
        const text = result.document ? serializePipeline(result.document) : null;
        if (result.ok && text && cmd.out) fs.writeFileSync(cmd.out, text);
        if (json) {
          process.stdout.write(JSON.stringify({
            ok: result.ok, ...(cmd.out && result.ok ? { out: cmd.out } : {}), explanation: result.explanation,
            document: result.document, remaining: result.remaining, rounds: result.rounds, usage: result.usage,
          }) + "\n");
        } else if (result.ok && text && !cmd.out) {
          process.stdout.write(text);
        }
        if (!result.ok) {
          process.stderr.write(`tributary: the draft is still wrong after ${result.rounds} repair round(s):\n${result.remaining.map((p) => `  ${p}`).join("\n")}\n`);
        } else {
          process.stderr.write(`${result.explanation ? `${result.explanation}\n` : ""}drafted '${result.document!.name}' (${result.document!.nodes.length} nodes, ${result.rounds} repair round(s), ${result.usage.total} tokens)${cmd.out ? ` → ${cmd.out}` : ""}\n`);
        }
        setExit(result.ok ? 0 : 1);
      } finally {
        await rt.close();
      }
    });
}
