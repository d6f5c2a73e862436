import type { Metadata } from "next";
import { preload } from "react-dom";
import { PipelineView } from "@/components/canvas/pipeline-view";

export const metadata: Metadata = { title: "Pipeline · Tributary" };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The URL the page's first query (`pipelines.byId`, alone in its batch) is
 * sent to by httpBatchLink. Preloading it lets the server load and validate
 * the document while the browser is still loading and starting the page's
 * code; the query then takes the preloaded response. (A mismatch only costs
 * a second request.)
 */
function byIdUrl(id: string): string {
  return `/api/trpc/pipelines.byId?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { id } }))}`;
}

export default async function PipelinePage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  if (UUID.test(id)) preload(byIdUrl(id), { as: "fetch", crossOrigin: "anonymous" });
  return <PipelineView id={id} />;
}
