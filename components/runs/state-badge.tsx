/** A task or run state as a small pill: icon, label, and the state as its accessible name. */
import { stateStyle } from "./types";

export function StateBadge({ state, testId, compact }: { state: string; testId?: string; compact?: boolean }) {
  const s = stateStyle(state);
  return (
    <span
      className={`inline-flex shrink-0 items-center gap-1 rounded-full px-1.5 py-px text-[10.5px] font-semibold whitespace-nowrap ${s.badge}`}
      data-state={state}
      data-testid={testId}
    >
      <span aria-hidden="true" className={state === "running" ? "run-spin inline-block" : ""}>{s.icon}</span>
      {!compact && s.label}
    </span>
  );
}
