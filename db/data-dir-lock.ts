/**
 * A lock file beside an embedded PGlite data directory. PGlite has no
 * cross-process lock, and two processes on one directory corrupt it, so the
 * first process writes `<dir>.lock` with its pid and the next one is refused
 * with a message naming the holder. A lock left by a dead process is taken over.
 */
import fs from "node:fs";
import os from "node:os";

export interface LockOwner {
  pid: number;
  hostname: string;
  command: string;
  startedAt: string;
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly owner: LockOwner,
  ) {
    super(
      `the data directory ${dataDir} is in use by process ${owner.pid} (${owner.command}) since ${owner.startedAt}. ` +
        `Embedded PGlite serves one process at a time: stop that process, point --data-dir / TRIBUTARY_DATA_DIR ` +
        `elsewhere, or set DATABASE_URL to use a Postgres server.`,
    );
    this.name = "DataDirLockedError";
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

const held = new Set<string>();
let exitHookInstalled = false;

/**
 * Take the lock for `dataDir`; returns its release function.
 *
 * 1. Create `<dataDir>.lock` exclusively with this process's identity.
 * 2. If it exists, read it: a live holder (same host) is an error naming it.
 * 3. A dead holder's lock, or an unreadable one, is removed and step 1 retried once.
 */
export function acquireDataDirLock(dataDir: string): () => void {
  const lockPath = `${dataDir}.lock`;
  const me: LockOwner = {
    pid: process.pid,
    hostname: os.hostname(),
    command: process.argv.slice(1).join(" ").slice(0, 200) || process.argv0,
    startedAt: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockPath, JSON.stringify(me), { flag: "wx" });
      held.add(lockPath);
      if (!exitHookInstalled) {
        exitHookInstalled = true;
        process.once("exit", () => {
          for (const p of held) removeIfOurs(p);
        });
      }
      return () => {
        held.delete(lockPath);
        removeIfOurs(lockPath);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    let owner: LockOwner | undefined;
    try {
      owner = JSON.parse(fs.readFileSync(lockPath, "utf8")) as LockOwner;
    } catch {
      owner = undefined;
    }
    if (owner && owner.pid === process.pid && held.has(lockPath)) {
      throw new DataDirLockedError(dataDir, { ...owner, command: `${owner.command} — this same process` });
    }
    if (owner && owner.hostname === me.hostname && alive(owner.pid)) throw new DataDirLockedError(dataDir, owner);
    if (owner && owner.hostname !== me.hostname) throw new DataDirLockedError(dataDir, owner);
    fs.rmSync(lockPath, { force: true });
  }
  throw new Error(`could not take the lock ${lockPath}`);
}

function removeIfOurs(lockPath: string) {
  try {
    const owner = JSON.parse(fs.readFileSync(lockPath, "utf8")) as LockOwner;
    if (owner.pid === process.pid) fs.rmSync(lockPath, { force: true });
  } catch {
    // already gone
  }
}
