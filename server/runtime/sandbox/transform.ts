/**
 * Turns a cell's source into a classic script for the isolate. `export default`
 * becomes an assignment of exactly the same length, so line and column numbers
 * in errors still point into the source the author wrote. Module syntax that a
 * cell cannot use (static or dynamic `import`, other `export` forms) is refused
 * here with a clear message instead of V8's generic ones.
 */

export const CELL_FILENAME = "cell.js";
/** Global slot the rewritten `export default` assigns to. Exactly 13 characters. */
export const DEFAULT_SLOT = "__cell_dflt__";

export type PreparedCell =
  | { ok: true; source: string }
  | { ok: false; message: string; line?: number; column?: number };

function position(code: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < index; i++) {
    if (code.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: index - lineStart + 1 };
}

const STATIC_IMPORT = /^[ \t]*import(?:[ \t]*["'{*]|[ \t]+[A-Za-z_$][\w$]*[ \t]*(?:,|from\b))/m;
const DYNAMIC_IMPORT = /(?<![\w$.])import[ \t]*(?:\(|\.[ \t]*meta\b)/;
const EXPORT_DEFAULT = /^([ \t]*)(export[ \t]+default)\b/m;
const OTHER_EXPORT = /^[ \t]*export\b/m;

export function prepareCellSource(code: string): PreparedCell {
  if (typeof code !== "string") return { ok: false, message: "The cell's code must be a string" };
  for (const [re, what] of [
    [STATIC_IMPORT, "`import` statements"],
    [DYNAMIC_IMPORT, "`import()` and `import.meta`"],
  ] as const) {
    const m = re.exec(code);
    if (m) {
      const at = position(code, m.index + (m[0].length - m[0].trimStart().length));
      return {
        ok: false,
        message: `SyntaxError: ${what} are not available in JS cells: a cell cannot load modules; it receives its data through \`inputs\` and \`ctx\``,
        ...at,
      };
    }
  }
  const m = EXPORT_DEFAULT.exec(code);
  if (!m) {
    return {
      ok: false,
      message: "SyntaxError: the cell must `export default` a function, e.g. `export default (inputs, ctx) => inputs.orders`",
    };
  }
  const indent = m[1] ?? "";
  const keyword = m[2] ?? "";
  const replacement = DEFAULT_SLOT + " ".repeat(keyword.length - DEFAULT_SLOT.length - 1) + "=";
  const start = m.index + indent.length;
  const source = code.slice(0, start) + replacement + code.slice(start + keyword.length);
  const other = OTHER_EXPORT.exec(source);
  if (other) {
    return {
      ok: false,
      message: "SyntaxError: only one `export default` is supported in a JS cell (no named exports)",
      ...position(source, other.index + (other[0].length - other[0].trimStart().length)),
    };
  }
  return { ok: true, source };
}
