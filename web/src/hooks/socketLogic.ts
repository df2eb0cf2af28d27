// The parts of useSocket that are plain logic (tested in Vitest without a
// browser): what auth the socket sends, how an error is classified, how a
// heartbeat acknowledgement is read, and when heartbeats are sent.
import { ApiError } from "../api/sessionApi";
import type { AuthError, HeartbeatAck, SessionOut } from "../api/types";

export type ConnState = "connecting" | "connected" | "reconnecting";

/** The Socket.IO `auth` callback: the token and, on every (re)connect, the
 * current last_seq, so the server replays what was missed (docs/events.md). */
export function authPayload(token: string, lastSeq: number | null): { token: string; last_seq: number | null } {
  return { token, last_seq: lastSeq };
}

const AUTH_CODES = new Set(["unauthorized", "invalid_token", "token_expired"]);

/** A refused connect whose reason is the token: reconnecting cannot help. */
export function isAuthFailure(data: unknown): data is AuthError {
  return typeof data === "object" && data !== null && AUTH_CODES.has(String((data as AuthError).error));
}

/** A heartbeat acknowledgement: the session, or the same error REST would give. */
export function readHeartbeatAck(ack: HeartbeatAck): SessionOut {
  if (ack && typeof ack === "object" && "error" in ack && typeof ack.error === "string") {
    const status = ack.error === "not_found" ? 404 : ack.error === "forbidden" ? 403
      : ack.error === "rate_limited" ? 429 : ack.error === "validation_error" ? 422 : 409;
    throw new ApiError(status, ack.error, String(ack.message ?? ack.error), ack as Record<string, unknown>);
  }
  return ack as SessionOut;
}

/** Errors that mean the session is over (the client went back to GTR). */
export const SESSION_GONE = new Set(["session_expired", "no_active_session", "invalid_state", "not_found", "forbidden"]);

/**
 * Heartbeats while the wizard is open: one every `intervalMs`, and one on user
 * activity when the last was at least `minGapMs` ago (so typing keeps the
 * session alive without a request per keystroke).
 */
export class HeartbeatTimer {
  private timer: ReturnType<typeof setInterval> | null = null;
  private last = 0;

  constructor(
    private readonly send: () => void,
    readonly intervalMs: number,
    readonly minGapMs: number,
    private readonly now: () => number = () => Date.now(),
  ) {}

  start(): void {
    this.stop();
    this.last = this.now();
    this.timer = setInterval(() => this.fire(), this.intervalMs);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  get running(): boolean {
    return this.timer !== null;
  }

  /** The user typed or clicked: maybe send one now. Returns whether it did. */
  activity(): boolean {
    if (!this.running || this.now() - this.last < this.minGapMs) return false;
    this.fire();
    return true;
  }

  private fire(): void {
    this.last = this.now();
    this.send();
  }
}

/** Heartbeat period: VITE_HEARTBEAT_INTERVAL (ms) if set, else what login said (s). */
export function heartbeatIntervalMs(fromLogin: number, env: string | undefined): number {
  const fromEnv = env ? Number(env) : NaN;
  return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : fromLogin * 1000;
}
