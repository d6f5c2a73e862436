/** The app's tRPC router: one sub-router per domain. */
import { assistantRouter } from "./routers/assistant";
import { pipelinesRouter } from "./routers/pipelines";
import { runsRouter } from "./routers/runs";
import { createCallerFactory, router } from "./trpc";

export const appRouter = router({
  pipelines: pipelinesRouter,
  runs: runsRouter,
  assistant: assistantRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
