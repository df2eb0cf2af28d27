// useSocket: one Socket.IO connection per logged-in tab, authenticated with
// the JWT. It reconnects by itself and, on every (re)connect, sends the last
// seq applied so the server replays what was missed (or asks for a snapshot
// with `resync`). Events are typed by the generated contract.
import { useCallback, useEffect, useRef, useState } from "react";
import { io, type Socket } from "socket.io-client";
import { EVENT_NAMES } from "../api/events.gen";
import { sessionApi } from "../api/sessionApi";
import type { AuthError, HeartbeatAck, PushEvent, Resync, SessionOut } from "../api/types";
import { authPayload, type ConnState, isAuthFailure, readHeartbeatAck } from "./socketLogic";

export type ServerToClient = {
  [K in (typeof EVENT_NAMES)[number]]: (e: PushEvent<K>) => void;
} & {
  resync: (r: Resync) => void;
  auth_error: (e: AuthError) => void;
};
export interface ClientToServer {
  heartbeat: (p: { cliente_id: number }, ack: (a: HeartbeatAck) => void) => void;
}
export type AlbruSocket = Socket<ServerToClient, ClientToServer>;

/** Socket.IO server URL: VITE_WS_URL, else the page's own origin. */
export const WS_URL: string | undefined = import.meta.env.VITE_WS_URL || undefined;

export interface UseSocketOptions {
  token: string | null;
  /** the seq of the last event applied (null: nothing yet, send me a snapshot) */
  lastSeq: () => number | null;
  onEvent: (e: PushEvent) => void;
  onResync: (r: Resync) => void;
  /** the token was refused or expired: reconnecting will not help */
  onAuthError: (e: AuthError) => void;
}

export function useSocket(opts: UseSocketOptions): {
  state: ConnState;
  heartbeat: (clienteId: number, sessionId?: string) => Promise<SessionOut>;
} {
  const [state, setState] = useState<ConnState>("connecting");
  const socketRef = useRef<AlbruSocket | null>(null);
  const optsRef = useRef(opts);
  optsRef.current = opts;

  useEffect(() => {
    const token = opts.token;
    if (!token) return undefined;
    const socket: AlbruSocket = io(WS_URL ?? "", {
      auth: (cb) => cb(authPayload(token, optsRef.current.lastSeq())),
      transports: ["websocket"],
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    socketRef.current = socket;
    let everConnected = false;
    let authFailed = false;

    socket.on("connect", () => {
      everConnected = true;
      setState("connected");
    });
    socket.on("disconnect", (reason) => {
      setState("reconnecting");
      // A server-side disconnect is not retried by socket.io-client itself.
      if (reason === "io server disconnect" && !authFailed) socket.connect();
    });
    socket.on("connect_error", (err) => {
      const data = (err as Error & { data?: unknown }).data;
      if (isAuthFailure(data)) {
        authFailed = true;
        optsRef.current.onAuthError(data);
        return;
      }
      setState(everConnected ? "reconnecting" : "connecting");
      if (!socket.active) setTimeout(() => socket.connect(), 1000); // refused for another reason
    });
    socket.on("auth_error", (e) => {
      authFailed = true;
      optsRef.current.onAuthError(e);
    });
    socket.on("resync", (r) => optsRef.current.onResync(r));
    for (const name of EVENT_NAMES) {
      socket.on(name, ((e: PushEvent) => optsRef.current.onEvent(e)) as never);
    }
    return () => {
      socket.removeAllListeners();
      socket.disconnect();
      socketRef.current = null;
    };
  }, [opts.token]);

  /** Over the socket when connected (acknowledged with the new deadline), else REST. */
  const heartbeat = useCallback(async (clienteId: number, sessionId?: string): Promise<SessionOut> => {
    const socket = socketRef.current;
    if (socket?.connected) {
      const ack = await socket.timeout(10_000).emitWithAck("heartbeat", { cliente_id: clienteId }).catch(() => null);
      if (ack !== null) return readHeartbeatAck(ack);
    }
    return sessionApi.heartbeat(clienteId, sessionId);
  }, []);

  return { state, heartbeat };
}
