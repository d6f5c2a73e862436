// Next.js calls register() once when the server starts; the work is in server/startup.ts.
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs" || process.env.NEXT_PHASE === "phase-production-build") return;
  const { startServer } = await import("@/server/startup");
  await startServer();
}
