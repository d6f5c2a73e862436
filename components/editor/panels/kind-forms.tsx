"use client";
/**
 * The kind-specific part of the config panel: one small form per no-code kind,
 * and the Monaco cell for sql and js. Every control writes through
 * `updateNodeConfig`, so the forms hold no state of their own.
 */
import type { CheckRule, NodeConfig, PipelineNode } from "@/server/pipeline";
import { SINK_MODES } from "@/server/pipeline";
import { CodeCell } from "../code-cell";
import { CheckboxField, KeyValueField, ListField, NumberField, SelectField, TextField } from "./fields";

type Patch = (patch: Record<string, unknown>) => void;

export function KindForm({ node, upstreamNames, patch, replaceConfig }: { node: PipelineNode; upstreamNames: string[]; patch: Patch; replaceConfig: (config: Record<string, unknown>) => void }) {
  switch (node.kind) {
    case "sql":
    case "js":
      return <CodeCell nodeId={node.id} host="panel" height={220} />;
    case "source.csv":
      return <CsvForm config={node.config} patch={patch} />;
    case "source.http":
      return <HttpForm config={node.config} patch={patch} />;
    case "source.query":
      return (
        <>
          <TextField label="Connection" path={["config", "connection"]} value={node.config.connection} onChange={(v) => patch({ connection: v })} mono />
          <TextField label="Query" path={["config", "sql"]} value={node.config.sql} onChange={(v) => patch({ sql: v })} mono multiline rows={5} />
        </>
      );
    case "sink.table":
      return <SinkForm config={node.config} patch={patch} upstreamNames={upstreamNames} />;
    case "check":
      return <CheckForm config={node.config} patch={patch} upstreamNames={upstreamNames} />;
    case "branch":
      return (
        <TextField label="Condition (SQL returning one boolean)" path={["config", "condition"]} value={node.config.condition} onChange={(v) => patch({ condition: v })} mono multiline
          hint="Edges from the true handle run when it holds; the false handle's otherwise." />
      );
    case "sensor":
      return (
        <>
          <TextField label="Condition (SQL returning one boolean)" path={["config", "condition"]} value={node.config.condition} onChange={(v) => patch({ condition: v })} mono multiline />
          <NumberField label="Poll interval (seconds)" path={["config", "pollIntervalSeconds"]} value={node.config.pollIntervalSeconds} placeholder="30" onChange={(v) => patch({ pollIntervalSeconds: v })} />
          <TextField label="Connection" path={["config", "connection"]} value={node.config.connection} placeholder="the warehouse" onChange={(v) => patch({ connection: v || undefined })} mono />
        </>
      );
    case "notify":
      return <NotifyForm config={node.config} patch={patch} replaceConfig={replaceConfig} />;
    case "pipeline":
      return (
        <>
          <TextField label="Pipeline to run" path={["config", "pipeline"]} value={node.config.pipeline} onChange={(v) => patch({ pipeline: v })} mono />
          <CheckboxField label="Wait for it to finish" checked={node.config.wait ?? true} onChange={(v) => patch({ wait: v ? undefined : false })} />
        </>
      );
  }
}

function CsvForm({ config, patch }: { config: NodeConfig<"source.csv">; patch: Patch }) {
  return (
    <>
      <TextField label="Path" path={["config", "path"]} value={config.path} onChange={(v) => patch({ path: v })} mono hint="Relative paths resolve against the data folder." />
      <div className="grid grid-cols-2 gap-3">
        <TextField label="Delimiter" path={["config", "delimiter"]} value={config.delimiter} placeholder="," onChange={(v) => patch({ delimiter: v || undefined })} mono />
        <SelectField label="Encoding" path={["config", "encoding"]} value={config.encoding} options={["utf8", "latin1"] as const} emptyLabel="utf8 (default)" onChange={(v) => patch({ encoding: v })} />
      </div>
      <CheckboxField label="First row is a header" checked={config.header ?? true} onChange={(v) => patch({ header: v ? undefined : false })} />
      <ListField label="Null values" path={["config", "nullValues"]} value={config.nullValues} placeholder="NA, -" onChange={(v) => patch({ nullValues: v })} />
    </>
  );
}

function HttpForm({ config, patch }: { config: NodeConfig<"source.http">; patch: Patch }) {
  return (
    <>
      <TextField label="URL" path={["config", "url"]} value={config.url} onChange={(v) => patch({ url: v })} mono />
      <div className="grid grid-cols-2 gap-3">
        <SelectField label="Method" path={["config", "method"]} value={config.method} options={["GET", "POST"] as const} emptyLabel="GET (default)" onChange={(v) => patch({ method: v })} />
        <SelectField label="Format" path={["config", "format"]} value={config.format} options={["json", "ndjson", "csv"] as const} emptyLabel="json (default)" onChange={(v) => patch({ format: v })} />
      </div>
      <TextField label="Records path" path={["config", "recordsPath"]} value={config.recordsPath} placeholder="data.items" onChange={(v) => patch({ recordsPath: v || undefined })} mono hint="Dot path to the array of records in a JSON answer." />
      <KeyValueField label="Headers" path={["config", "headers"]} value={config.headers} onChange={(v) => patch({ headers: v })} />
      {config.method === "POST" && <TextField label="Body" path={["config", "body"]} value={config.body} onChange={(v) => patch({ body: v || undefined })} mono multiline />}
      <TextField label="Connection (sent as Authorization)" path={["config", "connection"]} value={config.connection} onChange={(v) => patch({ connection: v || undefined })} mono />
    </>
  );
}

function InputSelect({ value, upstreamNames, patch }: { value: string | undefined; upstreamNames: string[]; patch: Patch }) {
  const options = value && !upstreamNames.includes(value) ? [...upstreamNames, value] : upstreamNames;
  return (
    <SelectField label="Input" path={["config", "input"]} value={value} options={options} emptyLabel={upstreamNames.length === 1 ? `${upstreamNames[0]} (the only upstream)` : "—"}
      onChange={(v) => patch({ input: v })} hint="Which upstream node to read when there are several." />
  );
}

function SinkForm({ config, patch, upstreamNames }: { config: NodeConfig<"sink.table">; patch: Patch; upstreamNames: string[] }) {
  return (
    <>
      <TextField label="Table" path={["config", "table"]} value={config.table} onChange={(v) => patch({ table: v })} mono hint="table or schema.table" />
      <SelectField label="Mode" path={["config", "mode"]} value={config.mode} options={SINK_MODES} onChange={(v) => patch({ mode: v ?? "append" })} />
      {(config.mode === "upsert" || config.key) && (
        <ListField label="Key columns" path={["config", "key"]} value={config.key} placeholder="id" onChange={(v) => patch({ key: v })} hint="Rows with the same key are updated, not added." />
      )}
      <InputSelect value={config.input} upstreamNames={upstreamNames} patch={patch} />
      <TextField label="Connection" path={["config", "connection"]} value={config.connection} placeholder="the warehouse" onChange={(v) => patch({ connection: v || undefined })} mono />
    </>
  );
}

const RULE_TYPES: CheckRule["type"][] = ["not_null", "unique", "accepted_values", "range", "expression", "row_count"];

function newRule(type: CheckRule["type"]): CheckRule {
  switch (type) {
    case "not_null": return { type, column: "" };
    case "unique": return { type, columns: [] };
    case "accepted_values": return { type, column: "", values: [] };
    case "range": return { type, column: "", min: 0 };
    case "expression": return { type, sql: "" };
    case "row_count": return { type, min: 1 };
  }
}

function CheckForm({ config, patch, upstreamNames }: { config: NodeConfig<"check">; patch: Patch; upstreamNames: string[] }) {
  const rules = config.rules;
  const setRule = (i: number, rule: CheckRule) => patch({ rules: rules.map((r, j) => (j === i ? rule : r)) });
  return (
    <>
      <fieldset className="space-y-2">
        <legend className="mb-1 text-xs font-medium">Rules</legend>
        {rules.map((rule, i) => {
          const at = (field: string) => ["config", "rules", i, field] as const;
          const set = (fields: Record<string, unknown>) => setRule(i, { ...rule, ...fields } as CheckRule);
          return (
            <div key={i} className="space-y-2 rounded-md border border-line bg-bg p-2.5" role="group" aria-label={`Rule ${i + 1}: ${rule.type}`}>
              <div className="flex items-center justify-between">
                <span className="font-mono text-xs font-semibold">{i + 1}. {rule.type}</span>
                <button type="button" className="btn btn-ghost btn-sm" aria-label={`Remove rule ${i + 1}`} onClick={() => patch({ rules: rules.filter((_, j) => j !== i) })}>✕</button>
              </div>
              {"column" in rule && <TextField label="Column" path={at("column")} value={rule.column} onChange={(v) => set({ column: v })} mono />}
              {rule.type === "unique" && <ListField label="Columns" path={at("columns")} value={rule.columns} onChange={(v) => set({ columns: v ?? [] })} />}
              {rule.type === "accepted_values" && (
                <ListField label="Accepted values" path={at("values")} value={rule.values.map(String)} onChange={(v) => set({ values: v ?? [] })} />
              )}
              {(rule.type === "range" || rule.type === "row_count") && (
                <div className="grid grid-cols-2 gap-2">
                  <NumberField label="Min" path={at("min")} value={rule.min} onChange={(v) => set({ min: v })} />
                  <NumberField label="Max" path={at("max")} value={rule.max} onChange={(v) => set({ max: v })} />
                </div>
              )}
              {rule.type === "expression" && (
                <>
                  <TextField label="Every row must satisfy (SQL)" path={at("sql")} value={rule.sql} placeholder="qty > 0" onChange={(v) => set({ sql: v })} mono />
                  <TextField label="Label" path={at("label")} value={rule.label} onChange={(v) => set({ label: v || undefined })} />
                </>
              )}
            </div>
          );
        })}
      </fieldset>
      <div className="flex flex-wrap gap-1.5" role="group" aria-label="Add a rule">
        {RULE_TYPES.map((type) => (
          <button key={type} type="button" className="btn btn-sm font-mono" onClick={() => patch({ rules: [...rules, newRule(type)] })} aria-label={`Add ${type} rule`}>
            + {type}
          </button>
        ))}
      </div>
      <SelectField label="On violation" path={["config", "onViolation"]} value={config.onViolation} options={[{ value: "fail", label: "fail the task" }, { value: "warn", label: "warn and continue" }] as const}
        emptyLabel="fail the task (default)" onChange={(v) => patch({ onViolation: v })} />
      <InputSelect value={config.input} upstreamNames={upstreamNames} patch={patch} />
    </>
  );
}

function NotifyForm({ config, patch, replaceConfig }: { config: NodeConfig<"notify">; patch: Patch; replaceConfig: (c: Record<string, unknown>) => void }) {
  const switchTo = (channel: string | undefined) => {
    if (!channel || channel === config.channel) return;
    if (channel === "email") replaceConfig({ channel, to: [], subject: "", body: "", connection: "" });
    else if (channel === "slack") replaceConfig({ channel, url: "url" in config ? config.url : undefined, connection: "connection" in config ? config.connection : undefined, text: "" });
    else replaceConfig({ channel, url: "url" in config ? config.url : undefined, connection: "connection" in config ? config.connection : undefined });
  };
  return (
    <>
      <SelectField label="Channel" path={["config", "channel"]} value={config.channel} options={["webhook", "slack", "email"] as const} onChange={switchTo} />
      {config.channel !== "email" && (
        <>
          <TextField label="URL" path={["config", "url"]} value={config.url} onChange={(v) => patch({ url: v || undefined })} mono />
          <TextField label="Connection (holds the URL)" path={["config", "connection"]} value={config.connection} onChange={(v) => patch({ connection: v || undefined })} mono />
        </>
      )}
      {config.channel === "webhook" && (
        <>
          <SelectField label="Method" path={["config", "method"]} value={config.method} options={["POST", "PUT"] as const} emptyLabel="POST (default)" onChange={(v) => patch({ method: v })} />
          <KeyValueField label="Headers" path={["config", "headers"]} value={config.headers} onChange={(v) => patch({ headers: v })} />
          <TextField label="Body" path={["config", "body"]} value={config.body} onChange={(v) => patch({ body: v || undefined })} mono multiline />
        </>
      )}
      {config.channel === "slack" && <TextField label="Message" path={["config", "text"]} value={config.text} onChange={(v) => patch({ text: v })} multiline />}
      {config.channel === "email" && (
        <>
          <ListField label="To" path={["config", "to"]} value={config.to} placeholder="data-team@example.com" onChange={(v) => patch({ to: v ?? [] })} />
          <TextField label="Subject" path={["config", "subject"]} value={config.subject} onChange={(v) => patch({ subject: v })} />
          <TextField label="Body" path={["config", "body"]} value={config.body} onChange={(v) => patch({ body: v })} multiline />
          <TextField label="SMTP connection" path={["config", "connection"]} value={config.connection} onChange={(v) => patch({ connection: v })} mono />
        </>
      )}
    </>
  );
}
