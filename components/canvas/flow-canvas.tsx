"use client";
/**
 * The read-only React Flow canvas of one pipeline document. Loaded client-only
 * (next/dynamic, ssr: false) by PipelineView. Nodes and edges are derived from
 * the document by `toFlow`; only the selection lives here, as an id.
 */
import "@xyflow/react/dist/style.css";
import "./canvas.css";
import {
  Background, BackgroundVariant, Controls, MarkerType, MiniMap, ReactFlow, ReactFlowProvider, useReactFlow,
  type DefaultEdgeOptions, type FitViewOptions, type NodeTypes,
} from "@xyflow/react";
import { useEffect, useMemo, useRef } from "react";
import type { PipelineFile, Problem } from "@/server/pipeline";
import { NODE_HEIGHT, NODE_WIDTH, toFlow, type CanvasNode } from "./adapter";
import { kindStyle } from "./node-kinds";
import { PipelineNode } from "./pipeline-node";

const nodeTypes: NodeTypes = { pipeline: PipelineNode };
const defaultEdgeOptions: DefaultEdgeOptions = { markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 } };
const BIG_GRAPH = 150;

/** The zoom under which node labels stop being readable. */
const READABLE_ZOOM = 0.7;

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

export interface FocusRequest {
  nodeId: string;
  /** Changes on every request, so asking twice for one node centres it twice. */
  nonce: number;
}

interface FlowCanvasProps {
  document: PipelineFile;
  problems: readonly Problem[];
  selectedId: string | null;
  focus: FocusRequest | null;
  onSelect: (nodeId: string | null) => void;
}

export default function FlowCanvas(props: FlowCanvasProps) {
  return (
    <ReactFlowProvider>
      <Canvas {...props} />
    </ReactFlowProvider>
  );
}

function minimapColor(node: CanvasNode): string {
  return node.data.errors > 0 ? "var(--danger)" : `hsl(${kindStyle(node.data.kind).hue} 60% 55%)`;
}

function Canvas({ document, problems, selectedId, focus, onSelect }: FlowCanvasProps) {
  const flow = useMemo(() => toFlow(document, problems), [document, problems]);
  const nodes = useMemo(
    () => (selectedId ? flow.nodes.map((n) => (n.id === selectedId ? { ...n, selected: true } : n)) : flow.nodes),
    [flow.nodes, selectedId],
  );
  // The canvas is the window less the side panel; measured once per document, which is all the first view needs.
  const fitViewOptions = useMemo(
    () => fitOptions(flow.nodes, typeof window === "undefined" ? 1000 : Math.max(400, window.innerWidth - 380)),
    [flow.nodes],
  );
  const { setCenter, getZoom, fitView } = useReactFlow<CanvasNode>();

  // Centre a node when asked (a click in the problems panel), once per request.
  const latest = useRef(flow.nodes);
  useEffect(() => {
    latest.current = flow.nodes;
  }, [flow.nodes]);
  useEffect(() => {
    if (!focus) return;
    const node = latest.current.find((n) => n.id === focus.nodeId);
    if (!node) return;
    void setCenter(node.position.x + NODE_WIDTH / 2, node.position.y + NODE_HEIGHT / 2, {
      zoom: Math.max(getZoom(), 1),
      duration: 350,
    });
  }, [focus, setCenter, getZoom]);

  // A new document (import, restore) gets a fresh fit.
  useEffect(() => {
    const timer = window.setTimeout(() => void fitView(fitViewOptions), 0);
    return () => window.clearTimeout(timer);
    // Keyed on the graph's size and name, not on every refetch, so a refresh keeps the viewport.
  }, [flow.nodes.length, document.name, fitView]);

  return (
    <ReactFlow<CanvasNode>
      className="tributary-flow"
      nodes={nodes}
      edges={flow.edges}
      nodeTypes={nodeTypes}
      defaultEdgeOptions={defaultEdgeOptions}
      fitView
      fitViewOptions={fitViewOptions}
      minZoom={0.05}
      maxZoom={2}
      onlyRenderVisibleElements
      nodesDraggable={false}
      nodesConnectable={false}
      edgesFocusable={false}
      elementsSelectable
      colorMode="system"
      onNodeClick={(_, node) => onSelect(node.id)}
      onPaneClick={() => onSelect(null)}
      aria-label={`Graph of pipeline ${document.name}`}
    >
      <Background variant={BackgroundVariant.Dots} gap={20} size={1.2} color="var(--line-strong)" />
      <MiniMap<CanvasNode> pannable zoomable nodeColor={minimapColor} nodeStrokeWidth={0} ariaLabel="Minimap" style={{ width: 180, height: 120 }} />
      <Controls showInteractive={false} />
    </ReactFlow>
  );
}
