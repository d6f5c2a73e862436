"use client";
/**
 * The editor's one store. Its `document` IS the pipeline file: every edit makes
 * a new document, undo/redo walk a history of documents, and save sends the
 * document as it is. React Flow's nodes and edges are derived from it (see
 * components/canvas/adapter.ts), never stored here.
 *
 * Read it with `useEditor(useShallow(...))` selectors so a component re-renders
 * only when the slice it shows changes.
 */
import { create } from "zustand";
import {
  findCycles, type NodeKind, type PipelineEdge, type PipelineFile, type PipelineNode,
} from "@/server/pipeline";
import { layoutLeftToRight } from "@/components/canvas/layout";
import { NODE_HEIGHT, NODE_WIDTH } from "@/components/canvas/adapter";
import { defaultConfig, defaultName } from "./node-templates";

export type XY = { x: number; y: number };
export type Tone = "info" | "error" | "success";
export interface EditorMessage {
  text: string;
  tone: Tone;
  /** Changes on every message, so the same text shown twice restarts its timer. */
  id: number;
}

/**
 * A whole-document change proposed by the assistant, shown on the canvas as an
 * overlay (added / changed / removed nodes) until it is accepted or rejected.
 * The document is untouched until `acceptProposal`.
 */
export interface Proposal {
  document: PipelineFile;
  /** The document the proposal was made from, to tell when it has changed since. */
  base: PipelineFile;
  /** The message shown when it is accepted. */
  label: string;
}

interface Clipboard {
  nodes: PipelineNode[];
  edges: PipelineEdge[];
}

/** How long edits with the same key (typing in one field) merge into one undo step. */
const COALESCE_MS = 1200;
const HISTORY_LIMIT = 200;

export interface EditorState {
  pipelineId: string | null;
  document: PipelineFile;
  /** The document as last loaded or saved; `dirty` is `document !== savedDocument`. */
  savedDocument: PipelineFile;
  baseVersion: number;
  selection: string[];
  edgeSelection: string[];
  past: PipelineFile[];
  future: PipelineFile[];
  lastEdit: { key: string; at: number } | null;
  /** The document before the drag in progress, pushed to history when it ends. */
  dragOrigin: PipelineFile | null;
  clipboard: Clipboard | null;
  message: EditorMessage | null;
  proposal: Proposal | null;

  load(id: string, document: PipelineFile, version: number): void;
  markSaved(document: PipelineFile, version: number): void;
  replaceDocument(document: PipelineFile, label: string): void;
  notify(text: string, tone?: Tone): void;
  /** Show `document` as a proposal over the canvas; nothing changes until it is accepted. */
  propose(document: PipelineFile, label: string): void;
  /** Make the proposal the document, as one undoable change. */
  acceptProposal(): void;
  rejectProposal(): void;

  addNode(kind: NodeKind, position: XY): string;
  updateNode(id: string, patch: Partial<PipelineNode>, key?: string): void;
  updateNodeConfig(id: string, patch: Record<string, unknown>, key?: string): void;
  renameNode(id: string, name: string): void;
  removeNodes(ids: readonly string[]): void;
  removeEdges(indexes: readonly number[]): void;
  connect(from: string, to: string, branch?: "true" | "false"): boolean;
  moveNodes(positions: ReadonlyMap<string, XY>, final: boolean): void;
  autoLayout(): void;

  select(ids: readonly string[], edges?: readonly string[]): void;
  copy(): void;
  paste(): void;
  duplicate(): void;
  undo(): void;
  redo(): void;
}

const EMPTY: PipelineFile = { format: "tributary/v1", name: "untitled", nodes: [], edges: [] };
let messageCounter = 0;

export const useEditor = create<EditorState>()((set, get) => {
  /**
   * Make `next` the document and record the step for undo.
   * 1. Same key within COALESCE_MS as the last edit: replace, no new step.
   * 2. Otherwise push the current document to `past` and clear `future`.
   */
  const commit = (next: PipelineFile, key?: string, extra: Partial<EditorState> = {}) => {
    const s = get();
    if (next === s.document) return;
    const now = Date.now();
    const merge = key !== undefined && s.lastEdit?.key === key && now - s.lastEdit.at < COALESCE_MS;
    set({
      document: next,
      past: merge ? s.past : [...s.past.slice(-(HISTORY_LIMIT - 1)), s.document],
      future: [],
      lastEdit: key ? { key, at: now } : null,
      ...extra,
    });
  };

  const mapNode = (doc: PipelineFile, id: string, fn: (n: PipelineNode) => PipelineNode): PipelineFile => {
    const index = doc.nodes.findIndex((n) => n.id === id);
    if (index < 0) return doc;
    const nodes = doc.nodes.slice();
    nodes[index] = fn(doc.nodes[index]!);
    return { ...doc, nodes };
  };

  const notify = (text: string, tone: Tone = "info") => set({ message: { text, tone, id: ++messageCounter } });

  return {
    pipelineId: null,
    document: EMPTY,
    savedDocument: EMPTY,
    baseVersion: 0,
    selection: [],
    edgeSelection: [],
    past: [],
    future: [],
    lastEdit: null,
    dragOrigin: null,
    clipboard: null,
    message: null,
    proposal: null,
    load(id, document, version) {
      const s = get();
      const sameDoc = s.pipelineId === id;
      set({
        pipelineId: id,
        document,
        savedDocument: document,
        baseVersion: version,
        past: [],
        future: [],
        lastEdit: null,
        dragOrigin: null,
        selection: sameDoc ? s.selection.filter((sid) => document.nodes.some((n) => n.id === sid)) : [],
        edgeSelection: [],
        message: sameDoc ? s.message : null,
        proposal: null,
      });
    },

    markSaved(document, version) {
      set({ savedDocument: document, baseVersion: version });
    },

    replaceDocument(document, label) {
      commit(document);
      notify(label, "info");
    },

    notify,

    propose(document, label) {
      set({ proposal: { document, base: get().document, label } });
    },

    acceptProposal() {
      const proposal = get().proposal;
      if (!proposal) return;
      set({ proposal: null });
      commit(proposal.document);
      notify(proposal.label, "success");
    },

    rejectProposal() {
      set({ proposal: null });
    },

    addNode(kind, position) {
      const doc = get().document;
      const id = newId(doc, kind);
      const name = uniqueName(defaultName(kind), doc);
      const node = {
        id,
        kind,
        name,
        config: defaultConfig(kind, name),
        position: { x: Math.round(position.x), y: Math.round(position.y) },
      } as PipelineNode;
      commit({ ...doc, nodes: [...doc.nodes, node] }, undefined, { selection: [id], edgeSelection: [] });
      return id;
    },

    updateNode(id, patch, key) {
      commit(
        mapNode(get().document, id, (n) => dropUndefined({ ...n, ...patch }) as PipelineNode),
        key ?? `node:${id}:${Object.keys(patch).join(",")}`,
      );
    },

    updateNodeConfig(id, patch, key) {
      commit(
        mapNode(get().document, id, (n) => ({ ...n, config: dropUndefined({ ...n.config, ...patch }) }) as PipelineNode),
        key ?? `config:${id}:${Object.keys(patch).join(",")}`,
      );
    },

    renameNode(id, name) {
      const doc = get().document;
      const node = doc.nodes.find((n) => n.id === id);
      if (!node || node.name === name) return;
      // Edges are by id and survive; names inside SQL, JS, forEach and input do not change
      // by themselves: the name field lists the nodes that still read the old name.
      commit(mapNode(doc, id, (n) => ({ ...n, name })), `rename:${id}`);
    },

    removeNodes(ids) {
      if (!ids.length) return;
      const doc = get().document;
      const gone = new Set(ids);
      commit(
        { ...doc, nodes: doc.nodes.filter((n) => !gone.has(n.id)), edges: doc.edges.filter((e) => !gone.has(e.from) && !gone.has(e.to)) },
        undefined,
        { selection: get().selection.filter((s) => !gone.has(s)), edgeSelection: [] },
      );
    },

    removeEdges(indexes) {
      if (!indexes.length) return;
      const doc = get().document;
      const gone = new Set(indexes);
      commit({ ...doc, edges: doc.edges.filter((_, i) => !gone.has(i)) }, undefined, { edgeSelection: [] });
    },

    connect(from, to, branch) {
      const doc = get().document;
      const name = (id: string) => doc.nodes.find((n) => n.id === id)?.name ?? id;
      if (from === to) {
        notify(`Cannot connect ${name(from)} to itself.`, "error");
        return false;
      }
      if (doc.edges.some((e) => e.from === from && e.to === to && (e.branch ?? null) === (branch ?? null))) {
        notify(`${name(from)} → ${name(to)} is already connected.`, "error");
        return false;
      }
      const source = doc.nodes.find((n) => n.id === from);
      const edge: PipelineEdge = { from, to, ...(source?.kind === "branch" ? { branch: branch ?? "true" } : {}) };
      const edges = [...doc.edges, edge];
      const cycle = findCycles(doc.nodes, edges).find((c) => c.includes(from) && c.includes(to));
      if (cycle) {
        const path = [...cycle, cycle[0]!].map(name).join(" → ");
        notify(`Cannot connect ${name(from)} → ${name(to)}: it would make a cycle (${path}).`, "error");
        return false;
      }
      commit({ ...doc, edges });
      return true;
    },

    moveNodes(positions, final) {
      const s = get();
      const origin = s.dragOrigin ?? s.document;
      const nodes = s.document.nodes.map((n) => {
        const p = positions.get(n.id);
        return p ? { ...n, position: { x: Math.round(p.x), y: Math.round(p.y) } } : n;
      });
      const next = { ...s.document, nodes };
      if (!final) {
        set({ document: next, dragOrigin: origin });
        return;
      }
      set({
        document: next,
        dragOrigin: null,
        past: [...s.past.slice(-(HISTORY_LIMIT - 1)), origin],
        future: [],
        lastEdit: null,
      });
    },

    autoLayout() {
      const doc = get().document;
      if (!doc.nodes.length) return;
      const at = layoutLeftToRight(doc.nodes.map((n) => n.id), doc.edges, { width: NODE_WIDTH, height: NODE_HEIGHT });
      commit({
        ...doc,
        nodes: doc.nodes.map((n) => {
          const p = at.get(n.id);
          return p ? { ...n, position: { x: Math.round(p.x), y: Math.round(p.y) } } : n;
        }),
      });
    },

    select(ids, edges = []) {
      const s = get();
      const sameNodes = sameList(s.selection, ids);
      const sameEdges = sameList(s.edgeSelection, edges);
      if (sameNodes && sameEdges) return;
      // An unchanged list keeps its identity: the canvas derives its 1,200 edges again only when the edge selection changes.
      set({ selection: sameNodes ? s.selection : [...ids], edgeSelection: sameEdges ? s.edgeSelection : [...edges] });
    },

    copy() {
      const s = get();
      const chosen = new Set(s.selection);
      if (!chosen.size) return;
      set({
        clipboard: {
          nodes: s.document.nodes.filter((n) => chosen.has(n.id)),
          edges: s.document.edges.filter((e) => chosen.has(e.from) && chosen.has(e.to)),
        },
      });
      notify(`Copied ${chosen.size} node${chosen.size === 1 ? "" : "s"}.`);
    },

    paste() {
      const clip = get().clipboard;
      if (clip) pasteNodes(clip);
    },

    duplicate() {
      const s = get();
      const chosen = new Set(s.selection);
      if (!chosen.size) return;
      pasteNodes({
        nodes: s.document.nodes.filter((n) => chosen.has(n.id)),
        edges: s.document.edges.filter((e) => chosen.has(e.from) && chosen.has(e.to)),
      });
    },

    undo() {
      const s = get();
      const previous = s.past[s.past.length - 1];
      if (!previous) return;
      set({ document: previous, past: s.past.slice(0, -1), future: [s.document, ...s.future], lastEdit: null, ...keepSelection(s, previous) });
    },

    redo() {
      const s = get();
      const next = s.future[0];
      if (!next) return;
      set({ document: next, past: [...s.past, s.document], future: s.future.slice(1), lastEdit: null, ...keepSelection(s, next) });
    },
  };

  /**
   * Paste nodes as new ones: fresh ids, names made unique with a suffix, edges
   * among them kept, 40 px down and right of the originals; the copies are selected.
   */
  function pasteNodes(clip: Clipboard) {
    let doc = get().document;
    const idMap = new Map<string, string>();
    const added: PipelineNode[] = [];
    for (const node of clip.nodes) {
      const id = newId(doc, node.kind);
      idMap.set(node.id, id);
      const copy = {
        ...node,
        id,
        name: uniqueName(node.name, doc),
        position: { x: (node.position?.x ?? 0) + 40, y: (node.position?.y ?? 0) + 40 },
      } as PipelineNode;
      added.push(copy);
      doc = { ...doc, nodes: [...doc.nodes, copy] };
    }
    const edges = clip.edges.map((e) => ({ ...e, from: idMap.get(e.from)!, to: idMap.get(e.to)! }));
    commit({ ...doc, edges: [...doc.edges, ...edges] }, undefined, { selection: added.map((n) => n.id), edgeSelection: [] });
  }
});

/** `next` differs from `prev` at most in node positions (a drag), which only the canvas shows. */
export function onlyMoved(prev: PipelineFile, next: PipelineFile): boolean {
  if (prev === next) return true;
  if (prev.edges !== next.edges || prev.params !== next.params || prev.name !== next.name || prev.nodes.length !== next.nodes.length) return false;
  for (let i = 0; i < next.nodes.length; i++) {
    const a = prev.nodes[i]!;
    const b = next.nodes[i]!;
    if (a !== b && (a.id !== b.id || a.kind !== b.kind || a.name !== b.name || a.config !== b.config)) return false;
  }
  return true;
}

/** `dirty`: the document differs from the one last loaded or saved. */
export const selectDirty = (s: EditorState) => s.document !== s.savedDocument;

function keepSelection(s: EditorState, doc: PipelineFile): Partial<EditorState> {
  const ids = new Set(doc.nodes.map((n) => n.id));
  return { selection: s.selection.filter((id) => ids.has(id)), edgeSelection: [] };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function dropUndefined<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as T;
}

/** An id not used in `doc`: a short kind prefix and a random base-36 tail. */
function newId(doc: PipelineFile, kind: string): string {
  const taken = new Set(doc.nodes.map((n) => n.id));
  const prefix = kind.replace(/[^a-z]/g, "").slice(0, 6) || "n";
  for (;;) {
    const id = `${prefix}_${Math.random().toString(36).slice(2, 8)}`;
    if (!taken.has(id)) return id;
  }
}

/** `base` when free, else `base_2`, `base_3`, … (a trailing `_N` of `base` is replaced). */
export function uniqueName(base: string, doc: PipelineFile): string {
  const taken = new Set(doc.nodes.map((n) => n.name));
  if (!taken.has(base)) return base;
  const stem = base.replace(/_\d+$/, "");
  for (let i = 2; ; i++) {
    const name = `${stem}_${i}`.slice(-63);
    if (!taken.has(name)) return name;
  }
}

/** Whether node `n` mentions `name` in its SQL, code, condition, forEach or input. */
export function readsName(n: PipelineNode, name: string): boolean {
  if (n.forEach === name) return true;
  const cfg = n.config as Record<string, unknown>;
  if (cfg.input === name) return true;
  if (!name) return false;
  const word = new RegExp(`\\b${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`);
  return ["sql", "code", "condition"].some((k) => typeof cfg[k] === "string" && word.test(cfg[k] as string));
}
