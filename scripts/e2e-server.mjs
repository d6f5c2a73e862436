#!/usr/bin/env node
/**
 * The web server for the Playwright tests (playwright.config.ts `webServer`).
 *
 * 1. Build with `next build` when the build is missing or its sources changed
 *    (the same fingerprint as `npm start`, scripts/build-state.mjs).
 * 2. Make a fresh, empty data directory under the OS temp folder.
 * 3. Run `next start -H 127.0.0.1 -p 3100` with TRIBUTARY_DATA_DIR set to it.
 * 4. Start a scripted fake OpenAI-compatible server on 127.0.0.1:E2E_FAKE_OPENAI_PORT
 *    (default 3199) and point the app's assistant at it; tests script it over HTTP
 *    (tests/fixtures/fake-openai.mjs). Nothing reaches the internet.
 * 5. On SIGTERM/SIGINT (or when next exits), stop next and remove the directory.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startFakeOpenAI } from "../tests/fixtures/fake-openai.mjs";
import { buildIsCurrent, markBuilt } from "./build-state.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const port = process.env.E2E_PORT ?? "3100";
const nextBin = path.join(root, "node_modules", "next", "dist", "bin", "next");

process.chdir(root);
if (!buildIsCurrent(root)) {
  console.log("[e2e-server] building (no build yet, or sources changed since the last one)…");
  const build = spawnSync(process.execPath, [nextBin, "build"], { cwd: root, stdio: "inherit", env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } });
  if (build.status !== 0) {
    console.error(`[e2e-server] next build failed (exit ${build.status ?? build.signal})`);
    process.exit(1);
  }
  markBuilt(root);
} else {
  console.log("[e2e-server] build is up to date");
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-e2e-"));
console.log(`[e2e-server] data dir ${dataDir}; starting next on http://127.0.0.1:${port}`);

const fake = await startFakeOpenAI({ port: Number(process.env.E2E_FAKE_OPENAI_PORT ?? 3199) });
console.log(`[e2e-server] fake OpenAI-compatible server on ${fake.url}`);

// Same process group as this script: whoever stops the group stops next too.
const server = spawn(process.execPath, [nextBin, "start", "-H", "127.0.0.1", "-p", port], {
  cwd: root,
  stdio: "inherit",
  env: {
    ...process.env, TRIBUTARY_DATA_DIR: dataDir, NODE_ENV: "production",
    OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: "sk-e2e", OPENAI_MODEL: "fake-model", TRIBUTARY_ASSISTANT_TIMEOUT_MS: "10000",
  },
});

let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  fs.rmSync(dataDir, { recursive: true, force: true });
  console.log(`[e2e-server] removed ${dataDir}`);
}

function stop(signal) {
  if (server.exitCode === null && server.signalCode === null) server.kill(signal);
  // Give next a moment to close the database, then force it.
  setTimeout(() => {
    if (server.exitCode === null && server.signalCode === null) server.kill("SIGKILL");
  }, 5_000).unref();
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => stop(signal));
server.on("exit", (code, signal) => {
  cleanup();
  process.exit(code ?? (signal ? 0 : 1));
});
process.on("exit", cleanup);
