/** pipelines: list, byId, problems, create, update, rename, delete, versions, version, restore, import, export, validate. */
import { z } from "zod";
import {
  createPipeline, deletePipeline, getPipeline, getVersion, importPipeline, listPipelines, listVersions,
  restoreVersion, savePipeline,
} from "@/db/pipeline-store";
import {
  CURRENT_FORMAT, nameSchema, parsePipelineText, pipelineDocumentInput, serializePipeline, validate,
  ValidationError, type PipelineFile,
} from "@/server/pipeline";
import { publicProcedure, router } from "../trpc";

const id = z.uuid({ error: "not a pipeline id" });
const version = z.int().min(1);

/** A new, empty pipeline document. */
function emptyPipeline(name: string, description?: string): PipelineFile {
  return { format: CURRENT_FORMAT, name, ...(description ? { description } : {}), nodes: [], edges: [] };
}

export const pipelinesRouter = router({
  list: publicProcedure.query(({ ctx }) => listPipelines(ctx.db)),

  /** The pipeline and its current document, without its problems: the editor draws it while `problems` is computed. */
  byId: publicProcedure.input(z.object({ id })).query(({ ctx, input }) => getPipeline(ctx.db, input)),

  /**
   * Every problem (schema, graph and SQL) of the current version, or of `version`:
   * SQL analysis of a large pipeline takes tens of milliseconds, so it is asked
   * for apart from the document (`byId`).
   */
  problems: publicProcedure.input(z.object({ id, version: version.optional() })).query(async ({ ctx, input }) => {
    const { at, document } = input.version
      ? { at: input.version, document: await getVersion(ctx.db, input.id, input.version) }
      : await getPipeline(ctx.db, { id: input.id }).then((p) => ({ at: p.currentVersion, document: p.document }));
    return { version: at, problems: validate(document, { sql: ctx.sql }) };
  }),

  create: publicProcedure
    .input(z.object({ name: nameSchema, description: z.string().max(2000).optional() }))
    .mutation(({ ctx, input }) => createPipeline(ctx.db, emptyPipeline(input.name, input.description), "created", ctx)),

  update: publicProcedure
    .input(z.object({ id, baseVersion: version, document: pipelineDocumentInput, message: z.string().max(500).optional() }))
    .mutation(async ({ ctx, input }) => {
      const problems = validate(input.document, { sql: ctx.sql });
      const saved = await savePipeline(ctx.db, input, { problems });
      return { ...saved, problems };
    }),

  rename: publicProcedure
    .input(z.object({ id, baseVersion: version, name: nameSchema }))
    .mutation(async ({ ctx, input }) => {
      const current = await getPipeline(ctx.db, { id: input.id });
      const document = { ...current.document, name: input.name };
      return savePipeline(ctx.db, { id: input.id, baseVersion: input.baseVersion, document, message: `renamed from ${current.name}` }, ctx);
    }),

  delete: publicProcedure.input(z.object({ id })).mutation(async ({ ctx, input }) => {
    await deletePipeline(ctx.db, input.id);
    return { id: input.id };
  }),

  versions: publicProcedure.input(z.object({ id })).query(({ ctx, input }) => listVersions(ctx.db, input.id)),

  version: publicProcedure
    .input(z.object({ id, version }))
    .query(async ({ ctx, input }) => ({ version: input.version, document: await getVersion(ctx.db, input.id, input.version) })),

  restore: publicProcedure
    .input(z.object({ id, version, baseVersion: version }))
    .mutation(({ ctx, input }) => restoreVersion(ctx.db, input, ctx)),

  /** Import a pipeline file's text: a new pipeline, or a new version of the one with its name. */
  import: publicProcedure.input(z.object({ text: z.string().max(50_000_000) })).mutation(async ({ ctx, input }) => {
    const parsed = parsePipelineText(input.text, { sql: ctx.sql });
    if (!parsed.ok) throw new ValidationError(parsed.problems);
    const saved = await importPipeline(ctx.db, parsed.pipeline, { problems: parsed.problems });
    return { ...saved, problems: parsed.problems };
  }),

  /** The canonical file text of the current (or a given) version. */
  export: publicProcedure.input(z.object({ id, version: version.optional() })).query(async ({ ctx, input }) => {
    const document = input.version
      ? await getVersion(ctx.db, input.id, input.version)
      : (await getPipeline(ctx.db, { id: input.id })).document;
    return { filename: `${document.name}.json`, text: serializePipeline(document) };
  }),

  /** Validate a document without saving it (the editor calls this for SQL checks). */
  validate: publicProcedure.input(z.object({ document: z.unknown() })).query(({ ctx, input }) => validate(input.document, { sql: ctx.sql })),
});
