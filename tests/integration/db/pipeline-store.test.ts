import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseHandle } from "@/db/client";
import { ConflictError, NotFoundError } from "@/db/errors";
import {
  createPipeline, deletePipeline, getPipeline, getVersion, importPipeline, listPipelines, listVersions,
  restoreVersion, savePipeline,
} from "@/db/pipeline-store";
import type { PipelineFile } from "@/server/pipeline";
import { loadSqlAnalyzer } from "@/server/pipeline/sql-references";
import { targets } from "../databases";

function doc(name: string, sql = "select 1 as x"): PipelineFile {
  return {
    format: "tributary/v1",
    name,
    nodes: [
      { id: "a", kind: "sql", name: "first", config: { sql } },
      { id: "b", kind: "sql", name: "second", config: { sql: "select x from first" } },
    ],
    edges: [{ from: "a", to: "b" }],
  };
}

describe.each(targets)("pipeline store on $name", (target) => {
  let handle: DatabaseHandle;
  beforeAll(async () => {
    handle = await target.open();
  });
  afterAll(async () => {
    await handle?.close();
  });

  it("creates a pipeline as version 1 and lists it", async () => {
    const created = await createPipeline(handle.db, doc("alpha"));
    expect(created).toMatchObject({ name: "alpha", version: 1, changed: true });
    const list = await listPipelines(handle.db);
    expect(list.find((p) => p.name === "alpha")).toMatchObject({ currentVersion: 1, nodeCount: 2, errorCount: 0 });
    const detail = await getPipeline(handle.db, { name: "alpha" });
    expect(detail.document).toEqual(doc("alpha"));
  });

  it("refuses a second pipeline with the same name", async () => {
    await expect(createPipeline(handle.db, doc("alpha"))).rejects.toThrow(ConflictError);
    await expect(createPipeline(handle.db, doc("alpha"))).rejects.toThrow(/already exists/);
  });

  it("saves new versions and refuses a stale save without writing anything", async () => {
    const { id } = await createPipeline(handle.db, doc("beta"));
    const v2 = await savePipeline(handle.db, { id, baseVersion: 1, document: doc("beta", "select 2 as x") });
    expect(v2.version).toBe(2);
    // A second tab still on version 1:
    const stale = savePipeline(handle.db, { id, baseVersion: 1, document: doc("beta", "select 3 as x") });
    await expect(stale).rejects.toThrow(ConflictError);
    await expect(stale).rejects.toThrow(/version 2.*based on version 1/);
    const versions = await listVersions(handle.db, id);
    expect(versions.map((v) => v.version)).toEqual([2, 1]);
    expect((await getPipeline(handle.db, { id })).document.nodes[0]).toMatchObject({ config: { sql: "select 2 as x" } });
  });

  it("lets exactly one of two concurrent saves from the same base win", async () => {
    const { id } = await createPipeline(handle.db, doc("gamma"));
    const results = await Promise.allSettled([
      savePipeline(handle.db, { id, baseVersion: 1, document: doc("gamma", "select 10 as x") }),
      savePipeline(handle.db, { id, baseVersion: 1, document: doc("gamma", "select 20 as x") }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.filter((r) => r.status === "rejected");
    expect(rejected).toHaveLength(1);
    expect((rejected[0] as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
    expect(await listVersions(handle.db, id)).toHaveLength(2);
  });

  it("keeps old versions immutable and restores one as a new version", async () => {
    const { id } = await createPipeline(handle.db, doc("delta", "select 1 as x"));
    await savePipeline(handle.db, { id, baseVersion: 1, document: doc("delta", "select 2 as x") });
    const restored = await restoreVersion(handle.db, { id, version: 1, baseVersion: 2 });
    expect(restored.version).toBe(3);
    expect(await getVersion(handle.db, id, 3)).toEqual(await getVersion(handle.db, id, 1));
    expect((await getVersion(handle.db, id, 2)).nodes[0]).toMatchObject({ config: { sql: "select 2 as x" } });
    expect((await listVersions(handle.db, id))[0]).toMatchObject({ version: 3, message: "restored v1" });
    await expect(restoreVersion(handle.db, { id, version: 9, baseVersion: 3 })).rejects.toThrow(NotFoundError);
  });

  it("renames through a save, and refuses a rename onto a taken name atomically", async () => {
    const { id } = await createPipeline(handle.db, doc("epsilon"));
    const renamed = await savePipeline(handle.db, { id, baseVersion: 1, document: doc("epsilon_two"), message: "renamed" });
    expect(renamed.name).toBe("epsilon_two");
    await expect(savePipeline(handle.db, { id, baseVersion: 2, document: doc("alpha") })).rejects.toThrow(/already exists/);
    const after = await getPipeline(handle.db, { id });
    expect(after).toMatchObject({ name: "epsilon_two", currentVersion: 2 });
  });

  it("imports: creates, then adds a version on change, then writes nothing when equal", async () => {
    const first = await importPipeline(handle.db, doc("zeta"));
    expect(first).toMatchObject({ created: true, version: 1 });
    const same = await importPipeline(handle.db, { ...doc("zeta"), edges: [...doc("zeta").edges] });
    expect(same).toMatchObject({ created: false, changed: false, version: 1 });
    const changed = await importPipeline(handle.db, doc("zeta", "select 5 as x"));
    expect(changed).toMatchObject({ created: false, changed: true, version: 2 });
  });

  it("counts validation errors of a saved draft (SQL included when the analyzer is given)", async () => {
    const sql = await loadSqlAnalyzer();
    const broken = doc("eta", "selec 1");
    const { id } = await createPipeline(handle.db, broken, "created", { sql });
    expect((await getPipeline(handle.db, { id })).errorCount).toBe(1);
  });

  it("stores a 5,000-node document intact", async () => {
    const nodes = Array.from({ length: 5000 }, (_, i) => ({ id: `n${i}`, kind: "sql" as const, name: `node_${i}`, config: { sql: i ? `select * from node_${i - 1}` : "select 1 as x" }, position: { x: i * 10, y: 0 } }));
    const edges = nodes.slice(1).map((n, i) => ({ from: `n${i}`, to: n.id }));
    const big: PipelineFile = { format: "tributary/v1", name: "big_one", nodes, edges };
    const { id } = await createPipeline(handle.db, big);
    const loaded = await getPipeline(handle.db, { id });
    expect(loaded.document.nodes).toHaveLength(5000);
    expect(loaded.document.nodes[4999]).toEqual(nodes[4999]);
    expect(loaded.nodeCount).toBe(5000);
  });

  it("deletes a pipeline with its versions", async () => {
    const { id } = await createPipeline(handle.db, doc("theta"));
    await deletePipeline(handle.db, id);
    await expect(getPipeline(handle.db, { id })).rejects.toThrow(NotFoundError);
    await expect(listVersions(handle.db, id)).rejects.toThrow(NotFoundError);
    await expect(deletePipeline(handle.db, id)).rejects.toThrow(NotFoundError);
  });
});
