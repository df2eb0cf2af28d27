"""The advisor's session, end to end: derive, start, heartbeat, end, pushes."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import for_cliente


@pytest.mark.stack
def test_derive_start_heartbeat_end_pushes_to_gtr_and_advisor(factory, api, listen):
    gtr, asesor = factory.gtr(), factory.asesor()
    other = factory.asesor()
    cliente = factory.cliente()
    g, a = factory.token(gtr), factory.token(asesor)
    gtr_ws, asesor_ws, other_ws = listen(g), listen(a), listen(factory.token(other))

    r = api.post(f"/api/clientes/{cliente.id}/derivar", g, json={"asesor_id": asesor.id})
    assert r.status_code == 200, r.text
    assert r.json()["estado"] == "derivado" and r.json()["asesor_asignado"] == asesor.id
    gtr_ws.wait_for("CLIENT_DERIVED", for_cliente(cliente.id))
    derived, _ = asesor_ws.wait_for("CLIENT_DERIVED", for_cliente(cliente.id))
    assert derived["asesor_id"] == asesor.id and derived["pool"] is False

    r = api.post("/api/sessions/start", a, json={"cliente_id": cliente.id})
    assert r.status_code == 201, r.text
    started = r.json()
    assert started["status"] == "active" and started["token"] >= 1
    assert 0 < started["seconds_left"] <= 3.0
    assert started["deadline"] == pytest.approx(started["started_at"] + 3.0, abs=0.01)
    ev, _ = gtr_ws.wait_for("CLIENT_IN_GESTION", for_cliente(cliente.id))
    assert ev["session_id"] == started["session_id"] and ev["asesor_id"] == asesor.id
    assert ev["estado"] == "en_gestion" and ev["deadline"] == pytest.approx(started["deadline"])
    asesor_ws.wait_for("CLIENT_IN_GESTION", for_cliente(cliente.id))
    assert factory.get_cliente(cliente.id).estado == "en_gestion"

    time.sleep(0.3)
    r = api.post("/api/sessions/heartbeat", a, json={"cliente_id": cliente.id})
    assert r.status_code == 200, r.text
    assert r.json()["deadline"] > started["deadline"]
    assert r.json()["heartbeats"] == 1
    [sess] = factory.sessions_of(cliente.id)
    assert sess.last_activity_at > started["last_activity_at"]

    r = api.post("/api/sessions/end", a,
                 json={"cliente_id": cliente.id, "resultado": "gestionado", "notas": "ok"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed" and r.json()["resultado"] == "gestionado"
    done, _ = gtr_ws.wait_for("CLIENT_COMPLETED", for_cliente(cliente.id))
    assert done["estado"] == "gestionado" and done["resultado"] == "gestionado"
    asesor_ws.wait_for("CLIENT_COMPLETED", for_cliente(cliente.id))

    c = factory.get_cliente(cliente.id)
    assert (c.estado, c.asesor_asignado, c.current_session_id) == ("gestionado", asesor.id, None)
    actions = [(e.action, e.from_state, e.to_state, e.actor_id)
               for e in factory.audit_of(cliente.id)]
    assert actions == [("derivar", "nuevo", "derivado", gtr.id),
                       ("start", "derivado", "en_gestion", asesor.id),
                       ("end", "en_gestion", "gestionado", asesor.id)]
    status = api.get(f"/api/sessions/status/{cliente.id}", a).json()
    assert status["active"] is False and status["estado"] == "gestionado"
    # another advisor's room heard nothing of this client
    time.sleep(0.3)
    assert [n for n, d, _ in other_ws.events if for_cliente(cliente.id)(d)] == []


def test_session_is_cached_in_redis_with_ttl(factory, api, rds, server):
    asesor = factory.asesor()
    cliente = factory.cliente("derivado", asesor.id)
    a = factory.token(asesor)
    sid = api.post("/api/sessions/start", a, json={"cliente_id": cliente.id}).json()["session_id"]
    key = f"{server.env['KEY_PREFIX']}:session:{cliente.id}"
    assert rds.hget(key, "session_id") == sid
    assert 0 < rds.pttl(key) <= server.session_timeout * 1000
    status = api.get(f"/api/sessions/status/{cliente.id}", a).json()
    assert status["cached"] is True and status["active"] is True
    api.post("/api/sessions/end", a, json={"cliente_id": cliente.id, "resultado": "cerrado"})
    assert rds.exists(key) == 0
    c = factory.get_cliente(cliente.id)
    assert (c.estado, c.asesor_asignado) == ("cerrado", asesor.id)


def test_end_no_gestionado_returns_client_to_queue(factory, api):
    asesor = factory.asesor()
    cliente = factory.cliente("derivado", asesor.id)
    a = factory.token(asesor)
    api.post("/api/sessions/start", a, json={"cliente_id": cliente.id})
    r = api.post("/api/sessions/end", a, json={"cliente_id": cliente.id,
                                                "resultado": "no_gestionado"})
    assert r.status_code == 200, r.text
    c = factory.get_cliente(cliente.id)
    assert (c.estado, c.asesor_asignado) == ("no_gestionado", None)


def test_race_many_advisors_one_winner(factory, api, listen):
    gtr = factory.gtr()
    cliente = factory.cliente()
    g = factory.token(gtr)
    advisors = [factory.asesor() for _ in range(8)]
    pool_ws = listen(factory.token(advisors[0]))
    assert api.post(f"/api/clientes/{cliente.id}/derivar", g, json={}).json()["asesor_asignado"] \
        is None
    ev, _ = pool_ws.wait_for("CLIENT_DERIVED", for_cliente(cliente.id))
    assert ev["pool"] is True

    tokens = [factory.token(u) for u in advisors]

    def start(tok):
        return api.call("POST", "/api/sessions/start", tok, json={"cliente_id": cliente.id})

    with ThreadPoolExecutor(len(tokens)) as pool:
        responses = list(pool.map(start, tokens))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 7, [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 201).json()["asesor_id"]
    for r in responses:
        if r.status_code == 409:
            body = r.json()
            assert body["error"] == "client_locked"
            assert body["holder"]["asesor_id"] == winner
    assert len(factory.sessions_of(cliente.id)) == 1
    assert factory.get_cliente(cliente.id).asesor_asignado == winner
    assert [e.action for e in factory.audit_of(cliente.id)].count("start") == 1
    # the pool hears that the client was taken
    taken, _ = pool_ws.wait_for("CLIENT_IN_GESTION", for_cliente(cliente.id))
    assert taken["pool"] is True and taken["asesor_id"] == winner


def test_double_start_by_holder_returns_same_session(factory, api):
    asesor = factory.asesor()
    cliente = factory.cliente("derivado", asesor.id)
    a = factory.token(asesor)
    first = api.post("/api/sessions/start", a, json={"cliente_id": cliente.id})
    again = api.post("/api/sessions/start", a, json={"cliente_id": cliente.id})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["session_id"] == first.json()["session_id"]
    assert again.json()["resumed"] is True
    assert len(factory.sessions_of(cliente.id)) == 1


def test_activity_on_the_client_counts_as_heartbeat(factory, api):
    asesor = factory.asesor()
    cliente = factory.cliente("derivado", asesor.id)
    a = factory.token(asesor)
    started = api.post("/api/sessions/start", a, json={"cliente_id": cliente.id}).json()
    time.sleep(0.5)
    assert api.get(f"/api/clientes/{cliente.id}", a).status_code == 200
    [sess] = factory.sessions_of(cliente.id)
    assert sess.deadline_at > started["deadline"] + 0.3
    assert sess.last_activity_at > started["last_activity_at"]


def test_restore_rebuilds_redis_and_extends(factory, api, rds, server):
    asesor = factory.asesor()
    cliente = factory.cliente("derivado", asesor.id)
    a = factory.token(asesor)
    started = api.post("/api/sessions/start", a, json={"cliente_id": cliente.id}).json()
    key = f"{server.env['KEY_PREFIX']}:session:{cliente.id}"
    rds.delete(key)  # a Redis loss, or a page refresh after one
    assert api.get(f"/api/sessions/status/{cliente.id}", a).json()["cached"] is False
    r = api.post(f"/api/sessions/restore/{cliente.id}", a)
    assert r.status_code == 200, r.text
    assert r.json()["session_id"] == started["session_id"]
    assert r.json()["deadline"] >= started["deadline"]
    assert rds.hget(key, "session_id") == started["session_id"]


def test_active_lists_own_for_advisor_and_all_for_gtr(factory, api):
    gtr, a1, a2 = factory.gtr(), factory.asesor(), factory.asesor()
    c1, c2 = factory.cliente("derivado", a1.id), factory.cliente("derivado", a2.id)
    t1, t2 = factory.token(a1), factory.token(a2)
    s1 = api.post("/api/sessions/start", t1, json={"cliente_id": c1.id}).json()["session_id"]
    s2 = api.post("/api/sessions/start", t2, json={"cliente_id": c2.id}).json()["session_id"]
    mine = {s["session_id"] for s in api.get("/api/sessions/active", t1).json()["items"]}
    assert s1 in mine and s2 not in mine
    every = {s["session_id"] for s in api.get("/api/sessions/active", factory.token(gtr))
             .json()["items"]}
    assert {s1, s2} <= every


def test_gtr_force_release(factory, api, listen):
    gtr, asesor = factory.gtr(), factory.asesor()
    cliente = factory.cliente("derivado", asesor.id)
    g, a = factory.token(gtr), factory.token(asesor)
    asesor_ws = listen(a)
    api.post("/api/sessions/start", a, json={"cliente_id": cliente.id})
    r = api.post(f"/api/sessions/release/{cliente.id}", g)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "released"
    ev, _ = asesor_ws.wait_for("CLIENT_RETURNED_TO_GTR", for_cliente(cliente.id))
    assert ev["reason"] == "released"
    c = factory.get_cliente(cliente.id)
    assert (c.estado, c.asesor_asignado) == ("no_gestionado", None)
    r = api.post("/api/sessions/heartbeat", a, json={"cliente_id": cliente.id})
    assert r.status_code == 409 and r.json()["error"] == "no_active_session"
