/**
 * With TRIBUTARY_AUTH_TOKEN set, every page and the API need the token.
 * A second server on its own port and data dir, from the same build.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, request as playwrightRequest, test } from "@playwright/test";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PORT = 3101;
const BASE = `http://127.0.0.1:${PORT}`;
const TOKEN = "e2e-token-0123456789abcdef";
let server: ChildProcess | undefined;

test.beforeAll(async () => {
  server = spawn(process.execPath, [path.join(root, "scripts/e2e-server.mjs")], {
    cwd: root,
    env: { ...process.env, E2E_PORT: String(PORT), E2E_FAKE_OPENAI_PORT: String(PORT + 1), TRIBUTARY_AUTH_TOKEN: TOKEN },
    stdio: "ignore",
    detached: true,
  });
  const ctx = await playwrightRequest.newContext();
  await expect
    .poll(async () => (await ctx.get(`${BASE}/`, { failOnStatusCode: false }).catch(() => null))?.status() ?? 0, { timeout: 60_000 })
    .toBe(401);
  await ctx.dispose();
});

test.afterAll(() => {
  if (server?.pid) process.kill(-server.pid, "SIGTERM");
});

test("pages and the API answer 401 with a Basic challenge without the token", async () => {
  const ctx = await playwrightRequest.newContext();
  const page = await ctx.get(`${BASE}/`);
  expect(page.status()).toBe(401);
  expect(page.headers()["www-authenticate"]).toContain('Basic realm="Tributary"');
  const api = await ctx.get(`${BASE}/api/trpc/pipelines.list`);
  expect(api.status()).toBe(401);
  const wrong = await ctx.get(`${BASE}/api/trpc/pipelines.list`, { headers: { authorization: "Bearer not-the-token-at-all" } });
  expect(wrong.status()).toBe(401);
  await ctx.dispose();
});

test("the API accepts the token as Bearer", async () => {
  const ctx = await playwrightRequest.newContext();
  const res = await ctx.get(`${BASE}/api/trpc/pipelines.list`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status()).toBe(200);
  const names = ((await res.json()) as { result: { data: { name: string }[] } }).result.data.map((p) => p.name);
  expect(names).toEqual(expect.arrayContaining(["contact_sync", "daily_sales"]));
  await ctx.dispose();
});

test("a browser with the token as Basic password sees the pipelines", async ({ browser }) => {
  const context = await browser.newContext({ httpCredentials: { username: "me", password: TOKEN } });
  const page = await context.newPage();
  await page.goto(`${BASE}/`);
  await expect(page.getByRole("link", { name: "daily_sales" })).toBeVisible();
  await context.close();
});
