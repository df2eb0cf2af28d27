import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiError, mensajeDeError, sessionApi } from "../api/sessionApi";
import type { PushEvent, Resultado, SessionOut } from "../api/types";
import { Countdown } from "../components/Countdown";
import { Ficha, Historial, useFicha } from "../components/Ficha";
import { Header, Reconectando } from "../components/Header";
import { HeartbeatTimer, heartbeatIntervalMs, SESSION_GONE } from "../hooks/socketLogic";
import { useLiveBoard } from "../hooks/useLiveBoard";
import { misClientes } from "../lib/board";
import { mmss, warnAt } from "../lib/clock";
import { motivoDevolucion, tituloConAvisos } from "../lib/desk";
import { useBoardStore } from "../stores/boardStore";
import { useSessionStore } from "../stores/sessionStore";
import "../styles/asesor.css";

const RESULTADOS: { value: Resultado; label: string }[] = [
  { value: "gestionado", label: "Gestionado (contacto logrado)" },
  { value: "no_gestionado", label: "No gestionado (devolver a GTR)" },
  { value: "cerrado", label: "Cerrado (no volver a llamar)" },
];
const TITULO = "ALBRU · Consola de asesor";
/** Input events that count as the advisor being at the desk (idle detection). */
const INPUT_EVENTS = ["keydown", "pointerdown", "pointermove", "touchstart", "wheel"] as const;

/** How long a heartbeat's "no longer active" waits for the push that says why. */
const PUSH_GRACE_MS = 1500;

const nombreDe = (a: { nombre: string | null; cliente_id: number }) => a.nombre ?? `Cliente #${a.cliente_id}`;

/** Why the session went back to GTR, told the way the advisor lived it. */
function contexto() {
  const s = useSessionStore.getState();
  return { netLost: s.netDownSince !== null, idle: s.idle() };
}

function Wizard({ heartbeat, online }: {
  heartbeat: (id: number, sid?: string) => Promise<SessionOut>; online: boolean;
}) {
  const active = useSessionStore((s) => s.active)!;
  const auth = useSessionStore((s) => s.auth)!;
  const draft = useSessionStore((s) => s.draft);
  const setDraft = useSessionStore((s) => s.setDraft);
  const setSession = useSessionStore((s) => s.setSession);
  const clearSession = useSessionStore((s) => s.clearSession);
  const setNetDown = useSessionStore((s) => s.setNetDown);
  const markInput = useSessionStore((s) => s.markInput);
  const left = useSessionStore((s) => s.secondsLeft());
  const idle = useSessionStore((s) => s.idle());
  const netDown = useSessionStore((s) => s.netDownSince !== null) || !online;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const warn = warnAt(auth.timing.timeout);
  const nombre = nombreDe(active);
  const timer = useRef<HeartbeatTimer | null>(null);

  const beat = useCallback(() => {
    const st = useSessionStore.getState();
    const a = st.active;
    // an idle desk (IDLE_AFTER) no longer keeps its client: it returns to GTR at the timeout
    if (!a || st.idle()) return;
    heartbeat(a.cliente_id, a.session_id).then(
      (s) => {
        useSessionStore.getState().setNetDown(false);
        if (useSessionStore.getState().active?.session_id === s.session_id) setSession(s);
      },
      (e) => {
        if (e instanceof ApiError && e.code === "network") setNetDown(true);
        else if (e instanceof ApiError && SESSION_GONE.has(e.code)) {
          // the push that says why (released, reassigned, timeout) is usually a
          // moment behind this answer: give it the chance to tell it first
          const ctx = contexto();
          const por = e.code === "session_expired" ? motivoDevolucion("timeout", ctx)
            : ctx.netLost ? "se perdió la conexión con el servidor y la gestión ya no está activa"
              : "la gestión ya no está activa";
          setTimeout(() => {
            if (useSessionStore.getState().active?.session_id !== a.session_id) return;
            clearSession({ kind: "warning", text: `${nombre} fue devuelto a GTR: ${por}.` }, { keepDraft: true });
          }, PUSH_GRACE_MS);
        }
      },
    );
  }, [heartbeat, setSession, clearSession, setNetDown, nombre]);

  useEffect(() => {
    const interval = heartbeatIntervalMs(auth.timing.heartbeat_interval, import.meta.env.VITE_HEARTBEAT_INTERVAL);
    const t = new HeartbeatTimer(beat, interval, Math.min(5000, interval / 2));
    t.start();
    timer.current = t;
    return () => t.stop();
  }, [beat, auth.timing.heartbeat_interval, active.session_id]);

  // back from idle: one heartbeat at once
  const wasIdle = useRef(idle);
  useEffect(() => {
    if (wasIdle.current && !idle) timer.current?.activity();
    wasIdle.current = idle;
  }, [idle]);

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
        clearSession({ kind: "warning", text: `${nombre} fue devuelto a GTR antes de cerrar: ${mensajeDeError(e)}` },
          { keepDraft: true });
      } else {
        if (e instanceof ApiError && e.code === "network") setNetDown(true);
        setError(`${mensajeDeError(e)} Su borrador se conserva; vuelva a intentar.`);
      }
    } finally {
      setBusy(false);
    }
  };

  const warning = left !== null && left <= warn;
  const porQue = idle
    ? "La consola está inactiva y ya no la mantiene abierta: pulse «Sigo aquí»."
    : netDown
      ? "No hay conexión con el servidor para renovarla; su borrador se conserva."
      : "La consola la renueva sola mientras esta pestaña siga abierta y conectada.";

  return (
    <section className="wizard" aria-labelledby="wizard-title" data-testid="wizard" onKeyDown={activity} onClick={activity}>
      <div className="row spread wizard-head">
        <h2 id="wizard-title">Gestionando: {nombre}</h2>
        <div className="ttl">
          Tiempo restante <Countdown deadline={active.deadline} offset={active.offset} warn={warn} />
        </div>
      </div>
      {idle && (
        <div className="notice warning idle" data-testid="aviso-inactividad">
          <span role="status">
            Sin actividad en la consola: se dejó de renovar la gestión y el cliente volverá a GTR al vencer el tiempo.
          </span>
          <button type="button" onClick={() => markInput()}>Sigo aquí</button>
        </div>
      )}
      {warning && (
        <>
          {/* the live region says it once; the visible text below ticks every second */}
          <p className="sr-only" role="alert">Atención: la gestión de {nombre} está por vencer.</p>
          <p className="notice warning" data-testid="aviso-timeout">
            Atención: la gestión vence en {mmss(left)}. {porQue} Si no se renueva, el cliente volverá a GTR.
          </p>
        </>
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
      <p className="muted small">El borrador se guarda en este navegador mientras escribe.</p>
      {error && <p className="notice error" role="alert">{error}</p>}
      <div className="row">
        <button type="button" onClick={cerrar} disabled={busy}>3. Cerrar gestión</button>
      </div>
    </section>
  );
}

/** A draft its session ended without: attach it to the history, or drop it. */
function BorradorPerdido() {
  const lost = useSessionStore((s) => s.lost);
  const attachLost = useSessionStore((s) => s.attachLost);
  const discardLost = useSessionStore((s) => s.discardLost);
  const setNotice = useSessionStore((s) => s.setNotice);
  const [busy, setBusy] = useState(false);
  if (!lost) return null;
  const nombre = nombreDe(lost);
  const adjuntar = async () => {
    setBusy(true);
    try {
      const r = await attachLost(sessionApi);
      setNotice(r === "attached"
        ? { kind: "info", text: `Las notas quedaron en el historial de ${nombre}.` }
        : { kind: "error", text: `No se pudieron adjuntar las notas de ${nombre}: el cliente ya no está a su cargo o ya tiene notas.` });
    } catch (e) {
      setNotice({ kind: "error", text: `No se pudieron adjuntar las notas: ${mensajeDeError(e)} El borrador se conserva.` });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="borrador" aria-labelledby="borrador-title" data-testid="borrador-perdido">
      <h2 id="borrador-title">Borrador sin guardar de {nombre}</h2>
      <p className="muted">La gestión terminó antes de cerrarla. Su borrador se conservó:</p>
      {lost.resultado && <p><strong>Resultado elegido:</strong> {lost.resultado.replace("_", " ")}</p>}
      {lost.notas && <blockquote data-testid="borrador-notas">{lost.notas}</blockquote>}
      <div className="row wrap">
        <button type="button" onClick={adjuntar} disabled={busy || !lost.notas.trim()}>Adjuntar al historial</button>
        <button type="button" className="secondary" onClick={discardLost}>Descartar</button>
      </div>
      <p className="muted small">Si vuelve a abrir este cliente, el borrador se le ofrece de nuevo.</p>
    </section>
  );
}

/** My open sessions on the server (another tab or device, or before a logout). */
function Abiertas({ nombres }: { nombres: Record<number, string | null> }) {
  const abiertas = useSessionStore((s) => s.abiertas);
  const active = useSessionStore((s) => s.active);
  const resume = useSessionStore((s) => s.resume);
  const setNotice = useSessionStore((s) => s.setNotice);
  const [busy, setBusy] = useState<number | null>(null);
  if (abiertas.length === 0) return null;
  const retomar = async (id: number) => {
    setBusy(id);
    try {
      await resume(sessionApi, id, nombres[id] ?? null);
      setNotice(null);
    } catch (e) {
      setNotice({ kind: "error", text: `No se pudo retomar la gestión: ${mensajeDeError(e)}` });
      useSessionStore.getState().loadAbiertas(sessionApi).catch(() => undefined);
    } finally {
      setBusy(null);
    }
  };
  return (
    <section className="abiertas" aria-labelledby="abiertas-title" data-testid="abiertas">
      <h2 id="abiertas-title">Mis gestiones abiertas <span className="count">{abiertas.length}</span></h2>
      <p className="muted small">Siguen activas en el servidor (otra pestaña u otro equipo). Retómelas o se devolverán a GTR al vencer.</p>
      <ul>
        {abiertas.map((s) => {
          const nombre = nombres[s.cliente_id] ?? `Cliente #${s.cliente_id}`;
          return (
            <li key={s.session_id} className="card" data-testid={`abierta-${s.cliente_id}`}>
              <strong>{nombre}</strong>
              <button type="button" disabled={active !== null || busy !== null}
                onClick={() => retomar(s.cliente_id)} aria-label={`Retomar ${nombre}`}>Retomar</button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** Logging out with a client open: end it (with the draft's result) or return it first. */
function SalirDialog({ onClose }: { onClose: () => void }) {
  const active = useSessionStore((s) => s.active);
  const abiertas = useSessionStore((s) => s.abiertas);
  const draft = useSessionStore((s) => s.draft);
  const logout = useSessionStore((s) => s.logout);
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal?.();
  }, []);
  const n = (active ? 1 : 0) + abiertas.length;
  const salir = async (choice: { open_sessions: "end" | "return"; resultado?: Resultado }) => {
    setBusy(true);
    setError(null);
    try {
      await sessionApi.logout({ ...choice, notas: draft.notas.trim() || undefined });
      logout({ kind: "info", text: choice.open_sessions === "end" ? "Gestión cerrada y sesión terminada." : "Gestión devuelta a GTR y sesión terminada." });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) logout();
      else setError(`No se pudo cerrar la sesión: ${mensajeDeError(e)}`);
      setBusy(false);
    }
  };
  const quien = active ? nombreDe(active) : null;
  return (
    <dialog ref={ref} className="salir" aria-labelledby="salir-title" aria-describedby="salir-desc"
      onCancel={(e) => { e.preventDefault(); onClose(); }} data-testid="salir-dialogo">
      <h2 id="salir-title">¿Cerrar sesión con {n === 1 ? "una gestión abierta" : `${n} gestiones abiertas`}?</h2>
      <p id="salir-desc">
        {quien ? `Está gestionando a ${quien}. ` : ""}
        Antes de salir, ciérrela con el resultado elegido o devuélvala a GTR; si no, quedaría bloqueada hasta vencer.
      </p>
      {error && <p className="notice error" role="alert">{error}</p>}
      <div className="dialog-actions">
        {draft.resultado && (
          <button type="button" disabled={busy} onClick={() => salir({ open_sessions: "end", resultado: draft.resultado as Resultado })}>
            Cerrar como «{draft.resultado.replace("_", " ")}» y salir
          </button>
        )}
        <button type="button" disabled={busy} className={draft.resultado ? "secondary" : ""}
          onClick={() => salir({ open_sessions: "return" })}>
          Devolver a GTR y salir
        </button>
        <button type="button" className="secondary" disabled={busy} onClick={onClose} autoFocus>Seguir trabajando</button>
      </div>
    </dialog>
  );
}

/** A client derived to me: a sound (if on), a count in the tab title, and a
 * browser notification (if allowed). */
function useAvisosDeTrabajo() {
  const [nuevos, setNuevos] = useState(0);
  useEffect(() => {
    document.title = tituloConAvisos(TITULO, nuevos);
  }, [nuevos]);
  useEffect(() => {
    const visto = () => setNuevos(0);
    const onVisible = () => document.visibilityState === "visible" && visto();
    window.addEventListener("focus", visto);
    window.addEventListener("pointerdown", visto);
    window.addEventListener("keydown", visto);
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      window.removeEventListener("focus", visto);
      window.removeEventListener("pointerdown", visto);
      window.removeEventListener("keydown", visto);
      document.removeEventListener("visibilitychange", onVisible);
      document.title = "ALBRU CRM";
    };
  }, []);
  return useCallback((clienteId: number) => {
    setNuevos((n) => n + 1);
    if (useSessionStore.getState().sound) sonar();
    if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
    const known = useBoardStore.getState().cards[clienteId]?.nombre;
    (known ? Promise.resolve(known) : sessionApi.cliente(clienteId).then((c) => c.nombre))
      .catch(() => `Cliente #${clienteId}`)
      .then((nombre) => {
        try {
          new Notification("Nuevo cliente derivado", { body: nombre, tag: `albru-derivado-${clienteId}` });
        } catch {
          // some browsers allow notifications only from a service worker
        }
      });
  }, []);
}

function sonar(): void {
  try {
    const Ctx = window.AudioContext ?? (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
    if (!Ctx) return;
    const ctx = new Ctx();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 880;
    gain.gain.value = 0.15;
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.25);
    osc.onended = () => void ctx.close();
  } catch {
    // no audio here: the title and the notification still tell
  }
}

function Preferencias() {
  const sound = useSessionStore((s) => s.sound);
  const setSound = useSessionStore((s) => s.setSound);
  const [perm, setPerm] = useState(() => (typeof Notification === "undefined" ? "unsupported" : Notification.permission));
  return (
    <div className="prefs row wrap">
      <button type="button" className="secondary small" aria-pressed={sound} onClick={() => setSound(!sound)}>
        {sound ? "Sonido: activado" : "Sonido: desactivado"}
      </button>
      {perm === "default" && (
        <button type="button" className="secondary small"
          onClick={() => Notification.requestPermission().then(setPerm, () => undefined)}>
          Activar avisos del navegador
        </button>
      )}
    </div>
  );
}

export function AsesorConsole() {
  const auth = useSessionStore((s) => s.auth)!;
  const active = useSessionStore((s) => s.active);
  const notice = useSessionStore((s) => s.notice);
  const setNotice = useSessionStore((s) => s.setNotice);
  const setSession = useSessionStore((s) => s.setSession);
  const clearSession = useSessionStore((s) => s.clearSession);
  const returnedToGtr = useSessionStore((s) => s.returnedToGtr);
  const abiertas = useSessionStore((s) => s.abiertas);
  const [restoring, setRestoring] = useState(() => useSessionStore.getState().active !== null);
  const [busy, setBusy] = useState<number | null>(null);
  const [preview, setPreview] = useState<number | null>(null);
  const [saliendo, setSaliendo] = useState(false);
  const avisar = useAvisosDeTrabajo();
  const me = auth.user.id;

  const onEvent = useCallback((e: PushEvent) => {
    if (e.type === "CLIENT_DERIVED" && e.asesor_id === me && e.cliente_id !== null) avisar(e.cliente_id);
    const { active: a, lost } = useSessionStore.getState();
    if (e.type === "CLIENT_RETURNED_TO_GTR") {
      // the open client, or the one whose draft was just kept (a heartbeat refused
      // a moment before this push): a force-release whose GTR chose to keep the
      // advisor's notes attaches them to the history now
      const de = a && e.cliente_id === a.cliente_id ? a
        : lost && e.session_id !== null && lost.session_id === e.session_id ? lost : null;
      if (!de) return;
      const notice = { kind: "warning", text: `${nombreDe(de)} fue devuelto a GTR: ${motivoDevolucion(e.reason, contexto())}.` } as const;
      void returnedToGtr(sessionApi, e.session_id, notice, { keepNotes: e.reason === "released" && e.keep_notes === true });
      return;
    }
    if (!a || e.cliente_id !== a.cliente_id) return;
    if (e.type === "CLIENT_DERIVED") {
      clearSession({ kind: "warning", text: `${nombreDe(a)} fue reasignado por GTR.` }, { keepDraft: true });
    }
  }, [clearSession, returnedToGtr, avisar, me]);

  const { state, heartbeat } = useLiveBoard({ onEvent });
  const cards = useBoardStore((s) => s.cards);
  const loaded = useBoardStore((s) => s.loaded);
  const mios = useMemo(() => misClientes(cards, me), [cards, me]);
  const nombres = useMemo(() => Object.fromEntries(Object.values(cards).map((c) => [c.id, c.nombre])), [cards]);

  // the socket dropped while a client is open: heartbeats may not get through
  useEffect(() => {
    if (state === "reconnecting" && useSessionStore.getState().active) useSessionStore.getState().setNetDown(true);
  }, [state]);

  useEffect(() => {
    const load = () => useSessionStore.getState().loadAbiertas(sessionApi).catch(() => undefined);
    if (!useSessionStore.getState().active) {
      load();
      return;
    }
    useSessionStore.getState().restore(sessionApi).catch((e) =>
      setNotice({ kind: "error", text: `No se pudo restaurar la gestión: ${mensajeDeError(e)}` }),
    ).finally(() => {
      setRestoring(false);
      load();
    });
  }, [setNotice]);

  // idle detection: any keyboard, pointer or touch input (at most one update a second)
  useEffect(() => {
    let last = 0;
    const input = () => {
      const t = Date.now();
      if (t - last < 1000) return;
      last = t;
      useSessionStore.getState().markInput();
    };
    for (const ev of INPUT_EVENTS) window.addEventListener(ev, input, { passive: true });
    return () => {
      for (const ev of INPUT_EVENTS) window.removeEventListener(ev, input);
    };
  }, []);

  const abrir = async (id: number, nombre: string | null) => {
    setBusy(id);
    setNotice(null);
    try {
      setSession(await sessionApi.start(id), nombre);
      setPreview(null);
      const lost = useSessionStore.getState().lost;
      if (!lost && useSessionStore.getState().draft.notas) {
        setNotice({ kind: "info", text: "Se recuperó el borrador que había escrito para este cliente." });
      }
    } catch (e) {
      setNotice({ kind: "error", text: `No se pudo abrir ${nombre ?? `#${id}`}: ${mensajeDeError(e)}` });
    } finally {
      setBusy(null);
    }
  };

  const salir = () => {
    const st = useSessionStore.getState();
    if (st.active || st.abiertas.length > 0) {
      setSaliendo(true);
      return;
    }
    sessionApi.logout().catch(() => undefined);
    st.logout();
  };

  // on a phone the page scrolls: bring news and a chosen record into view
  const noticeRef = useRef<HTMLDivElement>(null);
  const previewRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (notice) noticeRef.current?.scrollIntoView?.({ block: "nearest" });
  }, [notice]);
  useEffect(() => {
    if (preview !== null) previewRef.current?.scrollIntoView?.({ block: "start" });
  }, [preview]);

  const shown = active ? active.cliente_id : preview;
  const { cliente, historial, error } = useFicha(shown, active?.session_id ? 1 : 0);
  const previewCard = preview !== null ? cards[preview] : undefined;

  return (
    <div className="page asesor-page">
      <Header title="Consola de asesor" state={state} onSalir={salir} />
      <Reconectando state={state} />
      <div className={`asesor${active ? " has-active" : ""}`}>
        <aside className="queue" aria-labelledby="mios-title" tabIndex={0}>
          <h2 id="mios-title">Mis clientes derivados <span className="count">{mios.length}</span></h2>
          <Preferencias />
          {!loaded && <p className="muted">Cargando…</p>}
          {loaded && mios.length === 0 && <p className="muted">No tiene clientes por gestionar.</p>}
          <ul data-testid="mis-clientes">
            {mios.map((c) => (
              <li key={c.id} className={`card${preview === c.id ? " selected" : ""}`} data-testid={`mio-${c.id}`}>
                <div className="card-head">
                  <strong>{c.nombre ?? `Cliente #${c.id}`}</strong>
                  <span className="muted">{c.asesor_id === null ? "pool" : `#${c.id}`}</span>
                </div>
                <div className="card-actions">
                  <button type="button" className="secondary" onClick={() => setPreview(c.id)}
                    aria-label={`Ver ficha de ${c.nombre ?? `cliente ${c.id}`}`} disabled={active !== null}>
                    Ficha
                  </button>
                  <button type="button" disabled={active !== null || busy !== null}
                    onClick={() => abrir(c.id, c.nombre)} aria-label={`Abrir ${c.nombre ?? `cliente ${c.id}`}`}>
                    Abrir
                  </button>
                </div>
              </li>
            ))}
          </ul>
        </aside>
        <main className="work" tabIndex={0} aria-label="Gestión">
          {notice && (
            <div className={`notice ${notice.kind}`} role="status" data-testid="aviso" ref={noticeRef}>
              <span>{notice.text}</span>
              <button type="button" className="link" onClick={() => setNotice(null)} aria-label="Cerrar aviso">×</button>
            </div>
          )}
          <BorradorPerdido />
          {!active && <Abiertas nombres={nombres} />}
          {restoring && <p className="muted">Restaurando la gestión abierta…</p>}
          {!restoring && active && (
            <div className="desk">
              <div className="desk-ficha">
                <Ficha cliente={cliente} historial={historial} error={error} sessionId={active.session_id} />
                <Historial historial={historial} sessionId={active.session_id} />
              </div>
              <Wizard heartbeat={heartbeat} online={state === "connected"} />
            </div>
          )}
          {!restoring && !active && preview !== null && (
            <div className="desk preview" data-testid="vista-previa" ref={previewRef}>
              <div className="desk-ficha">
                <Ficha cliente={cliente} historial={historial} error={error} />
                <Historial historial={historial} />
              </div>
              <div className="preview-actions row wrap">
                <button type="button" disabled={busy !== null || !previewCard || previewCard.estado !== "derivado"}
                  onClick={() => abrir(preview, previewCard?.nombre ?? cliente?.nombre ?? null)}>
                  Abrir gestión
                </button>
                <button type="button" className="secondary" onClick={() => setPreview(null)}>Cerrar ficha</button>
              </div>
            </div>
          )}
          {!restoring && !active && preview === null && abiertas.length === 0 && (
            <p className="muted empty">Elija un cliente de la lista para empezar su gestión.</p>
          )}
        </main>
      </div>
      {saliendo && <SalirDialog onClose={() => setSaliendo(false)} />}
    </div>
  );
}
