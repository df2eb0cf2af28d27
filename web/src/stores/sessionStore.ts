// The advisor's (and GTR's) session in the browser: the login, the open
// handling session and the wizard's draft, persisted in localStorage so a page
// refresh brings the open session back (restored through /api/sessions/restore),
// and a clock that ticks so the TTL shown is live.
import { create } from "zustand";
import { createJSONStorage, persist, type StateStorage } from "zustand/middleware";
import { ApiError, type SessionApi } from "../api/sessionApi";
import type { LoginOut, Resultado, SessionOut, SessionTiming, UserOut } from "../api/types";
import { localNow, offsetFrom, secondsLeft } from "../lib/clock";
import { hasContent, isIdle } from "../lib/desk";

export interface Auth {
  token: string;
  expires_at: number;
  user: UserOut;
  timing: SessionTiming;
}

export interface ActiveSession {
  cliente_id: number;
  session_id: string;
  nombre: string | null;
  deadline: number;
  /** server clock minus local clock, seconds */
  offset: number;
}

export interface Notice {
  kind: "info" | "warning" | "error";
  text: string;
}

export interface Draft {
  resultado: Resultado | "";
  notas: string;
}

/** A draft whose session ended without it (timeout, force-release, a lost
 * connection): kept, offered back when the client is opened again, and
 * attachable to the client's history (POST /api/sessions/notas). */
export interface LostDraft extends Draft {
  cliente_id: number;
  session_id: string;
  nombre: string | null;
}

/** What the draft API needs (a subset of sessionApi). */
export interface DraftApi {
  notas(clienteId: number, sessionId: string, notas: string): Promise<unknown>;
}

export interface SessionState {
  auth: Auth | null;
  active: ActiveSession | null;
  draft: Draft;
  notice: Notice | null;
  /** a draft its session ended without (see LostDraft) */
  lost: LostDraft | null;
  /** play a sound when a client is derived to me (remembered) */
  sound: boolean;
  /** local epoch seconds of the last keyboard, pointer or touch input */
  lastInput: number;
  /** local epoch seconds since heartbeats fail for want of a connection, or null */
  netDownSince: number | null;
  /** local epoch seconds, advanced by tick() every second */
  now: number;
  login(out: LoginOut): void;
  logout(notice?: Notice): void;
  /** a start / heartbeat / restore answer: the session and its new deadline */
  setSession(s: SessionOut, nombre?: string | null): void;
  /** the session is over; `keepDraft`: it ended without the draft (timeout,
   * release, lost connection), so the draft is kept as `lost` */
  clearSession(notice?: Notice | null, opts?: { keepDraft?: boolean }): void;
  /** attach the lost draft's notes to its session's history on the server */
  attachLost(api: DraftApi): Promise<"attached" | "refused">;
  /** session `sessionId` (null: the open one) was returned to GTR (a push). The
   * open session ends and its draft is kept as `lost`; with `keepNotes` (a
   * force-release whose GTR chose to keep the advisor's notes) the lost draft
   * of that session is attached to the history at once and the notice says so.
   * "attached": it joined the history; "kept": it stays a local draft
   * («Borrador sin guardar»); "none": no such session or nothing typed. */
  returnedToGtr(
    api: DraftApi,
    sessionId: string | null,
    notice: Notice,
    opts: { keepNotes: boolean },
  ): Promise<"attached" | "kept" | "none">;
  discardLost(): void;
  setSound(on: boolean): void;
  /** the advisor typed, clicked or touched */
  markInput(now?: number): void;
  /** no input for IDLE_AFTER (false when the setting is off) */
  idle(): boolean;
  setNetDown(down: boolean): void;
  setDraft(d: Partial<Draft>): void;
  setNotice(n: Notice | null): void;
  tick(now?: number): void;
  /** seconds left of the open session on the server's clock, null if none */
  secondsLeft(): number | null;
  /** my live sessions on the server (any device) other than the one open here */
  abiertas: SessionOut[];
  /** after a login or a refresh: read my open sessions from the server */
  loadAbiertas(api: Pick<SessionApi, "active">): Promise<SessionOut[]>;
  /** take one of them up here (restore: a heartbeat and the Redis copy) */
  resume(api: Pick<SessionApi, "restore">, clienteId: number, nombre: string | null): Promise<void>;
  /** after a page refresh: bring back the persisted session if it still runs */
  restore(api: Pick<SessionApi, "status" | "restore">): Promise<"none" | "restored" | "ended">;
}

const EMPTY_DRAFT: Draft = { resultado: "", notas: "" };

const memory = new Map<string, string>();
/** localStorage, or memory where there is none (tests, private modes). */
export const storage: StateStorage = {
  getItem: (k) => (typeof localStorage !== "undefined" ? localStorage.getItem(k) : memory.get(k) ?? null),
  setItem: (k, v) => (typeof localStorage !== "undefined" ? localStorage.setItem(k, v) : void memory.set(k, v)),
  removeItem: (k) => (typeof localStorage !== "undefined" ? localStorage.removeItem(k) : void memory.delete(k)),
};

export const STORAGE_KEY = "albru-session";

export const useSessionStore = create<SessionState>()(
  persist(
    (set, get) => ({
      auth: null,
      active: null,
      draft: EMPTY_DRAFT,
      notice: null,
      lost: null,
      sound: true,
      lastInput: localNow(),
      netDownSince: null,
      abiertas: [],
      now: localNow(),

      login: (out) =>
        set({
          auth: { token: out.token, expires_at: out.expires_at, user: out.user, timing: out.session },
          notice: null,
        }),

      logout: (notice) =>
        set({ auth: null, active: null, draft: EMPTY_DRAFT, lost: null, notice: notice ?? null }),

      setSession: (s, nombre) => {
        const prev = get().active;
        const same = prev && prev.cliente_id === s.cliente_id;
        const lost = get().lost;
        // the client whose draft was lost is open again: the draft comes back
        const back = !same && lost && lost.cliente_id === s.cliente_id;
        set({
          active: {
            cliente_id: s.cliente_id,
            session_id: s.session_id,
            nombre: nombre ?? (same ? prev.nombre : null),
            deadline: s.deadline,
            offset: offsetFrom(s.deadline, s.seconds_left),
          },
          draft: same ? get().draft : back ? { resultado: lost.resultado, notas: lost.notas } : EMPTY_DRAFT,
          lost: back ? null : lost,
          netDownSince: null,
          now: localNow(),
        });
      },

      clearSession: (notice, opts) => {
        const { active, draft, lost } = get();
        const keep = opts?.keepDraft && active && hasContent(draft);
        set({
          active: null,
          draft: EMPTY_DRAFT,
          lost: keep ? { ...draft, cliente_id: active.cliente_id, session_id: active.session_id, nombre: active.nombre } : lost,
          notice: notice === undefined ? get().notice : notice,
        });
      },

      attachLost: async (api) => {
        const lost = get().lost;
        if (!lost) return "refused";
        const notas = [lost.resultado ? `[${lost.resultado.replace("_", " ")}]` : "", lost.notas.trim()]
          .filter(Boolean).join(" ");
        try {
          await api.notas(lost.cliente_id, lost.session_id, notas);
        } catch (e) {
          // 404: no longer mine to see; 409: it has notes or runs again. Kept for the advisor.
          if (e instanceof ApiError && [403, 404, 409, 422].includes(e.status)) return "refused";
          throw e;
        }
        if (get().lost?.session_id === lost.session_id) set({ lost: null });
        return "attached";
      },

      returnedToGtr: async (api, sessionId, notice, opts) => {
        const active = get().active;
        const open = active && (sessionId === null || active.session_id === sessionId) ? active.session_id : null;
        if (open) get().clearSession(notice, { keepDraft: true });
        const id = open ?? sessionId;
        const lost = get().lost;
        if (id === null || !lost || lost.session_id !== id) return "none";
        // only typed notes are attached (as «Adjuntar al historial» does)
        if (!opts.keepNotes || !lost.notas.trim()) return "kept";
        let r: "attached" | "refused";
        try {
          r = await get().attachLost(api);
        } catch {
          r = "refused"; // a network error: the draft stays here, attachable by hand
        }
        if (r !== "attached") return "kept";
        set({ notice: { kind: "info", text: `${notice.text} Sus notas se guardaron en el historial.` } });
        return "attached";
      },

      discardLost: () => set({ lost: null }),
      setSound: (on) => set({ sound: on }),
      markInput: (now) => set({ lastInput: now ?? localNow() }),
      idle: () => isIdle(get().lastInput, get().now, get().auth?.timing.idle_after ?? 0),
      setNetDown: (down) => {
        if (down && get().netDownSince === null) set({ netDownSince: localNow() });
        else if (!down && get().netDownSince !== null) set({ netDownSince: null });
      },

      setDraft: (d) => set({ draft: { ...get().draft, ...d } }),
      setNotice: (n) => set({ notice: n }),
      tick: (now) => set({ now: now ?? localNow() }),

      secondsLeft: () => {
        const a = get().active;
        return a ? secondsLeft(a.deadline, a.offset, get().now) : null;
      },

      loadAbiertas: async (api) => {
        const me = get().auth?.user.id;
        const { items } = await api.active();
        const here = get().active?.session_id;
        const abiertas = items.filter((s) => s.asesor_id === me && s.seconds_left > 0 && s.session_id !== here);
        set({ abiertas });
        return abiertas;
      },

      resume: async (api, clienteId, nombre) => {
        const s = await api.restore(clienteId);
        get().setSession(s, nombre);
        set({ abiertas: get().abiertas.filter((a) => a.cliente_id !== clienteId) });
      },

      restore: async (api) => {
        const a = get().active;
        const me = get().auth?.user.id;
        if (!a || me === undefined) return "none";
        const nombre = a.nombre ?? `#${a.cliente_id}`;
        const ended = (): "ended" => {
          get().clearSession({
            kind: "warning",
            text: `La gestión de ${nombre} ya no está activa: el cliente volvió a GTR o fue cerrado.`,
          }, { keepDraft: true });
          return "ended";
        };
        try {
          // status first: a session that already ended is no error, only news
          const st = await api.status(a.cliente_id);
          if (!st.active || !st.session || st.session.asesor_id !== me) return ended();
          get().setSession(await api.restore(a.cliente_id), a.nombre);
          return "restored";
        } catch (e) {
          if (e instanceof ApiError && [403, 404, 409].includes(e.status)) return ended();
          throw e;
        }
      },
    }),
    {
      name: STORAGE_KEY,
      storage: createJSONStorage(() => storage),
      partialize: (s) => ({ auth: s.auth, active: s.active, draft: s.draft, lost: s.lost, sound: s.sound }),
      version: 1,
    },
  ),
);

/** The token, for the API client and the socket (read at call time). */
export const currentToken = (): string | null => {
  const auth = useSessionStore.getState().auth;
  return auth && auth.expires_at > localNow() ? auth.token : null;
};
