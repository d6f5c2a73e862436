/** Shared by the e2e specs: fixture files and direct tRPC calls for test setup. */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, type APIRequestContext, type Page } from "@playwright/test";

export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

export function fixturePath(name: string): string {
  return path.join(FIXTURES, name);
}

export function readFixture(name: string): string {
  return fs.readFileSync(fixturePath(name), "utf8");
}

interface Saved {
  id: string;
  name: string;
  version: number;
}

/** Import a pipeline file's text through the API (setup, not the thing under test). */
export async function importViaApi(request: APIRequestContext, text: string): Promise<Saved> {
  const response = await request.post("/api/trpc/pipelines.import", { data: { text } });
  expect(response.ok(), await response.text()).toBeTruthy();
  const body = (await response.json()) as { result: { data: Saved } };
  return body.result.data;
}

/** Choose `file` in the file picker that the "Import" button opens. */
export async function importThroughUi(page: Page, file: string): Promise<void> {
  const chooser = page.waitForEvent("filechooser");
  await page.getByRole("button", { name: "Import", exact: true }).click();
  await (await chooser).setFiles(fixturePath(file));
}
