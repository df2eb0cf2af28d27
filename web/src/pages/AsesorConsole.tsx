import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiError, mensajeDeError, sessionApi } from "../api/sessionApi";
import type { PushEvent, Resultado, SessionOut } from "../api/types";
import { Countdown } from "../components/Countdown";
import { Header, Reconectando } from "../components/Header";
import { HeartbeatTimer, heartbeatIntervalMs, SESSION_GONE } from "../hooks/socketLogic";
import { useLiveBoard } from "../hooks/useLiveBoard";
import { misClientes } from "../lib/board";
import { mmss, warnAt } from "../lib/clock";
import { useBoardStore } from "../stores/boardStore";
import { useSessionStore } from "../stores/sessionStore";

const RESULTADOS: { value: Resultado; label: string }[] = [
  { value: "gestionado", label: "Gestionado (contacto logrado)" },
  { value: "no_gestionado", label: "No gestionado (devolver a GTR)" },
  { value: "cerrado", label: "Cerrado (no volver a llamar)" },
];
const RAZON: Record<string, string> = {
  timeout: "se agotó el tiempo sin actividad",
  released: "GTR liberó la gestión",
  orphan: "la gestión quedó huérfana",
};

function Wizard({ heartbeat }: { heartbeat: (id: number, sid?: string) => Promise<SessionOut> }) {
  const active = useSessionStore((s) => s.active)!;
  const auth = useSessionStore((s) => s.auth)!;
  const draft = useSessionStore((s) => s.draft);
  const setDraft = useSessionStore((s) => s.setDraft);
  const setSession = useSessionStore((s) => s.setSession);
  const clearSession = useSessionStore((s) => s.clearSession);
  const left = useSessionStore((s) => s.secondsLeft());
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const warn = warnAt(auth.timing.timeout);
  const nombre = active.nombre ?? `Cliente #${active.cliente_id}`;
  const timer = useRef<HeartbeatTimer | null>(null);

  const beat = useCallback(() => {
    const a = useSessionStore.getState().active;
    if (!a) return;
    heartbeat(a.cliente_id, a.session_id).then(
      (s) => {
        if (useSessionStore.getState().active?.session_id === s.session_id) setSession(s);
      },
      (e) => {
        if (e instanceof ApiError && SESSION_GONE.has(e.code)) {
          clearSession({ kind: "warning", text: `${nombre} fue devuelto a GTR: la gestión ya no está activa.` });
        }
      },
    );
  }, [heartbeat, setSession, clearSession, nombre]);

  useEffect(() => {
    const interval = heartbeatIntervalMs(auth.timing.heartbeat_interval, import.meta.env.VITE_HEARTBEAT_INTERVAL);
    const t = new HeartbeatTimer(beat, interval, Math.min(5000, interval / 2));
    t.start();
    timer.current = t;
    return () => t.stop();
  }, [beat, auth.timing.heartbeat_interval, active.session_id]);

  const activity = () => timer.current?.activity();

  const cerrar = async () => {
    if (!draft.resultado) {
      setError("Elija un resultado.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await sessionApi.end(active.cliente_id, draft.resultado, draft.notas, active.session_id);
      clearSession({ kind: "info", text: `Gestión de ${nombre} cerrada como «${draft.resultado.replace("_", " ")}».` });
    } catch (e) {
      if (e instanceof ApiError && SESSION_GONE.has(e.code)) {
        clearSession({ kind: "warning", text: `${nombre} fue devuelto a GTR antes de cerrar: ${mensajeDeError(e)}` });
      } else setError(mensajeDeError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="wizard" aria-labelledby="wizard-title" data-testid="wizard" onKeyDown={activity} onClick={activity}>
      <div className="row spread">
        <h2 id="wizard-title">Gestionando: {nombre}</h2>
        <div className="ttl">
          Tiempo restante <Countdown deadline={active.deadline} offset={active.offset} warn={warn} />
        </div>
      </div>
      {left !== null && left <= warn && (
        <p className="notice warning" role="alert" data-testid="aviso-timeout">
          Atención: la gestión vence en {mmss(left)}. Cualquier actividad la mantiene abierta;
          si no, el cliente volverá a GTR.
        </p>
      )}
      <fieldset>
        <legend>1. Resultado de la gestión</legend>
        {RESULTADOS.map((r) => (
          <label key={r.value} className="radio">
            <input type="radio" name="resultado" value={r.value} checked={draft.resultado === r.value}
              onChange={() => setDraft({ resultado: r.value })} />
            {r.label}
          </label>
        ))}
      </fieldset>
      <label className="notas">
        2. Notas
        <textarea name="notas" rows={5} maxLength={5000} value={draft.notas}
          onChange={(e) => setDraft({ notas: e.target.value })} placeholder="Qué se habló, próximos pasos…" />
      </label>
      {error && <p className="notice error" role="alert">{error}</p>}
      <div className="row">
        <button type="button" onClick={cerrar} disabled={busy}>3. Cerrar gestión</button>
      </div>
    </section>
  );
}

export function AsesorConsole() {
  const auth = useSessionStore((s) => s.auth)!;
  const active = useSessionStore((s) => s.active);
  const notice = useSessionStore((s) => s.notice);
  const setNotice = useSessionStore((s) => s.setNotice);
  const setSession = useSessionStore((s) => s.setSession);
  const clearSession = useSessionStore((s) => s.clearSession);
  const [restoring, setRestoring] = useState(() => useSessionStore.getState().active !== null);
  const [busy, setBusy] = useState<number | null>(null);

  const onEvent = useCallback((e: PushEvent) => {
    const a = useSessionStore.getState().active;
    if (!a || e.cliente_id !== a.cliente_id) return;
    if (e.type === "CLIENT_RETURNED_TO_GTR") {
      const por = RAZON[e.reason ?? ""] ?? e.reason;
      clearSession({ kind: "warning", text: `${a.nombre ?? `Cliente #${a.cliente_id}`} fue devuelto a GTR: ${por}.` });
    } else if (e.type === "CLIENT_DERIVED") {
      clearSession({ kind: "warning", text: `${a.nombre ?? `Cliente #${a.cliente_id}`} fue reasignado por GTR.` });
    }
  }, [clearSession]);

  const { state, heartbeat } = useLiveBoard({ onEvent });
  const cards = useBoardStore((s) => s.cards);
  const loaded = useBoardStore((s) => s.loaded);
  const mios = useMemo(() => misClientes(cards, auth.user.id), [cards, auth.user.id]);

  useEffect(() => {
    if (!useSessionStore.getState().active) return;
    useSessionStore.getState().restore(sessionApi).catch((e) =>
      setNotice({ kind: "error", text: `No se pudo restaurar la gestión: ${mensajeDeError(e)}` }),
    ).finally(() => setRestoring(false));
  }, [setNotice]);

  const abrir = async (id: number, nombre: string | null) => {
    setBusy(id);
    setNotice(null);
    try {
      setSession(await sessionApi.start(id), nombre);
    } catch (e) {
      setNotice({ kind: "error", text: `No se pudo abrir ${nombre ?? `#${id}`}: ${mensajeDeError(e)}` });
    } finally {
      setBusy(null);
    }
  };

  return (
    <div className="page">
      <Header title="Consola de asesor" state={state} />
      <Reconectando state={state} />
      <div className="asesor">
        <aside className="queue" aria-labelledby="mios-title">
          <h2 id="mios-title">Mis clientes derivados <span className="count">{mios.length}</span></h2>
          {!loaded && <p className="muted">Cargando…</p>}
          {loaded && mios.length === 0 && <p className="muted">No tiene clientes por gestionar.</p>}
          <ul data-testid="mis-clientes">
            {mios.map((c) => (
              <li key={c.id} className="card" data-testid={`mio-${c.id}`}>
                <div className="card-head">
                  <strong>{c.nombre ?? `Cliente #${c.id}`}</strong>
                  <span className="muted">{c.asesor_id === null ? "pool" : `#${c.id}`}</span>
                </div>
                <button type="button" disabled={active !== null || busy !== null}
                  onClick={() => abrir(c.id, c.nombre)} aria-label={`Abrir ${c.nombre ?? `cliente ${c.id}`}`}>
                  Abrir
                </button>
              </li>
            ))}
          </ul>
        </aside>
        <main className="work">
          {notice && (
            <div className={`notice ${notice.kind}`} role="status" data-testid="aviso">
              {notice.text}
              <button type="button" className="link" onClick={() => setNotice(null)} aria-label="Cerrar aviso">×</button>
            </div>
          )}
          {restoring && <p className="muted">Restaurando la gestión abierta…</p>}
          {!restoring && active && <Wizard heartbeat={heartbeat} />}
          {!restoring && !active && (
            <p className="muted empty">Elija un cliente de la lista para empezar su gestión.</p>
          )}
        </main>
      </div>
    </div>
  );
}
