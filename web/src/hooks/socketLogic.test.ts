import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/sessionApi";
import { authPayload, HeartbeatTimer, heartbeatIntervalMs, isAuthFailure, readHeartbeatAck } from "./socketLogic";

describe("socket auth and errors", () => {
  it("sends the token and the last seq applied", () => {
    expect(authPayload("t", null)).toEqual({ token: "t", last_seq: null });
    expect(authPayload("t", 42)).toEqual({ token: "t", last_seq: 42 });
  });

  it("tells a refused token from other connect errors", () => {
    expect(isAuthFailure({ error: "token_expired", message: "x" })).toBe(true);
    expect(isAuthFailure({ error: "invalid_token", message: "x" })).toBe(true);
    expect(isAuthFailure({ error: "validation_error", field: "last_seq" })).toBe(false);
    expect(isAuthFailure(undefined)).toBe(false);
  });

  it("reads a heartbeat ack as the session or as the REST error", () => {
    const session = { session_id: "s", cliente_id: 1, deadline: 10, seconds_left: 5 };
    expect(readHeartbeatAck(session as never)).toBe(session);
    try {
      readHeartbeatAck({ error: "session_expired", message: "gone" });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ApiError);
      expect((e as ApiError).code).toBe("session_expired");
      expect((e as ApiError).status).toBe(409);
    }
  });

  it("takes the heartbeat period from the env variable, else from login", () => {
    expect(heartbeatIntervalMs(30, undefined)).toBe(30_000);
    expect(heartbeatIntervalMs(30, "2000")).toBe(2000);
    expect(heartbeatIntervalMs(30, "nonsense")).toBe(30_000);
  });
});

describe("HeartbeatTimer", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("beats every interval while open, and on activity at most once per gap", () => {
    const send = vi.fn();
    const t = new HeartbeatTimer(send, 30_000, 5_000, () => Date.now());
    t.start();
    vi.advanceTimersByTime(29_999);
    expect(send).toHaveBeenCalledTimes(0);
    vi.advanceTimersByTime(1);
    expect(send).toHaveBeenCalledTimes(1);
    expect(t.activity()).toBe(false); // just sent
    vi.advanceTimersByTime(5_000);
    expect(t.activity()).toBe(true);
    expect(send).toHaveBeenCalledTimes(2);
    t.stop();
    vi.advanceTimersByTime(120_000);
    expect(send).toHaveBeenCalledTimes(2);
    expect(t.activity()).toBe(false); // closed wizard: no beats
  });
});
