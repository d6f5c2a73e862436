"use client";
/**
 * The editor's problem list: `validate` run in the browser (schema and graph,
 * debounced a little) merged with the SQL problems only the server finds
 * (syntax with position, unknown tables), from the debounced `validate` query.
 */
import { useEffect, useMemo, useRef } from "react";
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

/** Same problems, same arrays: an unchanged list must not re-derive 1,000 canvas nodes. */
function sameProblems(a: readonly Problem[], b: readonly Problem[]): boolean {
  return a === b || (a.length === b.length && JSON.stringify(a) === JSON.stringify(b));
}

function publish(local: Problem[], server: Problem[]) {
  const prev = useProblemStore.getState();
  const problems = [...local.filter((p) => !isSql(p)), ...server.filter(isSql)];
  useProblemStore.setState({
    local: sameProblems(prev.local, local) ? prev.local : local,
    server: sameProblems(prev.server, server) ? prev.server : server,
    problems: sameProblems(prev.problems, problems) ? prev.problems : problems,
  });
}

/**
 * The document loaded with its problems from the server: nothing to check
 * again while it is the document (undo back to it restores them).
 */
let seeded: { document: PipelineFile; local: Problem[]; server: Problem[] } | null = null;

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
 * What to send to the server for SQL checks, as JSON: every node, but only
 * SQL-bearing configs in full (the checks need names, kinds and edges, not CSV
 * paths). Too big still: the selected nodes and their direct upstream nodes
 * (`partial`: the selection matters).
 */
function sqlScope(doc: PipelineFile, selection: readonly string[]): { json: string; partial: boolean } {
  const slim = (n: PipelineFile["nodes"][number]) =>
    n.kind === "sql" || n.kind === "source.query" || n.kind === "branch" || n.kind === "sensor" || n.kind === "check"
      ? { id: n.id, kind: n.kind, name: n.name, config: n.config }
      : { id: n.id, kind: n.kind, name: n.name, config: {} };
  const full = { format: doc.format, name: doc.name, params: doc.params, nodes: doc.nodes.map(slim), edges: doc.edges };
  const json = JSON.stringify(full);
  if (json.length <= MAX_QUERY_JSON) return { json, partial: false };
  const chosen = new Set(selection);
  for (const e of doc.edges) if (selection.includes(e.to)) chosen.add(e.from);
  return {
    json: JSON.stringify({
      ...full,
      nodes: doc.nodes.filter((n) => chosen.has(n.id)).map(slim),
      edges: doc.edges.filter((e) => chosen.has(e.from) && chosen.has(e.to)),
    }),
    partial: true,
  };
}

/** `next` differs from `prev` at most in node positions (a drag), which the SQL checks do not read. */
function onlyMoved(prev: PipelineFile, next: PipelineFile): boolean {
  if (prev === next) return true;
  if (prev.edges !== next.edges || prev.params !== next.params || prev.name !== next.name || prev.nodes.length !== next.nodes.length) return false;
  for (let i = 0; i < next.nodes.length; i++) {
    const a = prev.nodes[i]!;
    const b = next.nodes[i]!;
    if (a !== b && (a.id !== b.id || a.kind !== b.kind || a.name !== b.name || a.config !== b.config)) return false;
  }
  return true;
}

/** Keeps the problem store in step with the editor's document. Render once per editor. */
export function useProblemSync() {
  const doc = useEditor((s) => s.document);
  const selection = useEditor((s) => s.selection);
  const client = useTRPCClient();

  // The SQL scope changes only when SQL, names, kinds or edges do, not when a node
  // moves: a drag of one node among 1,000 does not serialise the document per frame.
  const lastScope = useRef<{ doc: PipelineFile; selection: readonly string[]; json: string; partial: boolean } | null>(null);
  const scopeKey = useMemo(() => {
    const last = lastScope.current;
    if (last && onlyMoved(last.doc, doc) && (!last.partial || last.selection === selection)) {
      last.doc = doc;
      return last.json;
    }
    const scope = sqlScope(doc, selection);
    lastScope.current = { doc, selection, ...scope };
    return scope.json;
  }, [doc, selection]);

  useEffect(() => {
    if (doc === seeded?.document) {
      publish(seeded.local, useProblemStore.getState().server);
      return;
    }
    const timer = window.setTimeout(() => publish(validate(doc), useProblemStore.getState().server), doc.nodes.length > 300 ? 250 : 60);
    return () => window.clearTimeout(timer);
  }, [doc]);

  useEffect(() => {
    // Just loaded: `byId` sent this document's SQL problems with it.
    if (seeded && useEditor.getState().document === seeded.document) {
      publish(useProblemStore.getState().local, seeded.server);
      return;
    }
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

/**
 * Start from the problems the server sent with `document` (schema, graph and
 * SQL, all of them): validation runs again only once the document changes.
 */
export function seedProblems(problems: Problem[], document: PipelineFile) {
  seeded = { document, local: problems.filter((p) => !isSql(p)), server: problems.filter(isSql) };
  publish(seeded.local, seeded.server);
}
