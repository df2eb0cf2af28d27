// The logout button tells the server (POST /api/auth/logout with the token, so
// it is revoked and its sockets closed) and forgets the login at once.
import { act, createElement } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { configureApi } from "../api/sessionApi";
import { currentToken, useSessionStore } from "../stores/sessionStore";
import { Header } from "./Header";

let root: Root;
let container: HTMLDivElement;
const fetchMock = vi.fn(async () => new Response(null, { status: 204 }));

beforeEach(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  vi.stubGlobal("fetch", fetchMock);
  configureApi({ token: currentToken });
  useSessionStore.getState().login({
    token: "tok", token_type: "Bearer", expires_at: Math.floor(Date.now() / 1000) + 3600,
    user: { id: 7, username: "asesor1", nombre: "Asesor 1", role: "asesor" },
    session: { timeout: 600, heartbeat_interval: 30, idle_after: 0 },
  });
  container = document.createElement("div");
  document.body.appendChild(container);
  root = createRoot(container);
});

afterEach(() => {
  act(() => root.unmount());
  container.remove();
  vi.unstubAllGlobals();
  fetchMock.mockClear();
});

describe("Header", () => {
  it("revokes the token on the server when the user logs out", async () => {
    act(() => root.render(createElement(Header, { title: "Asesor", state: "connected" })));
    const button = [...container.querySelectorAll("button")].find((b) => b.textContent?.includes("Cerrar sesión"));
    expect(button).toBeDefined();
    await act(async () => button?.click());
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toMatch(/\/auth\/logout$/);
    expect(init.method).toBe("POST");
    expect((init.headers as Record<string, string>).Authorization).toBe("Bearer tok");
    expect(useSessionStore.getState().auth).toBeNull();
  });
});
