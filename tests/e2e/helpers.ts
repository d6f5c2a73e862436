/** Shared by the e2e specs: fixture files and direct tRPC calls for test setup. */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, type APIRequestContext, type Locator, type Page } from "@playwright/test";

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

/** A node on the canvas, by the node's name. */
export const canvasNode = (page: Page, name: string) => page.locator(".react-flow__node", { has: page.getByTestId(`node-${name}`) });

/** Replace the text of the Monaco editor inside `scope`. */
export async function typeInMonaco(page: Page, scope: Locator, text: string) {
  const editor = scope.locator(".monaco-editor").first();
  await expect(editor).toBeVisible();
  await editor.locator(".view-lines").click();
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.insertText(text);
  // Monaco auto-closes brackets and comments as the text arrives; drop what it added after it.
  await page.keyboard.press("ControlOrMeta+Shift+End");
  await page.keyboard.press("Delete");
}

/** The text the Monaco editor inside `scope` shows. */
export async function monacoText(scope: Locator): Promise<string> {
  return (await scope.locator(".monaco-editor .view-lines").first().innerText()).replace(/\u00a0/g, " ");
}
