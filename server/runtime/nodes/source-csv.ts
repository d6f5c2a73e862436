/**
 * source.csv: a CSV file streamed into the output table. Column types are
 * inferred from the first rows (declared `columns` win), then the rows are
 * loaded in batches with COPY. Relative paths resolve against the run's files folder.
 */
import fs from "node:fs";
import path from "node:path";
import { parse } from "csv-parse";
import { ident, type CsvCopy } from "@/db/warehouse";
import { TaskFailure } from "../errors";
import { csvQuote, qualified } from "../outputs";
import type { NodeRunner } from "./context";

const SAMPLE = 10_000;
const BATCH = 20_000;

const DECLARED: Record<string, string> = {
  text: "text", integer: "bigint", bigint: "bigint", numeric: "numeric", double: "double precision",
  boolean: "boolean", date: "date", timestamp: "timestamp", timestamptz: "timestamptz", json: "jsonb",
};

/** The narrowest type every non-empty sample value fits. */
export function inferCsvType(values: readonly string[]): string {
  const tests: [string, RegExp][] = [
    ["bigint", /^-?\d{1,15}$/],
    ["double precision", /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/],
    ["boolean", /^(true|false)$/i],
    ["date", /^\d{4}-\d{2}-\d{2}$/],
    ["timestamptz", /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$/],
  ];
  const present = values.filter((v) => v !== "");
  if (present.length === 0) return "text";
  for (const [type, re] of tests) if (present.every((v) => re.test(v))) return type;
  return "text";
}

export const runCsvSource: NodeRunner = async (ctx) => {
  if (ctx.node.kind !== "source.csv") throw new Error("not a source.csv node");
  const config = ctx.node.config;
  const file = path.resolve(ctx.filesDir, config.path);
  try {
    await fs.promises.access(file, fs.constants.R_OK);
  } catch {
    throw new TaskFailure(`node '${ctx.node.name}': cannot read '${config.path}' (looked at ${file})`, false, "file");
  }
  const nulls = new Set(config.nullValues ?? [""]);
  const parser = fs.createReadStream(file, { encoding: config.encoding === "latin1" ? "latin1" : "utf8" }).pipe(
    parse({ delimiter: config.delimiter ?? ",", bom: true, skip_empty_lines: true, relax_quotes: false, info: false }),
  );
  const out = qualified(ctx.schema, ctx.outputTable);
  let header: string[] | null = null;
  let types: string[] = [];
  let buffer: string[][] = [];
  let rows = 0;
  let line = 0;

  // One COPY for the whole file (one transaction, nothing of it stays if the file turns out bad), fed batch by batch.
  let copy: CsvCopy | null = null;
  const failed = (error: unknown, what: string) => {
    const message = (error as Error).message;
    return new TaskFailure(
      `node '${ctx.node.name}': loading ${what} of '${config.path}' failed: ${message}. ` +
        `Column types were inferred from the first ${SAMPLE} rows (${header!.map((h, i) => `${h} ${types[i]}`).join(", ")}); declare the column's type in config.columns`,
      false,
      "csv",
    );
  };
  const flush = async () => {
    if (!buffer.length) return;
    const csv = buffer.map((r) => r.map((f) => (nulls.has(f) ? "" : csvQuote(f))).join(",")).join("\n") + "\n";
    try {
      copy ??= ctx.wh.copyCsvStream(out, header!);
      await copy.write(csv);
    } catch (error) {
      throw failed(error, `rows ${rows + 1}–${rows + buffer.length} (or rows before them)`);
    }
    rows += buffer.length;
    buffer = [];
  };
  const createTable = async () => {
    const declared = config.columns ?? {};
    types = header!.map((name, i) => (declared[name] ? DECLARED[declared[name]]! : inferCsvType(buffer.map((r) => (nulls.has(r[i] ?? "") ? "" : (r[i] ?? ""))))));
    await ctx.wh.query(`create table ${out} (${header!.map((h, i) => `${ident(h)} ${types[i]}`).join(", ")})`);
  };

  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      line++;
      ctx.signal.throwIfAborted();
      if (!header) {
        header = config.header === false ? record.map((_, i) => `c${i + 1}`) : record.map((h) => h.trim());
        const dupes = header.filter((h, i) => header!.indexOf(h) !== i);
        if (dupes.length) throw new TaskFailure(`node '${ctx.node.name}': the header of '${config.path}' repeats ${dupes.join(", ")}`, false, "csv");
        if (config.header !== false) continue;
      }
      if (record.length !== header.length) {
        throw new TaskFailure(`node '${ctx.node.name}': line ${line} of '${config.path}' has ${record.length} fields, the header has ${header.length}`, false, "csv");
      }
      if (ctx.sampleRows !== undefined && rows + buffer.length >= ctx.sampleRows) break;
      buffer.push(record);
      if (types.length === 0 && buffer.length >= SAMPLE) await createTable();
      if (types.length && buffer.length >= BATCH) await flush();
    }
  } catch (error) {
    (copy as CsvCopy | null)?.abort();
    if (error instanceof TaskFailure || ctx.signal.aborted) throw error;
    throw new TaskFailure(`node '${ctx.node.name}': '${config.path}' is not valid CSV: ${(error as Error).message}`, false, "csv");
  }
  if (!header) throw new TaskFailure(`node '${ctx.node.name}': '${config.path}' is empty`, false, "csv");
  try {
    if (types.length === 0) await createTable();
    await flush();
  } catch (error) {
    (copy as CsvCopy | null)?.abort();
    throw error;
  }
  if (copy) {
    try {
      await (copy as CsvCopy).end();
    } catch (error) {
      throw failed(error, `rows 1–${rows}`);
    }
  }
  return { rows, outputTable: ctx.outputTable };
};
