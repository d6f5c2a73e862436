/**
 * Pipelines and their immutable versions. Every save writes a new version row
 * and moves `current_version` forward, but only from the version the writer
 * started from: a stale save fails with ConflictError, never overwrites.
 */
import { and, asc, desc, eq, sql } from "drizzle-orm";
import { isError, serializePipeline, validate, type PipelineFile, type Problem, type SqlAnalyzer } from "@/server/pipeline";
import type { Db } from "./client";
import { ConflictError, NotFoundError, isUniqueViolation } from "./errors";
import { pipelines, pipelineVersions } from "./schema";

export interface PipelineSummary {
  id: string;
  name: string;
  description: string;
  currentVersion: number;
  nodeCount: number;
  errorCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface PipelineDetail extends PipelineSummary {
  document: PipelineFile;
}

export interface VersionSummary {
  version: number;
  message: string;
  nodeCount: number;
  errorCount: number;
  createdAt: string;
}

export interface SaveResult {
  id: string;
  name: string;
  version: number;
  /** False when the document equals the current version and nothing was written. */
  changed: boolean;
}

export interface StoreOptions {
  /** Counts SQL problems into errorCount; without it SQL is not checked. */
  sql?: SqlAnalyzer;
  /** The document's problems when the caller has them already (saves validating twice). */
  problems?: readonly Problem[];
}

const summaryColumns = {
  id: pipelines.id,
  name: pipelines.name,
  description: pipelines.description,
  currentVersion: pipelines.currentVersion,
  nodeCount: pipelineVersions.nodeCount,
  errorCount: pipelineVersions.errorCount,
  createdAt: pipelines.createdAt,
  updatedAt: pipelines.updatedAt,
};

const currentJoin = and(
  eq(pipelineVersions.pipelineId, pipelines.id),
  eq(pipelineVersions.version, pipelines.currentVersion),
);

function toSummary<T extends { createdAt: Date; updatedAt: Date }>(row: T) {
  return { ...row, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() };
}

export async function listPipelines(db: Db): Promise<PipelineSummary[]> {
  const rows = await db.select(summaryColumns).from(pipelines).innerJoin(pipelineVersions, currentJoin).orderBy(asc(pipelines.name));
  return rows.map(toSummary);
}

/** The pipeline with its current document, by id (uuid) or by name. */
export async function getPipeline(db: Db, ref: { id: string } | { name: string }): Promise<PipelineDetail> {
  const where = "id" in ref ? eq(pipelines.id, ref.id) : eq(pipelines.name, ref.name);
  const rows = await db
    .select({ ...summaryColumns, document: pipelineVersions.document })
    .from(pipelines)
    .innerJoin(pipelineVersions, currentJoin)
    .where(where);
  const row = rows[0];
  if (!row) throw new NotFoundError(`no pipeline ${"id" in ref ? `with id ${ref.id}` : `named '${ref.name}'`}`);
  return toSummary(row);
}

function counts(document: PipelineFile, options: StoreOptions) {
  const problems = options.problems ?? validate(document, { sql: options.sql });
  return { nodeCount: document.nodes.length, errorCount: problems.filter(isError).length };
}

export async function createPipeline(db: Db, document: PipelineFile, message = "created", options: StoreOptions = {}): Promise<SaveResult> {
  try {
    return await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(pipelines)
        .values({ name: document.name, description: document.description ?? "", currentVersion: 1 })
        .returning({ id: pipelines.id });
      await tx.insert(pipelineVersions).values({ pipelineId: row!.id, version: 1, document, message, ...counts(document, options) });
      return { id: row!.id, name: document.name, version: 1, changed: true };
    });
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new ConflictError(`a pipeline named '${document.name}' already exists; pick another name`, { name: document.name });
    }
    throw error;
  }
}

/**
 * Save `document` as the next version of pipeline `id`.
 *
 * 1. In one transaction, move current_version from `baseVersion` to baseVersion + 1;
 *    if no row moved, the pipeline is gone (NotFoundError) or someone saved first (ConflictError).
 * 2. Insert the version row. A name taken by another pipeline rolls everything back.
 */
export async function savePipeline(
  db: Db,
  input: { id: string; baseVersion: number; document: PipelineFile; message?: string },
  options: StoreOptions = {},
): Promise<SaveResult> {
  const { id, baseVersion, document } = input;
  try {
    return await db.transaction(async (tx) => {
      const moved = await tx
        .update(pipelines)
        .set({
          currentVersion: baseVersion + 1,
          name: document.name,
          description: document.description ?? "",
          updatedAt: sql`now()`,
        })
        .where(and(eq(pipelines.id, id), eq(pipelines.currentVersion, baseVersion)))
        .returning({ id: pipelines.id });
      if (moved.length === 0) {
        const [current] = await tx.select({ v: pipelines.currentVersion, name: pipelines.name }).from(pipelines).where(eq(pipelines.id, id));
        if (!current) throw new NotFoundError(`no pipeline with id ${id}`);
        throw new ConflictError(
          `pipeline '${current.name}' was saved by someone else: it is at version ${current.v}, this save was based on version ${baseVersion}. Reload to see their changes, or overwrite them.`,
          { currentVersion: current.v },
        );
      }
      await tx.insert(pipelineVersions).values({
        pipelineId: id,
        version: baseVersion + 1,
        document,
        message: input.message ?? "saved",
        ...counts(document, options),
      });
      return { id, name: document.name, version: baseVersion + 1, changed: true };
    });
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new ConflictError(`a pipeline named '${document.name}' already exists; pick another name`, { name: document.name });
    }
    throw error;
  }
}

export async function deletePipeline(db: Db, id: string): Promise<void> {
  const gone = await db.delete(pipelines).where(eq(pipelines.id, id)).returning({ id: pipelines.id });
  if (gone.length === 0) throw new NotFoundError(`no pipeline with id ${id}`);
}

export async function listVersions(db: Db, id: string): Promise<VersionSummary[]> {
  const rows = await db
    .select({
      version: pipelineVersions.version,
      message: pipelineVersions.message,
      nodeCount: pipelineVersions.nodeCount,
      errorCount: pipelineVersions.errorCount,
      createdAt: pipelineVersions.createdAt,
    })
    .from(pipelineVersions)
    .where(eq(pipelineVersions.pipelineId, id))
    .orderBy(desc(pipelineVersions.version));
  if (rows.length === 0) throw new NotFoundError(`no pipeline with id ${id}`);
  return rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() }));
}

export async function getVersion(db: Db, id: string, version: number): Promise<PipelineFile> {
  const [row] = await db
    .select({ document: pipelineVersions.document })
    .from(pipelineVersions)
    .where(and(eq(pipelineVersions.pipelineId, id), eq(pipelineVersions.version, version)));
  if (!row) throw new NotFoundError(`pipeline ${id} has no version ${version}`);
  return row.document;
}

/** Make an old version current again, as a new version (history is never rewritten). */
export async function restoreVersion(
  db: Db,
  input: { id: string; version: number; baseVersion: number },
  options: StoreOptions = {},
): Promise<SaveResult> {
  const document = await getVersion(db, input.id, input.version);
  return savePipeline(db, { id: input.id, baseVersion: input.baseVersion, document, message: `restored v${input.version}` }, options);
}

/**
 * Import a file: a new pipeline, or a new version of the pipeline with its name.
 * An import equal to the current version writes nothing (`changed: false`).
 */
export async function importPipeline(db: Db, document: PipelineFile, options: StoreOptions = {}): Promise<SaveResult & { created: boolean }> {
  const [existing] = await db
    .select({ id: pipelines.id, v: pipelines.currentVersion, document: pipelineVersions.document })
    .from(pipelines)
    .innerJoin(pipelineVersions, currentJoin)
    .where(eq(pipelines.name, document.name));
  if (!existing) return { ...(await createPipeline(db, document, "imported", options)), created: true };
  if (sameDocument(existing.document, document)) {
    return { id: existing.id, name: document.name, version: existing.v, changed: false, created: false };
  }
  const saved = await savePipeline(db, { id: existing.id, baseVersion: existing.v, document, message: "imported" }, options);
  return { ...saved, created: false };
}

function sameDocument(a: PipelineFile, b: PipelineFile): boolean {
  return serializePipeline(a) === serializePipeline(b);
}
