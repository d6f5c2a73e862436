"use client";
/**
 * The editing canvas: React Flow over the editor store's document, with the
 * node palette beside it. Imported by the pipeline page directly: it is the
 * page, so its code loads with the page's rather than after the document.
 *
 * Nodes and edges are derived from the document (an incremental adapter keeps
 * unchanged nodes' objects, so a drag re-renders only the dragged nodes);
 * React Flow's changes become store actions.
 */
import "@xyflow/react/dist/style.css";
import "./canvas.css";
import {
  Background, BackgroundVariant, Controls, MarkerType, MiniMap, Panel, ReactFlow, ReactFlowProvider, useReactFlow,
  getNodesBounds, getViewportForBounds,
  type Connection, type DefaultEdgeOptions, type EdgeChange, type FitViewOptions, type NodeChange, type NodeTypes, type Viewport,
} from "@xyflow/react";
import { memo, useCallback, useDeferredValue, useEffect, useLayoutEffect, useMemo, useRef, useState, type DragEvent } from "react";
import { useShallow } from "zustand/react/shallow";
import type { NodeKind } from "@/server/pipeline";
import { onlyMoved, useEditor, type XY } from "@/components/editor/store";
import { useProblems } from "@/components/editor/problems";
import { Palette, PALETTE_MIME } from "@/components/editor/palette";
import { preloadCodeEditor } from "@/components/editor/code-cell";
import { ProposalLegend } from "@/components/assistant/proposal-legend";
import { NODE_HEIGHT, NODE_WIDTH, createFlowDeriver, problemCounts, toFlowEdges, toProposalFlow, type CanvasNode } from "./adapter";
import { kindStyle } from "./node-kinds";
import { PipelineNode } from "./pipeline-node";

const nodeTypes: NodeTypes = { pipeline: PipelineNode };
const defaultEdgeOptions: DefaultEdgeOptions = { markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 } };
const BIG_GRAPH = 150;
const FIT_ALL: FitViewOptions<CanvasNode> = { padding: 0.15, maxZoom: 1.2 };
const MULTI_SELECT_KEYS = ["Shift", "Meta", "Control"];

/** The zoom under which node labels stop being readable. */
const READABLE_ZOOM = 0.6;

/**
 * What the first view shows: a graph that fits at a readable zoom fits whole;
 * a wider one fits its leftmost (upstream) nodes at that zoom, with the minimap
 * for the rest; a big one fits its 40 leftmost nodes.
 */
function fitOptions(nodes: readonly CanvasNode[], viewWidth: number): FitViewOptions<CanvasNode> {
  if (nodes.length > BIG_GRAPH) {
    const leftmost = [...nodes].sort((a, b) => a.position.x - b.position.x || a.position.y - b.position.y).slice(0, 40);
    return { padding: 0.1, maxZoom: 1, minZoom: 0.3, nodes: leftmost.map((n) => ({ id: n.id })) };
  }
  if (nodes.length === 0) return { padding: 0.2, maxZoom: 1.2 };
  const minX = Math.min(...nodes.map((n) => n.position.x));
  const maxX = Math.max(...nodes.map((n) => n.position.x)) + NODE_WIDTH;
  const visibleSpan = viewWidth / READABLE_ZOOM;
  if (maxX - minX <= visibleSpan * 0.85) return { padding: 0.15, maxZoom: 1.2 };
  const left = nodes.filter((n) => n.position.x + NODE_WIDTH <= minX + visibleSpan * 0.85);
  return { padding: 0.08, maxZoom: 1, minZoom: READABLE_ZOOM, nodes: left.map((n) => ({ id: n.id })) };
}

const MIN_ZOOM = 0.05;
const MAX_ZOOM = 2;

/**
 * The viewport `fitView(options)` would reach, computed before React Flow
 * mounts so that its first render is already the first view: no render of
 * the nodes around (0, 0) to throw away, and nothing moving under the pointer.
 */
function fittedViewport(nodes: readonly CanvasNode[], options: FitViewOptions<CanvasNode>, width: number, height: number): Viewport {
  const ids = options.nodes ? new Set(options.nodes.map((n) => n.id)) : null;
  const fit = ids ? nodes.filter((n) => ids.has(n.id)) : [...nodes];
  if (!fit.length || !width || !height) return { x: 0, y: 0, zoom: 1 };
  return getViewportForBounds(getNodesBounds(fit), width, height, options.minZoom ?? MIN_ZOOM, options.maxZoom ?? MAX_ZOOM, options.padding ?? 0.1);
}

/**
 * Start loading the code editor when the pointer comes over a node whose panel holds one (sql,
 * js). Over any other node it would only compete with the click: evaluating Monaco's ≈ 4 MB
 * took the first click on a CSV source 0.7 s to answer instead of 0.2 (tests/e2e/editor-perf).
 */
function preloadForNode(_event: unknown, node: CanvasNode): void {
  if (node.data.kind === "sql" || node.data.kind === "js") preloadCodeEditor();
}

export interface FocusRequest {
  nodeId: string;
  /** Changes on every request, so asking twice for one node centres it twice. */
  nonce: number;
}

interface FlowCanvasProps {
  focus: FocusRequest | null;
  /** The side panels' width, to fit the first view to the visible part. */
  reservedWidth: number;
}

/** Memoised: the page re-renders for its own state (runs, header), which the canvas does not show. */
export default memo(function FlowCanvas(props: FlowCanvasProps) {
  return (
    <ReactFlowProvider>
      <div className="flex h-full min-h-0">
        <PaletteWithFlow />
        <div className="relative min-w-0 flex-1">
          <Canvas {...props} />
        </div>
      </div>
    </ReactFlowProvider>
  );
});

/** The palette adds a node at the centre of the visible canvas (keyboard) or where it is dropped. */
function PaletteWithFlow() {
  const { screenToFlowPosition } = useReactFlow();
  const addNode = useEditor((s) => s.addNode);
  const addAtCentre = useCallback(
    (kind: NodeKind) => {
      const pane = document.querySelector(".tributary-flow")?.getBoundingClientRect();
      const centre = pane
        ? screenToFlowPosition({ x: pane.left + pane.width / 2, y: pane.top + pane.height / 2 })
        : { x: 0, y: 0 };
      // Nudge each new node so several added in a row do not stack exactly.
      const n = useEditor.getState().document.nodes.length % 6;
      addNode(kind, { x: centre.x - NODE_WIDTH / 2 + n * 24, y: centre.y - NODE_HEIGHT / 2 + n * 24 });
    },
    [addNode, screenToFlowPosition],
  );
  return <Palette onAdd={addAtCentre} />;
}

function minimapColor(node: CanvasNode): string {
  return node.data.errors > 0 ? "var(--danger)" : `hsl(${kindStyle(node.data.kind).hue} 60% 55%)`;
}

/** Below this height (the node drawer open on a laptop screen) the minimap would cover a third of the canvas: it is left out. */
const MINIMAP_MIN_PANE_HEIGHT = 440;

/** The element's height, followed as it changes (Infinity until measured). */
function useHeight(ref: React.RefObject<HTMLElement | null>): number {
  const [height, setHeight] = useState(Infinity);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    setHeight(el.getBoundingClientRect().height);
    const observer = new ResizeObserver((entries) => setHeight(entries[0]?.contentRect.height ?? Infinity));
    observer.observe(el);
    return () => observer.disconnect();
  }, [ref]);
  return height;
}

/**
 * True a while after mount, once the browser is idle: the minimap draws every
 * node (React Flow's culling does not apply to it), so it waits until the
 * canvas has drawn and answered its first input.
 */
function useAfterIdle(delayMs: number): boolean {
  const [idle, setIdle] = useState(false);
  useEffect(() => {
    let handle: number | null = null;
    const timer = window.setTimeout(() => {
      if (typeof window.requestIdleCallback === "function") handle = window.requestIdleCallback(() => setIdle(true), { timeout: 2000 });
      else setIdle(true);
    }, delayMs);
    return () => {
      window.clearTimeout(timer);
      if (handle !== null) window.cancelIdleCallback(handle);
    };
  }, [delayMs]);
  return idle;
}

function Canvas({ focus, reservedWidth }: FlowCanvasProps) {
  const { document: latestDoc, selection, edgeSelection } = useEditor(
    useShallow((s) => ({ document: s.document, selection: s.selection, edgeSelection: s.edgeSelection })),
  );
  // Moves (a drag) are drawn at once. Other edits are drawn in a deferred render, after
  // the frame that shows them where they were made: typing in a cell changes its node's
  // summary, and React Flow takes in its 1,000 nodes again for it.
  const deferredDoc = useDeferredValue(latestDoc);
  const doc = onlyMoved(deferredDoc, latestDoc) ? latestDoc : deferredDoc;
  const problems = useProblems();
  const deriveNodes = useMemo(() => createFlowDeriver(), []);
  // Counts change with problems only; the document is read for problems that carry no node id.
  const docRef = useRef(doc);
  docRef.current = doc;
  const counts = useMemo(() => problemCounts(docRef.current, problems), [problems]);
  const selectedSet = useMemo(() => new Set(selection), [selection]);
  const nodes = useMemo(() => deriveNodes(doc, counts, selectedSet), [deriveNodes, doc, counts, selectedSet]);
  const edgeSet = useMemo(() => new Set(edgeSelection), [edgeSelection]);
  const edges = useMemo(() => toFlowEdges(doc, edgeSet), [doc.edges, doc.nodes.length, edgeSet]);
  // The assistant's proposal, while one is shown, replaces the drawn graph (the document is untouched).
  const proposal = useEditor((s) => s.proposal);
  const overlay = useMemo(() => (proposal ? toProposalFlow(doc, proposal.document) : null), [proposal, doc]);

  const { setCenter, getZoom, fitView, screenToFlowPosition } = useReactFlow<CanvasNode>();
  const { moveNodes, select, connect, addNode } = useEditor(
    useShallow((s) => ({ moveNodes: s.moveNodes, select: s.select, connect: s.connect, addNode: s.addNode })),
  );

  const fitViewOptions = useMemo(
    () => fitOptions(nodes, typeof window === "undefined" ? 1000 : Math.max(400, window.innerWidth - reservedWidth)),
    // Only the first view and a new document need it.
    [nodes.length, doc.name],
  );

  // Centre a node when asked (a click in the problems panel), once per request.
  const latest = useRef(nodes);
  latest.current = nodes;
  useEffect(() => {
    if (!focus) return;
    const node = latest.current.find((n) => n.id === focus.nodeId);
    if (!node) return;
    void setCenter(node.position.x + NODE_WIDTH / 2, node.position.y + NODE_HEIGHT / 2, { zoom: Math.max(getZoom(), 1), duration: 350 });
  }, [focus, setCenter, getZoom]);

  // The first view, from the pane's size, before React Flow first renders.
  const paneRef = useRef<HTMLDivElement>(null);
  const [firstView, setFirstView] = useState<Viewport | null>(null);
  useLayoutEffect(() => {
    const box = paneRef.current?.getBoundingClientRect();
    setFirstView(fittedViewport(latest.current, fitViewOptions, box?.width ?? 0, box?.height ?? 0));
    // Once, on mount; later fits go through fitView below.
  }, []);

  // A different pipeline (or a restore that changes its name) gets a fresh fit.
  const pipelineId = useEditor((s) => s.pipelineId);
  const fittedFor = useRef(`${pipelineId}\n${doc.name}`);
  useEffect(() => {
    const key = `${pipelineId}\n${doc.name}`;
    if (fittedFor.current === key) return;
    fittedFor.current = key;
    const timer = window.setTimeout(() => void fitView(fitViewOptions), 0);
    return () => window.clearTimeout(timer);
  }, [pipelineId, doc.name, fitView]);

  const onNodesChange = useCallback(
    (changes: NodeChange<CanvasNode>[]) => {
      const moved = new Map<string, XY>();
      let dragEnded = false;
      let selectionChanged = false;
      const state = useEditor.getState();
      const selected = new Set(state.selection);
      for (const change of changes) {
        if (change.type === "position") {
          if (change.position) moved.set(change.id, change.position);
          if (change.dragging === false) dragEnded = true;
        } else if (change.type === "select") {
          selectionChanged = true;
          if (change.selected) selected.add(change.id);
          else selected.delete(change.id);
        }
      }
      if (moved.size || dragEnded) moveNodes(moved, dragEnded);
      if (selectionChanged) select([...selected], selected.size ? [] : useEditor.getState().edgeSelection);
    },
    [moveNodes, select],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => {
      const state = useEditor.getState();
      const selected = new Set(state.edgeSelection);
      let changed = false;
      for (const change of changes) {
        if (change.type !== "select") continue;
        changed = true;
        if (change.selected) selected.add(change.id);
        else selected.delete(change.id);
      }
      if (changed) select(selected.size ? [] : state.selection, [...selected]);
    },
    [select],
  );

  const onConnect = useCallback(
    (c: Connection) => {
      const branch = c.sourceHandle === "true" || c.sourceHandle === "false" ? c.sourceHandle : undefined;
      connect(c.source, c.target, branch);
    },
    [connect],
  );

  const onDragOver = useCallback((event: DragEvent) => {
    if (!event.dataTransfer.types.includes(PALETTE_MIME)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  }, []);

  const onDrop = useCallback(
    (event: DragEvent) => {
      const kind = event.dataTransfer.getData(PALETTE_MIME) as NodeKind;
      if (!kind) return;
      event.preventDefault();
      const at = screenToFlowPosition({ x: event.clientX, y: event.clientY });
      addNode(kind, { x: at.x - NODE_WIDTH / 2, y: at.y - NODE_HEIGHT / 2 });
    },
    [addNode, screenToFlowPosition],
  );

  // A new proposal is brought into view.
  useEffect(() => {
    if (!proposal) return;
    const timer = window.setTimeout(() => void fitView({ ...FIT_ALL, duration: 250 }), 60);
    return () => window.clearTimeout(timer);
  }, [proposal, fitView]);

  const paneHeight = useHeight(paneRef);
  const showMinimap = useAfterIdle(doc.nodes.length > BIG_GRAPH ? 1500 : 0) && paneHeight >= MINIMAP_MIN_PANE_HEIGHT;
  const autoLayout = useEditor((s) => s.autoLayout);
  const layoutAndFit = () => {
    autoLayout();
    window.setTimeout(() => void fitView({ ...FIT_ALL, duration: 250 }), 30);
  };

  return (
    <div ref={paneRef} className="relative h-full" role="region" aria-label="Canvas" onDragOver={onDragOver} onDrop={onDrop}>
      {firstView && <ReactFlow<CanvasNode>
        className="tributary-flow"
        nodes={overlay?.nodes ?? nodes}
        edges={overlay?.edges ?? edges}
        nodesConnectable={!overlay}
        nodeTypes={nodeTypes}
        defaultEdgeOptions={defaultEdgeOptions}
        defaultViewport={firstView}
        minZoom={MIN_ZOOM}
        maxZoom={MAX_ZOOM}
        onlyRenderVisibleElements
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        onPaneClick={() => select([])}
        onNodeMouseEnter={preloadForNode}
        deleteKeyCode={null}
        selectionKeyCode="Shift"
        multiSelectionKeyCode={MULTI_SELECT_KEYS}
        snapToGrid
        snapGrid={[4, 4]}
        colorMode="system"
        aria-label={`Graph of pipeline ${doc.name}`}
      >
        <Background variant={BackgroundVariant.Dots} gap={20} size={1.2} color="var(--line-strong)" />
        {showMinimap && <MiniMap<CanvasNode> pannable zoomable nodeColor={minimapColor} nodeStrokeWidth={0} ariaLabel="Minimap" style={{ width: 180, height: 120 }} />}
        <Controls showInteractive={false} fitViewOptions={FIT_ALL} />
        {overlay && <ProposalLegend nodes={overlay.nodes} />}
        <Panel position="top-right" className="flex gap-2">
          <button type="button" className="btn btn-sm bg-surface" onClick={layoutAndFit} disabled={!doc.nodes.length} title="Arrange the nodes left to right">
            Auto-layout
          </button>
          <button type="button" className="btn btn-sm bg-surface" onClick={() => void fitView({ ...FIT_ALL, duration: 250 })} title="Zoom to fit every node">
            Zoom to fit
          </button>
        </Panel>
      </ReactFlow>}
      {doc.nodes.length === 0 && !overlay && (
        <div className="pointer-events-none absolute inset-0 grid place-items-center p-6">
          <div className="card max-w-sm px-6 py-5 text-center">
            <h2 className="font-semibold">This pipeline has no nodes yet</h2>
            <p className="mt-1.5 text-sm text-muted">
              Drag a source, such as <strong className="text-fg">CSV file</strong>, from the palette on the left onto the canvas — or focus
              it and press Enter. Then connect nodes by dragging from a node&apos;s right edge to another&apos;s left edge.
            </p>
          </div>
        </div>
      )}
    </div>
  );
}
