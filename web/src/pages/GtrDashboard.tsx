import { memo, useMemo, useState } from "react";
import { mensajeDeError, sessionApi } from "../api/sessionApi";
import { Countdown } from "../components/Countdown";
import { Header, Reconectando } from "../components/Header";
import { useLiveBoard } from "../hooks/useLiveBoard";
import { type Card, COLUMNAS, columnas } from "../lib/board";
import { mmss, warnAt } from "../lib/clock";
import { useBoardStore } from "../stores/boardStore";
import { useSessionStore } from "../stores/sessionStore";

const POOL = "pool";
const RAZON_CORTA: Record<string, string> = { timeout: "tiempo agotado", released: "liberado", orphan: "huérfano" };
const RESULTADO: Record<string, string> = { gestionado: "gestionado", cerrado: "cerrado", no_gestionado: "no gestionado" };

/** "Derivar…" opens the advisor choice for this one card only: a board of
 * hundreds of clients must not render hundreds of advisor lists. */
function Derivar({ card }: { card: Card }) {
  const asesores = useBoardStore((s) => s.asesores);
  const avisar = useBoardStore((s) => s.avisar);
  const [open, setOpen] = useState(false);
  const [to, setTo] = useState<string>("");
  const [busy, setBusy] = useState(false);
  const nombre = card.nombre ?? `#${card.id}`;
  const go = async () => {
    if (!to) return;
    setBusy(true);
    try {
      await sessionApi.derivar(card.id, to === POOL ? null : Number(to));
      setOpen(false);
      setTo("");
    } catch (e) {
      avisar("warning", `No se pudo derivar a ${nombre}: ${mensajeDeError(e)}`);
    } finally {
      setBusy(false);
    }
  };
  if (!open) {
    return (
      <div className="row">
        <button type="button" className="secondary" onClick={() => setOpen(true)} aria-label={`Derivar ${nombre}`}>
          Derivar…
        </button>
      </div>
    );
  }
  return (
    <div className="row">
      <select autoFocus aria-label={`Asesor para ${nombre}`} value={to} onChange={(e) => setTo(e.target.value)}
        onKeyDown={(e) => e.key === "Escape" && setOpen(false)}>
        <option value="">Elegir asesor…</option>
        <option value={POOL}>Pool compartido</option>
        {Object.entries(asesores).map(([id, n]) => (
          <option key={id} value={id}>{n}</option>
        ))}
      </select>
      <button type="button" disabled={!to || busy} onClick={go} aria-label={`Confirmar derivación de ${nombre}`}>
        OK
      </button>
      <button type="button" className="link" onClick={() => setOpen(false)} aria-label={`Cancelar derivación de ${nombre}`}>
        ×
      </button>
    </div>
  );
}

function Liberar({ card }: { card: Card }) {
  const avisar = useBoardStore((s) => s.avisar);
  const [busy, setBusy] = useState(false);
  const nombre = card.nombre ?? `#${card.id}`;
  const go = async () => {
    setBusy(true);
    try {
      await sessionApi.release(card.id);
    } catch (e) {
      avisar("warning", `No se pudo liberar a ${nombre}: ${mensajeDeError(e)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <button type="button" className="danger" disabled={busy} onClick={go} aria-label={`Forzar liberación de ${nombre}`}>
      Liberar
    </button>
  );
}

const Tarjeta = memo(function Tarjeta({ card, offset, warn }: { card: Card; offset: number; warn: number }) {
  const asesores = useBoardStore((s) => s.asesores);
  const asesor = card.asesor_id !== null ? asesores[card.asesor_id] ?? `Asesor #${card.asesor_id}` : null;
  return (
    <li className="card" data-testid={`cliente-${card.id}`} data-estado={card.estado}>
      <div className="card-head">
        <strong>{card.nombre ?? `Cliente #${card.id}`}</strong>
        <span className="muted">#{card.id}</span>
      </div>
      {card.estado === "derivado" && <div className="muted">{asesor ?? "Pool compartido"}</div>}
      {card.estado === "en_gestion" && (
        <>
          <div className="muted">{asesor}</div>
          <div className="row spread">
            <Countdown deadline={card.deadline} offset={offset} warn={warn} />
            <Liberar card={card} />
          </div>
        </>
      )}
      {(card.estado === "gestionado" || card.estado === "cerrado") && (
        <div className="muted">{RESULTADO[card.estado]}{asesor ? ` · ${asesor}` : ""}</div>
      )}
      {card.estado === "no_gestionado" && card.reason && (
        <div className="tag warn">{RAZON_CORTA[card.reason] ?? card.reason}</div>
      )}
      {(card.estado === "nuevo" || card.estado === "no_gestionado" || card.estado === "derivado") && (
        <Derivar card={card} />
      )}
    </li>
  );
});

function Cifras() {
  const figures = useBoardStore((s) => s.figures);
  return (
    <section className="figures" aria-labelledby="cifras-title">
      <h2 id="cifras-title">Asesores hoy</h2>
      <table data-testid="cifras">
        <thead>
          <tr><th scope="col">Asesor</th><th scope="col">Activas</th><th scope="col"><abbr title="Gestionados hoy">Gest.</abbr></th>
            <th scope="col"><abbr title="Devueltos por tiempo agotado hoy">Agot.</abbr></th><th scope="col"><abbr title="Tiempo medio de gestión">T. medio</abbr></th></tr>
        </thead>
        <tbody>
          {figures.map((f) => (
            <tr key={f.asesor_id} data-testid={`cifras-${f.asesor_id}`}>
              <th scope="row">{f.nombre}</th>
              <td>{f.active}</td>
              <td>{f.completed_today}</td>
              <td>{f.timed_out_today}</td>
              <td>{f.mean_handling_seconds === null ? "—" : mmss(f.mean_handling_seconds)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted legend">Gest.: gestionados hoy · Agot.: tiempo agotado hoy · T. medio: duración media de la gestión</p>
    </section>
  );
}

export function GtrDashboard() {
  const { state } = useLiveBoard();
  const cards = useBoardStore((s) => s.cards);
  const offset = useBoardStore((s) => s.offset);
  const loaded = useBoardStore((s) => s.loaded);
  const avisos = useBoardStore((s) => s.avisos);
  const timeout = useSessionStore((s) => s.auth?.timing.timeout ?? 600);
  const cols = useMemo(() => columnas(cards), [cards]);
  const warn = warnAt(timeout);
  return (
    <div className="page">
      <Header title="Tablero GTR" state={state} />
      <Reconectando state={state} />
      <div className="gtr">
        <main className="board" aria-busy={!loaded}>
          {COLUMNAS.map((c) => (
            <section key={c.key} className={`column col-${c.key}`} aria-labelledby={`col-${c.key}`} data-testid={`col-${c.key}`}>
              <h2 id={`col-${c.key}`}>
                {c.titulo} <span className="count">{cols[c.key].length}</span>
              </h2>
              <ul>
                {cols[c.key].map((card) => (
                  <Tarjeta key={card.id} card={card} offset={offset} warn={warn} />
                ))}
              </ul>
            </section>
          ))}
        </main>
        <aside className="side">
          <Cifras />
          <section aria-labelledby="avisos-title" className="avisos">
            <h2 id="avisos-title">Avisos</h2>
            <ul aria-live="polite" data-testid="avisos">
              {avisos.map((a) => <li key={a.id} className={a.kind}>{a.text}</li>)}
              {avisos.length === 0 && <li className="muted">Sin avisos.</li>}
            </ul>
          </section>
        </aside>
      </div>
    </div>
  );
}
