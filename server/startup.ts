/**
 * What the web server does once at start (called from instrumentation.ts, in
 * the Node.js runtime only): open the database — migrations apply, examples
 * load on first start — so that a locked or unreachable database stops the
 * start with a clear message instead of failing on the first click.
 */
import { appContext } from "@/server/api/context";

export async function startServer(): Promise<void> {
  try {
    const rt = await appContext();
    console.log(`tributary: database ready (${rt.handle.driver}: ${rt.handle.location}); warehouse ${rt.wh.driver}: ${rt.wh.location}`);
  } catch (error) {
    console.error(`tributary: cannot start: ${(error as Error).message}`);
    process.exit(1);
  }
}
