"use client";
/**
 * The editor's problem list: `validate` run in the browser (schema and graph,
 * debounced a little) merged with the SQL problems only the server finds
 * (syntax with position, unknown tables), from the debounced `validate` query.
 */
import { useEffect, useMemo } from "react";
import { create } from "zustand";
import { validate, type PipelineFile, type Problem } from "@/server/pipeline";
import { useTRPCClient } from "@/components/trpc/client";
import { useEditor } from "./store";

interface ProblemState {
  local: Problem[];
  server: Problem[];
  /** The document `server` was computed for, to drop answers that arrive late. */
  problems: Problem[];
}

export const useProblemStore = create<ProblemState>()(() => ({ local: [], server: [], problems: [] }));

const isSql = (p: Problem) => p.code.startsWith("sql_");

function publish(local: Problem[], server: Problem[]) {
  useProblemStore.setState({ local, server, problems: [...local.filter((p) => !isSql(p)), ...server.filter(isSql)] });
}

/** All problems of the document being edited. */
export const useProblems = () => useProblemStore((s) => s.problems);

/** Problems of one node whose path inside the node equals `path` (e.g. ["config", "path"]). */
export function fieldProblems(problems: readonly Problem[], doc: PipelineFile, nodeId: string, path: readonly (string | number)[]) {
  const index = doc.nodes.findIndex((n) => n.id === nodeId);
  return problems.filter(
    (p) =>
      p.path[0] === "nodes" &&
      (p.nodeId ? p.nodeId === nodeId : p.path[1] === index) &&
      p.path.length === path.length + 2 &&
      path.every((part, i) => p.path[i + 2] === part),
  );
}

/** The validate query goes as POST (see components/trpc/client.tsx); past this size only the selected node's neighbourhood is sent. */
const MAX_QUERY_JSON = 2_000_000;

/**
 * What to send to the server for SQL checks: every node, but only SQL-bearing
 * configs in full (the checks need names, kinds and edges, not CSV paths).
 * Too big still: the selected nodes and their direct upstream nodes.
 */
function sqlScope(doc: PipelineFile, selection: readonly string[]): unknown {
  const slim = (n: PipelineFile["nodes"][number]) =>
    n.kind === "sql" || n.kind === "source.query" || n.kind === "branch" || n.kind === "sensor" || n.kind === "check"
      ? { id: n.id, kind: n.kind, name: n.name, config: n.config }
      : { id: n.id, kind: n.kind, name: n.name, config: {} };
  const full = { format: doc.format, name: doc.name, params: doc.params, nodes: doc.nodes.map(slim), edges: doc.edges };
  if (JSON.stringify(full).length <= MAX_QUERY_JSON) return full;
  const chosen = new Set(selection);
  for (const e of doc.edges) if (selection.includes(e.to)) chosen.add(e.from);
  return {
    ...full,
    nodes: doc.nodes.filter((n) => chosen.has(n.id)).map(slim),
    edges: doc.edges.filter((e) => chosen.has(e.from) && chosen.has(e.to)),
  };
}

/** Keeps the problem store in step with the editor's document. Render once per editor. */
export function useProblemSync() {
  const doc = useEditor((s) => s.document);
  const selection = useEditor((s) => s.selection);
  const client = useTRPCClient();

  // The SQL scope changes only when SQL, names, kinds or edges do, not when a node moves.
  const scope = useMemo(() => sqlScope(doc, selection), [doc, selection]);
  const scopeKey = useMemo(() => JSON.stringify(scope), [scope]);

  useEffect(() => {
    const timer = window.setTimeout(() => publish(validate(doc), useProblemStore.getState().server), doc.nodes.length > 300 ? 250 : 60);
    return () => window.clearTimeout(timer);
  }, [doc]);

  useEffect(() => {
    let cancelled = false;
    const timer = window.setTimeout(() => {
      client.pipelines.validate
        .query({ document: JSON.parse(scopeKey) as unknown })
        .then((problems) => {
          if (cancelled) return;
          // Paths are about the sent document; point them at the same node in the real one.
          const current = useEditor.getState().document;
          const indexOf = new Map(current.nodes.map((n, i) => [n.id, i]));
          const server = problems
            .filter(isSql)
            .filter((p) => p.nodeId && indexOf.has(p.nodeId))
            .map((p) => ({ ...p, path: ["nodes", indexOf.get(p.nodeId!)!, ...p.path.slice(2)] }));
          publish(useProblemStore.getState().local, server);
        })
        .catch(() => {
          /* offline or a server error: keep the last SQL problems */
        });
    }, 500);
    return () => {
      cancelled = true;
      window.clearTimeout(timer);
    };
  }, [scopeKey, client]);
}

/** Start from the problems the server sent with the document, until the first local run. */
export function seedProblems(problems: Problem[]) {
  publish(problems.filter((p) => !isSql(p)), problems.filter(isSql));
}
