"use client";
/**
 * Saving the editor's document: every save sends `baseVersion`; a CONFLICT
 * (someone saved a newer version) opens a dialog that shows the difference and
 * offers "Reload (lose my changes)" or "Overwrite" (save on top of theirs).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useCallback, useState } from "react";
import { serializePipeline, type PipelineFile } from "@/server/pipeline";
import { useTRPC, useTRPCClient } from "@/components/trpc/client";
import { Dialog, DialogActions } from "@/components/pipelines/dialog";
import { errorCode, errorMessage, errorProblems } from "@/components/pipelines/errors";
import { withPositions } from "@/components/canvas/adapter";
import { DiffView } from "./diff-view";
import { selectDirty, useEditor } from "./store";

interface Conflict {
  theirs: PipelineFile;
  theirVersion: number;
  mine: PipelineFile;
}

function conflictVersion(error: unknown): number | undefined {
  const v = (error as { data?: { currentVersion?: unknown } } | null)?.data?.currentVersion;
  return typeof v === "number" ? v : undefined;
}

/** The save action, its state, and the conflict dialog to render. */
export function useSave() {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const [conflict, setConflict] = useState<Conflict | null>(null);
  const update = useMutation(trpc.pipelines.update.mutationOptions());

  const refresh = useCallback(() => queryClient.invalidateQueries({ queryKey: trpc.pipelines.pathKey() }), [queryClient, trpc]);

  const send = useCallback(
    async (document: PipelineFile, baseVersion: number): Promise<boolean> => {
      const { pipelineId, notify, markSaved } = useEditor.getState();
      if (!pipelineId) return false;
      try {
        const saved = await update.mutateAsync({ id: pipelineId, baseVersion, document });
        markSaved(document, saved.version);
        const errors = saved.problems.filter((p) => p.severity === "error").length;
        notify(`Saved as version ${saved.version}${errors ? ` (${errors} problem${errors === 1 ? "" : "s"} to fix before it can run)` : ""}.`, "success");
        setConflict(null);
        void refresh();
        return true;
      } catch (error) {
        if (errorCode(error) === "CONFLICT") {
          const theirs = await client.pipelines.byId.query({ id: pipelineId });
          setConflict({ theirs: theirs.document, theirVersion: conflictVersion(error) ?? theirs.currentVersion, mine: document });
          return false;
        }
        const problems = errorProblems(error);
        notify(
          problems.length
            ? `Not saved: ${problems.length} problem${problems.length === 1 ? "" : "s"} must be fixed first — ${problems[0]!.message}`
            : `Not saved: ${errorMessage(error)}`,
          "error",
        );
        return false;
      }
    },
    [client, refresh, update],
  );

  const save = useCallback(() => {
    const s = useEditor.getState();
    if (!selectDirty(s) || update.isPending) return;
    void send(s.document, s.baseVersion);
  }, [send, update.isPending]);

  /** Save when dirty and wait: true when the document is saved (or was already). */
  const saveNow = useCallback(async (): Promise<boolean> => {
    const s = useEditor.getState();
    if (!selectDirty(s)) return true;
    if (update.isPending) return false;
    return send(s.document, s.baseVersion);
  }, [send, update.isPending]);

  const reload = useCallback(() => {
    if (!conflict) return;
    const { pipelineId, load, notify } = useEditor.getState();
    if (pipelineId) load(pipelineId, withPositions(conflict.theirs), conflict.theirVersion);
    notify(`Reloaded version ${conflict.theirVersion}; your changes were discarded.`);
    setConflict(null);
    void refresh();
  }, [conflict, refresh]);

  const overwrite = useCallback(() => {
    if (!conflict) return;
    // Save what is in the editor now (it may have changed while the dialog was open).
    void send(useEditor.getState().document, conflict.theirVersion);
  }, [conflict, send]);

  const dialog = (
    <ConflictDialog conflict={conflict} busy={update.isPending} onReload={reload} onOverwrite={overwrite} onClose={() => setConflict(null)} />
  );
  return { save, saveNow, saving: update.isPending, dialog };
}

function ConflictDialog({
  conflict, busy, onReload, onOverwrite, onClose,
}: { conflict: Conflict | null; busy: boolean; onReload: () => void; onOverwrite: () => void; onClose: () => void }) {
  return (
    <Dialog
      open={conflict !== null}
      title="Someone else saved this pipeline"
      size="wide"
      description={
        conflict && (
          <>
            It is now at version {conflict.theirVersion}; your edits started from an older version. Keep theirs by reloading, or
            overwrite it with yours (their version stays in the history).
          </>
        )
      }
      onClose={onClose}
    >
      {conflict && (
        <>
          <DiffView
            before={serializePipeline(conflict.theirs)}
            after={serializePipeline(conflict.mine)}
            beforeLabel={`version ${conflict.theirVersion} (theirs)`}
            afterLabel="your unsaved changes"
          />
          <DialogActions>
            <button type="button" className="btn" onClick={onClose}>
              Cancel
            </button>
            <button type="button" className="btn btn-danger" onClick={onReload} disabled={busy}>
              Reload (lose my changes)
            </button>
            <button type="button" className="btn btn-primary" onClick={onOverwrite} disabled={busy}>
              Overwrite
            </button>
          </DialogActions>
        </>
      )}
    </Dialog>
  );
}
