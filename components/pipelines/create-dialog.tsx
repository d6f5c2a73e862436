"use client";
/** "New pipeline": name and description; opens the new pipeline when created. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useId, useState } from "react";
import { useTRPC } from "@/components/trpc/client";
import { Dialog, DialogActions } from "./dialog";
import { fieldError } from "./errors";
import { NameField } from "./name-field";

export function CreatePipelineButton({ primary = true }: { primary?: boolean }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" className={primary ? "btn btn-primary" : "btn"} onClick={() => setOpen(true)}>
        <span aria-hidden="true">+</span> New pipeline
      </button>
      <CreatePipelineDialog open={open} onClose={() => setOpen(false)} />
    </>
  );
}

function CreatePipelineDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const router = useRouter();
  const descriptionId = useId();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const create = useMutation(
    trpc.pipelines.create.mutationOptions({
      onSuccess: async (created) => {
        await queryClient.invalidateQueries({ queryKey: trpc.pipelines.pathKey() });
        close();
        router.push(`/pipelines/${created.id}`);
      },
    }),
  );

  function close() {
    setName("");
    setDescription("");
    create.reset();
    onClose();
  }

  return (
    <Dialog open={open} title="New pipeline" description="Start an empty pipeline. You can import a pipeline file into it later." onClose={close}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          create.mutate({ name: name.trim(), ...(description.trim() ? { description: description.trim() } : {}) });
        }}
        className="space-y-4"
      >
        <NameField
          value={name}
          onChange={(value) => {
            setName(value);
            if (create.error) create.reset();
          }}
          error={create.error ? fieldError(create.error, "name") : undefined}
        />
        <div>
          <label htmlFor={descriptionId} className="block text-sm font-medium">
            Description <span className="font-normal text-muted">(optional)</span>
          </label>
          <textarea
            id={descriptionId}
            className="input mt-1 min-h-20 resize-y"
            value={description}
            onChange={(event) => setDescription(event.target.value)}
            placeholder="POS sales → store metrics"
          />
        </div>
        <DialogActions>
          <button type="button" className="btn" onClick={close}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={create.isPending || !name.trim()}>
            {create.isPending ? "Creating…" : "Create pipeline"}
          </button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
