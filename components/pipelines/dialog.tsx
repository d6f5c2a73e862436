"use client";
/**
 * A modal on the native <dialog>: the browser gives it the dialog role, focus
 * trapping, Escape to close and a backdrop. Open while `open` is true.
 */
import { useEffect, useId, useRef, type ReactNode } from "react";

interface DialogProps {
  open: boolean;
  title: string;
  description?: ReactNode;
  onClose: () => void;
  children: ReactNode;
  /** `wide` for dialogs that show a diff. */
  size?: "normal" | "wide";
}

export function Dialog({ open, title, description, onClose, children, size = "normal" }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descId = useId();

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);

  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      aria-describedby={description ? descId : undefined}
      onClose={onClose}
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
      className={`m-auto ${size === "wide" ? "w-[min(94vw,56rem)]" : "w-[min(92vw,28rem)]"} rounded-xl border border-line bg-surface p-0 text-fg shadow-2xl`}
    >
      {open && (
        <div className="p-5">
          <h2 id={titleId} className="text-base font-semibold">
            {title}
          </h2>
          {description && (
            <div id={descId} className="mt-1 text-sm text-muted">
              {description}
            </div>
          )}
          <div className="mt-4">{children}</div>
        </div>
      )}
    </dialog>
  );
}

/** The right-aligned Cancel / confirm row at the bottom of a dialog form. */
export function DialogActions({ children }: { children: ReactNode }) {
  return <div className="mt-5 flex justify-end gap-2">{children}</div>;
}
