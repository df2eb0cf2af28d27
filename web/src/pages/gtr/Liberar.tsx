import { useState } from "react";
import { mensajeDeError, sessionApi } from "../../api/sessionApi";
import { Countdown } from "../../components/Countdown";
import { Dialogo } from "../../components/Dialogo";
import { edad } from "../../lib/gtrDesk";
import { localNow } from "../../lib/clock";
import { useBoardStore } from "../../stores/boardStore";

export interface Tenencia {
  id: number;
  nombre: string;
  asesor: string;
  desde: number | null;
  deadline: number | null;
}

/** "Liberar" asks first: who holds the client, for how long, and what follows. */
export function Liberar({ t, offset, warn }: { t: Tenencia; offset: number; warn: number }) {
  const avisar = useBoardStore((s) => s.avisar);
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [keepNotes, setKeepNotes] = useState(true);
  const abrir = () => {
    setKeepNotes(true);
    setOpen(true);
  };
  const go = async () => {
    setBusy(true);
    try {
      await sessionApi.release(t.id, keepNotes);
      setOpen(false);
    } catch (e) {
      avisar("warning", `No se pudo liberar a ${t.nombre}: ${mensajeDeError(e)}`);
      setOpen(false);
    } finally {
      setBusy(false);
    }
  };
  const hace = t.desde === null ? null : localNow() + offset - t.desde;
  const hora = t.desde === null ? "" : new Date((t.desde - offset) * 1000)
    .toLocaleTimeString("es-PE", { hour: "2-digit", minute: "2-digit" });
  return (
    <>
      <button type="button" className="danger" onClick={abrir} aria-label={`Liberar ${t.nombre}`}>
        Liberar
      </button>
      {open && (
        <Dialogo titulo={`¿Liberar a ${t.nombre}?`} onClose={() => setOpen(false)} testId="dialogo-liberar">
          <p>
            <strong>{t.asesor}</strong> lo gestiona desde hace <strong>{edad(hace)}</strong>
            {hora && <> (desde las {hora})</>}; quedan <Countdown deadline={t.deadline} offset={offset} warn={warn} />.
          </p>
          <p className="muted">
            La gestión termina ahora: el cliente vuelve a GTR como «no gestionado» y el asesor recibe un aviso.
          </p>
          <label className="check">
            <input type="checkbox" checked={keepNotes} onChange={(e) => setKeepNotes(e.target.checked)}
              aria-describedby={`liberar-notas-${t.id}`} data-testid="conservar-notas" />
            Conservar las notas del asesor en el historial
          </label>
          <p className="muted small" id={`liberar-notas-${t.id}`}>
            {keepNotes
              ? "Las notas que el asesor aún no guardó se añaden al historial del cliente."
              : "Las notas que el asesor aún no guardó quedan solo en su consola, como borrador."}
          </p>
          <div className="row end">
            <button type="button" className="secondary" autoFocus data-autofocus onClick={() => setOpen(false)}>Cancelar</button>
            <button type="button" className="danger solid" disabled={busy} onClick={go}>Liberar ahora</button>
          </div>
        </Dialogo>
      )}
    </>
  );
}
