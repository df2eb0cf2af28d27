import { useCallback, useEffect, useRef, useState } from "react";
import { sessionApi } from "../api/sessionApi";
import type { PushEvent, StatsOut } from "../api/types";
import { Header, Reconectando } from "../components/Header";
import { useLiveBoard } from "../hooks/useLiveBoard";
import type { Columna } from "../lib/board";
import { localNow, mmss, warnAt } from "../lib/clock";
import { afectadas, COLUMNAS_GTR, edad, hastaMedianoche } from "../lib/gtrDesk";
import { useBoardStore } from "../stores/boardStore";
import { useGtrStore } from "../stores/gtrStore";
import { useSessionStore } from "../stores/sessionStore";
import { Alertas, useAlertas } from "./gtr/Alertas";
import { Importar } from "./gtr/Importar";
import { Estado, usePresencia } from "./gtr/Presencia";
import { Tablero } from "./gtr/Tablero";
import { Usuarios } from "./gtr/Usuarios";
import "../styles/gtr.css";

type Vista = "tablero" | "importar" | "usuarios";
const VISTAS: { key: Vista; titulo: string }[] = [
  { key: "tablero", titulo: "Tablero" },
  { key: "importar", titulo: "Importar CSV" },
  { key: "usuarios", titulo: "Usuarios" },
];
const ESPERAN: Columna[] = ["nuevo", "derivado", "devueltos"];

function Cola({ stats }: { stats: StatsOut | null }) {
  const resumen = useGtrStore((s) => s.resumen);
  const offset = useBoardStore((s) => s.offset);
  const now = localNow() + offset;
  return (
    <section className="figures cola" aria-labelledby="cola-title" data-testid="cola" tabIndex={0}>
      <h2 id="cola-title">Cola</h2>
      <table>
        <thead><tr><th scope="col">Estado</th><th scope="col">Clientes</th><th scope="col">Espera máx.</th></tr></thead>
        <tbody>
          {COLUMNAS_GTR.map((c) => {
            const n = c.estados.reduce((a, e) => a + (resumen?.counts[e] ?? 0), 0);
            const oldest = ESPERAN.includes(c.key) && n > 0 ? resumen?.oldest[c.estados[0]] ?? null : null;
            return (
              <tr key={c.key} data-testid={`cola-${c.key}`}>
                <th scope="row">{c.titulo}</th>
                <td>{n.toLocaleString("es-PE")}</td>
                <td>{oldest === null ? "—" : edad(now - oldest)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {stats && (
        <p className="hoy" data-testid="hoy">
          Hoy: <strong>{stats.handled_today}</strong> gestionados · <strong>{stats.timed_out_today}</strong> agotados ·{" "}
          <strong>{stats.released_today}</strong> liberados · T. medio <strong>{stats.mean_handling_seconds === null ? "—" : mmss(stats.mean_handling_seconds)}</strong>
        </p>
      )}
    </section>
  );
}

function Cifras({ presencia }: { presencia: number }) {
  const figures = useBoardStore((s) => s.figures);
  const { porAsesor, offset, idleAfter } = usePresencia(presencia);
  return (
    // focusable: it scrolls when there are many advisors (keyboard users scroll it too)
    <section className="figures" aria-labelledby="cifras-title" tabIndex={0}>
      <h2 id="cifras-title">Asesores: presencia y cifras de hoy</h2>
      <table data-testid="cifras">
        <thead>
          <tr><th scope="col">Asesor</th><th scope="col"><abbr title="Sesiones activas ahora">Act.</abbr></th><th scope="col"><abbr title="Gestionados hoy">Gest.</abbr></th>
            <th scope="col"><abbr title="Devueltos por tiempo agotado hoy">Agot.</abbr></th><th scope="col"><abbr title="Tiempo medio de gestión">T. medio</abbr></th></tr>
        </thead>
        <tbody>
          {figures.map((f) => (
            <tr key={f.asesor_id} data-testid={`cifras-${f.asesor_id}`}>
              <th scope="row">{f.nombre}<Estado p={porAsesor[f.asesor_id]} offset={offset} /></th>
              <td>{f.active}</td>
              <td>{f.handled_today}</td>
              <td>{f.timed_out_today}</td>
              <td>{f.mean_handling_seconds === null ? "—" : mmss(f.mean_handling_seconds)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted legend">Act.: sesiones activas · Inactivo: {edad(idleAfter)} sin actividad · Gest.: terminados hoy como «gestionado» · Agot.: tiempo agotado hoy · T. medio: duración media</p>
    </section>
  );
}

/** Reads the columns an event may change again (debounced), and the counts. */
function useColumnasVivas() {
  const pendientes = useRef(new Set<Columna>());
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const onEvent = useCallback((e: PushEvent) => {
    const cols = afectadas(e.type);
    if (cols.length === 0) return;
    for (const c of cols) pendientes.current.add(c);
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      const store = useGtrStore.getState();
      for (const c of pendientes.current) void store.cargar(c);
      pendientes.current.clear();
      void store.cargarResumen();
    }, 250);
  }, []);
  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);
  return onEvent;
}

/** The day's totals, read again after the events that change them and at
 * midnight in TIMEZONE (the server says when), with no event needed. */
function useHoy(): [StatsOut | null, () => void] {
  const [stats, setStats] = useState<StatsOut | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const leer = useCallback(() => {
    sessionApi.stats().then(setStats, () => undefined);
  }, []);
  useEffect(leer, [leer]);
  useEffect(() => {
    if (!stats?.day_end) return;
    const offset = stats.now - localNow();
    timer.current = setTimeout(() => {
      leer();
      sessionApi.asesorStats().then((s) => useBoardStore.getState().setFigures(s.items), () => undefined);
    }, hastaMedianoche(stats.day_end, offset, localNow()));
    return () => {
      if (timer.current) clearTimeout(timer.current);
    };
  }, [stats, leer]);
  return [stats, leer];
}

export function GtrDashboard() {
  const [vista, setVista] = useState<Vista>("tablero");
  const [stats, leerHoy] = useHoy();
  const refrescar = useColumnasVivas();
  const [presencia, setPresencia] = useState(0);
  const { leer: leerAlertas, sonido, alternarSonido } = useAlertas();
  const onEvent = useCallback((e: PushEvent) => {
    refrescar(e);
    if (e.type === "CLIENT_RETURNED_TO_GTR") leerAlertas();
    if (e.type === "CLIENT_COMPLETED" || e.type === "CLIENT_RETURNED_TO_GTR") leerHoy();
    if (e.type === "CLIENT_IN_GESTION" || e.type === "CLIENT_COMPLETED" || e.type === "CLIENT_RETURNED_TO_GTR") {
      setPresencia((n) => n + 1);
    }
  }, [refrescar, leerHoy, leerAlertas]);
  const { state } = useLiveBoard({ onEvent });
  const snapshots = useBoardStore((s) => s.snapshots);
  const timeout = useSessionStore((s) => s.auth?.timing.timeout ?? 600);
  const warn = warnAt(timeout);

  useEffect(() => () => useGtrStore.getState().reset(), []);
  // every snapshot (the first, and each resync): the pages, counts and alerts are read again
  useEffect(() => {
    if (snapshots === 0) return;
    const store = useGtrStore.getState();
    void store.cargarTodas();
    void store.cargarResumen();
    leerAlertas(); // the history on the first load; what was missed after a reconnect
  }, [snapshots, leerAlertas]);

  return (
    <div className="page gtr-page">
      <Header title="Tablero GTR" state={state} />
      <Reconectando state={state} />
      <nav className="gtr-tabs" aria-label="Secciones GTR">
        {VISTAS.map((v) => (
          <button key={v.key} type="button" className={vista === v.key ? "activa" : ""} aria-current={vista === v.key ? "page" : undefined}
            onClick={() => {
              setVista(v.key);
              // back on the board: advisors created or changed meanwhile get their names
              if (v.key === "tablero") {
                sessionApi.asesores().then((l) => useBoardStore.getState().setAsesores(l), () => undefined);
              }
            }}>
            {v.titulo}
          </button>
        ))}
      </nav>
      {vista === "tablero" ? (
        <div className="gtr">
          <Tablero warn={warn} />
          <aside className="side" aria-label="Cifras y avisos">
            <Cola stats={stats} />
            <Cifras presencia={presencia} />
            <Alertas sonido={sonido} alternarSonido={alternarSonido} />
          </aside>
        </div>
      ) : vista === "importar" ? <Importar /> : <Usuarios />}
    </div>
  );
}
