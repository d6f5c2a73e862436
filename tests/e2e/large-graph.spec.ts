/**
 * The canvas with 1,000 nodes and no saved positions: dagre lays it out in the
 * browser and React Flow draws only what is on screen.
 */
import { expect, test } from "@playwright/test";
import { importViaApi } from "./helpers";

/** A layered DAG: 20 CSV sources, then SQL nodes each reading one or two earlier nodes. */
function bigPipeline(size: number) {
  const nodes: object[] = [];
  const edges: { from: string; to: string }[] = [];
  for (let i = 0; i < size; i++) {
    const id = `n${i}`;
    if (i < 20) {
      nodes.push({ id, kind: "source.csv", name: `source_${i}`, config: { path: `data/s${i}.csv` } });
      continue;
    }
    const a = i - 20 + ((i * 7) % 20);
    const b = i - 1 - ((i * 13) % 19);
    const parents = [...new Set([a, b])].filter((p) => p >= 0 && p < i);
    const names = parents.map((p) => (p < 20 ? `source_${p}` : `step_${p}`));
    nodes.push({ id, kind: "sql", name: `step_${i}`, config: { sql: `select * from ${names.join(" natural join ")}` } });
    for (const p of parents) edges.push({ from: `n${p}`, to: id });
  }
  return { format: "tributary/v1", name: "e2e_big_graph", description: `${size} nodes`, nodes, edges };
}

test("a 1,000-node pipeline opens quickly and draws only the visible nodes", async ({ page, request }) => {
  const saved = await importViaApi(request, JSON.stringify(bigPipeline(1000)));
  const started = Date.now();
  await page.goto(`/pipelines/${saved.id}`);
  await expect(page.getByText("1000 nodes ·")).toBeVisible();
  await expect(page.locator(".react-flow__node").first()).toBeVisible();
  const elapsed = Date.now() - started;
  const drawn = await page.locator(".react-flow__node").count();
  console.log(`1,000 nodes: canvas ready in ${elapsed} ms, ${drawn} nodes in the DOM`);
  expect(drawn).toBeLessThan(1000);
  expect(elapsed).toBeLessThan(10_000);
});
