// `npm start`: serve Tributary on http://127.0.0.1:3000 (embedded PGlite unless
// DATABASE_URL is set), building first when the build is missing or stale.
//
//   npm start -- --host 127.0.0.1 --port 3000
//   TRIBUTARY_HOST / TRIBUTARY_PORT do the same.
//
// It refuses to listen beyond loopback unless TRIBUTARY_AUTH_TOKEN is set:
// cells run code on this machine.
import { spawn, spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { buildIsCurrent, markBuilt } from "./build-state.mjs";

const { values } = parseArgs({
  options: { host: { type: "string" }, port: { type: "string" }, "no-build": { type: "boolean" } },
  allowPositionals: false,
});
const host = values.host ?? process.env.TRIBUTARY_HOST ?? "127.0.0.1";
const port = values.port ?? process.env.TRIBUTARY_PORT ?? process.env.PORT ?? "3000";

function fail(message) {
  process.stderr.write(`tributary: ${message}\n`);
  process.exit(1);
}

/** Loopback: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(h) {
  return h === "localhost" || h === "::1" || h === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) fail(`port '${port}' is not a TCP port (1-65535)`);
if (!isLoopback(host) && !process.env.TRIBUTARY_AUTH_TOKEN) {
  fail(
    `refusing to listen on ${host}: without authentication anyone who can reach this address could run code on this machine ` +
      `(pipeline cells run code). Set TRIBUTARY_AUTH_TOKEN to a long random secret to require it (HTTP Basic auth, any user name, ` +
      `the token as password), or keep the default host 127.0.0.1.`,
  );
}
if (process.env.TRIBUTARY_AUTH_TOKEN && process.env.TRIBUTARY_AUTH_TOKEN.length < 16) {
  fail("TRIBUTARY_AUTH_TOKEN must be at least 16 characters long");
}

if (!values["no-build"] && !buildIsCurrent()) {
  process.stdout.write("tributary: building the app (first start or changed sources; about a minute)…\n");
  const build = spawnSync(process.execPath, ["node_modules/next/dist/bin/next", "build"], { stdio: "inherit", env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } });
  if (build.status !== 0) fail("the build failed; see the output above");
  markBuilt();
}

// next start forks a next-server child: run it in its own process group and stop the whole group.
const child = spawn(process.execPath, ["node_modules/next/dist/bin/next", "start", "--hostname", host, "--port", port], {
  stdio: "inherit",
  detached: true,
  env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", TRIBUTARY_HOST: host, TRIBUTARY_PORT: port },
});
const display = host.includes(":") ? `[${host}]` : host;
process.stdout.write(`tributary: serving http://${display}:${port} (data: ${process.env.DATABASE_URL ? "DATABASE_URL" : (process.env.TRIBUTARY_DATA_DIR ?? ".data")})\n`);
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      // already gone
    }
    setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // gone
      }
      process.exit(1);
    }, 10_000).unref();
  });
}
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
