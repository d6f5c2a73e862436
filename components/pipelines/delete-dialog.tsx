"use client";
/** Delete a pipeline and its whole history, after an explicit confirmation. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "@/components/trpc/client";
import { Dialog, DialogActions } from "./dialog";
import { errorMessage } from "./errors";

interface Target {
  id: string;
  name: string;
}

export function DeleteButton({ pipeline, onDeleted }: { pipeline: Target; onDeleted?: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const remove = useMutation(
    trpc.pipelines.delete.mutationOptions({
      onSuccess: async () => {
        setOpen(false);
        queryClient.removeQueries({ queryKey: trpc.pipelines.byId.queryKey({ id: pipeline.id }) });
        await queryClient.invalidateQueries({ queryKey: trpc.pipelines.list.queryKey() });
        onDeleted?.();
      },
    }),
  );
  const close = () => {
    remove.reset();
    setOpen(false);
  };
  return (
    <>
      <button type="button" className="btn btn-sm btn-ghost text-danger" onClick={() => setOpen(true)} aria-label={`Delete ${pipeline.name}`}>
        Delete
      </button>
      <Dialog
        open={open}
        title={`Delete ${pipeline.name}?`}
        description="The pipeline and all of its versions are removed. This cannot be undone."
        onClose={close}
      >
        {remove.error && (
          <p role="alert" className="mb-3 rounded-md bg-danger-soft px-3 py-2 text-sm text-danger">
            {errorMessage(remove.error)}
          </p>
        )}
        <DialogActions>
          <button type="button" className="btn" onClick={close} autoFocus>
            Cancel
          </button>
          <button type="button" className="btn btn-danger" disabled={remove.isPending} onClick={() => remove.mutate({ id: pipeline.id })}>
            {remove.isPending ? "Deleting…" : "Delete pipeline"}
          </button>
        </DialogActions>
      </Dialog>
    </>
  );
}
