// Runs once when the server starts: open the database (migrations apply,
// examples load on first start) so that a locked or unreachable database
// stops the start with a clear message instead of failing on the first click.
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs" || process.env.NEXT_PHASE === "phase-production-build") return;
  const { appContext } = await import("@/server/api/context");
  try {
    const { handle } = await appContext();
    console.log(`tributary: database ready (${handle.driver}: ${handle.location})`);
  } catch (error) {
    console.error(`tributary: cannot start: ${(error as Error).message}`);
    process.exit(1);
  }
}
