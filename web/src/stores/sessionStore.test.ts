import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/sessionApi";
import type { LoginOut, SessionOut, StatusOut } from "../api/types";
import { currentToken, STORAGE_KEY, useSessionStore } from "./sessionStore";

const now = () => Date.now() / 1000;
const login: LoginOut = {
  token: "tok", token_type: "Bearer", expires_at: Math.floor(now()) + 3600,
  user: { id: 7, username: "asesor1", nombre: "Asesor 1", role: "asesor" },
  session: { timeout: 600, heartbeat_interval: 30 },
};
const session = (over: Partial<SessionOut> = {}): SessionOut => ({
  session_id: "s1", cliente_id: 42, asesor_id: 7, token: 1, status: "active", started_at: now(),
  last_activity_at: now(), deadline: now() + 600, seconds_left: 600, ended_at: null, resultado: null,
  heartbeats: 0, ...over,
});
const status = (over: Partial<StatusOut> = {}): StatusOut => ({
  cliente_id: 42, estado: "en_gestion", asesor_asignado: 7, active: true, session: session(),
  cached: true, cache_ttl: 500, ...over,
});

beforeEach(() => {
  localStorage.clear();
  useSessionStore.setState({ auth: null, active: null, draft: { resultado: "", notas: "" }, notice: null });
});

describe("useSessionStore", () => {
  it("persists the login, the open session and the draft in localStorage", () => {
    const s = useSessionStore.getState();
    s.login(login);
    s.setSession(session(), "Ana");
    s.setDraft({ notas: "llamar luego" });
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "{}").state;
    expect(saved.auth.token).toBe("tok");
    expect(saved.active).toMatchObject({ cliente_id: 42, session_id: "s1", nombre: "Ana" });
    expect(saved.draft.notas).toBe("llamar luego");
    expect(saved.now).toBeUndefined();
    expect(currentToken()).toBe("tok");
  });

  it("tracks the TTL on the server's clock, live", () => {
    const s = useSessionStore.getState();
    // the server's clock is 100 s ahead of this browser's
    const serverNow = now() + 100;
    s.setSession(session({ deadline: serverNow + 30, seconds_left: 30 }), "Ana");
    s.tick(now());
    expect(useSessionStore.getState().secondsLeft()).toBeCloseTo(30, 0);
    s.tick(now() + 10);
    expect(useSessionStore.getState().secondsLeft()).toBeCloseTo(20, 0);
    s.tick(now() + 60);
    expect(useSessionStore.getState().secondsLeft()).toBe(0);
  });

  it("a heartbeat keeps the draft; another client starts a clean one", () => {
    const s = useSessionStore.getState();
    s.setSession(session(), "Ana");
    s.setDraft({ resultado: "gestionado" });
    s.setSession(session({ deadline: now() + 900, seconds_left: 900 }));
    expect(useSessionStore.getState().draft.resultado).toBe("gestionado");
    expect(useSessionStore.getState().active?.nombre).toBe("Ana");
    s.setSession(session({ cliente_id: 43, session_id: "s2" }), "Luis");
    expect(useSessionStore.getState().draft.resultado).toBe("");
  });

  it("restores a session that still runs after a page refresh", async () => {
    const s = useSessionStore.getState();
    s.login(login);
    s.setSession(session(), "Ana");
    const api = { status: vi.fn(async () => status()), restore: vi.fn(async () => session({ heartbeats: 3, deadline: now() + 599, seconds_left: 599 })) };
    expect(await useSessionStore.getState().restore(api)).toBe("restored");
    expect(api.restore).toHaveBeenCalledWith(42);
    expect(useSessionStore.getState().active?.nombre).toBe("Ana");
  });

  it("says so when the session ended while the page was away", async () => {
    const s = useSessionStore.getState();
    s.login(login);
    s.setSession(session(), "Ana");
    const api = { status: vi.fn(async () => status({ active: false, estado: "no_gestionado", session: null })), restore: vi.fn() };
    expect(await useSessionStore.getState().restore(api)).toBe("ended");
    expect(api.restore).not.toHaveBeenCalled();
    expect(useSessionStore.getState().active).toBeNull();
    expect(useSessionStore.getState().notice?.text).toMatch(/volvió a GTR/);
  });

  it("treats a 409 on restore as an ended session, and other errors as errors", async () => {
    const s = useSessionStore.getState();
    s.login(login);
    s.setSession(session(), "Ana");
    const expired = { status: vi.fn(async () => status()), restore: vi.fn(async () => { throw new ApiError(409, "session_expired", "x"); }) };
    expect(await useSessionStore.getState().restore(expired)).toBe("ended");
    s.setSession(session(), "Ana");
    const down = { status: vi.fn(async () => { throw new ApiError(0, "network", "x"); }), restore: vi.fn() };
    await expect(useSessionStore.getState().restore(down)).rejects.toThrow();
    expect(useSessionStore.getState().active).not.toBeNull();
  });

  it("logging out forgets the session", () => {
    const s = useSessionStore.getState();
    s.login(login);
    s.setSession(session(), "Ana");
    s.logout();
    expect(useSessionStore.getState().auth).toBeNull();
    expect(useSessionStore.getState().active).toBeNull();
    expect(currentToken()).toBeNull();
  });
});
