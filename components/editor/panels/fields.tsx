"use client";
/**
 * Labelled form controls for the config panel. Each takes the path of its
 * value inside the node (e.g. ["config", "path"]) and shows the problems that
 * `validate` reports at exactly that path on the field itself.
 */
import { createContext, useContext, useId, useState, type ReactNode } from "react";
import type { Problem } from "@/server/pipeline";

export type Path = readonly (string | number)[];

export const FieldProblems = createContext<(path: Path) => Problem[]>(() => []);

function useProblemsAt(path: Path | undefined): Problem[] {
  const at = useContext(FieldProblems);
  return path ? at(path) : [];
}

interface Base {
  label: string;
  path?: Path;
  hint?: ReactNode;
  /** Problems from elsewhere to show on this field (e.g. the live name check). */
  extraError?: string | null;
}

function Shell({ id, label, hint, errors, children }: { id: string; label: string; hint?: ReactNode; errors: string[]; children: ReactNode }) {
  return (
    <div className="min-w-0">
      <label htmlFor={id} className="mb-1 block text-xs font-medium text-fg">
        {label}
      </label>
      {children}
      {errors.map((e, i) => (
        <p key={i} id={`${id}-err${i}`} className="mt-1 text-xs text-danger">
          {e}
        </p>
      ))}
      {hint && !errors.length && <p className="mt-1 text-xs text-muted">{hint}</p>}
    </div>
  );
}

function useErrors(path: Path | undefined, extra: string | null | undefined): string[] {
  const problems = useProblemsAt(path).map((p) => p.message);
  // The live check and validate say the same thing in other words: show it once.
  return extra ? [extra, ...problems.filter((m) => !m.includes(extra))] : problems;
}

function described(id: string, errors: string[]) {
  return errors.length ? { "aria-invalid": true as const, "aria-describedby": errors.map((_, i) => `${id}-err${i}`).join(" ") } : {};
}

export function TextField({
  label, path, hint, extraError, value, onChange, placeholder, mono, multiline, rows = 3,
}: Base & { value: string | undefined; onChange: (v: string) => void; placeholder?: string; mono?: boolean; multiline?: boolean; rows?: number }) {
  const id = useId();
  const errors = useErrors(path, extraError);
  const cls = `input ${mono ? "font-mono text-[12.5px]" : ""} py-1.5`;
  return (
    <Shell id={id} label={label} hint={hint} errors={errors}>
      {multiline ? (
        <textarea id={id} className={cls} rows={rows} value={value ?? ""} placeholder={placeholder} onChange={(e) => onChange(e.target.value)} spellCheck={false} {...described(id, errors)} />
      ) : (
        <input id={id} className={cls} value={value ?? ""} placeholder={placeholder} onChange={(e) => onChange(e.target.value)} spellCheck={false} autoComplete="off" {...described(id, errors)} />
      )}
    </Shell>
  );
}

/** A number; empty means "not set" (undefined), so the inherited default applies. */
export function NumberField({
  label, path, hint, value, onChange, placeholder, step,
}: Base & { value: number | undefined; onChange: (v: number | undefined) => void; placeholder?: string; step?: number }) {
  const id = useId();
  const errors = useErrors(path, null);
  return (
    <Shell id={id} label={label} hint={hint} errors={errors}>
      <input
        id={id}
        type="number"
        inputMode="decimal"
        step={step ?? "any"}
        className="input py-1.5"
        value={value ?? ""}
        placeholder={placeholder}
        onChange={(e) => onChange(e.target.value === "" || Number.isNaN(e.target.valueAsNumber) ? undefined : e.target.valueAsNumber)}
        {...described(id, errors)}
      />
    </Shell>
  );
}

export function SelectField<T extends string>({
  label, path, hint, value, onChange, options, emptyLabel,
}: Base & { value: T | undefined; onChange: (v: T | undefined) => void; options: readonly (T | { value: T; label: string })[]; emptyLabel?: string }) {
  const id = useId();
  const errors = useErrors(path, null);
  return (
    <Shell id={id} label={label} hint={hint} errors={errors}>
      <select id={id} className="input py-1.5" value={value ?? ""} onChange={(e) => onChange(e.target.value === "" ? undefined : (e.target.value as T))} {...described(id, errors)}>
        {emptyLabel !== undefined && <option value="">{emptyLabel}</option>}
        {options.map((o) => {
          const v = typeof o === "string" ? o : o.value;
          return (
            <option key={v} value={v}>
              {typeof o === "string" ? o : o.label}
            </option>
          );
        })}
      </select>
    </Shell>
  );
}

export function CheckboxField({ label, path, hint, checked, onChange }: Base & { checked: boolean; onChange: (v: boolean) => void }) {
  const id = useId();
  const errors = useErrors(path, null);
  return (
    <div>
      <label htmlFor={id} className="flex items-center gap-2 text-sm">
        <input id={id} type="checkbox" className="size-4 accent-[var(--accent)]" checked={checked} onChange={(e) => onChange(e.target.checked)} {...described(id, errors)} />
        {label}
      </label>
      {errors.map((e, i) => (
        <p key={i} id={`${id}-err${i}`} className="mt-1 text-xs text-danger">{e}</p>
      ))}
      {hint && <p className="mt-1 text-xs text-muted">{hint}</p>}
    </div>
  );
}

/** A list of key → value rows (HTTP headers). */
export function KeyValueField({
  label, path, value, onChange, keyLabel = "Name", valueLabel = "Value",
}: Base & { value: Record<string, string> | undefined; onChange: (v: Record<string, string> | undefined) => void; keyLabel?: string; valueLabel?: string }) {
  const errors = useErrors(path, null);
  const rows = Object.entries(value ?? {});
  const set = (next: [string, string][]) => onChange(next.length ? Object.fromEntries(next) : undefined);
  return (
    <fieldset className="min-w-0">
      <legend className="mb-1 text-xs font-medium">{label}</legend>
      <div className="space-y-1.5">
        {rows.map(([k, v], i) => (
          <div key={i} className="flex gap-1.5">
            <input className="input py-1 font-mono text-xs" aria-label={`${label} ${i + 1} ${keyLabel.toLowerCase()}`} value={k}
              onChange={(e) => set(rows.map((r, j) => (j === i ? [e.target.value, r[1]] : r)))} />
            <input className="input py-1 font-mono text-xs" aria-label={`${label} ${i + 1} ${valueLabel.toLowerCase()}`} value={v}
              onChange={(e) => set(rows.map((r, j) => (j === i ? [r[0], e.target.value] : r)))} />
            <button type="button" className="btn btn-ghost btn-sm" aria-label={`Remove ${label.toLowerCase()} ${i + 1}`} onClick={() => set(rows.filter((_, j) => j !== i))}>✕</button>
          </div>
        ))}
      </div>
      <button type="button" className="btn btn-sm mt-1.5" onClick={() => set([...rows, [rows.some(([k]) => k === "") ? `header_${rows.length + 1}` : "", ""]])}>
        + Add {label.toLowerCase().replace(/s$/, "")}
      </button>
      {errors.map((e, i) => <p key={i} className="mt-1 text-xs text-danger">{e}</p>)}
    </fieldset>
  );
}

/** Comma-separated strings edited as one line (null values, key columns, e-mail addresses). */
export function ListField({
  label, path, hint, value, onChange, placeholder,
}: Base & { value: readonly string[] | undefined; onChange: (v: string[] | undefined) => void; placeholder?: string }) {
  const joined = (value ?? []).join(", ");
  // The typed text is kept as typed ("a, " stays) while it means the same list as the document's.
  const [draft, setDraft] = useState(joined);
  const parse = (text: string) => text.split(",").map((s) => s.trim()).filter(Boolean);
  const shown = parse(draft).join(", ") === joined ? draft : joined;
  return (
    <TextField
      label={label}
      path={path}
      hint={hint ?? "Comma-separated"}
      value={shown}
      placeholder={placeholder}
      mono
      onChange={(text) => {
        setDraft(text);
        const items = parse(text);
        onChange(items.length ? items : undefined);
      }}
    />
  );
}

export function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="border-t border-line pt-3" aria-label={title}>
      <h3 className="mb-2.5 text-xs font-semibold tracking-wide text-muted uppercase">{title}</h3>
      <div className="space-y-3">{children}</div>
    </section>
  );
}
