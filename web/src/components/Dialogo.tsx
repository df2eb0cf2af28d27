import { type ReactNode, useEffect, useRef } from "react";

/** A modal <dialog>: focus stays inside, Escape closes it (native behaviour).
 * Focus starts on the first focusable element, or on one marked `data-autofocus`. */
export function Dialogo({ titulo, onClose, children, testId }: {
  titulo: string; onClose: () => void; children: ReactNode; testId?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useRef(`dlg-${Math.random().toString(36).slice(2)}`).current;
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) {
      d.showModal();
      // showModal focuses the first focusable element; `data-autofocus` names another
      d.querySelector<HTMLElement>("[data-autofocus]")?.focus();
    }
    return () => d?.close();
  }, []);
  return (
    <dialog ref={ref} className="dialogo" aria-labelledby={id} data-testid={testId}
      onCancel={(e) => { e.preventDefault(); onClose(); }}>
      <h2 id={id}>{titulo}</h2>
      {children}
    </dialog>
  );
}
