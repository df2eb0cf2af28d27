"""The advisor's desk over REST (issue 15): a client's record and history,
notes landing on the client, open sessions after a login elsewhere, a logout
that ends or returns them, a lost draft attached to the history, IDLE_AFTER at
login. Every endpoint is attacked with other users' ids and bad input: a JSON
4xx, never a 5xx, never a leak."""

from __future__ import annotations

import time

import pytest

from tests.test_visibility import UNKNOWN, _hidden_and_visible


def derive(api, tg, cliente_id, asesor_id=None) -> None:
    body = {} if asesor_id is None else {"asesor_id": asesor_id}
    r = api.post(f"/api/clientes/{cliente_id}/derivar", tg, json=body)
    assert r.status_code == 200, r.text


def start(api, ta, cliente_id) -> dict:
    r = api.post("/api/sessions/start", ta, json={"cliente_id": cliente_id})
    assert r.status_code == 201, r.text
    return r.json()


def end(api, ta, cliente_id, resultado="gestionado", notas=None):
    body = {"cliente_id": cliente_id, "resultado": resultado}
    if notas is not None:
        body["notas"] = notas
    return api.post("/api/sessions/end", ta, json=body)


# ------------------------------------------------------------ record and history


def test_the_record_and_its_history_newest_first_with_notes(factory, api):
    a, b, gtr = factory.asesor(), factory.asesor(), factory.gtr()
    ta, tb, tg = factory.token(a), factory.token(b), factory.token(gtr)
    c = factory.cliente()
    derive(api, tg, c.id, a.id)
    first = start(api, ta, c.id)
    assert end(api, ta, c.id, "no_gestionado", "No contesta; volver a llamar.").status_code == 200
    # the client record keeps the latest notes
    assert factory.get_cliente(c.id).notas == "No contesta; volver a llamar."
    derive(api, tg, c.id, b.id)
    second = start(api, tb, c.id)
    time.sleep(0.05)
    assert end(api, tb, c.id, "gestionado", "Venta cerrada.").status_code == 200
    assert factory.get_cliente(c.id).notas == "Venta cerrada."

    rec = api.get(f"/api/clientes/{c.id}", tb).json()
    for field in ("nombre", "telefono", "email", "documento", "notas"):
        assert field in rec
    r = api.get(f"/api/clientes/{c.id}/historial", tb)
    assert r.status_code == 200, r.text
    h = r.json()
    assert h["cliente_id"] == c.id and h["estado"] == "gestionado"
    assert [i["session_id"] for i in h["items"]] == [second["session_id"], first["session_id"]]
    newest, oldest = h["items"]
    assert (newest["asesor_id"], newest["asesor_nombre"], newest["resultado"], newest["notas"],
            newest["status"]) == (b.id, b.nombre, "gestionado", "Venta cerrada.", "completed")
    assert oldest["resultado"] == "no_gestionado" and oldest["asesor_nombre"] == a.nombre
    assert newest["duration"] == pytest.approx(newest["ended_at"] - newest["started_at"], abs=1e-3)
    assert newest["duration"] >= 0.04
    assert h["derivado_at"] is not None and h["now"] >= h["derivado_at"]
    # GTR sees it too; a live session is listed with no end and no duration
    c2 = factory.cliente()
    derive(api, tg, c2.id, a.id)
    start(api, ta, c2.id)
    [live] = api.get(f"/api/clientes/{c2.id}/historial", tg).json()["items"]
    assert (live["status"], live["ended_at"], live["duration"]) == ("active", None, None)
    # a client never derived nor handled: an empty history
    fresh = api.get(f"/api/clientes/{factory.cliente().id}/historial", tg).json()
    assert fresh["items"] == [] and fresh["derivado_at"] is None and fresh["notas_origen"] is None


def test_empty_or_blank_notes_do_not_wipe_the_clients_notes(factory, api):
    a, gtr = factory.asesor(), factory.gtr()
    ta, tg = factory.token(a), factory.token(gtr)
    r = api.post("/api/clientes", tg, json={"nombre": "Con notas", "telefono": "+51 900 1",
                                             "notas": "importado con notas"})
    cid = r.json()["id"]
    derive(api, tg, cid, a.id)
    start(api, ta, cid)
    assert end(api, ta, cid, "no_gestionado", "   ").status_code == 200
    assert factory.get_cliente(cid).notas == "importado con notas"
    # the next notes replace them on the record; the history keeps the original
    derive(api, tg, cid, a.id)
    start(api, ta, cid)
    assert end(api, ta, cid, "no_gestionado", "nuevas").status_code == 200
    derive(api, tg, cid, a.id)
    start(api, ta, cid)
    assert end(api, ta, cid, "no_gestionado", "más nuevas").status_code == 200
    assert factory.get_cliente(cid).notas == "más nuevas"
    h = api.get(f"/api/clientes/{cid}/historial", ta).json()
    assert h["notas_origen"] == "importado con notas"
    assert [i["notas"] for i in h["items"]] == ["más nuevas", "nuevas", "   "]


def test_history_follows_the_visibility_rule(factory, api):
    a, ta, tg, hidden, visible = _hidden_and_visible(factory, api)
    unknown = api.get(f"/api/clientes/{UNKNOWN}/historial", ta)
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    for kind, c in hidden.items():
        before = factory.snapshot(c.id)
        r = api.get(f"/api/clientes/{c.id}/historial", ta)
        assert r.status_code == 404, (kind, r.text)
        assert set(r.json()) == set(unknown.json())
        assert factory.snapshot(c.id) == before, kind
        # nor may a draft be attached to any of its sessions
        for sess in factory.sessions_of(c.id):
            r = api.post("/api/sessions/notas", ta, json={
                "cliente_id": c.id, "session_id": sess.id, "notas": "x"})
            assert r.status_code == 404 and r.json()["error"] == "not_found", (kind, r.text)
        assert factory.snapshot(c.id) == before, kind
    for kind, c in visible.items():
        assert api.get(f"/api/clientes/{c.id}/historial", ta).status_code == 200, kind
    for c in [*hidden.values(), *visible.values()]:
        assert api.get(f"/api/clientes/{c.id}/historial", tg).status_code == 200


@pytest.mark.parametrize("path", ["/api/clientes/0/historial", "/api/clientes/-1/historial",
                                  "/api/clientes/007/historial", "/api/clientes/x/historial",
                                  "/api/clientes/99999999999/historial",
                                  "/api/clientes/1/historial/extra"])
def test_history_bad_ids_are_json_404(factory, api, path):
    r = api.get(path, factory.token(factory.asesor()))
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_history_needs_a_token(factory, api):
    r = api.get(f"/api/clientes/{factory.cliente().id}/historial")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"


# ------------------------------------------------------------- open sessions


def test_active_lists_only_my_open_sessions(factory, api):
    a, b, gtr = factory.asesor(), factory.asesor(), factory.gtr()
    ta, tb, tg = factory.token(a), factory.token(b), factory.token(gtr)
    c1, c2, c3 = factory.cliente(), factory.cliente(), factory.cliente()
    for c, who in ((c1, a), (c2, a), (c3, b)):
        derive(api, tg, c.id, who.id)
    start(api, ta, c1.id)
    start(api, factory.token(a), c2.id)  # a second device of the same advisor
    start(api, tb, c3.id)
    mine = api.get("/api/sessions/active", ta).json()
    assert {s["cliente_id"] for s in mine["items"]} == {c1.id, c2.id}
    assert all(s["asesor_id"] == a.id and s["seconds_left"] > 0 for s in mine["items"])


# -------------------------------------------------------------------- logout


def test_logout_returns_my_open_sessions_to_gtr_with_the_notes(factory, api):
    a, b, gtr = factory.asesor(), factory.asesor(), factory.gtr()
    ta, tb, tg = factory.token(a), factory.token(b), factory.token(gtr)
    c1, c2, other = factory.cliente(), factory.cliente(), factory.cliente()
    for c, who in ((c1, a), (c2, a), (other, b)):
        derive(api, tg, c.id, who.id)
    start(api, ta, c1.id)
    start(api, ta, c2.id)
    start(api, tb, other.id)
    r = api.post("/api/auth/logout", ta, json={"open_sessions": "return", "notas": "se fue"})
    assert r.status_code == 204, r.text
    for c in (c1, c2):
        [s] = factory.sessions_of(c.id)
        assert (s.status, s.resultado, s.notas) == ("completed", "no_gestionado", "se fue")
        cli = factory.get_cliente(c.id)
        assert (cli.estado, cli.asesor_asignado) == ("no_gestionado", None)
    # another advisor's session is untouched; the token is revoked
    assert [s.status for s in factory.sessions_of(other.id)] == ["active"]
    assert api.get("/api/auth/me", ta).status_code == 401


def test_logout_ends_with_the_chosen_result(factory, api):
    a, gtr = factory.asesor(), factory.gtr()
    ta, tg = factory.token(a), factory.token(gtr)
    c = factory.cliente()
    derive(api, tg, c.id, a.id)
    start(api, ta, c.id)
    r = api.post("/api/auth/logout", ta, json={"open_sessions": "end", "resultado": "gestionado",
                                               "notas": "listo"})
    assert r.status_code == 204, r.text
    [s] = factory.sessions_of(c.id)
    assert (s.status, s.resultado, s.notas) == ("completed", "gestionado", "listo")
    cli = factory.get_cliente(c.id)
    assert (cli.estado, cli.asesor_asignado, cli.notas) == ("gestionado", a.id, "listo")


def test_logout_without_a_choice_leaves_sessions_alone(factory, api):
    a, gtr = factory.asesor(), factory.gtr()
    ta, tg = factory.token(a), factory.token(gtr)
    c = factory.cliente()
    derive(api, tg, c.id, a.id)
    start(api, ta, c.id)
    assert api.post("/api/auth/logout", ta).status_code == 204
    assert [s.status for s in factory.sessions_of(c.id)] == ["active"]
    # GTR may send a choice: it has no sessions, nothing happens
    assert api.post("/api/auth/logout", tg, json={"open_sessions": "return"}).status_code == 204


@pytest.mark.parametrize("body", [
    {"open_sessions": "end"},  # end needs a resultado
    {"open_sessions": "delete"},
    {"open_sessions": "return", "resultado": "vendido"},
    {"open_sessions": "return", "notas": "x" * 5001},
    {"open_sessions": 1},
    {"open_sessions": "return", "notas": 7},
])
def test_logout_bad_choices_are_422_and_change_nothing(factory, api, body):
    a, gtr = factory.asesor(), factory.gtr()
    ta = factory.token(a)
    c = factory.cliente()
    derive(api, factory.token(gtr), c.id, a.id)
    start(api, ta, c.id)
    r = api.post("/api/auth/logout", ta, json=body)
    assert r.status_code == 422 and r.json()["error"] == "validation_error", r.text
    assert [s.status for s in factory.sessions_of(c.id)] == ["active"]
    assert api.get("/api/auth/me", ta).status_code == 200  # not logged out either


@pytest.mark.parametrize("raw,ctype", [("{", "application/json"), ("[1]", "application/json"),
                                       ("null", "application/json"), ("x=1", "text/plain")])
def test_logout_malformed_bodies_are_400(factory, api, raw, ctype):
    ta = factory.token(factory.asesor())
    r = api.post("/api/auth/logout", ta, data=raw, headers={"Content-Type": ctype})
    assert r.status_code == 400 and r.json()["error"] == "invalid_json", r.text


# ------------------------------------------------------------ a lost draft


def test_a_lost_draft_joins_the_history_of_my_timed_out_session(factory, api):
    a, gtr = factory.asesor(), factory.gtr()
    ta, tg = factory.token(a), factory.token(gtr)
    c = factory.cliente()
    derive(api, tg, c.id, a.id)
    s = start(api, ta, c.id)
    assert api.post(f"/api/sessions/release/{c.id}", tg).status_code == 200
    body = {"cliente_id": c.id, "session_id": s["session_id"], "notas": "alcancé a anotar esto"}
    r = api.post("/api/sessions/notas", ta, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["session_id"] == s["session_id"] and r.json()["status"] == "released"
    [entry] = api.get(f"/api/clientes/{c.id}/historial", ta).json()["items"]
    assert entry["notas"] == "alcancé a anotar esto" and entry["status"] == "released"
    assert factory.get_cliente(c.id).notas == "alcancé a anotar esto"
    assert factory.audit_of(c.id)[-1].action == "notas"
    # once only
    again = api.post("/api/sessions/notas", ta, json=body)
    assert again.status_code == 409 and again.json()["error"] == "invalid_state"


def test_the_release_push_says_whether_to_keep_the_advisors_notes(factory, api, listen):
    """The GTR's «Liberar» choice travels in the advisor's push: `keep_notes`
    (default true, also without a body), and the notes then join the history."""
    a, gtr = factory.asesor(), factory.gtr()
    ta, tg = factory.token(a), factory.token(gtr)
    ws = listen(ta)
    for body, expected in (({"keep_notes": False}, False), ({"keep_notes": True}, True),
                           ({}, True), (None, True)):
        c = factory.cliente()
        derive(api, tg, c.id, a.id)
        s = start(api, ta, c.id)
        kw = {} if body is None else {"json": body}
        r = api.post(f"/api/sessions/release/{c.id}", tg, **kw)
        assert r.status_code == 200 and r.json()["status"] == "released", r.text
        ev, _ = ws.wait_for("CLIENT_RETURNED_TO_GTR", lambda d, cid=c.id: d["cliente_id"] == cid)
        assert (ev["reason"], ev["keep_notes"], ev["session_id"]) == (
            "released", expected, s["session_id"]), (body, ev)
    # what the console does with keep_notes true: its draft joins the history
    r = api.post("/api/sessions/notas", ta, json={
        "cliente_id": c.id, "session_id": s["session_id"], "notas": "[gestionado] volver a llamar"})
    assert r.status_code == 200, r.text
    [entry] = api.get(f"/api/clientes/{c.id}/historial", ta).json()["items"]
    assert entry["notas"] == "[gestionado] volver a llamar" and entry["status"] == "released"


@pytest.mark.parametrize("keep", ["yes", 1, 0, "true", None, [True], {"x": True}])
def test_a_bad_keep_notes_is_422_and_releases_nothing(factory, api, listen, keep):
    a, gtr = factory.asesor(), factory.gtr()
    ta, tg = factory.token(a), factory.token(gtr)
    c = factory.cliente()
    derive(api, tg, c.id, a.id)
    s = start(api, ta, c.id)
    before = len(factory.audit_of(c.id))
    r = api.post(f"/api/sessions/release/{c.id}", tg, json={"keep_notes": keep})
    assert r.status_code == 422 and r.json()["error"] == "validation_error", r.text
    assert factory.get_cliente(c.id).estado == "en_gestion"
    assert [x.status for x in factory.sessions_of(c.id)] == ["active"]
    assert len(factory.audit_of(c.id)) == before
    # the advisor still holds it
    hb = api.post("/api/sessions/heartbeat", ta,
                  json={"cliente_id": c.id, "session_id": s["session_id"]})
    assert hb.status_code == 200, hb.text


@pytest.mark.parametrize("raw,ctype", [("{", "application/json"), ("[true]", "application/json"),
                                       ("x=1", "text/plain")])
def test_a_malformed_release_body_is_400_and_releases_nothing(factory, api, raw, ctype):
    a, gtr = factory.asesor(), factory.gtr()
    ta, tg = factory.token(a), factory.token(gtr)
    c = factory.cliente()
    derive(api, tg, c.id, a.id)
    start(api, ta, c.id)
    r = api.post(f"/api/sessions/release/{c.id}", tg, data=raw, headers={"Content-Type": ctype})
    assert r.status_code == 400 and r.json()["error"] == "invalid_json", r.text
    assert factory.get_cliente(c.id).estado == "en_gestion"


def test_notes_are_refused_on_a_live_session_and_on_others_sessions(factory, api):
    a, b, gtr = factory.asesor(), factory.asesor(), factory.gtr()
    ta, tb, tg = factory.token(a), factory.token(b), factory.token(gtr)
    c = factory.cliente()
    derive(api, tg, c.id)  # the pool: both may see it
    s = start(api, ta, c.id)
    body = {"cliente_id": c.id, "session_id": s["session_id"], "notas": "x"}
    live = api.post("/api/sessions/notas", ta, json=body)
    assert live.status_code == 409 and live.json()["error"] == "invalid_state"
    # b sees the pool client a took, but not a's session: 404
    assert api.post("/api/sessions/notas", tb, json=body).status_code == 404
    assert api.post(f"/api/sessions/release/{c.id}", tg).status_code == 200
    # b no longer sees it at all; a wrong session id or client is 404 too
    assert api.post("/api/sessions/notas", tb, json=body).status_code == 404
    for wrong in ({**body, "session_id": "nope"}, {**body, "cliente_id": UNKNOWN},
                  {**body, "cliente_id": factory.cliente().id}):
        r = api.post("/api/sessions/notas", ta, json=wrong)
        assert r.status_code == 404 and r.json()["error"] == "not_found", wrong
    # GTR holds no sessions
    assert api.post("/api/sessions/notas", tg, json=body).status_code == 403
    assert [x.notas for x in factory.sessions_of(c.id)] == [None]


@pytest.mark.parametrize("body", [
    {}, {"cliente_id": 1}, {"cliente_id": 1, "session_id": "a"},
    {"cliente_id": 1, "session_id": "a", "notas": ""},
    {"cliente_id": 1, "session_id": "a", "notas": "   "},
    {"cliente_id": 1, "session_id": "a", "notas": "x" * 5001},
    {"cliente_id": "1", "session_id": "a", "notas": "x"},
    {"cliente_id": 0, "session_id": "a", "notas": "x"},
    {"cliente_id": 2**40, "session_id": "a", "notas": "x"},
    {"cliente_id": 1, "session_id": "a" * 65, "notas": "x"},
    {"cliente_id": 1, "session_id": ["a"], "notas": "x"},
])
def test_notes_bad_input_is_422(factory, api, body):
    r = api.post("/api/sessions/notas", factory.token(factory.asesor()), json=body)
    assert r.status_code == 422 and r.json()["error"] == "validation_error", r.text


def test_notes_huge_body_is_413(factory, api):
    body = {"cliente_id": 1, "session_id": "a", "notas": "x" * (5 * 1024 * 1024)}
    r = api.post("/api/sessions/notas", factory.token(factory.asesor()), json=body)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


# ------------------------------------------------------------------ settings


def test_login_tells_the_console_idle_after(factory, api, server):
    a = factory.asesor()
    r = api.post("/api/auth/login", json={"username": a.username, "password": "secret-pass"})
    assert r.status_code == 200, r.text
    assert r.json()["session"]["idle_after"] == server.settings.idle_after == 0


def test_idle_after_setting():
    from tests.inprocess import settings_from_env

    assert settings_from_env({}).idle_after == 0
    assert settings_from_env({"IDLE_AFTER": "300"}).idle_after == 300
    with pytest.raises(Exception, match="IDLE_AFTER|idle_after"):
        settings_from_env({"IDLE_AFTER": "-1"})
