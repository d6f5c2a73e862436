"use client";
/**
 * "Import": pick a pipeline file, send its text to `pipelines.import`, and
 * report the outcome (created / new version / unchanged, or why it failed).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRef } from "react";
import { useTRPC } from "@/components/trpc/client";
import type { Problem } from "@/server/pipeline";
import { errorMessage, errorProblems } from "./errors";

export type ImportOutcome =
  | { ok: true; file: string; id: string; name: string; version: number; created: boolean; changed: boolean; problems: Problem[] }
  | { ok: false; file: string; message: string; problems: Problem[] };

interface ImportButtonProps {
  onResult: (outcome: ImportOutcome) => void;
  label?: string;
}

export function ImportButton({ onResult, label = "Import" }: ImportButtonProps) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const input = useRef<HTMLInputElement>(null);
  const importFile = useMutation(trpc.pipelines.import.mutationOptions());

  async function onFile(file: File) {
    let text: string;
    try {
      text = await file.text();
    } catch (error) {
      onResult({ ok: false, file: file.name, message: `could not read the file: ${errorMessage(error)}`, problems: [] });
      return;
    }
    try {
      const saved = await importFile.mutateAsync({ text });
      await queryClient.invalidateQueries({ queryKey: trpc.pipelines.pathKey() });
      onResult({ ok: true, file: file.name, ...saved });
    } catch (error) {
      onResult({ ok: false, file: file.name, message: errorMessage(error), problems: errorProblems(error) });
    }
  }

  return (
    <>
      <button type="button" className="btn" disabled={importFile.isPending} onClick={() => input.current?.click()}>
        <svg aria-hidden="true" viewBox="0 0 20 20" className="size-4" fill="none" stroke="currentColor" strokeWidth="1.8">
          <path d="M10 3v10m0 0-4-4m4 4 4-4M4 15v2h12v-2" strokeLinecap="round" strokeLinejoin="round" />
        </svg>
        {importFile.isPending ? "Importing…" : label}
      </button>
      <input
        ref={input}
        type="file"
        accept=".json,application/json"
        aria-label="Pipeline file to import"
        className="hidden"
        onChange={(event) => {
          const file = event.target.files?.[0];
          event.target.value = "";
          if (file) void onFile(file);
        }}
      />
    </>
  );
}
