// `npm test`: every check, in order — lint, types, unit + integration tests
// (Vitest; integration on PGlite and, with TEST_DATABASE_URL, on Postgres),
// the Postgres-restart test on its own, then the browser tests (Playwright). Runs them all, then prints one closing
// line "tests: N passed, N failed" and exits non-zero if anything failed.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const bin = (name) => path.join("node_modules", ".bin", name);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tributary-test-"));
const only = process.argv.slice(2);
const stages = [];

function stage(name, cmd, args, env = {}) {
  if (only.length && !only.includes(name)) return null;
  process.stdout.write(`\n━━ ${name}: ${[cmd, ...args].join(" ")}\n`);
  const t0 = Date.now();
  const res = spawnSync(cmd, args, { stdio: "inherit", env: { ...process.env, ...env } });
  const ok = res.status === 0;
  stages.push({ name, ok, seconds: Math.round((Date.now() - t0) / 100) / 10 });
  return ok;
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

let passed = 0;
let failed = 0;

stage("lint", bin("eslint"), ["--max-warnings", "0", "."]);
stage("typecheck", bin("tsc"), ["--noEmit", "-p", "."]);

/** A Vitest stage whose JSON report adds to the counts. */
function vitestStage(name, extraArgs) {
  const json = path.join(tmp, `${name}.json`);
  if (stage(name, bin("vitest"), ["run", ...extraArgs, "--reporter=default", "--reporter=json", `--outputFile.json=${json}`]) === null) return;
  const report = readJson(json);
  if (report) {
    passed += report.numPassedTests;
    failed += report.numFailedTests;
  } else failed += 1;
}

vitestStage("vitest", []);
// Restarts the shared Postgres server, so it runs alone, after the other database tests.
vitestStage("restart", ["--config", "vitest.serial.config.ts"]);

const pwJson = path.join(tmp, "playwright.json");
if (stage("e2e", bin("playwright"), ["test", "--reporter=list,json"], { PLAYWRIGHT_JSON_OUTPUT_NAME: pwJson }) !== null) {
  const report = readJson(pwJson);
  if (report?.stats) {
    passed += report.stats.expected;
    failed += report.stats.unexpected + (report.stats.flaky ?? 0);
  } else failed += 1;
}

fs.rmSync(tmp, { recursive: true, force: true });
process.stdout.write("\n━━ summary\n");
for (const s of stages) process.stdout.write(`${s.ok ? "ok  " : "FAIL"}  ${s.name} (${s.seconds} s)\n`);
const stageFailures = stages.filter((s) => !s.ok).length;
process.stdout.write(`tests: ${passed} passed, ${failed + (failed ? 0 : stageFailures)} failed\n`);
process.exit(stageFailures ? 1 : 0);
