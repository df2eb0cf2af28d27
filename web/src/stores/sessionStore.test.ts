import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/sessionApi";
import type { LoginOut, SessionOut, StatusOut } from "../api/types";
import { currentToken, STORAGE_KEY, useSessionStore } from "./sessionStore";

const now = () => Date.now() / 1000;
const login: LoginOut = {
  token: "tok", token_type: "Bearer", expires_at: Math.floor(now()) + 3600,
  user: { id: 7, username: "asesor1", nombre: "Asesor 1", role: "asesor" },
  session: { timeout: 600, heartbeat_interval: 30, idle_after: 0 },
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

describe("the advisor's desk in the store", () => {
  beforeEach(() => {
    useSessionStore.setState({ lost: null, abiertas: [], netDownSince: null, sound: true });
    useSessionStore.getState().login(login);
  });

  it("a session that ends without its draft keeps it, offers it back, and persists it", () => {
    const s = useSessionStore.getState();
    s.setSession(session(), "Ana");
    s.setDraft({ resultado: "gestionado", notas: "quiere el plan B" });
    s.clearSession({ kind: "warning", text: "devuelto" }, { keepDraft: true });
    const st = useSessionStore.getState();
    expect(st.active).toBeNull();
    expect(st.draft).toEqual({ resultado: "", notas: "" });
    expect(st.lost).toMatchObject({ cliente_id: 42, session_id: "s1", nombre: "Ana", notas: "quiere el plan B" });
    expect(JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "{}").state.lost.notas).toBe("quiere el plan B");
    // another client: a clean draft, the lost one stays
    s.setSession(session({ cliente_id: 43, session_id: "s2" }), "Luis");
    expect(useSessionStore.getState().draft.notas).toBe("");
    expect(useSessionStore.getState().lost?.cliente_id).toBe(42);
    s.clearSession(null);
    // the same client again (derived back to me): the draft comes back
    s.setSession(session({ session_id: "s3" }), "Ana");
    expect(useSessionStore.getState().draft).toEqual({ resultado: "gestionado", notas: "quiere el plan B" });
    expect(useSessionStore.getState().lost).toBeNull();
  });

  it("a normal close or an empty draft keeps nothing", () => {
    const s = useSessionStore.getState();
    s.setSession(session(), "Ana");
    s.setDraft({ notas: "   " });
    s.clearSession(null, { keepDraft: true });
    expect(useSessionStore.getState().lost).toBeNull();
    s.setSession(session(), "Ana");
    s.setDraft({ notas: "hecho" });
    s.clearSession(null);
    expect(useSessionStore.getState().lost).toBeNull();
  });

  it("a restore that finds the session ended keeps the draft", async () => {
    const s = useSessionStore.getState();
    s.setSession(session(), "Ana");
    s.setDraft({ notas: "escrito antes del corte" });
    const api = { status: vi.fn().mockResolvedValue(status({ active: false, session: null })), restore: vi.fn() };
    expect(await s.restore(api)).toBe("ended");
    expect(useSessionStore.getState().lost?.notas).toBe("escrito antes del corte");
  });

  it("attaches the lost draft to the history once, and keeps it when refused", async () => {
    const s = useSessionStore.getState();
    s.setSession(session(), "Ana");
    s.setDraft({ resultado: "no_gestionado", notas: "no contesta" });
    s.clearSession(null, { keepDraft: true });
    const refused = { notas: vi.fn().mockRejectedValue(new ApiError(404, "not_found", "x")) };
    expect(await s.attachLost(refused)).toBe("refused");
    expect(useSessionStore.getState().lost).not.toBeNull();
    const network = { notas: vi.fn().mockRejectedValue(new ApiError(0, "network", "x")) };
    await expect(s.attachLost(network)).rejects.toThrow();
    expect(useSessionStore.getState().lost).not.toBeNull();
    const ok = { notas: vi.fn().mockResolvedValue(session({ status: "timed_out" })) };
    expect(await s.attachLost(ok)).toBe("attached");
    expect(ok.notas).toHaveBeenCalledWith(42, "s1", "[no gestionado] no contesta");
    expect(useSessionStore.getState().lost).toBeNull();
    s.discardLost();
  });

  it("a force-release that keeps the notes attaches the draft to the history at once", async () => {
    const s = useSessionStore.getState();
    s.setSession(session(), "Ana");
    s.setDraft({ resultado: "gestionado", notas: "quiere el plan B" });
    const ok = { notas: vi.fn().mockResolvedValue(session({ status: "released" })) };
    const notice = { kind: "warning", text: "Ana fue devuelto a GTR: lo liberó un supervisor." } as const;
    expect(await s.returnedToGtr(ok, "s1", notice, { keepNotes: true })).toBe("attached");
    expect(ok.notas).toHaveBeenCalledWith(42, "s1", "[gestionado] quiere el plan B");
    const st = useSessionStore.getState();
    expect(st.active).toBeNull();
    expect(st.lost).toBeNull();
    expect(st.draft).toEqual({ resultado: "", notas: "" });
    expect(st.notice).toEqual({ kind: "info", text: `${notice.text} Sus notas se guardaron en el historial.` });
  });

  it("keep_notes false, a refusal or a network error keep the draft as «Borrador sin guardar»", async () => {
    const s = useSessionStore.getState();
    const notice = { kind: "warning", text: "devuelto" } as const;
    const ok = { notas: vi.fn().mockResolvedValue(session({ status: "released" })) };
    s.setSession(session(), "Ana");
    s.setDraft({ notas: "no contesta" });
    expect(await s.returnedToGtr(ok, "s1", notice, { keepNotes: false })).toBe("kept");
    expect(ok.notas).not.toHaveBeenCalled();
    expect(useSessionStore.getState()).toMatchObject({ active: null, notice, lost: { session_id: "s1", notas: "no contesta" } });
    for (const err of [new ApiError(409, "invalid_state", "x"), new ApiError(0, "network", "x")]) {
      s.discardLost();
      s.setSession(session({ session_id: "s2" }), "Ana");
      s.setDraft({ notas: "no contesta" });
      const bad = { notas: vi.fn().mockRejectedValue(err) };
      expect(await s.returnedToGtr(bad, "s2", notice, { keepNotes: true })).toBe("kept");
      expect(useSessionStore.getState()).toMatchObject({ active: null, notice, lost: { session_id: "s2" } });
    }
    // a result without notes is not attached either (as «Adjuntar al historial»)
    s.discardLost();
    s.setSession(session({ session_id: "s3" }), "Ana");
    s.setDraft({ resultado: "gestionado" });
    expect(await s.returnedToGtr(ok, "s3", notice, { keepNotes: true })).toBe("kept");
    expect(ok.notas).not.toHaveBeenCalled();
  });

  it("attaches a draft already kept when the push comes after the refused heartbeat; ignores other sessions", async () => {
    const s = useSessionStore.getState();
    const ok = { notas: vi.fn().mockResolvedValue(session({ status: "released" })) };
    const notice = { kind: "warning", text: "Ana fue devuelto a GTR." } as const;
    s.setSession(session(), "Ana");
    s.setDraft({ notas: "llamar el lunes" });
    // another session's push (an older one of the same client): nothing happens
    expect(await s.returnedToGtr(ok, "old", notice, { keepNotes: true })).toBe("none");
    expect(useSessionStore.getState().active?.session_id).toBe("s1");
    // the heartbeat was refused first: the draft is already kept
    s.clearSession({ kind: "warning", text: "la gestión ya no está activa" }, { keepDraft: true });
    expect(await s.returnedToGtr(ok, "s1", notice, { keepNotes: true })).toBe("attached");
    expect(ok.notas).toHaveBeenCalledWith(42, "s1", "llamar el lunes");
    expect(useSessionStore.getState().lost).toBeNull();
    expect(useSessionStore.getState().notice?.text).toContain("Sus notas se guardaron en el historial");
  });

  it("restores my open sessions from the server, not only from this browser", async () => {
    const s = useSessionStore.getState();
    const api = {
      active: vi.fn().mockResolvedValue({
        count: 3, items: [
          session({ cliente_id: 50, session_id: "a" }),
          session({ cliente_id: 51, session_id: "b", seconds_left: 0 }), // past its deadline
          session({ cliente_id: 52, session_id: "c", asesor_id: 99 }), // not mine
        ],
      }),
    };
    const found = await s.loadAbiertas(api);
    expect(found.map((x) => x.cliente_id)).toEqual([50]);
    expect(useSessionStore.getState().abiertas).toHaveLength(1);
    const restore = vi.fn().mockResolvedValue(session({ cliente_id: 50, session_id: "a" }));
    await s.resume({ restore }, 50, "Eva");
    expect(restore).toHaveBeenCalledWith(50);
    expect(useSessionStore.getState().active).toMatchObject({ cliente_id: 50, session_id: "a", nombre: "Eva" });
    expect(useSessionStore.getState().abiertas).toEqual([]);
    // the one open here is not listed again
    api.active.mockResolvedValue({ count: 1, items: [session({ cliente_id: 50, session_id: "a" })] });
    expect(await s.loadAbiertas(api)).toEqual([]);
  });

  it("idle detection follows IDLE_AFTER from the login", () => {
    const s = useSessionStore.getState();
    s.markInput(1000);
    s.tick(5000);
    expect(useSessionStore.getState().idle()).toBe(false); // off by default
    s.login({ ...login, session: { ...login.session, idle_after: 60 } });
    s.tick(1059);
    expect(useSessionStore.getState().idle()).toBe(false);
    s.tick(1060);
    expect(useSessionStore.getState().idle()).toBe(true);
    s.markInput(1060);
    expect(useSessionStore.getState().idle()).toBe(false);
  });

  it("remembers the sound choice and notes when the network is down", () => {
    const s = useSessionStore.getState();
    s.setSound(false);
    expect(JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "{}").state.sound).toBe(false);
    s.setNetDown(true);
    const since = useSessionStore.getState().netDownSince;
    expect(since).not.toBeNull();
    s.setNetDown(true);
    expect(useSessionStore.getState().netDownSince).toBe(since);
    s.setNetDown(false);
    expect(useSessionStore.getState().netDownSince).toBeNull();
  });
});
