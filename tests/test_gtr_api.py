"""The supervisor's desk over REST (issue 16): search and pages with the
server's total, per-state counts, a checked CSV import (every bad line and
duplicate before anything is written), the day's figures, and the users admin.
Every bad input is a JSON 4xx."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from core.models import Cliente, User


def _mk(api, token, nombre: str, telefono: str, documento: str | None = None) -> dict:
    r = api.post("/api/clientes", token, json={"nombre": nombre, "telefono": telefono,
                                                "documento": documento})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def num() -> str:
    return str(uuid.uuid4().int)[:6]


def test_search_by_name_word_phone_document_and_id(factory, api, tag, num):
    g = factory.token(factory.gtr())
    a = _mk(api, g, f"Zq{tag} Quispe", f"+51 7{num}", f"D{tag}1")
    b = _mk(api, g, f"Rosa Zq{tag}", "+51 700 000 002", f"D{tag}2")
    _mk(api, g, f"Otro {tag}", "+51 700 000 003")

    def ids(**params) -> tuple[list[int], int]:
        r = api.get("/api/clientes", g, params=params)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]], r.json()["total"]

    assert ids(q=f"zq{tag}") == ([a["id"]], 1)  # the name's start, any case
    assert ids(q=f"Rosa zq{tag}") == ([b["id"]], 1)  # a word inside the name: from the start
    assert ids(q=f"D{tag}2") == ([b["id"]], 1)
    assert ids(q=f"#{a['id']}")[0][:1] == [a["id"]]
    assert ids(q="+51 7" + num) == ([a["id"]], 1)
    both = ids(q=f"D{tag}", limit=1, offset=1)
    assert both == ([b["id"]], 2)  # the second page of two
    # wildcards are literal; a lone % matches no one's name start
    assert ids(q=f"zq{num}%") == ([], 0)
    assert ids(q=f"zq{tag}", estado="derivado") == ([], 0)


def test_pages_in_waiting_order_and_state_groups(factory, api, tag):
    g = factory.token(factory.gtr())
    asesor = factory.asesor()
    made = [_mk(api, g, f"Wt{tag} {i}", f"+51 701 000 {i:03d}") for i in range(5)]
    for c in made[:2]:
        assert api.post(f"/api/clientes/{c['id']}/derivar", g,
                        json={"asesor_id": asesor.id}).status_code == 200
    r = api.get("/api/clientes", g, params={"q": f"wt{tag}", "estado": "nuevo",
                                            "order": "oldest", "limit": 2})
    page = r.json()
    assert page["total"] == 3 and [c["id"] for c in page["items"]] == [made[2]["id"],
                                                                        made[3]["id"]]
    assert all(c["updated_at"] for c in page["items"])  # "esperando desde"
    newest = api.get("/api/clientes", g, params={"q": f"wt{tag}", "order": "newest"}).json()
    assert newest["items"][0]["id"] == made[1]["id"]  # derived last
    both = api.get("/api/clientes", g, params={"q": f"wt{tag}",
                                               "estados": "derivado,nuevo"}).json()
    assert both["total"] == 5
    assert api.get("/api/clientes", g, params={"q": f"wt{tag}", "estados": ""}).json()[
        "total"] == 5  # empty: any state
    mine = api.get("/api/clientes", g, params={"asesor_id": asesor.id}).json()
    assert mine["total"] == 2
    # an advisor searches only what they may see
    t = factory.token(asesor)
    assert api.get("/api/clientes", t, params={"q": f"wt{tag}"}).json()["total"] == 2


@pytest.mark.parametrize("params", [
    {"q": "x" * 101}, {"estados": "nuevo,bogus"}, {"estados": ","}, {"order": "random"},
    {"limit": 0}, {"limit": 501}, {"offset": -1}, {"asesor_id": "1; drop"},
    {"q": "\x00"}, {"estado": "NUEVO"},
])
def test_bad_search_queries_are_422(factory, api, params):
    g = factory.token(factory.gtr())
    r = api.get("/api/clientes", g, params=params)
    if params.get("q") == "\x00":  # a NUL in a LIKE is just text no one has
        assert r.status_code == 200 and r.json()["total"] == 0
        return
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"


def test_resumen_counts_every_state_and_the_oldest_wait(factory, api):
    g = factory.token(factory.gtr())
    before = api.get("/api/clientes/resumen", g).json()
    c = _mk(api, g, "Resumen Uno", "+51 702 000 001")
    after = api.get("/api/clientes/resumen", g).json()
    assert after["counts"]["nuevo"] == before["counts"]["nuevo"] + 1
    assert set(after["counts"]) == {"nuevo", "derivado", "en_gestion", "gestionado",
                                    "no_gestionado", "cerrado"}
    assert after["oldest"]["nuevo"] <= c["updated_at"] <= after["now"]
    assert api.get("/api/clientes/resumen", factory.token(factory.asesor())).status_code == 403


def test_import_check_lists_every_problem_and_duplicate_before_writing(factory, api, tag,
                                                                       num):
    g = factory.token(factory.gtr())
    existing = _mk(api, g, "Ya Existe", f"+51 703 {num}", f"E{tag}")
    csv = ("nombre,telefono,documento\n"
           f"Ana {tag},+51 704 000 001,\n"
           f",+51 704 000 002,\n"                      # line 3: no name
           f"Luis {tag},no-phone,\n"                   # line 4: bad phone
           f"Dup {tag},+51 703 {num},\n"           # line 5: phone of a client
           f"Doc {tag},+51 704 000 005,E{tag}\n"       # line 6: document of a client
           f"Twin {tag},+51 704 000 001,\n")           # line 7: phone of line 2
    with factory.db.transaction() as tx:
        n_before = len(tx.execute(select(Cliente.id)).all())
    r = api.post("/api/clientes/import/check", g, data=csv.encode(),
                 headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["total"] == 6
    assert [row["line"] for row in out["rows"]] == [2, 5, 6, 7]
    assert [(e["line"], e["field"]) for e in out["errors"]] == [(3, "nombre"), (4, "telefono")]
    assert [(d["line"], d["field"], d["cliente_id"], d["first_line"])
            for d in out["duplicates"]] == [(5, "telefono", existing["id"], None),
                                            (6, "documento", existing["id"], None),
                                            (7, "telefono", None, 2)]
    with factory.db.transaction() as tx:
        assert len(tx.execute(select(Cliente.id)).all()) == n_before  # nothing written
    # the import itself is still all or nothing
    bad = api.post("/api/clientes/import", g, data=csv.encode(),
                   headers={"Content-Type": "text/csv"})
    assert bad.status_code == 422 and bad.json()["line"] == 3


def test_lote_creates_checked_rows_and_refuses_bad_ones(factory, api, tag):
    g = factory.token(factory.gtr())
    rows = [{"nombre": f"Lote {tag} {i}", "telefono": f"+51 705 000 {i:03d}"} for i in range(3)]
    r = api.post("/api/clientes/lote", g, json={"clientes": rows})
    assert r.status_code == 201 and r.json()["imported"] == 3
    for body in ({"clientes": []}, {"clientes": [{"nombre": "x"}]}, {"clientes": "no"},
                 {"clientes": [{"nombre": " ", "telefono": "1"}]},
                 {"clientes": [{"nombre": "a", "telefono": "1"}] * 1001}):
        r = api.post("/api/clientes/lote", g, json=body)
        assert r.status_code == 422, (body, r.text)
    assert api.post("/api/clientes/lote", g, data="{", headers={
        "Content-Type": "application/json"}).status_code == 400
    assert api.post("/api/clientes/lote", factory.token(factory.asesor()),
                    json={"clientes": rows}).status_code == 403
    for path in ("/api/clientes/import/check",):
        r = api.post(path, g, data=b"\xff\xfe", headers={"Content-Type": "text/csv"})
        assert r.status_code == 422
        r = api.post(path, g, json={"a": 1})
        assert r.status_code == 422


def test_asesor_figures_count_only_gestionado_and_say_when_the_day_ends(factory, api):
    gtr, asesor = factory.gtr(), factory.asesor()
    g, t = factory.token(gtr), factory.token(asesor)
    for resultado in ("gestionado", "cerrado", "no_gestionado"):
        c = factory.cliente("derivado", asesor.id)
        assert api.post("/api/sessions/start", t, json={"cliente_id": c.id}).status_code == 201
        r = api.post("/api/sessions/end", t, json={"cliente_id": c.id, "resultado": resultado})
        assert r.status_code == 200, r.text
    out = api.get("/api/stats/asesores", g).json()
    [row] = [i for i in out["items"] if i["asesor_id"] == asesor.id]
    assert (row["completed_today"], row["handled_today"]) == (3, 1)
    assert out["day_start"] < out["now"] < out["day_end"] <= out["day_start"] + 25 * 3600
    totals = api.get("/api/stats/sessions", g).json()
    assert totals["handled_today"] >= 1 and totals["day_end"] > totals["now"]


# ------------------------------------------------------------------- users


def test_gtr_manages_users_and_deactivation_ends_their_session(factory, api, tag):
    gtr = factory.gtr()
    g = factory.token(gtr)
    r = api.post("/api/users", g, json={"username": f"nuevo-{tag}", "nombre": "Nuevo Asesor",
                                        "role": "asesor", "password": "clave-segura-1"})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert r.json()["active"] is True and "password" not in r.text
    assert any(u["id"] == uid for u in api.get("/api/users", g).json())
    again = api.post("/api/users", g, json={"username": f"nuevo-{tag}", "nombre": "Otro",
                                            "role": "gtr", "password": "clave-segura-2"})
    assert again.status_code == 409
    login = api.post("/api/auth/login", json={"username": f"nuevo-{tag}",
                                              "password": "clave-segura-1"})
    assert login.status_code == 200
    token = login.json()["token"]
    c = factory.cliente("derivado", uid)
    assert api.post("/api/sessions/start", token, json={"cliente_id": c.id}).status_code == 201

    r = api.post(f"/api/users/{uid}/password", g, json={"password": "otra-clave-2"})
    assert r.status_code == 200
    assert api.get("/api/auth/me", token).status_code == 401  # old tokens die
    token = api.post("/api/auth/login", json={"username": f"nuevo-{tag}",
                                              "password": "otra-clave-2"}).json()["token"]

    r = api.post(f"/api/users/{uid}/deactivate", g)
    assert r.status_code == 200 and r.json()["active"] is False
    assert api.get("/api/auth/me", token).status_code == 401
    assert factory.get_cliente(c.id).estado == "no_gestionado"  # the session ended
    assert [s.status for s in factory.sessions_of(c.id)] == ["released"]
    assert api.post("/api/auth/login", json={"username": f"nuevo-{tag}",
                                             "password": "otra-clave-2"}).status_code == 401
    assert api.post(f"/api/users/{uid}/activate", g).json()["active"] is True


@pytest.mark.parametrize("body", [
    {}, {"username": "a", "nombre": "x", "role": "asesor", "password": "12345678"},
    {"username": "ok-name", "nombre": "x", "role": "admin", "password": "12345678"},
    {"username": "ok-name", "nombre": " ", "role": "asesor", "password": "12345678"},
    {"username": "ok-name", "nombre": "x", "role": "asesor", "password": "short"},
    {"username": "bad name", "nombre": "x", "role": "asesor", "password": "12345678"},
    {"username": "x" * 65, "nombre": "x", "role": "asesor", "password": "12345678"},
    {"username": 5, "nombre": "x", "role": "asesor", "password": "12345678"},
    {"username": "ok-name", "nombre": "x" * 121, "role": "gtr", "password": "12345678"},
    {"username": "ok-name", "nombre": "x", "role": "gtr", "password": "p" * 257},
])
def test_bad_user_bodies_are_422(factory, api, body):
    g = factory.token(factory.gtr())
    r = api.post("/api/users", g, json=body)
    assert r.status_code == 422, r.text


def test_users_admin_is_gtr_only_and_refuses_the_odd_cases(factory, api):
    gtr, asesor = factory.gtr(), factory.asesor()
    g, t = factory.token(gtr), factory.token(asesor)
    assert api.get("/api/users", t).status_code == 403
    assert api.post(f"/api/users/{asesor.id}/deactivate", t).status_code == 403
    assert api.post("/api/users", t, json={"username": "x1", "nombre": "x", "role": "gtr",
                                           "password": "12345678"}).status_code == 403
    assert api.get("/api/users").status_code == 401
    r = api.post(f"/api/users/{gtr.id}/deactivate", g)
    assert r.status_code == 409 and r.json()["error"] == "conflict"  # not yourself
    for bad in ("0", "2147483648", "007", "-1", "abc"):
        assert api.post(f"/api/users/{bad}/deactivate", g).status_code == 404
    assert api.post("/api/users/2147483647/deactivate", g).status_code == 404
    assert api.post(f"/api/users/{asesor.id}/password", g, json={"password": 1}) \
        .status_code == 422
    assert api.post(f"/api/users/{asesor.id}/password", g, data="x", headers={
        "Content-Type": "application/json"}).status_code == 400
    with factory.db.transaction() as tx:
        assert tx.execute(select(User.active).where(User.id == gtr.id)).scalar_one()


def test_bulk_derive_reports_each_client_and_refuses_a_bad_advisor(factory, api):
    gtr, asesor, other_gtr = factory.gtr(), factory.asesor(), factory.gtr()
    g = factory.token(gtr)
    a, b = factory.cliente(), factory.cliente("no_gestionado")
    busy = factory.cliente("en_gestion", asesor.id)
    r = api.post("/api/clientes/derivar", g, json={"ids": [a.id, b.id, busy.id, a.id,
                                                            2_147_483_647],
                                                    "asesor_id": asesor.id})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["derived"] == [a.id, b.id]
    assert [(f["cliente_id"], f["error"]) for f in out["failed"]] == [
        (busy.id, "invalid_state"), (2_147_483_647, "not_found")]
    assert factory.get_cliente(a.id).asesor_asignado == asesor.id
    pool = api.post("/api/clientes/derivar", g, json={"ids": [a.id]}).json()
    assert pool["derived"] == [a.id] and factory.get_cliente(a.id).asesor_asignado is None
    c = factory.cliente()
    for body in ({"ids": [c.id], "asesor_id": other_gtr.id}, {"ids": []},
                 {"ids": [0]}, {"ids": ["1"]}, {"ids": list(range(1, 502))},
                 {"ids": [c.id], "asesor_id": 2_147_483_648}, {}):
        r = api.post("/api/clientes/derivar", g, json=body)
        assert r.status_code == 422, (body, r.text)
    assert factory.get_cliente(c.id).estado == "nuevo"  # nothing changed
    assert api.post("/api/clientes/derivar", factory.token(asesor),
                    json={"ids": [c.id]}).status_code == 403


def test_presence_follows_sockets_and_sessions(factory, api, listen):
    import time

    gtr, a1, a2 = factory.gtr(), factory.asesor(), factory.asesor()
    g, t1 = factory.token(gtr), factory.token(a1)

    def states() -> dict[int, dict]:
        r = api.get("/api/presence", g)
        assert r.status_code == 200, r.text
        return {i["asesor_id"]: i for i in r.json()["items"]}

    assert states()[a1.id]["estado"] == "desconectado"
    ws = listen(t1)
    deadline = time.time() + 5
    while states()[a1.id]["estado"] != "inactivo":  # connected, nothing done yet today
        assert time.time() < deadline, states()[a1.id]
        time.sleep(0.1)
    c = factory.cliente("derivado", a1.id)
    assert api.post("/api/sessions/start", t1, json={"cliente_id": c.id}).status_code == 201
    me = states()[a1.id]
    assert (me["estado"], me["cliente_id"], me["cliente_nombre"]) == ("en_sesion", c.id,
                                                                      c.nombre)
    assert me["since"] is not None and me["connections"] >= 1
    assert api.post("/api/sessions/end", t1, json={"cliente_id": c.id,
                                                   "resultado": "gestionado"}).status_code == 200
    assert states()[a1.id]["estado"] == "disponible"
    assert states()[a2.id]["estado"] == "desconectado"
    ws.close()
    deadline = time.time() + 5
    while states()[a1.id]["estado"] != "desconectado":  # a closed socket is seen at once
        assert time.time() < deadline, states()[a1.id]
        time.sleep(0.1)
    assert api.get("/api/presence", t1).status_code == 403


def test_presence_rule():
    from domain.presence import Presence, presence

    kw = {"now": 1000.0, "idle_after": 300.0}
    assert presence(connected=False, session_started=900.0, last_activity=990.0, **kw) == (
        Presence.OFFLINE, 990.0)
    assert presence(connected=True, session_started=900.0, last_activity=990.0, **kw) == (
        Presence.IN_SESSION, 900.0)
    assert presence(connected=True, session_started=None, last_activity=800.0, **kw) == (
        Presence.AVAILABLE, 800.0)
    assert presence(connected=True, session_started=None, last_activity=600.0, **kw) == (
        Presence.IDLE, 900.0)
    assert presence(connected=True, session_started=None, last_activity=None, **kw) == (
        Presence.IDLE, None)


def test_alertas_list_the_returns_newest_first_with_reason_and_holder(factory, api):
    gtr, asesor = factory.gtr(), factory.asesor()
    g, t = factory.token(gtr), factory.token(asesor)
    c = factory.cliente("derivado", asesor.id)
    assert api.post("/api/sessions/start", t, json={"cliente_id": c.id}).status_code == 201
    assert api.post(f"/api/sessions/release/{c.id}", g).status_code == 200
    r = api.get("/api/alertas", g, params={"limit": 5})
    assert r.status_code == 200, r.text
    first = r.json()["items"][0]
    assert (first["cliente_id"], first["nombre"], first["reason"], first["asesor_id"],
            first["asesor_nombre"]) == (c.id, c.nombre, "released", asesor.id, asesor.nombre)
    assert first["at"] <= r.json()["now"]
    for bad in ({"limit": 0}, {"limit": 201}, {"limit": "x"}):
        assert api.get("/api/alertas", g, params=bad).status_code == 422
    assert api.get("/api/alertas", t).status_code == 403
