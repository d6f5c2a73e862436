"use client";
/**
 * The pipeline's versions, newest first. Each can be compared with the document
 * in the editor ("View diff"); an older one can be restored as a new version.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { serializePipeline } from "@/server/pipeline";
import { Dialog, DialogActions } from "@/components/pipelines/dialog";
import { DiffView } from "@/components/editor/diff-view";
import { useEditor } from "@/components/editor/store";
import { useTRPC } from "@/components/trpc/client";
import { errorMessage } from "@/components/pipelines/errors";
import { fullTime, plural, timeAgo } from "@/components/pipelines/format";

export function VersionHistory({ id, currentVersion }: { id: string; currentVersion: number }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const versions = useQuery(trpc.pipelines.versions.queryOptions({ id }));
  const [diffOf, setDiffOf] = useState<number | null>(null);
  const restore = useMutation(
    trpc.pipelines.restore.mutationOptions({
      // On success and on a conflict alike, show the version that is now current.
      onSettled: () => queryClient.invalidateQueries({ queryKey: trpc.pipelines.pathKey() }),
    }),
  );

  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title" className="text-sm font-semibold">
        Version history
      </h2>
      {restore.error && (
        <p role="alert" className="mt-2 rounded-md bg-danger-soft px-3 py-2 text-sm text-danger">
          {errorMessage(restore.error)}
        </p>
      )}
      {versions.error && <p role="alert" className="mt-2 text-sm text-danger">{errorMessage(versions.error)}</p>}
      {versions.isPending && <p className="mt-2 text-sm text-muted">Loading versions…</p>}
      {versions.data && (
        <ol className="mt-2 space-y-0.5" aria-label="Versions">
          {versions.data.map((v) => {
            const current = v.version === currentVersion;
            return (
              <li key={v.version} className={`flex items-center gap-3 rounded-md px-2 py-1.5 ${current ? "bg-accent-soft" : ""}`}>
                <span className="w-9 shrink-0 font-mono text-xs font-semibold">v{v.version}</span>
                <div className="min-w-0 flex-1">
                  <p className="truncate text-sm" title={v.message}>{v.message || "saved"}</p>
                  <p className="text-xs text-muted">
                    <time dateTime={v.createdAt} title={fullTime(v.createdAt)}>{timeAgo(v.createdAt)}</time>
                    {" · "}
                    {plural(v.nodeCount, "node")}
                    {v.errorCount > 0 && <span className="text-danger">{` · ${plural(v.errorCount, "error")}`}</span>}
                  </p>
                </div>
                <button type="button" className="btn btn-ghost btn-sm shrink-0" aria-label={`View diff of version ${v.version}`} onClick={() => setDiffOf(v.version)}>
                  Diff
                </button>
                {current ? (
                  <span className="w-[3.6rem] shrink-0 text-center text-xs font-medium text-accent">Current</span>
                ) : (
                  <button
                    type="button"
                    className="btn btn-sm shrink-0"
                    disabled={restore.isPending}
                    aria-label={`Restore version ${v.version}`}
                    onClick={() => restore.mutate({ id, version: v.version, baseVersion: currentVersion })}
                  >
                    Restore
                  </button>
                )}
              </li>
            );
          })}
        </ol>
      )}
      <VersionDiff id={id} version={diffOf} onClose={() => setDiffOf(null)} />
    </section>
  );
}

/** A version's canonical text against the editor's document (saved or not). */
function VersionDiff({ id, version, onClose }: { id: string; version: number | null; onClose: () => void }) {
  const trpc = useTRPC();
  const current = useEditor((s) => s.document);
  const dirty = useEditor((s) => s.document !== s.savedDocument);
  const other = useQuery({ ...trpc.pipelines.version.queryOptions({ id, version: version ?? 1 }), enabled: version !== null });
  return (
    <Dialog open={version !== null} title={`Version ${version ?? ""} compared with ${dirty ? "your unsaved document" : "the current document"}`} size="wide" onClose={onClose}>
      {other.error && <p role="alert" className="text-sm text-danger">{errorMessage(other.error)}</p>}
      {other.isPending && <p className="text-sm text-muted">Loading version {version}…</p>}
      {other.data && version !== null && (
        <DiffView
          before={serializePipeline(other.data.document)}
          after={serializePipeline(current)}
          beforeLabel={`version ${version}`}
          afterLabel={dirty ? "the editor (unsaved)" : "the editor"}
        />
      )}
      <DialogActions>
        <button type="button" className="btn" onClick={onClose}>Close</button>
      </DialogActions>
    </Dialog>
  );
}
