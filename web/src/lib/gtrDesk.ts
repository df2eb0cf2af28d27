// The supervisor's desk as pure functions: the columns and their server
// queries, which columns an event touches, waiting ages, paging labels and
// the batches of a checked CSV import. Tested without a browser.
import type { ClienteIn, Estado, EventName, ImportRowOut } from "../api/types";
import type { Busqueda } from "../api/gtrApi";
import type { Columna } from "./board";

export const PAGINA = 25;
export const LOTE = 500;

export interface ColumnaDef {
  key: Columna;
  titulo: string;
  estados: Estado[];
  /** Nuevos, Derivados, En gestión: the longest waiting first, so they are never
   * the ones left out; Gestionados and Devueltos: the most recent first */
  order: "oldest" | "newest";
}

export const COLUMNAS_GTR: ColumnaDef[] = [
  { key: "nuevo", titulo: "Nuevos", estados: ["nuevo"], order: "oldest" },
  { key: "derivado", titulo: "Derivados", estados: ["derivado"], order: "oldest" },
  { key: "en_gestion", titulo: "En gestión", estados: ["en_gestion"], order: "oldest" },
  { key: "gestionados", titulo: "Gestionados", estados: ["gestionado", "cerrado"], order: "newest" },
  // the latest returns first, as they arrive (the avisos list says why); paging reaches the oldest
  { key: "devueltos", titulo: "Devueltos", estados: ["no_gestionado"], order: "newest" },
];

export interface Filtros {
  q: string;
  asesorId: number | null;
  columna: Columna | null;
}

export const SIN_FILTROS: Filtros = { q: "", asesorId: null, columna: null };

export function consulta(col: ColumnaDef, f: Filtros, offset: number): Busqueda {
  return {
    q: f.q.trim() || undefined,
    estados: col.estados,
    asesor_id: f.asesorId ?? undefined,
    order: col.order,
    limit: PAGINA,
    offset,
  };
}

/** The columns whose membership an event may change (they are read again). */
export function afectadas(type: EventName): Columna[] {
  switch (type) {
    case "CLIENT_CREATED": return ["nuevo"];
    case "CLIENT_DERIVED": return ["nuevo", "derivado", "devueltos", "gestionados"];
    case "CLIENT_IN_GESTION": return ["derivado", "en_gestion"];
    case "CLIENT_COMPLETED": return ["en_gestion", "gestionados", "devueltos"];
    case "CLIENT_RETURNED_TO_GTR": return ["en_gestion", "devueltos", "derivado"];
    default: return [];
  }
}

/** 42 -> "<1 min", 750 -> "12 min", 11100 -> "3 h 05 min", 190000 -> "2 d 4 h". */
export function edad(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return "<1 min";
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${String(m % 60).padStart(2, "0")} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** When a wait began (local epoch seconds): "13:37" today, else "28/11 13:37". */
export function desdeTexto(at: number, now: number): string {
  const d = new Date(at * 1000);
  const hora = d.toLocaleTimeString("es-PE", { hour: "2-digit", minute: "2-digit", hour12: false });
  if (d.toDateString() === new Date(now * 1000).toDateString()) return hora;
  return `${String(d.getDate()).padStart(2, "0")}/${String(d.getMonth() + 1).padStart(2, "0")} ${hora}`;
}

/** "26–50 de 618" (es-PE digit grouping). */
export function rango(offset: number, shown: number, total: number): string {
  const n = (x: number) => x.toLocaleString("es-PE");
  if (total === 0) return "0 de 0";
  return `${n(offset + 1)}–${n(offset + shown)} de ${n(total)}`;
}

/** The offset of the previous / next page, or null at an end. */
export function paginaVecina(offset: number, total: number, dir: -1 | 1): number | null {
  const next = offset + dir * PAGINA;
  if (next < 0 || next >= total) return null;
  return next;
}

/** The offset to show after the total changed (a page past the end moves back). */
export function offsetValido(offset: number, total: number): number {
  if (offset < total || offset === 0) return offset;
  return Math.max(0, Math.floor((total - 1) / PAGINA) * PAGINA);
}

/** The checked rows to create, without the skipped lines, in batches. */
export function lotes(rows: ImportRowOut[], omitir: Set<number>, size = LOTE): ClienteIn[][] {
  const keep: ClienteIn[] = rows
    .filter((r) => !omitir.has(r.line))
    .map((r) => ({ nombre: r.nombre, telefono: r.telefono, email: r.email, documento: r.documento, notas: r.notas }));
  const out: ClienteIn[][] = [];
  for (let i = 0; i < keep.length; i += size) out.push(keep.slice(i, i + size));
  return out;
}

/** Ms until `dayEnd` (server epoch seconds) on the local clock, at least 1 s. */
export function hastaMedianoche(dayEnd: number, offset: number, localNow: number): number {
  return Math.max(1000, Math.ceil((dayEnd - (localNow + offset)) * 1000) + 500);
}
