"""Issue 18: the heartbeat checks the token inside its own UPDATE
(core/heartbeat.py). Written once, run in-process by
tests/test_heartbeat_hotpath.py and on real processes by
tests/test_heartbeat_hotpath_stack.py: a deactivated advisor's or a
logged-out token's heartbeat is refused at once, REST and socket alike, and
changes nothing."""

from __future__ import annotations

from typing import Any

import socketio

from core.users import UserService


def _started(factory, api, listen) -> tuple[Any, str, Any, Any]:
    asesor = factory.asesor()
    token = factory.token(asesor)
    c = factory.cliente("derivado", asesor.id)
    ws = listen(token)
    assert api.post("/api/sessions/start", token, json={"cliente_id": c.id}).status_code == 201
    ok = ws.client.call("heartbeat", {"cliente_id": c.id}, timeout=5)
    assert ok["heartbeats"] == 1, ok
    return asesor, token, c, ws


def _socket_heartbeat_refused(ws, cliente_id: int) -> None:
    """The socket's next heartbeat is refused: its ack says invalid_token. On
    real processes the revocation loop (app/sockets.py, every 2 s) may close
    the socket first, between the revocation and this call (seen once in CI):
    then the call gets no ack (or finds the socket gone), and the refusal must
    be the loop's auth_error."""
    try:
        ack = ws.client.call("heartbeat", {"cliente_id": cliente_id}, timeout=5)
    except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
        told, _ = ws.wait_for("auth_error", lambda d: d.get("error") == "invalid_token", 5)
        assert not ws.client.connected, told
        return
    assert ack["error"] == "invalid_token" and ack["status"] == 401, ack


def deactivated_advisor_heartbeats_are_refused(factory, api, listen, db) -> None:
    """The socket's heartbeat is refused on the next event (by its ack, or by
    the revocation loop's close if that came first), then REST's; neither
    moves the deadline."""
    asesor, token, c, ws = _started(factory, api, listen)
    before = factory.snapshot(c.id)
    UserService(db).set_active(asesor.username, False)
    _socket_heartbeat_refused(ws, c.id)
    r = api.post("/api/sessions/heartbeat", token, json={"cliente_id": c.id})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token", r.text
    assert factory.snapshot(c.id) == before


def logged_out_token_heartbeats_are_refused(factory, api, listen) -> None:
    """A logout is a row in revoked_tokens: that token's heartbeats are
    refused on the socket opened with it and on REST; a bad body with it is
    still a 401 first (the order of the checks is every command's)."""
    _asesor, token, c, ws = _started(factory, api, listen)
    before = factory.snapshot(c.id)
    assert api.post("/api/auth/logout", token).status_code == 204
    _socket_heartbeat_refused(ws, c.id)
    r = api.post("/api/sessions/heartbeat", token, json={"cliente_id": c.id})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token", r.text
    bad = api.post("/api/sessions/heartbeat", token, json={"cliente_id": "x"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_token", bad.text
    assert factory.snapshot(c.id) == before
