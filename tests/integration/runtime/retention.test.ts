/** Retention of run outputs: the newest finished runs of a pipeline keep their schemas, older ones are dropped and marked. */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineFile } from "@/server/pipeline";
import { publishRunOutputs } from "@/server/runtime/executor";
import { pruneRunOutputs } from "@/server/runtime/retention";
import { getRunRow, rerunFrom, retryFailed, startRun, type RunRow } from "@/server/runtime/run-store";
import { targets } from "../databases";
import { openRuntime, type Runtime } from "./harness";

const doc: PipelineFile = {
  format: "tributary/v1",
  name: "kept",
  params: { d: { type: "integer", default: 1 } },
  nodes: [{ id: "a", kind: "sql", name: "a", config: { sql: "select 10 / :d as x" } }],
  edges: [],
};

const day = (n: number) => new Date(Date.UTC(2026, 0, 1 + n));

async function schemaExists(rt: Runtime, schema: string): Promise<boolean> {
  const [row] = await rt.wh.query<{ n: string | null }>(`select to_regnamespace($1)::text as n`, [`"${schema}"`]);
  return row?.n != null;
}

for (const target of targets) {
  describe(`retention of run outputs on ${target.name}`, () => {
    let rt: Runtime;
    // The worker does not sweep here (retention is off by default): the test calls the sweep, so it decides when.
    beforeAll(async () => void (rt = await openRuntime(target.name)));
    afterAll(async () => rt?.close());

    it("drops the outputs of finished runs beyond the newest N of their pipeline, marks them, and refuses to read or reopen them", async () => {
      // The oldest run fails (division by zero), so it is one a user would want to retry.
      const first = await rt.start(doc, { params: { d: 0 }, logicalDate: day(0) });
      expect((await rt.wait(first.id)).run.state).toBe("failed");
      const later: RunRow[] = [];
      for (const n of [1, 2]) {
        const run = await startRun(rt.app.db, { pipelineId: first.pipelineId, logicalDate: day(n) }, rt.sql);
        rt.worker.wake();
        expect((await rt.wait(run.id)).run.state).toBe("success");
        later.push(run);
      }
      // Another pipeline's lone run is its newest: untouched.
      const other = await rt.start(doc, { params: { d: 0 }, logicalDate: day(0) });
      await rt.wait(other.id);
      expect(await schemaExists(rt, first.schemaName)).toBe(true);

      expect(await pruneRunOutputs(rt.app.db, rt.wh, 2)).toEqual([first.id]);
      const dropped = await getRunRow(rt.app.db, first.id);
      expect(dropped.outputsDroppedAt).toBeInstanceOf(Date);
      expect(dropped.state).toBe("failed"); // the history stays
      expect(await schemaExists(rt, first.schemaName)).toBe(false);
      for (const run of later) {
        expect((await getRunRow(rt.app.db, run.id)).outputsDroppedAt).toBeNull();
        expect(await schemaExists(rt, run.schemaName)).toBe(true);
        expect(await rt.wh.query(`select x from "${run.schemaName}".a`)).toEqual([{ x: 10 }]);
      }
      expect(await schemaExists(rt, other.schemaName)).toBe(true);

      const why = /outputs of run .* were dropped by retention .*TRIBUTARY_KEEP_RUNS.*start a new run/;
      await expect(retryFailed(rt.app.db, first.id)).rejects.toThrow(why);
      await expect(rerunFrom(rt.app.db, first.id, "a")).rejects.toThrow(why);
      await expect(publishRunOutputs({ db: rt.app.db, wh: rt.wh }, dropped)).rejects.toThrow(why);
      // Refused reopening changed nothing.
      expect((await getRunRow(rt.app.db, first.id)).state).toBe("failed");
      expect(await schemaExists(rt, first.schemaName)).toBe(false);

      // Nothing left to do: a second sweep drops nothing.
      expect(await pruneRunOutputs(rt.app.db, rt.wh, 2)).toEqual([]);
    });

    it("drops a schema left behind by a sweep that marked its run and stopped before the drop", async () => {
      const run = await rt.start(doc, { logicalDate: day(20) });
      expect((await rt.wait(run.id)).run.state).toBe("success");
      const kept = await rt.start(doc, { logicalDate: day(21) });
      await rt.wait(kept.id);
      // What a sweep killed between its mark and its drop leaves: the mark, and the schema.
      await rt.app.db.execute(sql`update runs set outputs_dropped_at = now() where id = ${run.id}`);
      expect(await schemaExists(rt, run.schemaName)).toBe(true);
      expect(await pruneRunOutputs(rt.app.db, rt.wh, 100)).toEqual([]); // nothing new to drop…
      expect(await schemaExists(rt, run.schemaName)).toBe(false); // …but the leftover is gone
      expect(await schemaExists(rt, kept.schemaName)).toBe(true);
      expect(await rt.wh.query(`select x from "${kept.schemaName}".a`)).toEqual([{ x: 10 }]);
    });

    it("never touches a run that is not finished", async () => {
      const base = await rt.start(doc, { logicalDate: day(10) });
      await rt.wait(base.id);
      // A run reopened by retry is queued or running again: not a candidate, whatever its age.
      const failed = await startRun(rt.app.db, { pipelineId: base.pipelineId, logicalDate: day(11), params: { d: 0 } }, rt.sql);
      rt.worker.wake();
      await rt.wait(failed.id);
      await startRun(rt.app.db, { pipelineId: base.pipelineId, logicalDate: day(12) }, rt.sql).then(async (r) => {
        rt.worker.wake();
        await rt.wait(r.id);
      });
      await rt.worker.drain(); // nothing runs the reopened run: it stays unfinished while the sweep looks
      const again = await rerunFrom(rt.app.db, failed.id, "a");
      expect(["queued", "running"]).toContain(again.state);
      // keep = 1: base (oldest, finished) goes; the reopened run is not finished, so it stays.
      const dropped = await pruneRunOutputs(rt.app.db, rt.wh, 1);
      expect(dropped).toContain(base.id);
      expect(dropped).not.toContain(failed.id);
      expect((await getRunRow(rt.app.db, failed.id)).outputsDroppedAt).toBeNull();
      expect(await schemaExists(rt, failed.schemaName)).toBe(true);
    });
  });

  describe(`the worker's retention sweep on ${target.name}`, () => {
    let rt: Runtime;
    // A 1 s lease: the worker sweeps every 0.5 s, keeping 1 finished run per pipeline.
    beforeAll(async () => void (rt = await openRuntime(target.name, { retention: true, keepRuns: 1, leaseSeconds: 1 })));
    afterAll(async () => rt?.close());

    it("drops an older run's outputs on its own once a newer run of the pipeline finished", async () => {
      const older = await rt.start(doc, { logicalDate: day(0) });
      await rt.wait(older.id);
      const newer = await startRun(rt.app.db, { pipelineId: older.pipelineId, logicalDate: day(1) }, rt.sql);
      rt.worker.wake();
      await rt.wait(newer.id);
      const deadline = Date.now() + 10_000;
      while (!(await getRunRow(rt.app.db, older.id)).outputsDroppedAt && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect((await getRunRow(rt.app.db, older.id)).outputsDroppedAt).toBeInstanceOf(Date);
      expect(await schemaExists(rt, older.schemaName)).toBe(false);
      expect((await getRunRow(rt.app.db, newer.id)).outputsDroppedAt).toBeNull();
      expect(await schemaExists(rt, newer.schemaName)).toBe(true);
    });
  });
}
