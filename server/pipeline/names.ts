/**
 * Names of pipelines, nodes, params, pools and connections.
 *
 * A name becomes a Postgres identifier (a node's output table, a run schema),
 * so it follows the strictest common rule: lower-case ASCII, starting with a
 * letter, at most 63 bytes, and never a reserved SQL keyword.
 */

export const NAME_PATTERN = /^[a-z][a-z0-9_]*$/;
export const NAME_MAX_LENGTH = 63;

/** PostgreSQL's reserved key words (both "reserved" columns of appendix C). */
export const RESERVED_SQL_WORDS: ReadonlySet<string> = new Set([
  "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric",
  "authorization", "binary", "both", "case", "cast", "check", "collate", "collation",
  "column", "concurrently", "constraint", "create", "cross", "current_catalog",
  "current_date", "current_role", "current_schema", "current_time", "current_timestamp",
  "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end",
  "except", "false", "fetch", "for", "foreign", "freeze", "from", "full", "grant",
  "group", "having", "ilike", "in", "initially", "inner", "intersect", "into", "is",
  "isnull", "join", "lateral", "leading", "left", "like", "limit", "localtime",
  "localtimestamp", "natural", "not", "notnull", "null", "offset", "on", "only", "or",
  "order", "outer", "overlaps", "placing", "primary", "references", "returning",
  "right", "select", "session_user", "similar", "some", "symmetric", "system_user",
  "table", "tablesample", "then", "to", "trailing", "true", "union", "unique", "user",
  "using", "variadic", "verbose", "when", "where", "window", "with",
]);

/** Why `name` is not a valid name, or null when it is. */
export function nameProblem(name: string, what = "name"): string | null {
  if (name.length === 0) return `${what} must not be empty`;
  if (name.length > NAME_MAX_LENGTH) {
    return `${what} '${name}' is ${name.length} characters long; at most ${NAME_MAX_LENGTH} are allowed`;
  }
  if (!NAME_PATTERN.test(name)) {
    const hint = suggestName(name);
    return (
      `${what} '${name}' must start with a lower-case letter and contain only a-z, 0-9 and _` +
      (hint && hint !== name ? ` (try '${hint}')` : "")
    );
  }
  if (RESERVED_SQL_WORDS.has(name)) {
    return `${what} '${name}' is a reserved SQL keyword; pick another (for example '${name}_data')`;
  }
  return null;
}

/** A valid name close to `raw`: lower-cased, non-alphanumerics folded to `_`. */
export function suggestName(raw: string): string {
  let s = raw
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/_+/g, "_")
    .replace(/^_+|_+$/g, "");
  if (!/^[a-z]/.test(s)) s = `n_${s}`;
  s = s.slice(0, NAME_MAX_LENGTH).replace(/_+$/, "");
  if (RESERVED_SQL_WORDS.has(s)) s = `${s}_data`;
  return s;
}
