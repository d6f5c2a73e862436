import type { Metadata } from "next";
import { PipelineView } from "@/components/canvas/pipeline-view";

export const metadata: Metadata = { title: "Pipeline · Tributary" };

export default async function PipelinePage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <PipelineView id={id} />;
}
