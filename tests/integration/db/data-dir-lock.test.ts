import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "@/db/client";
import { DataDirLockedError } from "@/db/data-dir-lock";

const root = path.resolve(__dirname, "../../..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-lock-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Run the real CLI in a second process on `dataDir`. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, "bin/tributary.mjs"), ...args], {
      env: { ...process.env, DATABASE_URL: "", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe("one process per PGlite data directory", () => {
  it("refuses a second process with a message naming the holder, and the data stays intact", async () => {
    const dataDir = path.join(tmp, "held");
    const handle = await openDatabase({ dataDir: path.join(dataDir, "app") });
    try {
      await handle.query("create table probe (x int)");
      await handle.query("insert into probe values (42)");
      const second = await cli(["--data-dir", dataDir, "list"]);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`in use by process ${process.pid}`);
      expect(second.stderr).toMatch(/stop that process|DATABASE_URL/);
      // The same process opening it twice is refused too.
      await expect(openDatabase({ dataDir: path.join(dataDir, "app") })).rejects.toThrow(DataDirLockedError);
      expect(await handle.query<{ x: number }>("select x from probe")).toEqual([{ x: 42 }]);
    } finally {
      await handle.close();
    }
    // Released: a second process can open it now.
    const after = await cli(["--data-dir", dataDir, "list", "--json"]);
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout.trim().split("\n").pop()!)).toEqual({ pipelines: [] });
  });

  it("takes over a lock left by a process that died", async () => {
    const dataDir = path.join(tmp, "stale");
    fs.mkdirSync(path.join(dataDir, "app"), { recursive: true });
    // A pid that cannot be alive (above the kernel's pid_max default ceiling).
    fs.writeFileSync(path.join(dataDir, "app.lock"), JSON.stringify({ pid: 4_194_304 + 17, hostname: os.hostname(), command: "ghost", startedAt: "2026-01-01T00:00:00Z" }));
    const result = await cli(["--data-dir", dataDir, "list", "--json"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(fs.existsSync(path.join(dataDir, "app.lock"))).toBe(false);
  });
});
