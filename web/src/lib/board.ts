// The board as a pure function of a snapshot and the pushed events, so it can be
// tested without a browser or a server. Applying an event sets the client's
// estado, asesor_id and deadline to the event's (docs/events.md): doing it twice
// is harmless, so a snapshot followed by the events after its seq converges.
import type { BoardItem, ClienteOut, Estado, PushEvent, Resultado, ReturnReason } from "../api/types";

export interface Card {
  id: number;
  nombre: string | null;
  estado: Estado;
  asesor_id: number | null;
  session_id: string | null;
  deadline: number | null;
  /** the event's commit time (database clock), for "most recent first" */
  ts: number;
  reason?: ReturnReason;
  resultado?: Resultado;
}
export type Cards = Record<number, Card>;

export function fromBoardItem(item: BoardItem, ts: number): Card {
  return {
    id: item.cliente_id, nombre: item.nombre, estado: item.estado, asesor_id: item.asesor_id,
    session_id: item.session_id, deadline: item.deadline, ts,
  };
}

export function fromCliente(c: ClienteOut): Card {
  return {
    id: c.id, nombre: c.nombre, estado: c.estado, asesor_id: c.asesor_asignado,
    session_id: c.session_id, deadline: null, ts: c.updated_at ?? 0,
  };
}

/** The cards after one event, and the ids it named that have no name yet. */
export function applyEvent(cards: Cards, e: PushEvent): { cards: Cards; unknown: number[] } {
  const next: Cards = { ...cards };
  const unknown: number[] = [];
  if (e.type === "SESSIONS_EXTENDED") {
    for (const [key, deadline] of Object.entries(e.deadlines ?? {})) {
      const id = Number(key);
      const card = next[id];
      const session = e.sessions?.[key];
      if (card && card.estado === "en_gestion" && (!session || !card.session_id || card.session_id === session)) {
        next[id] = { ...card, deadline };
      }
    }
    return { cards: next, unknown };
  }
  const ids = e.cliente_id !== null ? [e.cliente_id] : e.type === "CLIENT_CREATED" ? e.ids ?? [] : [];
  for (const id of ids) {
    const before = next[id];
    const card: Card = {
      id,
      nombre: before?.nombre ?? null,
      estado: e.estado ?? before?.estado ?? "nuevo",
      asesor_id: e.asesor_id,
      session_id: e.session_id,
      deadline: e.deadline,
      ts: e.ts,
    };
    if (e.type === "CLIENT_RETURNED_TO_GTR" && e.reason) card.reason = e.reason;
    if (e.type === "CLIENT_COMPLETED" && e.resultado) card.resultado = e.resultado;
    next[id] = card;
    if (card.nombre === null) unknown.push(id);
  }
  return { cards: next, unknown };
}

export type Columna = "nuevo" | "derivado" | "en_gestion" | "gestionados" | "devueltos";
export const COLUMNAS: { key: Columna; titulo: string }[] = [
  { key: "nuevo", titulo: "Nuevos" },
  { key: "derivado", titulo: "Derivados" },
  { key: "en_gestion", titulo: "En gestión" },
  { key: "gestionados", titulo: "Gestionados" },
  { key: "devueltos", titulo: "Devueltos" },
];

export function columnaDe(estado: Estado): Columna {
  switch (estado) {
    case "nuevo": return "nuevo";
    case "derivado": return "derivado";
    case "en_gestion": return "en_gestion";
    case "gestionado": case "cerrado": return "gestionados";
    case "no_gestionado": return "devueltos";
  }
}

/** The GTR board's columns: oldest first while waiting, most recent first once done. */
export function columnas(cards: Cards): Record<Columna, Card[]> {
  const out: Record<Columna, Card[]> = { nuevo: [], derivado: [], en_gestion: [], gestionados: [], devueltos: [] };
  for (const card of Object.values(cards)) out[columnaDe(card.estado)].push(card);
  out.nuevo.sort((a, b) => a.id - b.id);
  out.derivado.sort((a, b) => a.ts - b.ts || a.id - b.id);
  out.en_gestion.sort((a, b) => (a.deadline ?? 0) - (b.deadline ?? 0));
  out.gestionados.sort((a, b) => b.ts - a.ts || b.id - a.id);
  out.devueltos.sort((a, b) => b.ts - a.ts || b.id - a.id);
  return out;
}

/** An advisor's queue: their derived clients and the shared pool, oldest first. */
export function misClientes(cards: Cards, asesorId: number): Card[] {
  return Object.values(cards)
    .filter((c) => c.estado === "derivado" && (c.asesor_id === asesorId || c.asesor_id === null))
    .sort((a, b) => a.ts - b.ts || a.id - b.id);
}
