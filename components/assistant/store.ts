"use client";
/**
 * The assistant panel's state: whether it is open, and the one session it
 * shows — its request, the events that arrived (context sent, streamed text,
 * tool calls, checks) and how it ended (a result, an error, or canceled).
 *
 * The session follows `assistant.events` (SSE, tracked: a reconnect resumes
 * after the last event) outside React, so closing the panel does not stop it.
 * Nothing here changes the document: a result becomes a proposal only when
 * the panel shows it, and the document changes only when the user accepts.
 */
import { create } from "zustand";
import type { AssistantEvent, AssistantResult } from "@/server/assistant/repair-loop";
import type { useTRPCClient } from "@/components/trpc/client";
import { errorMessage } from "@/components/pipelines/errors";

type Client = ReturnType<typeof useTRPCClient>;
export type AssistantMode = "draft" | "suggest" | "cell" | "explain";
export type AssistantRequest = Parameters<Client["assistant"]["start"]["mutate"]>[0]["request"];

/** One line of the session's activity, in the order it happened. */
export type ActivityItem =
  | { type: "request"; round: number; messages: { role: string; content: string }[]; tools: string[] }
  | { type: "text"; text: string }
  | { type: "tool"; name: string; arguments: string; result: string }
  | { type: "check"; round: number; problems: string[] };

export interface AssistantSession {
  /** Local id: a new session (even of the same request) is a new object with a new key. */
  key: number;
  pipelineId: string | null;
  mode: AssistantMode;
  /** The node the request was about (suggest, cell, explain). */
  nodeId: string | null;
  /** What the user asked, as shown in the panel. */
  summary: string;
  sessionId: string | null;
  status: "starting" | "running" | "done" | "error" | "canceled";
  activity: ActivityItem[];
  result: AssistantResult | null;
  error: { kind: string; message: string } | null;
  /** The result was accepted or rejected: the review is over. */
  settled: "accepted" | "rejected" | null;
}

interface AssistantState {
  open: boolean;
  session: AssistantSession | null;
  setOpen(open: boolean): void;
  start(client: Client, input: { pipelineId: string | null; request: AssistantRequest; allowSamples: boolean; summary: string }): Promise<void>;
  cancel(client: Client): void;
  settle(how: "accepted" | "rejected"): void;
  clear(): void;
}

let keys = 0;
let subscription: { unsubscribe(): void } | null = null;

function stop() {
  subscription?.unsubscribe();
  subscription = null;
}

/** The activity after one event: text deltas join the text item before them. */
export function addEvent(activity: ActivityItem[], event: AssistantEvent): ActivityItem[] {
  if (event.type === "text") {
    const last = activity[activity.length - 1];
    if (last?.type === "text") return [...activity.slice(0, -1), { type: "text", text: last.text + event.delta }];
    return [...activity, { type: "text", text: event.delta }];
  }
  if (event.type === "request") return [...activity, { type: "request", round: event.round, messages: event.messages, tools: event.tools }];
  if (event.type === "tool") return [...activity, { type: "tool", name: event.name, arguments: event.arguments, result: event.result }];
  if (event.type === "check") return [...activity, { type: "check", round: event.round, problems: event.problems }];
  return activity;
}

export const useAssistant = create<AssistantState>()((set, get) => {
  /** Apply `patch` to the session `key`, if it is still the one shown. */
  const update = (key: number, patch: (s: AssistantSession) => Partial<AssistantSession>) => {
    const s = get().session;
    if (s && s.key === key) set({ session: { ...s, ...patch(s) } });
  };

  return {
    open: false,
    session: null,

    setOpen(open) {
      set({ open });
    },

    async start(client, { pipelineId, request, allowSamples, summary }) {
      stop();
      const key = ++keys;
      const nodeId = "nodeId" in request ? request.nodeId : null;
      set({
        session: {
          key, pipelineId, mode: request.kind, nodeId, summary, sessionId: null, status: "starting",
          activity: [], result: null, error: null, settled: null,
        },
      });
      let sessionId: string;
      try {
        ({ sessionId } = await client.assistant.start.mutate({ request, allowSamples, ...(pipelineId ? { pipelineId } : {}) }));
      } catch (error) {
        update(key, () => ({ status: "error", error: { kind: "request", message: errorMessage(error) } }));
        return;
      }
      const now = get().session;
      if (!now || now.key !== key || now.status === "canceled") {
        // Canceled (or replaced) while starting: stop the server's session too.
        void client.assistant.cancel.mutate({ sessionId }).catch(() => {});
        return;
      }
      update(key, () => ({ sessionId, status: "running" }));
      const sub = client.assistant.events.subscribe(
        { sessionId, lastEventId: null },
        {
          onData(tracked) {
            const event = tracked.data as AssistantEvent;
            if (event.type === "result") update(key, () => ({ status: "done", result: event.result }));
            else if (event.type === "error") {
              update(key, (s) => (s.status === "canceled" ? {} : { status: event.kind === "canceled" ? "canceled" : "error", error: { kind: event.kind, message: event.message } }));
            } else update(key, (s) => ({ activity: addEvent(s.activity, event) }));
          },
          onError(error) {
            update(key, (s) =>
              s.status === "running" ? { status: "error", error: { kind: "connection", message: `lost the assistant's session: ${errorMessage(error)}` } } : {},
            );
          },
          onComplete() {
            // The session ended without a result or an error (it should not): say so rather than spin.
            update(key, (s) =>
              s.status === "running" ? { status: "error", error: { kind: "connection", message: "the assistant's session ended without an answer" } } : {},
            );
          },
        },
      );
      subscription = sub;
    },

    cancel(client) {
      const s = get().session;
      if (!s || (s.status !== "running" && s.status !== "starting")) return;
      set({ session: { ...s, status: "canceled", error: null } });
      stop();
      if (s.sessionId) void client.assistant.cancel.mutate({ sessionId: s.sessionId }).catch(() => {});
    },

    settle(how) {
      const s = get().session;
      if (s) set({ session: { ...s, settled: how } });
    },

    clear() {
      stop();
      set({ session: null });
    },
  };
});
