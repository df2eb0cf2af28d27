"""The GTR desk over REST: create, list, import a CSV, derive, and who hears it."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from core.models import Cliente
from core.visibility import facts
from domain.visibility import Viewer, may_see
from tests.conftest import for_cliente

QUIET = 0.5  # how long to listen for a push that must NOT arrive, after one that did


def n_clientes(factory) -> int:
    with factory.db.transaction() as tx:
        return tx.execute(select(func.count(Cliente.id))).scalar_one()


def all_items(api, token, **params) -> list[dict]:
    """Every page of GET /api/clientes with these filters."""
    items, offset = [], 0
    while True:
        r = api.get("/api/clientes", token, params={**params, "limit": 500, "offset": offset})
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        offset += 500
        if offset >= page["total"]:
            return items


# ------------------------------------------------------------------- create


def test_create_client_is_nuevo_and_only_gtr_hears_it(factory, api, listen):
    gtr, asesor = factory.gtr(), factory.asesor()
    g = factory.token(gtr)
    gtr_ws, asesor_ws = listen(g), listen(factory.token(asesor))
    r = api.post("/api/clientes", g, json={
        "nombre": "  Ana Pérez ", "telefono": "+51 (900) 111-222", "email": "ana@example.pe",
        "estado": "gestionado", "asesor_asignado": asesor.id})
    assert r.status_code == 201, r.text
    view = r.json()
    assert view["nombre"] == "Ana Pérez" and view["telefono"] == "+51 (900) 111-222"
    # a client cannot be born in another state nor pre-assigned
    assert (view["estado"], view["asesor_asignado"], view["session_id"]) == ("nuevo", None, None)
    c = factory.get_cliente(view["id"])
    assert (c.estado, c.asesor_asignado, c.email) == ("nuevo", None, "ana@example.pe")
    [entry] = factory.audit_of(c.id)
    assert (entry.action, entry.from_state, entry.to_state, entry.actor_id) == \
        ("create", None, "nuevo", gtr.id)
    ev, _ = gtr_ws.wait_for("CLIENT_CREATED", for_cliente(c.id))
    assert ev["estado"] == "nuevo" and ev["count"] == 1 and ev["ids"] == [c.id]
    time.sleep(QUIET)
    assert asesor_ws.received("CLIENT_CREATED") == []
    assert api.get(f"/api/clientes/{c.id}", g).json()["nombre"] == "Ana Pérez"


@pytest.mark.parametrize("body,field", [
    ({"telefono": "+51 900 000 000"}, "nombre"),
    ({"nombre": "   ", "telefono": "+51 900 000 000"}, "nombre"),
    ({"nombre": "Ana"}, "telefono"),
    ({"nombre": "Ana", "telefono": ""}, "telefono"),
    ({"nombre": "Ana", "telefono": "call me"}, "telefono"),
    ({"nombre": "Ana", "telefono": "+51 900 abc"}, "telefono"),
    ({"nombre": "Ana", "telefono": "---"}, "telefono"),
    ({"nombre": "A" * 161, "telefono": "+51 900 000 000"}, "nombre"),
    ({"nombre": "Ana", "telefono": "9" * 33}, "telefono"),
    ({"nombre": "Ana", "telefono": "+51 900", "email": "not-an-address"}, "email"),
    ({"nombre": "Ana", "telefono": "+51 900", "notas": "n" * 5001}, "notas"),
    ({"nombre": 5, "telefono": "+51 900 000 000"}, "nombre"),
    ({"nombre": "Ana", "telefono": 51900000000}, "telefono"),
])
def test_create_validation_is_422_naming_the_field(factory, api, body, field):
    g = factory.token(factory.gtr())
    before = n_clientes(factory)
    r = api.post("/api/clientes", g, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error" and r.json()["field"] == field
    assert n_clientes(factory) == before


def test_create_accepts_the_longest_allowed_values(factory, api):
    g = factory.token(factory.gtr())
    r = api.post("/api/clientes", g, json={"nombre": "N" * 160, "telefono": "9" * 32})
    assert r.status_code == 201, r.text
    assert factory.get_cliente(r.json()["id"]).nombre == "N" * 160


# -------------------------------------------------------------------- list


def test_list_filters_by_estado_and_paginates(factory, api):
    g = factory.token(factory.gtr())
    asesor = factory.asesor()
    mine = [factory.cliente("derivado", asesor.id) for _ in range(5)]
    done = factory.cliente("gestionado", asesor.id)
    page = api.get("/api/clientes", g, params={"asesor_id": asesor.id, "limit": 2}).json()
    assert page["total"] == 6 and page["limit"] == 2 and page["offset"] == 0
    assert [c["id"] for c in page["items"]] == [mine[0].id, mine[1].id]
    rest = api.get("/api/clientes", g, params={"asesor_id": asesor.id, "limit": 2,
                                               "offset": 4}).json()
    assert [c["id"] for c in rest["items"]] == [mine[4].id, done.id] and rest["total"] == 6
    beyond = api.get("/api/clientes", g, params={"asesor_id": asesor.id, "offset": 6}).json()
    assert beyond["items"] == [] and beyond["total"] == 6
    derived = api.get("/api/clientes", g, params={"asesor_id": asesor.id,
                                                  "estado": "derivado"}).json()
    assert derived["total"] == 5 and {c["estado"] for c in derived["items"]} == {"derivado"}
    gestionados = all_items(api, g, estado="gestionado")
    assert done.id in {c["id"] for c in gestionados}
    assert {c["estado"] for c in gestionados} == {"gestionado"}
    assert mine[0].id not in {c["id"] for c in gestionados}


@pytest.mark.parametrize("params,field", [
    ({"estado": "pendiente"}, "estado"), ({"estado": "NUEVO"}, "estado"),
    ({"limit": "abc"}, "limit"), ({"limit": 0}, "limit"), ({"limit": 501}, "limit"),
    ({"offset": -1}, "offset"), ({"offset": "1.5"}, "offset"), ({"asesor_id": "x"}, "asesor_id"),
])
def test_list_bad_query_is_422(factory, api, params, field):
    r = api.get("/api/clientes", factory.token(factory.gtr()), params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error" and r.json()["field"] == field


def test_advisor_lists_own_clients_and_the_pool_only(factory, api):
    a, b = factory.asesor(), factory.asesor()
    own = [factory.cliente("derivado", a.id), factory.cliente("gestionado", a.id)]
    pool = factory.cliente("derivado")
    hidden = [factory.cliente("derivado", b.id), factory.cliente("nuevo"),
              factory.cliente("no_gestionado")]
    seen = all_items(api, factory.token(a))
    ids = {c["id"] for c in seen}
    assert {own[0].id, own[1].id, pool.id} <= ids
    assert ids.isdisjoint(c.id for c in hidden)
    # own, the pool, or (domain/visibility.py) a pool client someone took, live
    assert all(c["asesor_asignado"] == a.id or (c["asesor_asignado"] is None
                                                 and c["estado"] == "derivado")
               or c["estado"] == "en_gestion" for c in seen)
    with factory.db.transaction() as tx:
        for c in seen:
            assert may_see(Viewer(a.id, False), facts(tx, tx.get(Cliente, c["id"]))), c
    # asking for another advisor's clients still shows only what `a` may see
    theirs = all_items(api, factory.token(a), asesor_id=b.id)
    assert theirs == []


def test_advisor_cannot_get_another_advisors_client(factory, api):
    a, b = factory.asesor(), factory.asesor()
    ta = factory.token(a)
    theirs, nuevo = factory.cliente("derivado", b.id), factory.cliente("nuevo")
    for c in (theirs, nuevo):
        r = api.get(f"/api/clientes/{c.id}", ta)
        assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
    assert api.get(f"/api/clientes/{factory.cliente('derivado', a.id).id}", ta).status_code == 200
    assert api.get(f"/api/clientes/{factory.cliente('derivado').id}", ta).status_code == 200


# ------------------------------------------------------------------ import


GOOD_CSV = ("\ufeffNombre, Telefono ,email,documento,notas\n"
            "Ana Quispe,+51 900 100 001,ana@example.pe,12345678,\"llamar, tarde\"\n"
            "Luis Rojas,+51 900 100 002,,,\n"
            "\n"
            "María Ñahui,(01) 555-0101,,,\n")


@pytest.mark.parametrize("how", ["multipart", "text/csv"])
def test_import_good_csv_creates_every_row(factory, api, listen, how):
    gtr = factory.gtr()
    g = factory.token(gtr)
    gtr_ws = listen(g)
    before = n_clientes(factory)
    if how == "multipart":
        r = api.post("/api/clientes/import", g,
                     files={"file": ("clientes.csv", GOOD_CSV.encode(), "text/csv")})
    else:
        r = api.post("/api/clientes/import", g, data=GOOD_CSV.encode(),
                     headers={"Content-Type": "text/csv; charset=utf-8"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["imported"] == 3 and len(out["ids"]) == 3
    assert n_clientes(factory) == before + 3
    rows = [factory.get_cliente(i) for i in out["ids"]]
    assert [(c.nombre, c.telefono, c.estado) for c in rows] == [
        ("Ana Quispe", "+51 900 100 001", "nuevo"), ("Luis Rojas", "+51 900 100 002", "nuevo"),
        ("María Ñahui", "(01) 555-0101", "nuevo")]
    assert (rows[0].email, rows[0].documento, rows[0].notas) == \
        ("ana@example.pe", "12345678", "llamar, tarde")
    assert rows[1].email is None
    for c in rows:
        assert [(e.action, e.to_state, e.actor_id) for e in factory.audit_of(c.id)] == \
            [("import", "nuevo", gtr.id)]
    ev, _ = gtr_ws.wait_for("CLIENT_CREATED", lambda d: d.get("ids") == out["ids"])
    assert ev["count"] == 3


@pytest.mark.parametrize("csv_text,line,field", [
    pytest.param("nombre,telefono\nAna,+51 900 1\nLuis,no phone\nRosa,+51 900 3\n", 3,
                 "telefono", id="bad-phone"),
    pytest.param("nombre,telefono\nAna,+51 900 1\nRosa,+51 900 3\n,+51 900 4\n", 4, "nombre",
                 id="no-name-last"),
    pytest.param("nombre,telefono\nAna,+51 900 1\nLuis,+51 900 2,extra\n", 3, "file",
                 id="extra-value"),
    pytest.param("nombre,telefono,email\nAna,+51 900 1,x\n", 2, "email", id="bad-email"),
    # line numbers are the file's: a blank line 3 makes the bad row line 4
    pytest.param("nombre,telefono\nAna,+51 900 1\n\nLuis,no phone\n", 4, "telefono",
                 id="after-blank-line"),
])
def test_import_with_one_bad_line_creates_nothing(factory, api, csv_text, line, field):
    g = factory.token(factory.gtr())
    before = n_clientes(factory)
    r = api.post("/api/clientes/import", g,
                 files={"file": ("c.csv", csv_text.encode(), "text/csv")})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "validation_error"
    assert body["line"] == line and f"line {line}" in body["message"], body
    assert body["field"] == field
    assert n_clientes(factory) == before


@pytest.mark.parametrize("raw,needle", [
    (b"nombre,email\nAna,a@b.pe\n", "telefono"),
    (b"name,phone\nAna,+51 900 1\n", "nombre"),
    (b"nombre,telefono,edad\nAna,+51 900 1,30\n", "edad"),
    (b"", "empty"),
    (b"nombre,telefono\n", "no clients"),
    ("nombre,telefono\nJos\u00e9,+51 900 1\n".encode("latin-1"), "UTF-8"),
    (b"\xff\xfe\x00n\x00o", "UTF-8"),
])
def test_import_bad_file_is_422_and_creates_nothing(factory, api, raw, needle):
    g = factory.token(factory.gtr())
    before = n_clientes(factory)
    r = api.post("/api/clientes/import", g, files={"file": ("c.csv", raw, "text/csv")})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "validation_error" and body["field"] == "file"
    assert needle in body["message"], body
    assert n_clientes(factory) == before


def test_import_without_a_file_is_422(factory, api):
    g = factory.token(factory.gtr())
    r = api.post("/api/clientes/import", g, json={"nombre": "Ana", "telefono": "+51 1"})
    assert r.status_code == 422 and r.json()["field"] == "file", r.text
    r = api.post("/api/clientes/import", g, files={"other": ("c.csv", b"nombre,telefono\n")})
    assert r.status_code == 422 and r.json()["field"] == "file", r.text


# ------------------------------------------------------------------ derive


def test_derive_to_the_pool_reaches_every_advisor(factory, api, listen):
    g = factory.token(factory.gtr())
    a, b = factory.asesor(), factory.asesor()
    ws_a, ws_b = listen(factory.token(a)), listen(factory.token(b))
    c = factory.cliente()
    r = api.post(f"/api/clientes/{c.id}/derivar", g)
    assert r.status_code == 200, r.text
    assert (r.json()["estado"], r.json()["asesor_asignado"]) == ("derivado", None)
    for ws in (ws_a, ws_b):
        ev, _ = ws.wait_for("CLIENT_DERIVED", for_cliente(c.id))
        assert ev["pool"] is True and ev["asesor_id"] is None and ev["estado"] == "derivado"
    [entry] = factory.audit_of(c.id)
    assert (entry.action, entry.from_state, entry.to_state) == ("derivar", "nuevo", "derivado")


def test_derive_to_one_advisor_reaches_only_them(factory, api, listen):
    g = factory.token(factory.gtr())
    a, b = factory.asesor(), factory.asesor()
    ws_a, ws_b = listen(factory.token(a)), listen(factory.token(b))
    c = factory.cliente("no_gestionado")
    r = api.post(f"/api/clientes/{c.id}/derivar", g, json={"asesor_id": a.id})
    assert r.status_code == 200, r.text
    assert factory.get_cliente(c.id).asesor_asignado == a.id
    ev, _ = ws_a.wait_for("CLIENT_DERIVED", for_cliente(c.id))
    assert ev["asesor_id"] == a.id and ev["pool"] is False
    time.sleep(QUIET)
    assert ws_b.received("CLIENT_DERIVED", for_cliente(c.id)) == []


def test_rederive_notifies_the_previous_advisor(factory, api, listen):
    g = factory.token(factory.gtr())
    a, b, other = factory.asesor(), factory.asesor(), factory.asesor()
    ws_a, ws_b, ws_o = (listen(factory.token(u)) for u in (a, b, other))
    c = factory.cliente("derivado", a.id)
    r = api.post(f"/api/clientes/{c.id}/derivar", g, json={"asesor_id": b.id})
    assert r.status_code == 200, r.text
    assert r.json()["asesor_asignado"] == b.id
    to_b, _ = ws_b.wait_for("CLIENT_DERIVED", for_cliente(c.id))
    from_a, _ = ws_a.wait_for("CLIENT_DERIVED", for_cliente(c.id))
    assert to_b["asesor_id"] == from_a["asesor_id"] == b.id
    assert from_a["previous_asesor_id"] == a.id
    # and back to the pool: both hear it (b as the previous holder, a via the pool)
    api.post(f"/api/clientes/{c.id}/derivar", g, json={"asesor_id": None})
    ws_b.wait_for("CLIENT_DERIVED", lambda d: for_cliente(c.id)(d) and d["pool"] is True)
    ws_o.wait_for("CLIENT_DERIVED", lambda d: for_cliente(c.id)(d) and d["pool"] is True)
    assert len(ws_o.received("CLIENT_DERIVED", for_cliente(c.id))) == 1
    assert [e.detail["previous_asesor_id"] for e in factory.audit_of(c.id)] == [a.id, b.id]


def test_list_asesores_for_gtr(factory, api):
    gtr, a, b = factory.gtr(), factory.asesor(), factory.asesor()
    r = api.get("/api/asesores", factory.token(gtr))
    assert r.status_code == 200, r.text
    rows = {u["id"]: u for u in r.json()}
    assert rows[a.id] == {"id": a.id, "username": a.username, "nombre": a.nombre, "active": True}
    assert b.id in rows and gtr.id not in rows
    assert all(set(u) == {"id", "username", "nombre", "active"} for u in rows.values())
