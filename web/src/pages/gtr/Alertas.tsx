import { useCallback, useEffect, useRef, useState } from "react";
import type { Alerta } from "../../api/types";
import { useBoardStore } from "../../stores/boardStore";
import { useGtrStore } from "../../stores/gtrStore";

export const RAZON: Record<string, string> = {
  timeout: "tiempo agotado", released: "liberado por GTR", orphan: "bloqueo huérfano",
};
const SONIDO_KEY = "albru-gtr-sonido";

function hora(at: number, offset: number): string {
  return new Date((at - offset) * 1000).toLocaleTimeString("es-PE", { hour: "2-digit", minute: "2-digit", hour12: false });
}

export function textoAlerta(a: Alerta): string {
  return `${a.nombre} volvió a GTR (${RAZON[a.reason] ?? a.reason})`;
}

/** A short beep (Web Audio: no file to load). */
function pitido(): void {
  try {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 880;
    gain.gain.value = 0.08;
    osc.connect(gain);
    gain.connect(ctx.destination);
    osc.onended = () => void ctx.close();
    osc.start();
    osc.stop(ctx.currentTime + 0.25);
  } catch {
    /* no audio here: the list and the title still say it */
  }
}

/** New returns: a sound (if on) and, with permission and the tab not in
 * front, a browser notification. The tab title counts the unseen ones. */
export function useAlertas() {
  const sinVer = useGtrStore((s) => s.sinVer);
  const [sonido, setSonido] = useState(() => localStorage.getItem(SONIDO_KEY) !== "off");
  const sonidoRef = useRef(sonido);
  sonidoRef.current = sonido;
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const leer = useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(async () => {
      timer.current = null;
      const nuevas = await useGtrStore.getState().cargarAlertas();
      if (nuevas.length === 0) return;
      if (sonidoRef.current) pitido();
      const fuera = document.hidden || !document.hasFocus();
      if (fuera && "Notification" in window && Notification.permission === "granted") {
        for (const a of nuevas.slice(0, 3)) {
          new Notification("ALBRU · cliente devuelto a GTR", { body: textoAlerta(a), tag: `albru-alerta-${a.id}` });
        }
      }
    }, 300);
  }, []);

  useEffect(() => {
    const base = document.title;
    return () => {
      document.title = base.replace(/^\(\d+\) /, "");
      if (timer.current) clearTimeout(timer.current);
    };
  }, []);
  useEffect(() => {
    const base = document.title.replace(/^\(\d+\) /, "");
    document.title = sinVer > 0 ? `(${sinVer}) ${base}` : base;
  }, [sinVer]);
  useEffect(() => {
    const visto = () => {
      if (!document.hidden && document.hasFocus()) useGtrStore.getState().verAlertas();
    };
    window.addEventListener("focus", visto);
    document.addEventListener("visibilitychange", visto);
    return () => {
      window.removeEventListener("focus", visto);
      document.removeEventListener("visibilitychange", visto);
    };
  }, []);

  const alternarSonido = () => {
    localStorage.setItem(SONIDO_KEY, sonido ? "off" : "on");
    setSonido(!sonido);
  };
  return { leer, sonido, alternarSonido };
}

function Notificaciones() {
  const soporta = typeof window !== "undefined" && "Notification" in window;
  const [permiso, setPermiso] = useState(soporta ? Notification.permission : "denied");
  if (!soporta) return null;
  if (permiso === "granted") return <span className="muted nota">Notificaciones activadas</span>;
  if (permiso === "denied") return <span className="muted nota">Notificaciones bloqueadas en el navegador</span>;
  return (
    <button type="button" className="secondary mini" onClick={() => void Notification.requestPermission().then(setPermiso)}>
      Activar notificaciones
    </button>
  );
}

/** The returns to GTR with time, reason and who held the client (from the
 * server's history, so they survive a reload), and the board's own notices. */
export function Alertas({ sonido, alternarSonido }: { sonido: boolean; alternarSonido: () => void }) {
  const alertas = useGtrStore((s) => s.alertas);
  const sinVer = useGtrStore((s) => s.sinVer);
  const verAlertas = useGtrStore((s) => s.verAlertas);
  const avisos = useBoardStore((s) => s.avisos);
  const offset = useBoardStore((s) => s.offset);
  return (
    <section aria-labelledby="avisos-title" className="avisos" tabIndex={0}>
      <div className="avisos-head">
        <h2 id="avisos-title">Avisos {sinVer > 0 && <span className="count nuevo" data-testid="sin-ver">{sinVer} sin ver</span>}</h2>
        <button type="button" className="secondary mini" aria-pressed={sonido} onClick={alternarSonido}>
          Sonido: {sonido ? "sí" : "no"}
        </button>
      </div>
      <div className="row avisos-ctl">
        <Notificaciones />
        {sinVer > 0 && <button type="button" className="secondary mini" onClick={verAlertas}>Marcar vistos</button>}
      </div>
      <ul aria-live="polite" data-testid="avisos">
        {avisos.map((a) => <li key={`a${a.id}`} className={a.kind}>{a.text}</li>)}
        {alertas.map((a) => (
          <li key={a.id} className="warning" data-testid={`alerta-${a.id}`}>
            <time className="hora">{hora(a.at, offset)}</time> {textoAlerta(a)}
            {a.asesor_nombre && <span className="muted"> · tenía {a.asesor_nombre}</span>}
          </li>
        ))}
        {avisos.length === 0 && alertas.length === 0 && <li className="muted">Sin avisos.</li>}
      </ul>
    </section>
  );
}
