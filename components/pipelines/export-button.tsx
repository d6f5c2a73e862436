"use client";
/** "Export": fetch the canonical file text of a pipeline and download it. */
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "@/components/trpc/client";
import { downloadText } from "./download";
import { errorMessage } from "./errors";

interface ExportButtonProps {
  id: string;
  name: string;
  version?: number;
  className?: string;
  compact?: boolean;
}

export function ExportButton({ id, name, version, className, compact = false }: ExportButtonProps) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function run() {
    setBusy(true);
    setError(null);
    try {
      const file = await queryClient.fetchQuery({ ...trpc.pipelines.export.queryOptions({ id, ...(version ? { version } : {}) }), staleTime: 0 });
      downloadText(file.filename, file.text);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <span className="inline-flex items-center gap-2">
      <button
        type="button"
        className={className ?? (compact ? "btn btn-sm btn-ghost" : "btn")}
        onClick={() => void run()}
        disabled={busy}
        aria-label={compact ? `Export ${name}` : undefined}
      >
        {!compact && (
          <svg aria-hidden="true" viewBox="0 0 20 20" className="size-4" fill="none" stroke="currentColor" strokeWidth="1.8">
            <path d="M10 13V3m0 0L6 7m4-4 4 4M4 15v2h12v-2" strokeLinecap="round" strokeLinejoin="round" />
          </svg>
        )}
        {busy ? "Exporting…" : "Export"}
      </button>
      {error && (
        <span role="alert" className="text-xs text-danger">
          {error}
        </span>
      )}
    </span>
  );
}
