/**
 * End-to-end tests: a production build served by scripts/e2e-server.mjs on
 * 127.0.0.1:3100 with a fresh data directory, driven by Chromium.
 */
import fs from "node:fs";
import { chromium, defineConfig } from "@playwright/test";

const PORT = 3100;
const SYSTEM_CHROMIUM = process.env.TRIBUTARY_CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
];

/** TRIBUTARY_CHROMIUM, else Debian's chromium when installed, else Playwright's own; otherwise say how to get one. */
function browserLaunchOptions(): { executablePath?: string; args: string[] } {
  if (fs.existsSync(SYSTEM_CHROMIUM)) return { executablePath: SYSTEM_CHROMIUM, args: CHROMIUM_ARGS };
  let bundled = "";
  try {
    bundled = chromium.executablePath();
  } catch {
    bundled = "";
  }
  if (bundled && fs.existsSync(bundled)) return { args: CHROMIUM_ARGS };
  throw new Error(
    "No Chromium for the e2e tests. Install one with `apt-get install -y chromium` (Debian/Ubuntu) " +
      "or `npx playwright install chromium`.",
  );
}

export default defineConfig({
  testDir: "tests/e2e",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: "list",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    viewport: { width: 1440, height: 900 },
    colorScheme: "light",
    trace: "retain-on-failure",
    launchOptions: browserLaunchOptions(),
  },
  projects: [{ name: "chromium" }],
  webServer: {
    command: "node scripts/e2e-server.mjs",
    url: `http://127.0.0.1:${PORT}/api/trpc/pipelines.list`,
    reuseExistingServer: false,
    timeout: 180_000,
    stdout: "pipe",
    stderr: "pipe",
    gracefulShutdown: { signal: "SIGTERM", timeout: 10_000 },
  },
});
