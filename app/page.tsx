import { PipelinesPage } from "@/components/pipelines/pipelines-page";

export default function Home() {
  return <PipelinesPage />;
}
