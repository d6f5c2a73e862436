"use client";
/**
 * One pipeline: header (name, description, version, actions), the read-only
 * canvas, and a side panel with its problems and version history.
 */
import { useQuery } from "@tanstack/react-query";
import dynamic from "next/dynamic";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useCallback, useState } from "react";
import { useTRPC } from "@/components/trpc/client";
import { errorCode, errorMessage } from "@/components/pipelines/errors";
import { ExportButton } from "@/components/pipelines/export-button";
import { ImportButton, type ImportOutcome } from "@/components/pipelines/import-button";
import { ImportReport } from "@/components/pipelines/import-report";
import { StatusBadge } from "@/components/pipelines/pipeline-table";
import { RenameButton } from "@/components/pipelines/rename-dialog";
import type { FocusRequest } from "./flow-canvas";
import { ProblemsPanel } from "./problems-panel";
import { VersionHistory } from "./version-history";

const FlowCanvas = dynamic(() => import("./flow-canvas"), {
  ssr: false,
  loading: () => <div className="grid h-full place-items-center text-sm text-muted">Loading canvas…</div>,
});

export function PipelineView({ id }: { id: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const pipeline = useQuery(trpc.pipelines.byId.queryOptions({ id }));
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [focus, setFocus] = useState<FocusRequest | null>(null);
  const [outcome, setOutcome] = useState<ImportOutcome | null>(null);

  const focusNode = useCallback((nodeId: string) => {
    setSelectedId(nodeId);
    setFocus({ nodeId, nonce: Date.now() });
  }, []);

  const onImported = (result: ImportOutcome) => {
    setOutcome(result);
    if (result.ok && result.id !== id) router.push(`/pipelines/${result.id}`);
  };

  if (pipeline.error) {
    const missing = errorCode(pipeline.error) === "NOT_FOUND" || errorCode(pipeline.error) === "BAD_REQUEST";
    return (
      <main className="mx-auto max-w-3xl px-6 py-16 text-center">
        <h1 className="text-xl font-semibold">{missing ? "Pipeline not found" : "Could not load this pipeline"}</h1>
        <p className="mt-2 text-sm text-muted">{errorMessage(pipeline.error)}</p>
        <Link href="/" className="btn mt-6">← Back to pipelines</Link>
      </main>
    );
  }
  if (!pipeline.data) {
    return <main className="grid h-[calc(100vh-3rem)] place-items-center text-sm text-muted" aria-busy="true">Loading pipeline…</main>;
  }

  const p = pipeline.data;
  const doc = p.document;
  return (
    <main className="flex h-[calc(100vh-3rem)] flex-col">
      <header className="shrink-0 border-b border-line bg-surface px-6 py-3">
        <div className="flex flex-wrap items-center gap-x-6 gap-y-2">
          <div className="min-w-0 flex-1">
            <Link href="/" className="rounded text-xs text-muted hover:text-fg">← Pipelines</Link>
            <div className="mt-0.5 flex flex-wrap items-center gap-2.5">
              <h1 className="font-mono text-lg font-semibold">{p.name}</h1>
              <span className="rounded bg-surface-2 px-1.5 py-0.5 font-mono text-xs text-muted" title="Current version">v{p.currentVersion}</span>
              <StatusBadge errorCount={p.problems.filter((x) => x.severity === "error").length} nodeCount={doc.nodes.length} />
              <span className="text-xs text-muted">{doc.nodes.length} nodes · {doc.edges.length} edges</span>
            </div>
            <p className="mt-0.5 truncate text-sm text-muted">{p.description || "No description"}</p>
          </div>
          <div className="flex items-center gap-2">
            <ImportButton onResult={onImported} />
            <ExportButton id={p.id} name={p.name} />
            <RenameButton pipeline={p} className="btn" />
          </div>
        </div>
        {outcome && (
          <div className="mt-3">
            <ImportReport outcome={outcome} onDismiss={() => setOutcome(null)} linkToPipeline={outcome.ok && outcome.id !== id} />
          </div>
        )}
      </header>

      <div className="flex min-h-0 flex-1">
        <div className="relative min-w-0 flex-1" role="region" aria-label="Canvas">
          <FlowCanvas document={doc} problems={p.problems} selectedId={selectedId} focus={focus} onSelect={setSelectedId} />
          {doc.nodes.length === 0 && (
            <div className="pointer-events-none absolute inset-0 grid place-items-center p-6">
              <div className="card pointer-events-auto max-w-sm px-6 py-5 text-center">
                <h2 className="font-semibold">This pipeline has no nodes yet</h2>
                <p className="mt-1.5 text-sm text-muted">
                  Import a pipeline file named <code className="font-mono text-fg">{p.name}</code> with the Import button above to
                  add its nodes here as a new version.
                </p>
              </div>
            </div>
          )}
        </div>
        <aside className="w-[360px] shrink-0 space-y-6 overflow-y-auto border-l border-line bg-surface px-4 py-4" aria-label="Pipeline details">
          <ProblemsPanel document={doc} problems={p.problems} selectedId={selectedId} onFocusNode={focusNode} />
          <VersionHistory id={p.id} currentVersion={p.currentVersion} />
        </aside>
      </div>
    </main>
  );
}
