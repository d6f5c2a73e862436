"use client";
/**
 * The editor's problem list: `validate` run in the browser (schema and graph,
 * debounced a little) merged with the SQL problems only the server finds
 * (syntax with position, unknown tables), from the debounced `validate` query.
 * A document as loaded gets all of its problems from the server
 * (`pipelines.problems`, see `expectProblems`), nothing from the browser.
 */
import { useEffect, useMemo, useRef } from "react";
import { create } from "zustand";
import { validate, type PipelineFile, type Problem } from "@/server/pipeline";
import { useTRPCClient } from "@/components/trpc/client";
import { onlyMoved, useEditor } from "./store";

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
 * The document loaded from the server (`pipelines.byId`), and its problems once
 * `pipelines.problems` answers for that version (null until then): nothing is
 * checked again in the browser while it is the document (undo back to it
 * restores them).
 */
let seeded: { document: PipelineFile; version: number; problems: { local: Problem[]; server: Problem[] } | null } | null = null;

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

/**
 * Keeps the problem store in step with the editor's document. Rendered once
 * per editor, as a component of its own: it re-renders on every edit, and the
 * work per edit is two timers; validation runs once the edits pause.
 */
export function ProblemSync(): null {
  const doc = useEditor((s) => s.document);
  const selection = useEditor((s) => s.selection);
  const client = useTRPCClient();

  // The SQL checks read names, kinds, configs and edges, not positions: a drag of
  // one node among 1,000 does not send the document again. `partial`: the last
  // document was too big to send whole, so the selection decides what is sent.
  const scope = useRef<{ doc: PipelineFile; selection: readonly string[]; partial: boolean; key: number } | null>(null);
  const scopeKey = useMemo(() => {
    const last = scope.current;
    if (last && onlyMoved(last.doc, doc) && (!last.partial || last.selection === selection)) {
      last.doc = doc;
      return last.key;
    }
    const key = (last?.key ?? 0) + 1;
    scope.current = { doc, selection, partial: last?.partial ?? false, key };
    return key;
  }, [doc, selection]);

  useEffect(() => {
    if (doc === seeded?.document) {
      if (seeded.problems) publish(seeded.problems.local, useProblemStore.getState().server);
      return;
    }
    const timer = window.setTimeout(() => publish(validate(doc), useProblemStore.getState().server), doc.nodes.length > 300 ? 250 : 60);
    return () => window.clearTimeout(timer);
  }, [doc]);

  useEffect(() => {
    // Just loaded: `pipelines.problems` brings this document's SQL problems (see seedProblems).
    if (seeded && useEditor.getState().document === seeded.document) {
      if (seeded.problems) publish(useProblemStore.getState().local, seeded.problems.server);
      return;
    }
    let cancelled = false;
    const timer = window.setTimeout(() => {
      const s = useEditor.getState();
      const sent = sqlScope(s.document, s.selection);
      if (scope.current) scope.current.partial = sent.partial;
      client.pipelines.validate
        .query({ document: JSON.parse(sent.json) as unknown })
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
  return null;
}

/**
 * `document` (version `version`) was just loaded into the editor: its problems
 * come from the server (`seedProblems`), not from validation in the browser.
 * Until they arrive the list is empty.
 */
export function expectProblems(document: PipelineFile, version: number) {
  seeded = { document, version, problems: null };
  publish([], []);
}

/**
 * The server's problems (schema, graph and SQL, all of them) of version
 * `version`: they become the list when that version is the one loaded, and
 * stay with its document (validation runs again only once it changes).
 */
export function seedProblems(problems: Problem[], version: number) {
  if (!seeded || seeded.version !== version || seeded.problems) return;
  seeded.problems = { local: problems.filter((p) => !isSql(p)), server: problems.filter(isSql) };
  if (useEditor.getState().document === seeded.document) publish(seeded.problems.local, seeded.problems.server);
}
