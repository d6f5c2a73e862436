/**
 * Assistant sessions in this server process: a request starts one, its events are
 * kept in order so a client can follow them (and resume after a reconnect), and
 * it can be canceled. Finished sessions are forgotten after a while.
 */
import type { AssistantEvent, AssistantResult } from "./repair-loop";
import { AssistantError } from "./errors";

interface Session {
  events: AssistantEvent[];
  done: boolean;
  controller: AbortController;
  wake: Set<() => void>;
  finishedAt?: number;
}

const KEEP_MS = 10 * 60_000;
const MAX_SESSIONS = 100;
const sessions = new Map<string, Session>();

function sweep(): void {
  const now = Date.now();
  for (const [id, s] of sessions) if (s.finishedAt && now - s.finishedAt > KEEP_MS) sessions.delete(id);
  while (sessions.size > MAX_SESSIONS) {
    const oldest = [...sessions].find(([, s]) => s.done)?.[0] ?? sessions.keys().next().value!;
    sessions.get(oldest)?.controller.abort();
    sessions.delete(oldest);
  }
}

/** Start `work` in the background; its events and its result (or error) become the session's events. */
export function startSession(work: (emit: (e: AssistantEvent) => void, signal: AbortSignal) => Promise<AssistantResult>): string {
  sweep();
  const id = crypto.randomUUID();
  const session: Session = { events: [], done: false, controller: new AbortController(), wake: new Set() };
  sessions.set(id, session);
  const push = (e: AssistantEvent) => {
    session.events.push(e);
    for (const w of session.wake) w();
  };
  void work(push, session.controller.signal)
    .then((result) => push({ type: "result", result }))
    .catch((error: unknown) => {
      const e = error instanceof AssistantError ? error : new AssistantError("provider", (error as Error)?.message ?? String(error));
      push({ type: "error", kind: e.kind, message: e.message });
    })
    .finally(() => {
      session.done = true;
      session.finishedAt = Date.now();
      for (const w of session.wake) w();
    });
  return id;
}

/** The session's events after index `after`, then new ones as they come, until it is done. */
export async function* sessionEvents(id: string, after: number, signal?: AbortSignal): AsyncGenerator<{ index: number; event: AssistantEvent }> {
  const session = sessions.get(id);
  if (!session) throw new AssistantError("provider", `no assistant session ${id} (it finished more than 10 minutes ago, or the server restarted)`);
  let next = after;
  for (;;) {
    while (next < session.events.length) {
      yield { index: next, event: session.events[next]! };
      next++;
    }
    if (session.done || signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        session.wake.delete(done);
        resolve();
      };
      session.wake.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}

export function cancelSession(id: string): boolean {
  const session = sessions.get(id);
  if (!session || session.done) return false;
  session.controller.abort();
  return true;
}
