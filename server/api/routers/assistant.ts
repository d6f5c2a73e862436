/** assistant: status, start (a draft, suggestion, cell or explanation), events (live, over SSE), cancel. */
import { tracked, TRPCError } from "@trpc/server";
import { z } from "zod";
import { nameSchema, pipelineDocumentInput } from "@/server/pipeline";
import { assistantConfig, assistantStatus } from "@/server/assistant/config";
import { runAssistant } from "@/server/assistant/repair-loop";
import { cancelSession, sessionEvents, startSession } from "@/server/assistant/sessions";
import { publicProcedure, router } from "../trpc";

const requestInput = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("draft"), description: z.string().trim().min(3, { error: "describe the pipeline in a few words" }).max(20_000) }),
  z.object({ kind: z.literal("suggest"), document: pipelineDocumentInput, nodeId: z.string().min(1), instruction: z.string().max(20_000).optional() }),
  z.object({ kind: z.literal("cell"), document: pipelineDocumentInput, nodeId: z.string().min(1), instruction: z.string().trim().min(1, { error: "say what the cell should do" }).max(20_000) }),
  z.object({ kind: z.literal("explain"), document: pipelineDocumentInput, nodeId: z.string().min(1), runId: z.uuid() }),
]);

export const assistantRouter = router({
  /** Whether a provider is configured (and how to configure one); never the key. */
  status: publicProcedure.query(() => assistantStatus()),

  start: publicProcedure
    .input(z.object({ request: requestInput, pipelineId: z.uuid().optional(), allowSamples: z.boolean().default(true), params: z.record(nameSchema, z.unknown()).optional() }))
    .mutation(({ ctx, input }) => {
      const config = assistantConfig();
      if (!config) throw new TRPCError({ code: "PRECONDITION_FAILED", message: `the assistant is not configured. ${assistantStatus().help}` });
      const runtime = ctx.runtime;
      if (!runtime) throw new TRPCError({ code: "PRECONDITION_FAILED", message: "this server has no runtime for dry runs" });
      const sessionId = startSession((emit, signal) =>
        runAssistant(input.request, config, {
          db: ctx.db, sql: ctx.sql, wh: runtime.wh, filesDir: runtime.filesDir, wake: runtime.wake,
          pipelineId: input.pipelineId, allowSamples: input.allowSamples, sampleRows: config.sampleRows, signal,
        }, emit),
      );
      return { sessionId };
    }),

  events: publicProcedure
    .input(z.object({ sessionId: z.uuid(), lastEventId: z.string().nullish() }))
    .subscription(async function* ({ input, signal }) {
      const after = input.lastEventId === null || input.lastEventId === undefined ? 0 : Number(input.lastEventId) + 1;
      for await (const { index, event } of sessionEvents(input.sessionId, after, signal)) yield tracked(String(index), event);
    }),

  cancel: publicProcedure.input(z.object({ sessionId: z.uuid() })).mutation(({ input }) => ({ canceled: cancelSession(input.sessionId) })),
});
