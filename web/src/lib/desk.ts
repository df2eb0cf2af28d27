// The advisor's desk, as pure functions (tested in desk.test.ts): idle
// detection, what a lost draft is, why a session went back to GTR, and how
// waiting and handling times read.
import type { Resultado } from "../api/types";

/** IDLE_AFTER (seconds, 0 = off): no input for that long means the console
 * stops keeping the session alive. */
export function isIdle(lastInput: number, now: number, idleAfter: number): boolean {
  return idleAfter > 0 && now - lastInput >= idleAfter;
}

export interface DraftLike {
  resultado: Resultado | "";
  notas: string;
}

/** A draft worth keeping: something was chosen or typed. */
export function hasContent(d: DraftLike): boolean {
  return d.resultado !== "" || d.notas.trim() !== "";
}

/** Why the open client went back to GTR, in the advisor's words. A timeout is
 * told apart: a lost connection or an idle console is what it really was. */
export function motivoDevolucion(
  reason: string | undefined, ctx: { netLost: boolean; idle: boolean },
): string {
  if (reason === "timeout") {
    if (ctx.netLost) return "se perdió la conexión con el servidor y la gestión venció";
    if (ctx.idle) return "la consola estuvo inactiva y la gestión venció";
    return "se agotó el tiempo sin actividad";
  }
  if (reason === "released") return "GTR liberó la gestión";
  if (reason === "orphan") return "la gestión quedó huérfana";
  return reason ?? "la gestión terminó";
}

/** 42 -> "42 s", 125 -> "2 min", 3900 -> "1 h 5 min", 90000 -> "1 d 1 h". */
export function duracion(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** How long a client waited: from its last derivation to its session's start
 * (or to now, when nobody has opened it yet). */
export function espera(derivadoAt: number | null, startedAt: number | null, now: number): number | null {
  if (derivadoAt === null) return null;
  return Math.max(0, (startedAt ?? now) - derivadoAt);
}

/** "(3) ALBRU · Consola de asesor" while new clients wait to be seen. */
export function tituloConAvisos(base: string, nuevos: number): string {
  return nuevos > 0 ? `(${nuevos}) ${base}` : base;
}

export const RESULTADO_TEXTO: Record<string, string> = {
  gestionado: "Gestionado",
  no_gestionado: "No gestionado",
  cerrado: "Cerrado",
};
export const ESTADO_SESION: Record<string, string> = {
  active: "en curso",
  completed: "cerrada",
  timed_out: "tiempo agotado",
  released: "liberada por GTR",
};
