"use client";
/** A labelled pipeline-name input whose error (the server's message) is tied to it for screen readers. */
import { useId } from "react";

interface NameFieldProps {
  value: string;
  onChange: (value: string) => void;
  error?: string;
  label?: string;
}

export function NameField({ value, onChange, error, label = "Name" }: NameFieldProps) {
  const id = useId();
  return (
    <div>
      <label htmlFor={`${id}-input`} className="block text-sm font-medium">
        {label}
      </label>
      <input
        id={`${id}-input`}
        className="input mt-1 font-mono"
        value={value}
        onChange={(event) => onChange(event.target.value)}
        autoFocus
        autoComplete="off"
        spellCheck={false}
        placeholder="daily_sales"
        aria-invalid={error ? true : undefined}
        aria-describedby={`${id}-${error ? "error" : "hint"}`}
      />
      {error ? (
        <p id={`${id}-error`} role="alert" className="mt-1.5 text-sm text-danger">
          {error}
        </p>
      ) : (
        <p id={`${id}-hint`} className="mt-1.5 text-xs text-muted">
          Lower-case letters, digits and _ ; it becomes a SQL identifier.
        </p>
      )}
    </div>
  );
}
