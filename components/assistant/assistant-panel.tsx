"use client";
/**
 * The assistant panel, on the right of the pipeline page (opened by the
 * "Assistant" button in the header).
 *
 * 1. Without a provider it shows how to configure one, and nothing else.
 * 2. Four modes: draft a pipeline, suggest the next nodes after the selected
 *    node, write the selected SQL/JS cell, explain the selected node's failure
 *    in the shown run. "Send sample rows" (allowSamples) is on by default;
 *    secrets are never sent.
 * 3. The session's activity appears as it arrives: the context sent to the
 *    model, the streamed answer, tool calls and the checks of each round;
 *    errors are alerts; Cancel stops it.
 * 4. A result is reviewed, never applied by itself: a document shows as an
 *    overlay on the canvas (editor store `proposal`), a cell as a Monaco diff;
 *    Accept makes one undoable change, Reject drops it.
 */
import { useQuery } from "@tanstack/react-query";
import dynamic from "next/dynamic";
import { useEffect, useId, useMemo, useRef, useState, type FormEvent, type ReactNode } from "react";
import { useShallow } from "zustand/react/shallow";
import type { PipelineFile, PipelineNode } from "@/server/pipeline";
import type { AssistantResult } from "@/server/assistant/repair-loop";
import { toProposalFlow } from "@/components/canvas/adapter";
import { useEditor } from "@/components/editor/store";
import { useRunView } from "@/components/runs/store";
import { useTRPC, useTRPCClient } from "@/components/trpc/client";
import { placeProposal } from "./place";
import { useAssistant, type ActivityItem, type AssistantMode, type AssistantRequest, type AssistantSession } from "./store";

const CodeDiff = dynamic(() => import("./code-diff"), {
  ssr: false,
  loading: () => <div className="grid h-24 place-items-center rounded-md border border-line text-xs text-muted">Loading diff…</div>,
});

export const ASSISTANT_PANEL_ID = "assistant-panel";

const MODES: { mode: AssistantMode; label: string }[] = [
  { mode: "draft", label: "Draft pipeline" },
  { mode: "suggest", label: "Suggest next nodes" },
  { mode: "cell", label: "Write cell" },
  { mode: "explain", label: "Explain failure" },
];

/** The header button that opens and closes the panel. */
export function AssistantButton() {
  const { open, setOpen } = useAssistant(useShallow((s) => ({ open: s.open, setOpen: s.setOpen })));
  return (
    <button
      type="button"
      className={`btn ${open ? "border-accent bg-accent-soft" : ""}`}
      aria-expanded={open}
      aria-controls={open ? ASSISTANT_PANEL_ID : undefined}
      onClick={() => setOpen(!open)}
      title="Draft a pipeline, suggest nodes, write a cell or explain a failure"
    >
      <SparkIcon />
      Assistant
    </button>
  );
}

function SparkIcon() {
  return (
    <svg aria-hidden="true" viewBox="0 0 20 20" className="size-4 text-accent" fill="currentColor">
      <path d="M10 2.5l1.6 4.3 4.4 1.7-4.4 1.7L10 14.5l-1.6-4.3L4 8.5l4.4-1.7L10 2.5zM15.5 12.5l.8 2 2 .8-2 .8-.8 2-.8-2-2-.8 2-.8.8-2z" />
    </svg>
  );
}

export function AssistantPanel({ pipelineId, width }: { pipelineId: string; width: number }) {
  const trpc = useTRPC();
  const status = useQuery({ ...trpc.assistant.status.queryOptions(), staleTime: 60_000 });
  const setOpen = useAssistant((s) => s.setOpen);

  return (
    <aside
      id={ASSISTANT_PANEL_ID}
      aria-label="Assistant"
      className="flex shrink-0 flex-col border-l border-line bg-surface"
      style={{ width }}
    >
      <div className="flex items-center gap-2 border-b border-line px-4 py-2.5">
        <SparkIcon />
        <h2 className="font-semibold">Assistant</h2>
        {status.data?.configured && (
          <span className="min-w-0 truncate rounded bg-surface-2 px-1.5 py-0.5 font-mono text-[11px] text-muted" title={`Model ${status.data.model} at ${status.data.provider}`}>
            {status.data.model} · {status.data.provider}
          </span>
        )}
        <button type="button" className="btn btn-ghost btn-sm ml-auto" onClick={() => setOpen(false)} aria-label="Close assistant" title="Close">
          ✕
        </button>
      </div>
      <div className="min-h-0 flex-1 overflow-y-auto px-4 py-3" data-assistant-scroll>
        {status.isLoading ? (
          <p className="text-sm text-muted" aria-busy="true">Checking the assistant&apos;s configuration…</p>
        ) : status.error ? (
          <p role="alert" className="rounded-md border border-danger/40 bg-danger-soft px-3 py-2 text-sm text-danger">
            Could not reach the server to check the assistant: {status.error.message}
          </p>
        ) : !status.data?.configured ? (
          <NotConfigured help={status.data?.help ?? ""} />
        ) : (
          <Configured pipelineId={pipelineId} sampleRows={status.data.sampleRows} />
        )}
      </div>
    </aside>
  );
}

/** How to configure a provider; the local-server example as a command. */
function NotConfigured({ help }: { help: string }) {
  const example = /OPENAI_BASE_URL=\S+(?:\s+\w+=\S+)*\s+npm start/.exec(help)?.[0];
  return (
    <section aria-label="Assistant not configured" className="space-y-3 text-sm">
      <h3 className="font-semibold">No model provider is configured</h3>
      <p className="text-muted">{help}</p>
      {example && (
        <div>
          <p className="mb-1 text-xs font-medium text-muted">A local model (Ollama), no key needed:</p>
          <pre className="overflow-x-auto rounded-md bg-surface-2 px-3 py-2 font-mono text-xs whitespace-pre-wrap">{example}</pre>
        </div>
      )}
      <p className="text-xs text-muted">Restart Tributary after setting them. Everything else works without the assistant.</p>
    </section>
  );
}

function Configured({ pipelineId, sampleRows }: { pipelineId: string; sampleRows: number }) {
  const client = useTRPCClient();
  const session = useAssistant((s) => (s.session?.pipelineId === pipelineId ? s.session : null));
  const { start, cancel } = useAssistant(useShallow((s) => ({ start: s.start, cancel: s.cancel })));
  const { selection, nodes } = useEditor(useShallow((s) => ({ selection: s.selection, nodes: s.document.nodes })));
  const selected = selection.length === 1 ? nodes.find((n) => n.id === selection[0]) : undefined;
  const { runId, failed } = useRunView(
    useShallow((s) => ({
      runId: s.pipelineId === pipelineId ? s.runId : null,
      failed: selected && s.pipelineId === pipelineId && s.nodeRuns?.[selected.id]?.state === "failed",
    })),
  );

  const [mode, setMode] = useState<AssistantMode>("draft");
  const [description, setDescription] = useState("");
  const [instruction, setInstruction] = useState("");
  const [allowSamples, setAllowSamples] = useState(true);
  const formId = useId();

  const running = session?.status === "starting" || session?.status === "running";
  const isCode = selected?.kind === "sql" || selected?.kind === "js";
  const blocked: Record<AssistantMode, string | null> = {
    draft: null,
    suggest: selected ? null : "Select one node on the canvas: the suggestions follow it.",
    cell: isCode ? null : selected ? `${selected.name} is a ${selected.kind} node: select a SQL or JS node.` : "Select a SQL or JS node on the canvas.",
    explain: !runId
      ? "Show a run first (run the pipeline, or choose one in the run bar)."
      : !selected
        ? "Select the node that failed in the shown run."
        : failed
          ? null
          : `${selected.name} did not fail in the shown run.`,
  };
  const reason = blocked[mode];
  const needsText = mode === "draft" ? description.trim().length < 3 : mode === "cell" ? !instruction.trim() : false;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (running || reason || needsText) return;
    const editor = useEditor.getState();
    editor.rejectProposal();
    const doc = editor.document;
    let request: AssistantRequest;
    let summary: string;
    if (mode === "draft") {
      request = { kind: "draft", description: description.trim() };
      summary = description.trim();
    } else if (mode === "suggest") {
      request = { kind: "suggest", document: doc, nodeId: selected!.id, ...(instruction.trim() ? { instruction: instruction.trim() } : {}) };
      summary = `Next nodes after ${selected!.name}${instruction.trim() ? `: ${instruction.trim()}` : ""}`;
    } else if (mode === "cell") {
      request = { kind: "cell", document: doc, nodeId: selected!.id, instruction: instruction.trim() };
      summary = `${selected!.name}: ${instruction.trim()}`;
    } else {
      request = { kind: "explain", document: doc, nodeId: selected!.id, runId: runId! };
      summary = `Why did ${selected!.name} fail in run ${runId!.slice(0, 8)}?`;
    }
    void start(client, { pipelineId, request, allowSamples, summary });
  };

  return (
    <div className="space-y-4">
      <form id={formId} onSubmit={submit} className="space-y-3" aria-label="Ask the assistant">
        <fieldset>
          <legend className="mb-1.5 text-xs font-semibold tracking-wide text-muted uppercase">What should it do?</legend>
          <div className="grid grid-cols-2 gap-1.5">
            {MODES.map((m) => (
              <label
                key={m.mode}
                className="flex cursor-pointer items-center gap-2 rounded-md border border-line-strong px-2.5 py-1.5 text-sm has-checked:border-accent has-checked:bg-accent-soft has-focus-visible:outline-2 has-focus-visible:outline-accent"
              >
                <input type="radio" name={`${formId}-mode`} value={m.mode} checked={mode === m.mode} onChange={() => setMode(m.mode)} className="accent-(--accent)" />
                {m.label}
              </label>
            ))}
          </div>
        </fieldset>

        {mode === "draft" && (
          <Field label="Describe the pipeline" hint="Sources, what to compute, where the result goes.">
            {(id) => (
              <textarea
                id={id}
                className="input min-h-24 resize-y"
                value={description}
                onChange={(e) => setDescription(e.target.value)}
                placeholder="e.g. Read data/pos_sales.csv and compute revenue per store per day"
              />
            )}
          </Field>
        )}
        {mode !== "draft" && (
          <SelectedNode node={selected} reason={reason} failedRun={mode === "explain" && runId && failed ? runId : null} />
        )}
        {mode === "suggest" && !reason && (
          <Field label="What should come next? (optional)">
            {(id) => <textarea id={id} className="input min-h-16 resize-y" value={instruction} onChange={(e) => setInstruction(e.target.value)} placeholder="e.g. a check that qty is positive" />}
          </Field>
        )}
        {mode === "cell" && !reason && (
          <Field label="What should the cell do?">
            {(id) => (
              <textarea
                id={id}
                className="input min-h-20 resize-y"
                value={instruction}
                onChange={(e) => setInstruction(e.target.value)}
                placeholder={selected?.kind === "js" ? "e.g. keep rows whose qty is above 10" : "e.g. total revenue per store"}
              />
            )}
          </Field>
        )}

        <div className="rounded-md bg-surface-2 px-3 py-2 text-xs">
          <label className="flex items-center gap-2 text-sm font-medium">
            <input type="checkbox" checked={allowSamples} onChange={(e) => setAllowSamples(e.target.checked)} className="accent-(--accent)" />
            Send sample rows
          </label>
          <p className="mt-1 text-muted">
            {allowSamples
              ? `The model may read up to ${sampleRows} rows per table to see your data.`
              : "The model sees table and column names and types, never row values."}{" "}
            Secrets (connection passwords and tokens) are never sent.
          </p>
        </div>

        <div className="flex items-center gap-2">
          {running ? (
            // Keyed apart: were it the same DOM button, the click that cancels would then submit the form.
            <button key="cancel" type="button" className="btn" onClick={() => cancel(client)}>
              Cancel
            </button>
          ) : (
            <button key="submit" type="submit" className="btn btn-primary" disabled={!!reason || needsText}>
              {MODES.find((m) => m.mode === mode)!.label}
            </button>
          )}
          {running && (
            <span role="status" className="flex items-center gap-2 text-sm text-muted">
              <Spinner /> Working…
            </span>
          )}
        </div>
      </form>

      {session && <SessionView key={session.key} session={session} />}
    </div>
  );
}

function Field({ label, hint, children }: { label: string; hint?: string; children: (id: string) => ReactNode }) {
  const id = useId();
  return (
    <div>
      <label htmlFor={id} className="mb-1 block text-sm font-medium">
        {label}
      </label>
      {children(id)}
      {hint && <p className="mt-1 text-xs text-muted">{hint}</p>}
    </div>
  );
}

function SelectedNode({ node, reason, failedRun }: { node: PipelineNode | undefined; reason: string | null; failedRun: string | null }) {
  if (reason) return <p className="rounded-md border border-dashed border-line-strong px-3 py-2 text-sm text-muted">{reason}</p>;
  if (!node) return null;
  return (
    <p className="text-sm">
      Selected node: <span className="font-mono font-semibold">{node.name}</span> <span className="text-muted">({node.kind})</span>
      {failedRun && <span className="text-muted"> · failed in run {failedRun.slice(0, 8)}</span>}
    </p>
  );
}

function Spinner() {
  return <span aria-hidden="true" className="inline-block size-3.5 animate-spin rounded-full border-2 border-accent border-t-transparent" />;
}

const ERROR_TITLES: Record<string, string> = {
  auth: "The model server refused the API key",
  rate_limit: "The model server is rate limiting requests",
  timeout: "The model did not answer in time",
  unreachable: "Cannot reach the model server",
  malformed: "The model server's answer could not be read",
  not_configured: "The assistant is not configured",
  connection: "Lost the connection to the assistant",
  request: "The request was refused",
  provider: "The assistant failed",
};

function SessionView({ session }: { session: AssistantSession }) {
  const running = session.status === "starting" || session.status === "running";
  const listRef = useRef<HTMLOListElement>(null);
  // Keep the newest activity in view while it streams.
  useEffect(() => {
    const list = listRef.current;
    const scroller = list?.closest("[data-assistant-scroll]");
    if (!list || !scroller || !running) return;
    scroller.scrollTop = scroller.scrollHeight;
  }, [session.activity, running]);

  return (
    <section aria-label="Assistant session" className="space-y-3 border-t border-line pt-3">
      <p className="text-sm">
        <span className="text-muted">You asked: </span>
        <span className="whitespace-pre-wrap">{session.summary}</span>
      </p>
      {session.activity.length > 0 && (
        <ol ref={listRef} aria-label="Assistant activity" className="space-y-1.5">
          {session.activity.map((item, i) => (
            <li key={i}>
              <Activity
                item={item}
                live={running && i === session.activity.length - 1}
                afterTools={item.type === "request" && session.activity.slice(0, i).some((x) => x.type === "request" && x.round === item.round)}
              />
            </li>
          ))}
        </ol>
      )}
      {session.status === "error" && session.error && (
        <div role="alert" className="rounded-md border border-danger/40 bg-danger-soft px-3 py-2 text-sm text-danger">
          <p className="font-semibold">{ERROR_TITLES[session.error.kind] ?? "The assistant failed"}</p>
          <p className="mt-0.5">{session.error.message}</p>
        </div>
      )}
      {session.status === "canceled" && <p className="text-sm text-muted" role="status">Canceled. Nothing was changed.</p>}
      {session.result && <ResultView session={session} result={session.result} />}
    </section>
  );
}

function Activity({ item, live, afterTools }: { item: ActivityItem; live: boolean; afterTools: boolean }) {
  if (item.type === "request") {
    const label = afterTools
      ? "Tool results sent to the model"
      : item.round === 0 ? "Context sent to the model" : `Context sent to the model (repair round ${item.round})`;
    return (
      <details className="group rounded-md border border-line bg-surface text-sm">
        <summary className="cursor-pointer px-2.5 py-1.5 select-none">
          <span className="font-medium">{label}</span>{" "}
          <span className="text-xs text-muted">
            · {item.messages.length} message{item.messages.length === 1 ? "" : "s"}
            {item.tools.length ? ` · ${item.tools.length} tools` : ""}
          </span>
        </summary>
        <div className="space-y-2 border-t border-line px-2.5 py-2">
          {item.messages.map((m, i) => (
            <div key={i}>
              <div className="mb-0.5 text-[11px] font-semibold tracking-wide text-muted uppercase">{m.role}</div>
              <pre className="max-h-56 overflow-auto rounded bg-surface-2 px-2 py-1.5 font-mono text-[11px] leading-snug whitespace-pre-wrap">{m.content}</pre>
            </div>
          ))}
          {item.tools.length > 0 && <p className="text-xs text-muted">Tools offered: {item.tools.join(", ")}</p>}
        </div>
      </details>
    );
  }
  if (item.type === "text") {
    if (live) {
      return (
        <div className="rounded-md border border-accent/40 bg-accent-soft/40 text-sm">
          <div className="flex items-center gap-2 px-2.5 py-1.5 font-medium">
            <Spinner /> The model is answering…
          </div>
          <pre className="max-h-40 overflow-auto border-t border-line px-2.5 py-1.5 font-mono text-[11px] leading-snug whitespace-pre-wrap" aria-live="off">
            {item.text}
          </pre>
        </div>
      );
    }
    return (
      <details className="rounded-md border border-line text-sm">
        <summary className="cursor-pointer px-2.5 py-1.5 select-none">
          <span className="font-medium">Model&apos;s answer</span> <span className="text-xs text-muted">· {item.text.length.toLocaleString("en-US")} characters</span>
        </summary>
        <pre className="max-h-56 overflow-auto border-t border-line px-2.5 py-1.5 font-mono text-[11px] leading-snug whitespace-pre-wrap">{item.text}</pre>
      </details>
    );
  }
  if (item.type === "tool") {
    return (
      <details className="rounded-md border border-line text-sm">
        <summary className="cursor-pointer px-2.5 py-1.5 select-none">
          <span className="text-muted">Tool call:</span> <span className="font-mono font-medium">{item.name}</span>{" "}
          <span className="font-mono text-xs text-muted">{short(item.arguments, 60)}</span>
        </summary>
        <div className="space-y-1.5 border-t border-line px-2.5 py-2">
          <div className="text-[11px] font-semibold tracking-wide text-muted uppercase">Arguments</div>
          <pre className="max-h-32 overflow-auto rounded bg-surface-2 px-2 py-1 font-mono text-[11px] whitespace-pre-wrap">{item.arguments || "{}"}</pre>
          <div className="text-[11px] font-semibold tracking-wide text-muted uppercase">Result</div>
          <pre className="max-h-48 overflow-auto rounded bg-surface-2 px-2 py-1 font-mono text-[11px] whitespace-pre-wrap">{item.result}</pre>
        </div>
      </details>
    );
  }
  const title = item.round === 0 ? "Check of the first answer" : `Check after repair round ${item.round}`;
  if (!item.problems.length) {
    return (
      <p className="flex items-center gap-2 rounded-md border border-success/40 px-2.5 py-1.5 text-sm">
        <span aria-hidden="true" className="text-success">✓</span>
        <span>
          <span className="font-medium">{title}:</span> passed (validation and dry run)
        </span>
      </p>
    );
  }
  return (
    <div className="rounded-md border border-warning/50 bg-warning-soft/60 px-2.5 py-1.5 text-sm">
      <p>
        <span aria-hidden="true" className="text-warning">⚠ </span>
        <span className="font-medium">{title}:</span> {item.problems.length} problem{item.problems.length === 1 ? "" : "s"}, sent back to the model
      </p>
      <ul className="mt-1 list-disc space-y-0.5 pl-5 font-mono text-[11px] break-words">
        {item.problems.map((p, i) => (
          <li key={i}>{p}</li>
        ))}
      </ul>
    </div>
  );
}

function short(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

function Usage({ result }: { result: AssistantResult }) {
  return (
    <p className="text-xs text-muted" data-testid="assistant-usage">
      {result.rounds} repair round{result.rounds === 1 ? "" : "s"} · {result.usage.total.toLocaleString("en-US")} tokens
      <span className="sr-only"> ({result.usage.prompt} prompt, {result.usage.completion} completion)</span>
    </p>
  );
}

function ResultView({ session, result }: { session: AssistantSession; result: AssistantResult }) {
  const isCell = (result.kind === "cell" || result.kind === "explain") && result.code !== null && result.nodeId !== null;
  const isDocument = (result.kind === "draft" || result.kind === "suggest") && result.document !== null;
  const ref = useRef<HTMLElement>(null);
  // The answer is what the user came for: bring it into view when it arrives.
  useEffect(() => {
    // After the review below it has drawn (the proposal or the diff); the panel scrolls, never
    // the page (scrollIntoView would move the page too).
    const timer = window.setTimeout(() => {
      const el = ref.current;
      const scroller = el?.closest("[data-assistant-scroll]");
      if (!el || !scroller) return;
      const top = el.getBoundingClientRect().top - scroller.getBoundingClientRect().top + scroller.scrollTop - 12;
      scroller.scrollTo({ top, behavior: "smooth" });
    }, 100);
    return () => window.clearTimeout(timer);
  }, []);
  return (
    <section ref={ref} aria-label="Assistant's answer" className={`space-y-2.5 rounded-lg border px-3 py-2.5 ${result.ok ? "border-line-strong" : "border-warning/60"}`}>
      <div>
        <h3 className="font-semibold">{result.ok ? (isCell || isDocument ? "Proposal ready for review" : "Answer") : "Proposal with problems"}</h3>
        <Usage result={result} />
      </div>
      {result.explanation && <p className="text-sm whitespace-pre-wrap">{result.explanation}</p>}
      {!result.ok && result.remaining.length > 0 && (
        <div className="rounded-md bg-warning-soft px-2.5 py-1.5 text-sm">
          <p className="font-semibold text-warning">Still wrong:</p>
          <ul className="mt-0.5 list-disc space-y-0.5 pl-5 font-mono text-[11px] break-words">
            {result.remaining.map((p, i) => (
              <li key={i}>{p}</li>
            ))}
          </ul>
        </div>
      )}
      {isDocument && <DocumentReview session={session} result={result} />}
      {isCell && <CellReview session={session} result={result} />}
      {!isDocument && !isCell && result.kind === "explain" && (
        <p className="text-xs text-muted">No change to this node&apos;s code was proposed; the explanation says where the fix is.</p>
      )}
    </section>
  );
}

function Settled({ how }: { how: "accepted" | "rejected" }) {
  return (
    <p role="status" className="text-sm text-muted">
      {how === "accepted" ? "Accepted: the pipeline changed (Ctrl+Z undoes it; Save keeps it)." : "Rejected: nothing was changed."}
    </p>
  );
}

/** Draft and suggest: the proposal on the canvas, with Accept and Reject here. */
function DocumentReview({ session, result }: { session: AssistantSession; result: AssistantResult }) {
  const settle = useAssistant((s) => s.settle);
  const { proposal, document: current, propose, acceptProposal, rejectProposal } = useEditor(
    useShallow((s) => ({ proposal: s.proposal, document: s.document, propose: s.propose, acceptProposal: s.acceptProposal, rejectProposal: s.rejectProposal })),
  );
  const shownFor = useRef<AssistantResult | null>(null);

  // Show the proposal once, when the result arrives (placed, and named like this pipeline).
  useEffect(() => {
    if (session.settled || shownFor.current === result || !result.document) return;
    shownFor.current = result;
    const doc = useEditor.getState().document;
    const proposed: PipelineFile = result.kind === "draft" ? { ...result.document, name: doc.name } : result.document;
    const label = result.kind === "draft"
      ? `Accepted the drafted pipeline (${proposed.nodes.length} nodes). Ctrl+Z brings the old one back.`
      : `Accepted the suggested nodes. Ctrl+Z removes them.`;
    propose(placeProposal(doc, proposed), label);
  }, [result, session.settled, propose]);

  const counts = useMemo(() => {
    if (!proposal) return null;
    const nodes = toProposalFlow(proposal.base, proposal.document).nodes;
    const names = (mark: string) => nodes.filter((n) => n.data.proposal === mark).map((n) => n.data.name);
    return { added: names("added"), changed: names("changed"), removed: names("removed") };
  }, [proposal]);

  if (session.settled) return <Settled how={session.settled} />;
  if (!proposal || !counts) {
    return (
      <div className="flex items-center gap-2 text-sm text-muted">
        The proposal is no longer shown on the canvas.
        <button type="button" className="btn btn-sm" onClick={() => settle("rejected")}>
          Dismiss
        </button>
      </div>
    );
  }
  const stale = proposal.base !== current;
  return (
    <div className="space-y-2">
      <p className="text-sm">Shown on the canvas:</p>
      <ul className="space-y-0.5 text-sm" aria-label="Proposed changes">
        <ChangeLine tone="text-success" sign="+" label="added" names={counts.added} />
        <ChangeLine tone="text-warning" sign="~" label="changed" names={counts.changed} />
        <ChangeLine tone="text-danger" sign="−" label="removed" names={counts.removed} />
      </ul>
      {stale && (
        <p className="rounded-md bg-warning-soft px-2.5 py-1.5 text-xs text-warning">
          The pipeline was edited after this proposal was made; accepting replaces those edits (Ctrl+Z still brings them back).
        </p>
      )}
      <ReviewButtons
        ok={result.ok}
        onAccept={() => {
          acceptProposal();
          settle("accepted");
        }}
        onReject={() => {
          rejectProposal();
          settle("rejected");
        }}
      />
    </div>
  );
}

function ChangeLine({ tone, sign, label, names }: { tone: string; sign: string; label: string; names: string[] }) {
  return (
    <li className={names.length ? "" : "text-muted"}>
      <span className={`inline-block w-3 font-mono font-bold ${names.length ? tone : ""}`} aria-hidden="true">
        {sign}
      </span>{" "}
      {names.length} {label}
      {names.length > 0 && <span className="font-mono text-xs text-muted">: {short(names.join(", "), 90)}</span>}
    </li>
  );
}

function ReviewButtons({ ok, onAccept, onReject, disabled }: { ok: boolean; onAccept(): void; onReject(): void; disabled?: boolean }) {
  return (
    <div className="flex flex-wrap items-center gap-2 pt-0.5">
      <button type="button" className={`btn ${ok ? "btn-primary" : "border-warning text-warning"}`} onClick={onAccept} disabled={disabled}>
        {ok ? "Accept" : "Accept anyway"}
      </button>
      <button type="button" className="btn" onClick={onReject}>
        Reject
      </button>
      {!ok && <span className="text-xs text-muted">It did not pass its checks: you decide.</span>}
    </div>
  );
}

/** Cell and explain: the node's current code against the proposed code, as a diff. */
function CellReview({ session, result }: { session: AssistantSession; result: AssistantResult }) {
  const settle = useAssistant((s) => s.settle);
  const node = useEditor((s) => s.document.nodes.find((n) => n.id === result.nodeId));
  const replaceDocument = useEditor((s) => s.replaceDocument);
  if (session.settled) return <Settled how={session.settled} />;
  if (!node || (node.kind !== "sql" && node.kind !== "js")) {
    return <p className="text-sm text-muted">The node this code was written for is no longer in the pipeline.</p>;
  }
  const field = node.kind === "sql" ? "sql" : "code";
  const current = node.kind === "sql" ? node.config.sql : node.config.code;
  const accept = () => {
    const doc = useEditor.getState().document;
    const next: PipelineFile = {
      ...doc,
      nodes: doc.nodes.map((n) => (n.id === node.id ? ({ ...n, config: { ...n.config, [field]: result.code! } } as PipelineNode) : n)),
    };
    replaceDocument(next, `Accepted the assistant's ${node.kind === "sql" ? "SQL" : "code"} for ${node.name}. Ctrl+Z brings the old one back.`);
    settle("accepted");
  };
  return (
    <div className="space-y-2">
      <CodeDiff
        id={`${session.key}-${node.id}`}
        language={node.kind === "sql" ? "sql" : "javascript"}
        original={current}
        proposed={result.code!}
        label={`Proposed ${node.kind === "sql" ? "SQL" : "code"} for ${node.name}`}
      />
      {current === result.code && <p className="text-xs text-muted">The proposed code is the same as the current code.</p>}
      <ReviewButtons ok={result.ok} onAccept={accept} onReject={() => settle("rejected")} />
    </div>
  );
}
