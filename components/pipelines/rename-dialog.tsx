"use client";
/** Rename a pipeline; the save is based on the version the user is looking at. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "@/components/trpc/client";
import { Dialog, DialogActions } from "./dialog";
import { fieldError } from "./errors";
import { NameField } from "./name-field";

interface Target {
  id: string;
  name: string;
  currentVersion: number;
}

export function RenameButton({ pipeline, className = "btn btn-sm btn-ghost" }: { pipeline: Target; className?: string }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" className={className} onClick={() => setOpen(true)} aria-label={`Rename ${pipeline.name}`}>
        Rename
      </button>
      {open && <RenameDialog pipeline={pipeline} onClose={() => setOpen(false)} />}
    </>
  );
}

function RenameDialog({ pipeline, onClose }: { pipeline: Target; onClose: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [name, setName] = useState(pipeline.name);
  const rename = useMutation(
    trpc.pipelines.rename.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.pipelines.pathKey() });
        onClose();
      },
    }),
  );
  return (
    <Dialog open title={`Rename ${pipeline.name}`} description="Renaming saves a new version." onClose={onClose}>
      <form
        className="space-y-4"
        onSubmit={(event) => {
          event.preventDefault();
          rename.mutate({ id: pipeline.id, baseVersion: pipeline.currentVersion, name: name.trim() });
        }}
      >
        <NameField
          label="New name"
          value={name}
          onChange={(value) => {
            setName(value);
            if (rename.error) rename.reset();
          }}
          error={rename.error ? fieldError(rename.error, "name") : undefined}
        />
        <DialogActions>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={rename.isPending || !name.trim() || name.trim() === pipeline.name}>
            {rename.isPending ? "Renaming…" : "Rename"}
          </button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
