"use client";
/**
 * Which run the pipeline page shows, and the node whose run drawer is open.
 * The run's data itself lives in TanStack Query (`runs.byId`), patched live by
 * the events subscription (see use-live-run.ts), never copied here.
 *
 * `runCell` is the page's "run this cell" action (a draft run of the node and
 * its upstream on the unsaved document), registered by the page so that
 * Monaco's Ctrl+Enter (a module-level hook) can reach it.
 */
import { create } from "zustand";

export interface CellRun {
  /** The draft run of the cell (its node and upstream, on the editor's document); null while starting or when refused. */
  runId: string | null;
  /** The node's text when the cell ran, to place an error's position. */
  text: string;
  /** Why the draft run was not started (e.g. the document's problems). */
  refused?: string[];
}

export interface NodeRun {
  state: string;
  rows: number | null;
}

interface RunViewState {
  pipelineId: string | null;
  runId: string | null;
  drawerNodeId: string | null;
  /** Bumped by every `show`, so showing a run again (after a retry or rerun) follows it afresh. */
  follow: number;
  /** The last run started from each cell, by node id. */
  cellRuns: Record<string, CellRun>;
  runCell: ((nodeId: string) => Promise<void>) | null;
  /** The shown run's state and rows per node id, for the canvas nodes. */
  nodeRuns: Record<string, NodeRun> | null;
  /** The params of the last run started from this page; cell runs use them too. */
  lastParams: Record<string, unknown> | null;

  show(pipelineId: string, runId: string | null): void;
  openDrawer(nodeId: string | null): void;
  setCellRun(nodeId: string, run: CellRun | null): void;
}

export const useRunView = create<RunViewState>()((set, get) => ({
  pipelineId: null,
  runId: null,
  drawerNodeId: null,
  follow: 0,
  cellRuns: {},
  runCell: null,
  nodeRuns: null,
  lastParams: null,
  show(pipelineId, runId) {
    const s = get();
    const samePipeline = s.pipelineId === pipelineId;
    set({
      pipelineId,
      runId,
      drawerNodeId: samePipeline && runId ? s.drawerNodeId : null,
      cellRuns: samePipeline ? s.cellRuns : {},
      lastParams: samePipeline ? s.lastParams : null,
      nodeRuns: runId === s.runId ? s.nodeRuns : null,
      follow: s.follow + 1,
    });
  },
  openDrawer(nodeId) {
    set({ drawerNodeId: nodeId });
  },
  setCellRun(nodeId, run) {
    const cellRuns = { ...get().cellRuns };
    if (run) cellRuns[nodeId] = run;
    else delete cellRuns[nodeId];
    set({ cellRuns });
  },
}));
