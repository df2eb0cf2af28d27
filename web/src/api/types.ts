// Names for the generated OpenAPI types (schema.gen.ts) and the pushed events
// (events.gen.ts): both are generated from the server, never written by hand.
import type { components } from "./schema.gen";
import type { Envelope, Estado, EventName, ReturnReason, Resultado } from "./events.gen";

type S = components["schemas"];
export type LoginOut = S["LoginOut"];
export type UserOut = S["UserOut"];
export type SessionTiming = S["SessionTiming"];
export type ClienteOut = S["ClienteOut"];
export type ClienteIn = S["ClienteIn"];
export type ClienteList = S["ClienteList"];
export type ImportOut = S["ImportOut"];
export type AsesorOut = S["AsesorOut"];
export type SessionOut = S["SessionOut"];
export type StartOut = S["StartOut"];
export type StatusOut = S["StatusOut"];
export type ActiveOut = S["ActiveOut"];
export type SweepOut = S["SweepOut"];
export type BoardOut = S["BoardOut"];
export type BoardItem = S["BoardItem"];
export type EventsOut = S["EventsOut"];
export type HealthOut = S["HealthOut"];
export type WsStatsOut = S["WsStatsOut"];
export type StatsOut = S["StatsOut"];
export type AsesorStats = S["AsesorStats"];
export type AsesorStatsOut = S["AsesorStatsOut"];
export type ErrorOut = S["ErrorOut"];
export type ResumenOut = S["ResumenOut"];
export type ImportCheckOut = S["ImportCheckOut"];
export type ImportRowOut = S["ImportRowOut"];
export type AdminUserOut = S["AdminUserOut"];
export type AdminUserIn = S["AdminUserIn"];
export type PresenceOut = S["PresenceOut"];
export type Alerta = S["Alerta"];
export type AlertasOut = S["AlertasOut"];
export type PresenceItem = S["PresenceItem"];
export type HistorialOut = S["HistorialOut"];
export type HistorialItem = S["HistorialItem"];
export type LogoutIn = S["LogoutIn"];
export type Role = UserOut["role"];
export type { Envelope, Estado, EventName, ReturnReason, Resultado };

/** The extra fields each event adds to the envelope (docs/events.md). */
export interface EventExtras {
  CLIENT_CREATED: { count?: number; ids?: number[] };
  CLIENT_DERIVED: { pool?: boolean; previous_asesor_id?: number | null };
  CLIENT_IN_GESTION: { pool?: boolean };
  CLIENT_COMPLETED: { resultado?: Resultado; previous_asesor_id?: number | null };
  /** `keep_notes`: a force-release whose GTR chose to keep the advisor's notes */
  CLIENT_RETURNED_TO_GTR: { reason?: ReturnReason; previous_asesor_id?: number | null; keep_notes?: boolean };
  SESSIONS_EXTENDED: {
    deadlines?: Record<string, number>;
    sessions?: Record<string, string>;
    since?: number | null;
  };
}
export type PushEvent<T extends EventName = EventName> = T extends EventName
  ? Envelope<T> & EventExtras[T]
  : never;

/** `resync`: sent after a connect with auth.last_seq. */
export interface Resync {
  status: "replayed" | "snapshot_required";
  from_seq: number | null;
  last_seq: number | null;
  replayed: number;
  error?: string;
}
/** `auth_error` (and a refused connect's `connect_error` data). */
export interface AuthError {
  error: string;
  message: string;
}
/** What a socket heartbeat is acknowledged with. */
export type HeartbeatAck = SessionOut | ({ error: string; message?: string } & Record<string, unknown>);
