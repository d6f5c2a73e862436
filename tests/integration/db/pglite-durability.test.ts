/**
 * The embedded databases keep what they committed when the process is killed: they run with
 * wal_level=minimal (db/client.ts), where a table created and filled in one transaction is not
 * written to the write-ahead log but to its file at commit.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openWarehouse } from "@/db/warehouse";

const root = path.resolve(__dirname, "../../..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-durability-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("embedded PGlite durability", () => {
  it("keeps tables created and filled just before a kill -9, large ones skipping the log included", async () => {
    const dir = path.join(tmp, "warehouse");
    const rows = 100_000;
    const child = spawn(process.execPath, ["--conditions=react-server", "--import", "tsx", path.join(root, "tests/fixtures/pglite-kill-after-commit.ts"), dir, String(rows)], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, sig) => resolve(sig)));
    expect(signal, err).toBe("SIGKILL");
    expect(JSON.parse(out.trim())).toEqual({ wal: "minimal" });

    const wh = await openWarehouse({ dir }); // recovers, and takes over the dead process's lock
    try {
      expect(await wh.query("select count(*)::int as n, sum(length(pad))::int as chars from big")).toEqual([{ n: rows, chars: rows * 100 }]);
      expect(await wh.query("select count(*)::int as n, max(id)::int as top from small")).toEqual([{ n: 11, top: 11 }]);
    } finally {
      await wh.close();
    }
  }, 120_000);
});
