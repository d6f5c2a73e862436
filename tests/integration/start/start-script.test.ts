/** `npm start` refuses unsafe settings before it builds or binds anything. */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(__dirname, "../../..");

function start(args: string[], env: Record<string, string | undefined> = {}) {
  const res = spawnSync(process.execPath, [path.join(root, "scripts/start.mjs"), ...args], {
    cwd: root,
    env: { ...process.env, TRIBUTARY_AUTH_TOKEN: undefined, TRIBUTARY_HOST: undefined, TRIBUTARY_PORT: undefined, PORT: undefined, ...env },
    encoding: "utf8",
    timeout: 20_000,
  });
  return { code: res.status, stderr: res.stderr, stdout: res.stdout };
}

describe("npm start safety checks", () => {
  it("refuses to listen beyond loopback without authentication, and says why", () => {
    for (const host of ["0.0.0.0", "192.0.2.10", "::"]) {
      const res = start(["--host", host]);
      expect(res.code, host).toBe(1);
      expect(res.stderr).toContain(`refusing to listen on ${host}`);
      expect(res.stderr).toContain("TRIBUTARY_AUTH_TOKEN");
      expect(res.stdout).not.toContain("building");
    }
  });

  it("reads the host from TRIBUTARY_HOST too", () => {
    const res = start([], { TRIBUTARY_HOST: "0.0.0.0" });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("refusing to listen on 0.0.0.0");
  });

  it("refuses a short token and a bad port", () => {
    const short = start(["--host", "0.0.0.0"], { TRIBUTARY_AUTH_TOKEN: "short" });
    expect(short.code).toBe(1);
    expect(short.stderr).toContain("at least 16 characters");
    const port = start(["--port", "http"]);
    expect(port.code).toBe(1);
    expect(port.stderr).toContain("port 'http' is not a TCP port");
  });
});
