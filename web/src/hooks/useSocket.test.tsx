// useSocket itself, with socket.io-client replaced by a fake socket: the auth it
// sends on each (re)connect, the connection state it shows, typed events, the
// auth failure path and the heartbeat over the socket.
import { act, createElement } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AuthError, PushEvent, Resync } from "../api/types";

type Handler = (...args: unknown[]) => void;
class FakeSocket {
  handlers = new Map<string, Handler[]>();
  connected = false;
  active = true;
  emitted: unknown[][] = [];
  constructor(public url: string, public opts: { auth: (cb: (a: unknown) => void) => void }) {}
  on(ev: string, h: Handler) {
    this.handlers.set(ev, [...(this.handlers.get(ev) ?? []), h]);
    return this;
  }
  fire(ev: string, ...args: unknown[]) {
    for (const h of this.handlers.get(ev) ?? []) h(...args);
  }
  auth(): unknown {
    let out: unknown;
    this.opts.auth((a) => (out = a));
    return out;
  }
  timeout() {
    return { emitWithAck: async (ev: string, payload: unknown) => {
      this.emitted.push([ev, payload]);
      return { session_id: "s1", cliente_id: 42, deadline: 99, seconds_left: 9 };
    } };
  }
  connect = vi.fn();
  disconnect = vi.fn();
  removeAllListeners = vi.fn();
}
const sockets: FakeSocket[] = [];
vi.mock("socket.io-client", () => ({
  io: (url: string, opts: never) => {
    const s = new FakeSocket(url, opts);
    sockets.push(s);
    return s;
  },
}));

const { useSocket } = await import("./useSocket");

let root: Root;
let container: HTMLDivElement;
let result: ReturnType<typeof useSocket>;
const calls = { events: [] as PushEvent[], resyncs: [] as Resync[], auth: [] as AuthError[] };
let lastSeq: number | null = null;

function Probe({ token }: { token: string | null }) {
  result = useSocket({
    token,
    lastSeq: () => lastSeq,
    onEvent: (e) => calls.events.push(e),
    onResync: (r) => calls.resyncs.push(r),
    onAuthError: (e) => calls.auth.push(e),
  });
  return null;
}

beforeEach(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  sockets.length = 0;
  calls.events = [];
  calls.resyncs = [];
  calls.auth = [];
  lastSeq = null;
  container = document.createElement("div");
  root = createRoot(container);
});
afterEach(() => act(() => root.unmount()));

describe("useSocket", () => {
  it("connects with the token and sends the current last_seq on every (re)connect", () => {
    act(() => root.render(createElement(Probe, { token: "jwt" })));
    expect(sockets).toHaveLength(1);
    expect(sockets[0].auth()).toEqual({ token: "jwt", last_seq: null });
    lastSeq = 17;
    expect(sockets[0].auth()).toEqual({ token: "jwt", last_seq: 17 });
  });

  it("shows connecting, connected, then reconnecting when the connection drops", () => {
    act(() => root.render(createElement(Probe, { token: "jwt" })));
    expect(result.state).toBe("connecting");
    act(() => sockets[0].fire("connect"));
    expect(result.state).toBe("connected");
    act(() => sockets[0].fire("disconnect", "transport close"));
    expect(result.state).toBe("reconnecting");
    expect(sockets[0].connect).not.toHaveBeenCalled(); // socket.io-client retries by itself
    act(() => sockets[0].fire("disconnect", "io server disconnect"));
    expect(sockets[0].connect).toHaveBeenCalledTimes(1); // not retried by the library
  });

  it("passes typed events and resync on, and reports a refused token once", () => {
    act(() => root.render(createElement(Probe, { token: "jwt" })));
    const e = { seq: 3, type: "CLIENT_DERIVED", cliente_id: 1 } as PushEvent;
    act(() => sockets[0].fire("CLIENT_DERIVED", e));
    act(() => sockets[0].fire("resync", { status: "snapshot_required", from_seq: null, last_seq: 3, replayed: 0 }));
    expect(calls.events).toEqual([e]);
    expect(calls.resyncs[0].status).toBe("snapshot_required");
    const err = Object.assign(new Error("refused"), { data: { error: "token_expired", message: "x" } });
    act(() => sockets[0].fire("connect_error", err));
    expect(calls.auth).toEqual([{ error: "token_expired", message: "x" }]);
  });

  it("sends heartbeats over the socket while connected", async () => {
    act(() => root.render(createElement(Probe, { token: "jwt" })));
    act(() => {
      sockets[0].connected = true;
      sockets[0].fire("connect");
    });
    const s = await result.heartbeat(42, "s1");
    expect(s.deadline).toBe(99);
    expect(sockets[0].emitted).toEqual([["heartbeat", { cliente_id: 42 }]]);
  });

  it("does not connect without a token, and closes the socket on logout", () => {
    act(() => root.render(createElement(Probe, { token: null })));
    expect(sockets).toHaveLength(0);
    act(() => root.render(createElement(Probe, { token: "jwt" })));
    act(() => root.render(createElement(Probe, { token: null })));
    expect(sockets[0].disconnect).toHaveBeenCalled();
  });
});
