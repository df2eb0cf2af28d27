// The REST client: one typed method per endpoint, one place for errors.
import type {
  ActiveOut, AsesorOut, AsesorStatsOut, BoardOut, ClienteIn, ClienteList, ClienteOut,
  ErrorOut, Estado, EventsOut, HealthOut, HistorialOut, ImportOut, LoginOut, LogoutIn, Resultado, SessionOut,
  StartOut, StatsOut, StatusOut, SweepOut, UserOut, WsStatsOut,
} from "./types";

/** Base URL of the API: VITE_API_URL, else the page's own origin under /api. */
export const API_URL = (import.meta.env.VITE_API_URL || "/api").replace(/\/+$/, "");

/** Spanish texts for the server's error codes (the users' language). */
const MENSAJES: Record<string, string> = {
  unauthorized: "Inicie sesión para continuar.",
  invalid_token: "Su sesión no es válida; vuelva a iniciar sesión.",
  token_expired: "Su sesión expiró; vuelva a iniciar sesión.",
  forbidden: "No tiene permiso para esta acción.",
  not_found: "El cliente no existe o ya no está a su cargo.",
  client_locked: "Otro asesor ya está gestionando este cliente.",
  invalid_state: "El cliente ya no está en un estado que lo permita.",
  session_expired: "La gestión expiró por inactividad; el cliente volvió a GTR.",
  no_active_session: "No hay una gestión activa para este cliente.",
  validation_error: "Revise los datos ingresados.",
  rate_limited: "Demasiadas solicitudes; espere unos segundos.",
  payload_too_large: "El archivo es demasiado grande.",
  network: "No hay conexión con el servidor.",
};

/** Every failed call: the HTTP status, the server's code and a Spanish message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Partial<ErrorOut> & Record<string, unknown>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function mensajeDeError(error: unknown): string {
  if (error instanceof ApiError) return MENSAJES[error.code] ?? error.message;
  return error instanceof Error ? error.message : String(error);
}

type TokenSource = () => string | null;
let tokenSource: TokenSource = () => null;
let unauthorized: (e: ApiError) => void = () => undefined;

/** Where the token comes from, and what to do when the server refuses it. */
export function configureApi(opts: { token: TokenSource; onUnauthorized?: (e: ApiError) => void }): void {
  tokenSource = opts.token;
  unauthorized = opts.onUnauthorized ?? (() => undefined);
}

export async function request<T>(
  method: "GET" | "POST", path: string, body?: unknown, auth = true, contentType = "application/json",
  reportRefusal = true,
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = auth ? tokenSource() : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (body !== undefined) {
    headers["Content-Type"] = contentType;
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(`${API_URL}${path}`, { method, headers, body: payload });
  } catch {
    throw new ApiError(0, "network", MENSAJES.network);
  }
  const text = await response.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const err = (data ?? {}) as Partial<ErrorOut> & Record<string, unknown>;
    const code = typeof err.error === "string" ? err.error : `http_${response.status}`;
    const error = new ApiError(response.status, code, MENSAJES[code] ?? err.message ?? response.statusText, err);
    if (response.status === 401 && auth && reportRefusal) unauthorized(error);
    throw error;
  }
  return data as T;
}

const q = (params: Record<string, string | number | undefined | null>): string => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) s.set(k, String(v));
  const out = s.toString();
  return out ? `?${out}` : "";
};

export const sessionApi = {
  login: (username: string, password: string) =>
    request<LoginOut>("POST", "/auth/login", { username, password }, false),
  me: () => request<UserOut>("GET", "/auth/me"),
  /** Revokes every token of this user on the server (204, no body); a 401
   * (already revoked) is no news to report. */
  logout: (choice?: Partial<LogoutIn>) => request<null>("POST", "/auth/logout", choice, true, "application/json", false),

  clientes: (p: { estado?: Estado; asesor_id?: number; limit?: number; offset?: number } = {}) =>
    request<ClienteList>("GET", `/clientes${q(p)}`),
  cliente: (id: number) => request<ClienteOut>("GET", `/clientes/${id}`),
  historial: (id: number) => request<HistorialOut>("GET", `/clientes/${id}/historial`),
  crearCliente: (body: ClienteIn) => request<ClienteOut>("POST", "/clientes", body),
  importar: (csv: string) => request<ImportOut>("POST", "/clientes/import", csv, true, "text/csv"),
  derivar: (id: number, asesorId: number | null) =>
    request<ClienteOut>("POST", `/clientes/${id}/derivar`, asesorId === null ? {} : { asesor_id: asesorId }),
  asesores: () => request<AsesorOut[]>("GET", "/asesores"),

  start: (clienteId: number) => request<StartOut>("POST", "/sessions/start", { cliente_id: clienteId }),
  heartbeat: (clienteId: number, sessionId?: string) =>
    request<SessionOut>("POST", "/sessions/heartbeat", { cliente_id: clienteId, session_id: sessionId }),
  end: (clienteId: number, resultado: Resultado, notas?: string, sessionId?: string) =>
    request<SessionOut>("POST", "/sessions/end", {
      cliente_id: clienteId, resultado, notas: notas || undefined, session_id: sessionId,
    }),
  status: (clienteId: number) => request<StatusOut>("GET", `/sessions/status/${clienteId}`),
  restore: (clienteId: number) => request<SessionOut>("POST", `/sessions/restore/${clienteId}`),
  active: () => request<ActiveOut>("GET", "/sessions/active"),
  notas: (clienteId: number, sessionId: string, notas: string) =>
    request<SessionOut>("POST", "/sessions/notas", { cliente_id: clienteId, session_id: sessionId, notas }),
  sync: () => request<SweepOut>("POST", "/sessions/sync"),
  /** `keepNotes`: the advisor's console attaches their unsaved notes to the history */
  release: (clienteId: number, keepNotes = true) =>
    request<SessionOut>("POST", `/sessions/release/${clienteId}`, { keep_notes: keepNotes }),

  board: () => request<BoardOut>("GET", "/board"),
  events: (after: number, limit?: number) => request<EventsOut>("GET", `/events${q({ after, limit })}`),
  health: () => request<HealthOut>("GET", "/health", undefined, false),
  wsStats: () => request<WsStatsOut>("GET", "/ws-stats"),
  stats: () => request<StatsOut>("GET", "/stats/sessions"),
  asesorStats: () => request<AsesorStatsOut>("GET", "/stats/asesores"),
};
export type SessionApi = typeof sessionApi;
