"use client";
/** The home page: every pipeline, plus New / Import, or a first-run guide when there are none. */
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "@/components/trpc/client";
import { CreatePipelineButton } from "./create-dialog";
import { errorMessage } from "./errors";
import { ImportButton, type ImportOutcome } from "./import-button";
import { ImportReport } from "./import-report";
import { PipelineTable } from "./pipeline-table";

export function PipelinesPage() {
  const trpc = useTRPC();
  const list = useQuery(trpc.pipelines.list.queryOptions());
  const [outcome, setOutcome] = useState<ImportOutcome | null>(null);
  const count = list.data?.length ?? 0;

  return (
    <main className="mx-auto max-w-[1200px] px-6 py-8">
      <div className="flex flex-wrap items-end justify-between gap-4">
        <div>
          <h1 className="text-2xl font-semibold tracking-tight">Pipelines</h1>
          <p className="mt-1 text-sm text-muted">
            {list.data ? (count ? `${count} pipeline${count === 1 ? "" : "s"} in this workspace` : "Nothing here yet") : "Graphs of sources, SQL and JS cells, checks and sinks."}
          </p>
        </div>
        {!(list.data && count === 0) && (
          <div className="flex gap-2">
            <ImportButton onResult={setOutcome} />
            <CreatePipelineButton />
          </div>
        )}
      </div>

      {outcome && (
        <div className="mt-5">
          <ImportReport outcome={outcome} onDismiss={() => setOutcome(null)} />
        </div>
      )}

      <div className="mt-6">
        {list.isPending && <LoadingRows />}
        {list.error && (
          <p role="alert" className="card bg-danger-soft px-4 py-3 text-sm text-danger">
            Could not load pipelines: {errorMessage(list.error)}
          </p>
        )}
        {list.data && count > 0 && <PipelineTable pipelines={list.data} />}
        {list.data && count === 0 && <EmptyState onImported={setOutcome} />}
      </div>
    </main>
  );
}

function LoadingRows() {
  return (
    <div className="card divide-y divide-line" aria-busy="true" aria-label="Loading pipelines">
      {[0, 1, 2].map((i) => (
        <div key={i} className="flex items-center gap-4 px-4 py-4">
          <div className="h-3 w-40 animate-pulse rounded bg-surface-2" />
          <div className="h-3 flex-1 animate-pulse rounded bg-surface-2" />
        </div>
      ))}
    </div>
  );
}

function EmptyState({ onImported }: { onImported: (outcome: ImportOutcome) => void }) {
  return (
    <section aria-labelledby="empty-title" className="card flex flex-col items-center px-6 py-16 text-center">
      <svg aria-hidden="true" viewBox="0 0 64 40" className="h-14 w-24 text-accent" fill="none" stroke="currentColor" strokeWidth="2">
        <rect x="2" y="4" width="16" height="12" rx="3" />
        <rect x="2" y="24" width="16" height="12" rx="3" />
        <rect x="46" y="14" width="16" height="12" rx="3" />
        <path d="M18 10c14 0 14 10 28 10M18 30c14 0 14-10 28-10" strokeLinecap="round" />
      </svg>
      <h2 id="empty-title" className="mt-4 text-lg font-semibold">
        Build your first pipeline
      </h2>
      <p className="mt-2 max-w-md text-sm text-muted">
        A pipeline is a graph of steps: sources that load data, SQL and JavaScript cells that transform it, checks, and
        sinks that write tables. Start an empty one, or import a <code className="font-mono">tributary/v1</code> pipeline
        file, such as one from the project&apos;s <code className="font-mono">examples/</code> folder.
      </p>
      <div className="mt-6 flex gap-2">
        <ImportButton onResult={onImported} />
        <CreatePipelineButton />
      </div>
    </section>
  );
}
