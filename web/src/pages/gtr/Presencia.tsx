import { useCallback, useEffect, useState } from "react";
import { gtrApi } from "../../api/gtrApi";
import type { PresenceItem } from "../../api/types";
import { localNow } from "../../lib/clock";
import { edad } from "../../lib/gtrDesk";

export const PRESENCIA: Record<string, string> = {
  en_sesion: "En sesión", disponible: "Disponible", inactivo: "Inactivo", desconectado: "Desconectado",
};
/** Connections change without an event: read again this often, and after events. */
const CADA_MS = 10_000;

export interface Presencias {
  porAsesor: Record<number, PresenceItem>;
  /** server clock minus local clock, seconds */
  offset: number;
  /** PRESENCE_IDLE: seconds without activity before «Inactivo» */
  idleAfter: number;
}

/** Each advisor's presence, read now, every 10 s and whenever `version` changes. */
export function usePresencia(version: number): Presencias {
  const [data, setData] = useState<Presencias>({ porAsesor: {}, offset: 0, idleAfter: 300 });
  const leer = useCallback(() => {
    gtrApi.presencia().then((d) => setData({
      porAsesor: Object.fromEntries(d.items.map((i) => [i.asesor_id, i])), offset: d.now - localNow(),
      idleAfter: d.idle_after,
    }), () => undefined);
  }, []);
  useEffect(() => {
    leer();
    const t = setInterval(leer, CADA_MS);
    return () => clearInterval(t);
  }, [leer, version]);
  return data;
}

/** "En sesión · 3 min · con Ana Torres" under an advisor's name. */
export function Estado({ p, offset }: { p: PresenceItem | undefined; offset: number }) {
  if (!p) return null;
  const t = p.since === null ? null : edad(localNow() + offset - p.since);
  return (
    <span className="pres" data-testid={`presencia-${p.asesor_id}`}>
      <span className={`badge b-${p.estado}`}>{PRESENCIA[p.estado] ?? p.estado}</span>
      {t && <span className="muted"> {t}</span>}
      {p.cliente_nombre && <span className="muted"> · con {p.cliente_nombre}</span>}
    </span>
  );
}
