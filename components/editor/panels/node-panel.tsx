"use client";
/**
 * The config panel of the one selected node: name (checked as you type, with
 * a suggestion), description, the kind's own form, and every per-node setting
 * with the inherited default as its placeholder. Problems from `validate` are
 * shown on the field whose path they name.
 */
import { useCallback, useMemo, type CSSProperties } from "react";
import { useShallow } from "zustand/react/shallow";
import {
  RETRY_BACKOFFS, TRIGGER_RULES, nameProblem, resolveNodeSettings, suggestName, type PipelineNode,
} from "@/server/pipeline";
import { kindStyle } from "@/components/canvas/node-kinds";
import { fieldProblems, useProblems } from "../problems";
import { readsName, useEditor } from "../store";
import { FieldProblems, NumberField, Section, SelectField, TextField, type Path } from "./fields";
import { KindForm } from "./kind-forms";

const SETTING_KEYS = ["retries", "retryDelaySeconds", "retryBackoff", "retryMaxDelaySeconds", "timeoutSeconds", "pool", "priority", "triggerRule"] as const;

export function NodePanel({ nodeId, onClose }: { nodeId: string; onClose: () => void }) {
  const node = useEditor((s) => s.document.nodes.find((n) => n.id === nodeId));
  const { defaults, edges, savedName } = useEditor(
    useShallow((s) => ({ defaults: s.document.defaults, edges: s.document.edges, savedName: s.savedDocument.nodes.find((n) => n.id === nodeId)?.name })),
  );
  const { updateNode, updateNodeConfig, renameNode } = useEditor(
    useShallow((s) => ({ updateNode: s.updateNode, updateNodeConfig: s.updateNodeConfig, renameNode: s.renameNode })),
  );
  const problems = useProblems();
  const problemsAt = useCallback((path: Path) => fieldProblems(problems, useEditor.getState().document, nodeId, path), [problems, nodeId]);

  // Names of the direct upstream nodes (for forEach and input).
  const nodes = useEditor((s) => s.document.nodes);
  const upstreamNames = useMemo(() => {
    const ids = new Set(edges.filter((e) => e.to === nodeId).map((e) => e.from));
    return nodes.filter((n) => ids.has(n.id)).map((n) => n.name);
  }, [edges, nodes, nodeId]);

  if (!node) return null;
  const inherited = resolveNodeSettings({ defaults }, Object.fromEntries(Object.entries(node).filter(([k]) => !(SETTING_KEYS as readonly string[]).includes(k))) as PipelineNode);
  const set = (patch: Partial<PipelineNode>) => updateNode(node.id, patch);
  const nameIssue = nameProblem(node.name);
  const suggestion = nameIssue ? suggestName(node.name) : null;
  const stillReading =
    savedName && savedName !== node.name ? nodes.filter((n) => n.id !== node.id && readsName(n, savedName)).map((n) => n.name) : [];
  const style = kindStyle(node.kind);

  return (
    <FieldProblems.Provider value={problemsAt}>
      <section aria-label={`Configure ${node.name}`} className="space-y-4">
        <header className="flex items-start justify-between gap-2">
          <div className="min-w-0">
            <p className="flex items-center gap-1.5 text-xs text-muted" style={{ "--kind-hue": style.hue } as CSSProperties}>
              <span className="kind-badge">{style.label}</span>
              <span className="font-mono" title={`id ${node.id}`}>{node.kind}</span>
            </p>
            <h2 className="mt-1 truncate font-mono text-base font-semibold">{node.name || "(no name)"}</h2>
          </div>
          <button type="button" className="btn btn-ghost btn-sm" onClick={onClose} aria-label="Close the node panel">✕</button>
        </header>

        <div className="space-y-3">
          <TextField
            label="Name"
            path={["name"]}
            value={node.name}
            extraError={nameIssue}
            mono
            onChange={(v) => renameNode(node.id, v)}
            hint={stillReading.length ? undefined : "Other nodes read this node's output by this name."}
          />
          {suggestion && suggestion !== node.name && (
            <button type="button" className="btn btn-sm -mt-1" onClick={() => renameNode(node.id, suggestion)}>
              Use “{suggestion}”
            </button>
          )}
          {stillReading.length > 0 && (
            <p role="note" className="rounded-md bg-warning-soft px-2.5 py-1.5 text-xs text-warning">
              {stillReading.join(", ")} still {stillReading.length === 1 ? "refers" : "refer"} to “{savedName}”: update {stillReading.length === 1 ? "its" : "their"} SQL or code.
            </p>
          )}
          <TextField label="Description" path={["description"]} value={node.description} multiline rows={2} onChange={(v) => set({ description: v || undefined })} />
        </div>

        <Section title={node.kind === "sql" ? "Query" : node.kind === "js" ? "Code" : "Configuration"}>
          <KindForm
            node={node}
            upstreamNames={upstreamNames}
            patch={(patch) => updateNodeConfig(node.id, patch)}
            replaceConfig={(config) => updateNode(node.id, { config } as Partial<PipelineNode>, `config:${node.id}:replace`)}
          />
        </Section>

        <Section title="Settings">
          <p className="-mt-1 text-xs text-muted">Empty fields inherit the pipeline&apos;s defaults, shown in grey.</p>
          <div className="grid grid-cols-2 gap-3">
            <NumberField label="Retries" path={["retries"]} step={1} value={node.retries} placeholder={String(inherited.retries)} onChange={(v) => set({ retries: v })} />
            <NumberField label="Retry delay (s)" path={["retryDelaySeconds"]} value={node.retryDelaySeconds} placeholder={String(inherited.retryDelaySeconds)} onChange={(v) => set({ retryDelaySeconds: v })} />
            <SelectField label="Retry backoff" path={["retryBackoff"]} value={node.retryBackoff} options={RETRY_BACKOFFS} emptyLabel={`${inherited.retryBackoff} (inherited)`} onChange={(v) => set({ retryBackoff: v })} />
            <NumberField label="Max retry delay (s)" path={["retryMaxDelaySeconds"]} value={node.retryMaxDelaySeconds} placeholder={String(inherited.retryMaxDelaySeconds)} onChange={(v) => set({ retryMaxDelaySeconds: v })} />
            <NumberField label="Timeout (s)" path={["timeoutSeconds"]} value={node.timeoutSeconds} placeholder={String(inherited.timeoutSeconds)} onChange={(v) => set({ timeoutSeconds: v })} />
            <NumberField label="Priority" path={["priority"]} step={1} value={node.priority} placeholder={String(inherited.priority)} onChange={(v) => set({ priority: v })} />
            <TextField label="Pool" path={["pool"]} value={node.pool} placeholder={inherited.pool} mono onChange={(v) => set({ pool: v || undefined })} />
            <SelectField label="Trigger rule" path={["triggerRule"]} value={node.triggerRule} options={TRIGGER_RULES} emptyLabel={`${inherited.triggerRule} (default)`} onChange={(v) => set({ triggerRule: v })} />
          </div>
          <SelectField
            label="For each row of"
            path={["forEach"]}
            value={node.forEach}
            options={node.forEach && !upstreamNames.includes(node.forEach) ? [...upstreamNames, node.forEach] : upstreamNames}
            emptyLabel={upstreamNames.length ? "— run once (no fan-out)" : "— run once (connect an upstream node to fan out)"}
            onChange={(v) => set({ forEach: v })}
            hint="Runs this node once per row of a direct upstream node's output."
          />
        </Section>
      </section>
    </FieldProblems.Provider>
  );
}
