import { beforeEach, describe, expect, it } from "vitest";
import { expectProblems, seedProblems, useProblemStore } from "@/components/editor/problems";
import { onlyMoved, useEditor } from "@/components/editor/store";
import type { PipelineFile, Problem } from "@/server/pipeline";
import { twoSqlNodes } from "@/tests/fixtures/pipelines";

const doc: PipelineFile = twoSqlNodes();

const sqlProblem: Problem = { code: "sql_unknown_table", severity: "error", path: ["nodes", 1, "config", "sql"], message: "b reads ghost", nodeId: "b" };
const graphProblem: Problem = { code: "dangling_edge", severity: "error", path: ["edges", 0], message: "edge to ghost", nodeId: "a" };

beforeEach(() => {
  useEditor.getState().load("p1", doc, 3);
});

describe("the editor store", () => {
  it("keeps an unchanged selection list's identity, so the canvas does not derive its edges again", () => {
    const { select } = useEditor.getState();
    select(["a"]);
    const edges = useEditor.getState().edgeSelection;
    select(["b"]);
    expect(useEditor.getState().selection).toEqual(["b"]);
    expect(useEditor.getState().edgeSelection).toBe(edges);
  });

  it("tells a drag (positions only) from an edit", () => {
    const before = useEditor.getState().document;
    useEditor.getState().moveNodes(new Map([["a", { x: 40, y: 8 }]]), false);
    const moved = useEditor.getState().document;
    expect(onlyMoved(before, moved)).toBe(true);
    useEditor.getState().updateNodeConfig("a", { sql: "select 2 as x" });
    expect(onlyMoved(moved, useEditor.getState().document)).toBe(false);
    useEditor.getState().renameNode("b", "c");
    expect(onlyMoved(before, useEditor.getState().document)).toBe(false);
  });
});

describe("problems of a loaded document", () => {
  it("come from the server for the loaded version only, and stay with that document", () => {
    const loaded = useEditor.getState().document;
    expectProblems(loaded, 3);
    expect(useProblemStore.getState().problems).toEqual([]);

    seedProblems([graphProblem], 2); // an older version's answer
    expect(useProblemStore.getState().problems).toEqual([]);

    seedProblems([sqlProblem, graphProblem], 3);
    expect(useProblemStore.getState().problems).toEqual([graphProblem, sqlProblem]);
  });

  it("are kept, not shown, when the document was edited before they arrived", () => {
    expectProblems(useEditor.getState().document, 3);
    useEditor.getState().updateNodeConfig("a", { sql: "select 3 as x" });
    seedProblems([graphProblem], 3);
    expect(useProblemStore.getState().problems).toEqual([]);
  });
});
