/**
 * sink.table: load one upstream table into a warehouse table.
 * append adds rows; replace swaps the whole table in one transaction; upsert
 * inserts or updates on the key columns, so running a load twice duplicates nothing.
 */
import { ident } from "@/db/warehouse";
import { TaskFailure } from "../errors";
import { qualified } from "../outputs";
import type { NodeRunner } from "./context";
import { singleInput } from "./inputs";

export const runTableSink: NodeRunner = async (ctx) => {
  if (ctx.node.kind !== "sink.table") throw new Error("not a sink.table node");
  const config = ctx.node.config;
  const source = singleInput(ctx, config.input);
  if (config.connection) throw new TaskFailure(`node '${ctx.node.name}': sinks to other connections are not supported yet; leave out 'connection' to load into the warehouse`, false, "unsupported");
  const [schemaName, tableName] = config.table.includes(".") ? config.table.split(".") as [string, string] : ["public", config.table];
  const target = `${ident(schemaName)}.${ident(tableName)}`;
  const input = qualified(ctx.schema, source.name);
  const columns = (
    await ctx.wh.query<{ name: string }>(
      `select attname as name from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum`,
      [input],
    )
  ).map((c) => c.name);
  if (columns.length === 0) {
    throw new TaskFailure(`node '${ctx.node.name}': could not read the columns of '${source.name}'`, true, "sink");
  }
  const cols = columns.map(ident).join(", ");
  const [{ n: inputRows } = { n: 0 }] = await ctx.wh.query<{ n: number }>(`select count(*)::int as n from ${input}`);

  try {
    await ctx.wh.transaction(async (tx) => {
      await tx.query(`create schema if not exists ${ident(schemaName)}`);
      if (config.mode === "replace") {
        await tx.query(`drop table if exists ${target}`);
        await tx.query(`create table ${target} as select ${cols} from ${input}`);
        return;
      }
      await tx.query(`create table if not exists ${target} as select ${cols} from ${input} where false`);
      if (config.mode === "append") {
        await tx.query(`insert into ${target} (${cols}) select ${cols} from ${input}`);
        return;
      }
      const key = config.key!;
      const missing = key.filter((k) => !columns.includes(k));
      if (missing.length) throw new TaskFailure(`node '${ctx.node.name}': key column(s) ${missing.join(", ")} are not in '${source.name}' (columns: ${columns.join(", ")})`, false, "config");
      await tx.query(`create unique index if not exists ${ident(`${tableName}_${key.join("_")}_key`.slice(0, 63))} on ${target} (${key.map(ident).join(", ")})`);
      const updates = columns.filter((c) => !key.includes(c)).map((c) => `${ident(c)} = excluded.${ident(c)}`);
      await tx.query(
        `insert into ${target} (${cols}) select ${cols} from ${input}
         on conflict (${key.map(ident).join(", ")}) do ${updates.length ? `update set ${updates.join(", ")}` : "nothing"}`,
      );
    });
  } catch (error) {
    if (error instanceof TaskFailure) throw error;
    const message = (error as Error).message;
    const hint = /cannot affect row a second time/.test(message)
      ? `: '${source.name}' has several rows with the same key (${config.key?.join(", ")}); de-duplicate before the sink`
      : `: ${message}`;
    throw new TaskFailure(`node '${ctx.node.name}': loading ${config.table} failed${hint}`, false, "sink");
  }
  ctx.log("info", `${config.mode} of ${inputRows} row(s) into ${config.table}`);
  return { rows: inputRows };
};
