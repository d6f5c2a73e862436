import { spawn } from "node:child_process";
import path from "node:path";

export const repoRoot = path.resolve(__dirname, "../../..");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON (with --json). */
  json<T = Record<string, unknown>>(): T;
}

/** Run `bin/tributary.mjs` in a child process, as a user would. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, cwd = repoRoot): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, "bin/tributary.mjs"), ...args], {
      cwd,
      env: { ...process.env, DATABASE_URL: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({
        code: code ?? -1,
        stdout,
        stderr,
        json: <T,>() => JSON.parse(stdout.trim().split("\n").pop() ?? "null") as T,
      }),
    );
  });
}
