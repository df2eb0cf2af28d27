// The advisor's (and GTR's) session in the browser: the login, the open
// handling session and the wizard's draft, persisted in localStorage so a page
// refresh brings the open session back (restored through /api/sessions/restore),
// and a clock that ticks so the TTL shown is live.
import { create } from "zustand";
import { createJSONStorage, persist, type StateStorage } from "zustand/middleware";
import { ApiError, type SessionApi } from "../api/sessionApi";
import type { LoginOut, Resultado, SessionOut, SessionTiming, UserOut } from "../api/types";
import { localNow, offsetFrom, secondsLeft } from "../lib/clock";

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

export interface SessionState {
  auth: Auth | null;
  active: ActiveSession | null;
  draft: Draft;
  notice: Notice | null;
  /** local epoch seconds, advanced by tick() every second */
  now: number;
  login(out: LoginOut): void;
  logout(notice?: Notice): void;
  /** a start / heartbeat / restore answer: the session and its new deadline */
  setSession(s: SessionOut, nombre?: string | null): void;
  clearSession(notice?: Notice | null): void;
  setDraft(d: Partial<Draft>): void;
  setNotice(n: Notice | null): void;
  tick(now?: number): void;
  /** seconds left of the open session on the server's clock, null if none */
  secondsLeft(): number | null;
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
      now: localNow(),

      login: (out) =>
        set({
          auth: { token: out.token, expires_at: out.expires_at, user: out.user, timing: out.session },
          notice: null,
        }),

      logout: (notice) => set({ auth: null, active: null, draft: EMPTY_DRAFT, notice: notice ?? null }),

      setSession: (s, nombre) => {
        const prev = get().active;
        const same = prev && prev.cliente_id === s.cliente_id;
        set({
          active: {
            cliente_id: s.cliente_id,
            session_id: s.session_id,
            nombre: nombre ?? (same ? prev.nombre : null),
            deadline: s.deadline,
            offset: offsetFrom(s.deadline, s.seconds_left),
          },
          draft: same ? get().draft : EMPTY_DRAFT,
          now: localNow(),
        });
      },

      clearSession: (notice) =>
        set({ active: null, draft: EMPTY_DRAFT, notice: notice === undefined ? get().notice : notice }),

      setDraft: (d) => set({ draft: { ...get().draft, ...d } }),
      setNotice: (n) => set({ notice: n }),
      tick: (now) => set({ now: now ?? localNow() }),

      secondsLeft: () => {
        const a = get().active;
        return a ? secondsLeft(a.deadline, a.offset, get().now) : null;
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
          });
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
      partialize: (s) => ({ auth: s.auth, active: s.active, draft: s.draft }),
      version: 1,
    },
  ),
);

/** The token, for the API client and the socket (read at call time). */
export const currentToken = (): string | null => {
  const auth = useSessionStore.getState().auth;
  return auth && auth.expires_at > localNow() ? auth.token : null;
};
