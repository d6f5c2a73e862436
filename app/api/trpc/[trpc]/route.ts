import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { createContext } from "@/server/api/context";
import { appRouter } from "@/server/api/root";
import { isAuthorized, unauthorizedResponse } from "@/server/auth";

export const dynamic = "force-dynamic";

function handler(req: Request) {
  // Checked here too, not only in proxy.ts: the API is what runs code.
  if (!isAuthorized(req.headers.get("authorization"))) return unauthorizedResponse();
  return fetchRequestHandler({
    endpoint: "/api/trpc",
    req,
    router: appRouter,
    createContext,
    // Queries with large inputs (validating a whole document) may be sent as POST.
    allowMethodOverride: true,
    onError({ error, path }) {
      if (error.code === "INTERNAL_SERVER_ERROR") console.error(`tRPC ${path ?? "?"} failed:`, error.cause ?? error);
    },
  });
}

export { handler as GET, handler as POST };
