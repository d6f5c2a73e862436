/**
 * Reading a pipeline file: JSON text to a raw object, and older formats to the
 * current one. A format migration is a pure function from one format's document
 * to the next; `migrateFormat` applies them in a chain until `tributary/v1`.
 */
import { parseTree, printParseErrorCode, type ParseError, type ParseErrorCode } from "jsonc-parser";
import { CURRENT_FORMAT } from "./schema";
import { positionOf, type Problem } from "./problems";

/** Upgrades a document of one older format by one step. */
export interface FormatMigration {
  to: string;
  migrate: (doc: Record<string, unknown>) => Record<string, unknown>;
}

/**
 * Migrations by the format they read. v1 is the first published format, so the
 * table is empty; a v2 adds `"tributary/v1": { to: "tributary/v2", migrate }`.
 */
export const FORMAT_MIGRATIONS: Readonly<Record<string, FormatMigration>> = {};

export type ReadResult = { ok: true; value: unknown } | { ok: false; problems: Problem[] };

/**
 * Parse JSON text; a syntax error is one problem with its line and column.
 * JSON.parse is fast but does not always say where it failed, so on failure
 * jsonc-parser (strict mode: no comments, no trailing commas) locates the error.
 */
export function parseJsonText(text: string): ReadResult {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    const errors: ParseError[] = [];
    parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    const first = errors[0];
    const offset = first ? first.offset : text.length;
    const position = positionOf(text, offset);
    const reason = first ? describeJsonError(first.error) : (error as Error).message;
    const near = text.slice(offset, offset + 20).split("\n")[0];
    return {
      ok: false,
      problems: [
        {
          code: "invalid_json",
          severity: "error",
          path: [],
          position,
          message: `not valid JSON at line ${position.line}, column ${position.column}: ${reason}${near ? ` near '${near}'` : ""}`,
        },
      ],
    };
  }
}

function describeJsonError(code: ParseErrorCode): string {
  const text = printParseErrorCode(code);
  return text.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}

/**
 * Bring a raw document to the current format.
 *
 * 1. It must be a JSON object with a string `format`.
 * 2. While its format has a migration, apply it (a loop guard stops a bad table).
 * 3. What ends on a format other than the current one is refused, naming what is supported.
 */
export function migrateFormat(
  raw: unknown,
  migrations: Readonly<Record<string, FormatMigration>> = FORMAT_MIGRATIONS,
): ReadResult {
  const fail = (message: string, path: (string | number)[] = ["format"]): ReadResult => ({
    ok: false,
    problems: [{ code: "unsupported_format", severity: "error", path, message }],
  });
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return fail("a pipeline file must be a JSON object", []);
  }
  let doc = raw as Record<string, unknown>;
  const supported = [CURRENT_FORMAT, ...Object.keys(migrations)].join(", ");
  if (doc.format === undefined) return fail(`missing 'format'; expected "${CURRENT_FORMAT}"`);
  for (let steps = 0; doc.format !== CURRENT_FORMAT; steps++) {
    const migration = typeof doc.format === "string" ? migrations[doc.format] : undefined;
    if (!migration || steps > 32) {
      return fail(`unsupported format ${JSON.stringify(doc.format)}; this version of Tributary reads ${supported}`);
    }
    doc = { ...migration.migrate(doc), format: migration.to };
  }
  return { ok: true, value: doc };
}
