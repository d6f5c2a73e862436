"use client";
/** The pipelines as a table: one row each, the name opens the pipeline. */
import Link from "next/link";
import { useRouter } from "next/navigation";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "@/server/api/root";
import { DeleteButton } from "./delete-dialog";
import { ExportButton } from "./export-button";
import { fullTime, plural, timeAgo } from "./format";
import { RenameButton } from "./rename-dialog";

/** A row of `pipelines.list`, typed from the router (never re-declared). */
export type PipelineRow = inferRouterOutputs<AppRouter>["pipelines"]["list"][number];

export function PipelineTable({ pipelines }: { pipelines: PipelineRow[] }) {
  const router = useRouter();
  return (
    <div className="card overflow-hidden">
      <table className="w-full text-left text-sm">
        <caption className="sr-only">Pipelines</caption>
        <thead className="border-b border-line bg-surface-2 text-xs font-medium tracking-wide text-muted uppercase">
          <tr>
            <th scope="col" className="px-4 py-2.5 font-medium">Name</th>
            <th scope="col" className="w-24 px-4 py-2.5 text-right font-medium">Nodes</th>
            <th scope="col" className="w-32 px-4 py-2.5 font-medium">Status</th>
            <th scope="col" className="w-24 px-4 py-2.5 font-medium">Version</th>
            <th scope="col" className="w-36 px-4 py-2.5 font-medium">Updated</th>
            <th scope="col" className="w-56 px-4 py-2.5 text-right font-medium"><span className="sr-only">Actions</span></th>
          </tr>
        </thead>
        <tbody className="divide-y divide-line">
          {pipelines.map((p) => (
            <tr
              key={p.id}
              className="cursor-pointer transition-colors hover:bg-surface-2/70"
              onClick={(event) => {
                if ((event.target as HTMLElement).closest("a,button,dialog")) return;
                router.push(`/pipelines/${p.id}`);
              }}
            >
              <td className="max-w-0 px-4 py-3">
                <Link href={`/pipelines/${p.id}`} className="rounded font-mono text-[13px] font-semibold text-fg hover:text-accent">
                  {p.name}
                </Link>
                <p className="mt-0.5 truncate text-muted" title={p.description || undefined}>
                  {p.description || <span className="italic opacity-70">No description</span>}
                </p>
              </td>
              <td className="px-4 py-3 text-right tabular-nums">{p.nodeCount}</td>
              <td className="px-4 py-3">
                <StatusBadge errorCount={p.errorCount} nodeCount={p.nodeCount} />
              </td>
              <td className="px-4 py-3 font-mono text-xs text-muted">v{p.currentVersion}</td>
              <td className="px-4 py-3 text-muted">
                <time dateTime={p.updatedAt} title={fullTime(p.updatedAt)}>
                  {timeAgo(p.updatedAt)}
                </time>
              </td>
              <td className="px-4 py-2 text-right whitespace-nowrap">
                <ExportButton id={p.id} name={p.name} compact />
                <RenameButton pipeline={p} />
                <DeleteButton pipeline={p} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function StatusBadge({ errorCount, nodeCount }: { errorCount: number; nodeCount: number }) {
  if (errorCount > 0) {
    return (
      <span className="inline-flex items-center gap-1 rounded-full bg-danger-soft px-2 py-0.5 text-xs font-medium text-danger">
        <span aria-hidden="true">●</span> {plural(errorCount, "error")}
      </span>
    );
  }
  if (nodeCount === 0) {
    return <span className="inline-flex rounded-full bg-surface-2 px-2 py-0.5 text-xs font-medium text-muted">Empty</span>;
  }
  return (
    <span className="inline-flex items-center gap-1 rounded-full bg-accent-soft px-2 py-0.5 text-xs font-medium text-success">
      <span aria-hidden="true">✓</span> Valid
    </span>
  );
}
