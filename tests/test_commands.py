"""One command layer under REST and Socket.IO (app/commands.py): the same
heartbeat sent either way gets the same answer, error code and details, and
the same freshness (a deactivated advisor is refused on the next call, by
either edge; the socket is then closed)."""

from __future__ import annotations

import time

from sqlalchemy import update

from core.models import User

BAD = [{}, {"cliente_id": "7"}, {"cliente_id": True}, {"cliente_id": -1},
       {"cliente_id": 2**31}, {"cliente_id": 1, "session_id": ""},
       {"cliente_id": 1, "session_id": 5}]


def _both(api, ws, token, payload):
    rest = api.post("/api/sessions/heartbeat", token, json=payload)
    ack = ws.client.call("heartbeat", payload, timeout=5)
    return rest, ack


def _same(rest, ack):
    assert isinstance(ack, dict), ack
    status = ack.pop("status", None)
    assert status == rest.status_code, (rest.text, ack)
    assert ack == rest.json(), (rest.text, ack)


def test_rest_and_socket_heartbeats_answer_alike(factory, api, listen):
    a, b, gtr = factory.asesor(), factory.asesor(), factory.gtr()
    ta, tb, tg = factory.token(a), factory.token(b), factory.token(gtr)
    mine = factory.cliente("derivado", a.id)
    others = factory.cliente("derivado", b.id)
    idle = factory.cliente("derivado", a.id)
    started = api.post("/api/sessions/start", ta, json={"cliente_id": mine.id}).json()
    assert api.post("/api/sessions/start", tb, json={"cliente_id": others.id}).status_code == 201
    ws_a, ws_g = listen(ta), listen(tg)

    for payload in BAD:
        rest, ack = _both(api, ws_a, ta, payload)
        assert rest.status_code == 422, rest.text
        _same(rest, ack)
    cases = {
        "unknown client": ({"cliente_id": 2_000_000_000}, 404),
        "another advisor's client": ({"cliente_id": others.id}, 404),
        "no live session": ({"cliente_id": idle.id}, 409),
        "stale session id": ({"cliente_id": mine.id, "session_id": "0" * 32}, 409),
    }
    before = factory.snapshot(mine.id)
    for name, (payload, status) in cases.items():
        rest, ack = _both(api, ws_a, ta, payload)
        assert rest.status_code == status, (name, rest.text)
        _same(rest, ack)
    assert factory.snapshot(mine.id) == before
    rest, ack = _both(api, ws_g, tg, {"cliente_id": mine.id})
    assert rest.status_code == 403
    _same(rest, ack)

    # the successful heartbeat: the same session, one more beat each time
    ok_rest = api.post("/api/sessions/heartbeat", ta, json={"cliente_id": mine.id,
                                                            "session_id": started["session_id"]})
    ok_ack = ws_a.client.call("heartbeat", {"cliente_id": mine.id,
                                            "session_id": started["session_id"]}, timeout=5)
    assert ok_rest.status_code == 200
    assert ok_ack["session_id"] == ok_rest.json()["session_id"] == started["session_id"]
    assert (ok_rest.json()["heartbeats"], ok_ack["heartbeats"]) == (1, 2)


def test_a_deactivated_advisor_is_refused_by_both_edges_and_the_socket_closed(
        factory, api, listen, db):
    a = factory.asesor()
    ta = factory.token(a)
    c = factory.cliente("derivado", a.id)
    assert api.post("/api/sessions/start", ta, json={"cliente_id": c.id}).status_code == 201
    ws = listen(ta)
    assert ws.client.call("heartbeat", {"cliente_id": c.id}, timeout=5)["heartbeats"] == 1
    with db.transaction() as tx:
        tx.execute(update(User).where(User.id == a.id).values(active=False))
    before = factory.snapshot(c.id)
    rest = api.post("/api/sessions/heartbeat", ta, json={"cliente_id": c.id})
    assert rest.status_code == 401 and rest.json()["error"] == "invalid_token"
    ack = ws.client.call("heartbeat", {"cliente_id": c.id}, timeout=5)
    assert ack["error"] == "invalid_token" and ack["status"] == 401, ack
    ws.wait_for("auth_error", lambda d: d.get("error") == "invalid_token")
    deadline = time.time() + 5
    while ws.client.connected and time.time() < deadline:
        time.sleep(0.05)
    assert not ws.client.connected
    assert factory.snapshot(c.id) == before  # neither heartbeat moved the deadline
