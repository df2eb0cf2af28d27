"""Bad input of every kind: a clear JSON error with the right status, never a
5xx, and nothing changed (client snapshot and audit rows compared before/after)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from app.auth import issue_token
from core.models import AuditEntry, Cliente, GestionSession, User
from tests.conftest import Factory

pytestmark = pytest.mark.invariants  # bench.invariants.check after each test

MISSING = 2_000_000_000  # a client/user id no test ever creates


def assert_error(r, status: int, code: str | None = None, field: str | None = None) -> dict:
    """A JSON error body with `error` and `message`, and the expected status."""
    assert r.status_code < 500, r.text
    assert r.status_code == status, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("message"), str) and body["message"], body
    if code is not None:
        assert body["error"] == code, body
    if field is not None:
        assert body.get("field") == field, body
    return body


@contextmanager
def unchanged(factory, *cliente_ids: int):
    """Assert that the block changes none of these clients (rows, sessions, audit)."""
    before = {cid: factory.snapshot(cid) for cid in cliente_ids}
    yield
    after = {cid: factory.snapshot(cid) for cid in cliente_ids}
    assert after == before


def count(factory, model, *where) -> int:
    with factory.db.transaction() as tx:
        return tx.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


@pytest.fixture(scope="module")
def w(db, jwt_secret):
    """A GTR and two advisors with tokens, shared by this module's tests."""
    f = Factory(db, jwt_secret)
    gtr, a1, a2 = f.gtr(), f.asesor(), f.asesor()
    return SimpleNamespace(gtr=gtr, a1=a1, a2=a2, g=f.token(gtr), t1=f.token(a1), t2=f.token(a2))


def _live(factory, api, asesor, token):
    """A client derived to `asesor`, with a live session they hold."""
    c = factory.cliente("derivado", asesor.id)
    r = api.post("/api/sessions/start", token, json={"cliente_id": c.id})
    assert r.status_code == 201, r.text
    return c


# ------------------------------------------------------------- unknown client

UNKNOWN_CLIENT_CALLS = [
    ("asesor", "POST", "/api/sessions/start", {"cliente_id": MISSING}),
    ("asesor", "POST", "/api/sessions/heartbeat", {"cliente_id": MISSING}),
    ("asesor", "POST", "/api/sessions/end", {"cliente_id": MISSING, "resultado": "gestionado"}),
    ("asesor", "GET", f"/api/sessions/status/{MISSING}", None),
    ("gtr", "GET", f"/api/sessions/status/{MISSING}", None),
    ("asesor", "POST", f"/api/sessions/restore/{MISSING}", None),
    ("gtr", "POST", f"/api/clientes/{MISSING}/derivar", None),
    ("gtr", "POST", f"/api/clientes/{MISSING}/derivar", "to-asesor"),
    ("gtr", "POST", f"/api/sessions/release/{MISSING}", None),
    ("gtr", "GET", f"/api/clientes/{MISSING}", None),
    ("asesor", "GET", f"/api/clientes/{MISSING}", None),
]


@pytest.mark.parametrize("who,method,path,body", UNKNOWN_CLIENT_CALLS,
                         ids=[f"{m} {p} {w}" for w, m, p, _ in UNKNOWN_CLIENT_CALLS])
def test_unknown_client_is_404_and_writes_nothing(factory, api, w, who, method, path, body):
    token = w.g if who == "gtr" else w.t1
    if body == "to-asesor":
        body = {"asesor_id": w.a1.id}
    r = api.call(method, path, token, json=body)
    assert_error(r, 404, "not_found")
    assert count(factory, AuditEntry, AuditEntry.cliente_id == MISSING) == 0
    assert count(factory, GestionSession, GestionSession.cliente_id == MISSING) == 0


@pytest.mark.parametrize("who,method,path", [
    ("asesor", "GET", "/api/sessions/status/abc"),
    ("asesor", "GET", "/api/sessions/status/-1"),
    ("asesor", "GET", "/api/sessions/status/1.5"),
    ("asesor", "POST", "/api/sessions/restore/abc"),
    ("gtr", "GET", "/api/clientes/abc"),
    ("gtr", "POST", "/api/clientes/abc/derivar"),
    ("gtr", "POST", "/api/sessions/release/abc"),
    ("gtr", "GET", "/api/clientes/99999999999999999999"),
    ("gtr", "POST", "/api/sessions/release/99999999999999999999"),
    ("asesor", "POST", "/api/sessions/restore/99999999999999999999"),
    ("asesor", "GET", "/api/sessions/status/99999999999999999999"),
])
def test_non_integer_or_out_of_range_path_id_is_404_json(api, w, who, method, path):
    r = api.call(method, path, w.g if who == "gtr" else w.t1)
    assert_error(r, 404, "not_found")


# ---------------------------------------------------------------- body shape

BODY_ENDPOINTS = [("asesor", "/api/sessions/start"), ("asesor", "/api/sessions/heartbeat"),
                  ("asesor", "/api/sessions/end"), ("gtr", "derivar"), ("gtr", "/api/clientes")]


def _target(factory, api, w, path):
    """The client a body endpoint acts on: a fresh one to derive, else a live session."""
    if path == "derivar":
        c = factory.cliente()
        return c, f"/api/clientes/{c.id}/derivar"
    return _live(factory, api, w.a1, w.t1), path


@pytest.mark.parametrize("raw", [b'{"cliente_id": ', b"{'cliente_id': 1}", b"not json",
                                 b'{"cliente_id": 1}}', b"\xff\xfe\x00{", b"[" * 100_000],
                         ids=["truncated", "single-quotes", "text", "trailing", "non-utf8",
                              "deep-nesting"])
@pytest.mark.parametrize("who,path", BODY_ENDPOINTS, ids=[p for _, p in BODY_ENDPOINTS])
def test_malformed_json_is_400_invalid_json(factory, api, w, who, path, raw):
    c, path = _target(factory, api, w, path)
    before = count(factory, Cliente)
    with unchanged(factory, c.id):
        r = api.post(path, w.g if who == "gtr" else w.t1, data=raw,
                     headers={"Content-Type": "application/json"})
        assert_error(r, 400, "invalid_json")
    assert count(factory, Cliente) == before


@pytest.mark.parametrize("payload", [[1, 2], "a string", 5, None, True],
                         ids=["list", "string", "number", "null", "bool"])
@pytest.mark.parametrize("who,path", BODY_ENDPOINTS, ids=[p for _, p in BODY_ENDPOINTS])
def test_body_that_is_not_an_object_is_400(factory, api, w, who, path, payload):
    c, path = _target(factory, api, w, path)
    before = count(factory, Cliente)
    with unchanged(factory, c.id):
        r = api.post(path, w.g if who == "gtr" else w.t1, data=json.dumps(payload),
                     headers={"Content-Type": "application/json"})
        assert_error(r, 400, "invalid_json")
    assert count(factory, Cliente) == before


@pytest.mark.parametrize("path", ["/api/sessions/start", "/api/sessions/heartbeat",
                                  "/api/sessions/end", "/api/auth/login"])
def test_empty_body_is_400(api, w, path):
    assert_error(api.post(path, w.t1), 400, "invalid_json")


# --------------------------------------------------------------- validation


@pytest.mark.parametrize("path,body,field", [
    ("/api/sessions/start", {}, "cliente_id"),
    ("/api/sessions/start", {"id": 1}, "cliente_id"),
    ("/api/sessions/heartbeat", {"session_id": "x"}, "cliente_id"),
    ("/api/sessions/end", {"resultado": "gestionado"}, "cliente_id"),
    ("/api/sessions/end", {"cliente_id": "ID"}, "resultado"),
    ("/api/auth/login", {"username": "someone"}, "password"),
    ("/api/auth/login", {"password": "x"}, "username"),
])
def test_missing_field_is_422_naming_it(factory, api, w, path, body, field):
    c = _live(factory, api, w.a1, w.t1)
    body = {k: (c.id if v == "ID" else v) for k, v in body.items()}
    with unchanged(factory, c.id):
        assert_error(api.post(path, w.t1, json=body), 422, "validation_error", field)


def _wrong(c_id: int) -> list[tuple[str, dict, str]]:
    return [
        ("/api/sessions/heartbeat", {"cliente_id": str(c_id)}, "cliente_id"),
        ("/api/sessions/heartbeat", {"cliente_id": c_id + 0.5}, "cliente_id"),
        ("/api/sessions/heartbeat", {"cliente_id": float(c_id)}, "cliente_id"),
        ("/api/sessions/heartbeat", {"cliente_id": True}, "cliente_id"),
        ("/api/sessions/heartbeat", {"cliente_id": [c_id]}, "cliente_id"),
        ("/api/sessions/heartbeat", {"cliente_id": None}, "cliente_id"),
        ("/api/sessions/heartbeat", {"cliente_id": c_id, "session_id": 7}, "session_id"),
        ("/api/sessions/heartbeat", {"cliente_id": c_id, "session_id": ""}, "session_id"),
        ("/api/sessions/end", {"cliente_id": str(c_id), "resultado": "gestionado"}, "cliente_id"),
        ("/api/sessions/end", {"cliente_id": True, "resultado": "gestionado"}, "cliente_id"),
        ("/api/sessions/end", {"cliente_id": c_id, "resultado": 1}, "resultado"),
        ("/api/sessions/end", {"cliente_id": c_id, "resultado": "done"}, "resultado"),
        ("/api/sessions/end", {"cliente_id": c_id, "resultado": "GESTIONADO"}, "resultado"),
        ("/api/sessions/end", {"cliente_id": c_id, "resultado": "en_gestion"}, "resultado"),
        ("/api/sessions/end", {"cliente_id": c_id, "resultado": "gestionado",
                               "notas": "x" * 5001}, "notas"),
        ("/api/sessions/end", {"cliente_id": c_id, "resultado": "gestionado", "notas": 3},
         "notas"),
    ]


def test_wrong_types_and_bad_resultado_are_422_and_leave_the_session_alone(factory, api, w):
    c = _live(factory, api, w.a1, w.t1)
    with unchanged(factory, c.id):
        for path, body, field in _wrong(c.id):
            r = api.post(path, w.t1, json=body)
            assert r.status_code == 422, (body, r.text)
            assert_error(r, 422, "validation_error", field)
    assert factory.get_cliente(c.id).estado == "en_gestion"


def test_string_id_on_start_does_not_open_the_client(factory, api, w):
    c = factory.cliente("derivado", w.a1.id)
    with unchanged(factory, c.id):
        for bad in (str(c.id), c.id + 0.5, float(c.id), True):
            assert_error(api.post("/api/sessions/start", w.t1, json={"cliente_id": bad}),
                         422, "validation_error", "cliente_id")


@pytest.mark.parametrize("bad", [0, -1, -2_147_483_648, 2_147_483_648, 10**30])
def test_non_positive_or_huge_ids_are_422(factory, api, w, bad):
    c = factory.cliente()
    for path, body in [("/api/sessions/start", {"cliente_id": bad}),
                       ("/api/sessions/heartbeat", {"cliente_id": bad}),
                       ("/api/sessions/end", {"cliente_id": bad, "resultado": "cerrado"})]:
        assert_error(api.post(path, w.t1, json=body), 422, "validation_error", "cliente_id")
    with unchanged(factory, c.id):
        assert_error(api.post(f"/api/clientes/{c.id}/derivar", w.g, json={"asesor_id": bad}),
                     422, "validation_error", "asesor_id")


def test_oversized_body_is_413_json(factory, api, w):
    c = _live(factory, api, w.a1, w.t1)
    big = json.dumps({"cliente_id": c.id, "resultado": "gestionado",
                      "notas": "x" * (4 * 1024 * 1024 + 10)})
    before = count(factory, Cliente)
    with unchanged(factory, c.id):
        assert_error(api.post("/api/sessions/end", w.t1, data=big,
                              headers={"Content-Type": "application/json"}), 413)
        csv = "nombre,telefono\n" + "Ana,+51 900 000 000\n" * 250_000  # ~5 MiB
        assert_error(api.post("/api/clientes/import", w.g, data=csv.encode(),
                              headers={"Content-Type": "text/csv"}), 413)
    assert count(factory, Cliente) == before


# ---------------------------------------------------------- not yours / state


def test_end_heartbeat_restore_of_another_advisors_session_are_404(factory, api, w):
    """A client derived to another advisor, in their hands: the advisor may not
    see it, so nothing (holder, state) is revealed."""
    c = _live(factory, api, w.a1, w.t1)
    with unchanged(factory, c.id):
        body = assert_error(api.post("/api/sessions/end", w.t2,
                                     json={"cliente_id": c.id, "resultado": "gestionado"}),
                            404, "not_found")
        assert "holder" not in body
        assert_error(api.post("/api/sessions/heartbeat", w.t2, json={"cliente_id": c.id}),
                     404, "not_found")
        assert_error(api.post(f"/api/sessions/restore/{c.id}", w.t2), 404, "not_found")
    assert factory.get_cliente(c.id).estado == "en_gestion"


def test_end_heartbeat_restore_of_a_pool_client_another_advisor_took_are_403(factory, api, w):
    """Every advisor was pushed who took a pool client, so the refusal may say."""
    c = factory.cliente("derivado", None)
    assert api.post("/api/sessions/start", w.t1, json={"cliente_id": c.id}).status_code == 201
    with unchanged(factory, c.id):
        body = assert_error(api.post("/api/sessions/end", w.t2,
                                     json={"cliente_id": c.id, "resultado": "gestionado"}),
                            403, "forbidden")
        assert body["holder"]["asesor_id"] == w.a1.id
        assert_error(api.post("/api/sessions/heartbeat", w.t2, json={"cliente_id": c.id}),
                     403, "forbidden")
        assert_error(api.post(f"/api/sessions/restore/{c.id}", w.t2), 403, "forbidden")
    assert factory.get_cliente(c.id).estado == "en_gestion"


def test_end_or_heartbeat_without_an_active_session_is_409(factory, api, w):
    c = factory.cliente("derivado", w.a1.id)
    with unchanged(factory, c.id):
        for path, body in [("/api/sessions/end", {"cliente_id": c.id, "resultado": "cerrado"}),
                           ("/api/sessions/heartbeat", {"cliente_id": c.id})]:
            assert_error(api.post(path, w.t1, json=body), 409, "no_active_session")
        assert_error(api.post(f"/api/sessions/release/{c.id}", w.g), 409, "no_active_session")


def test_start_on_a_client_derived_to_another_advisor_is_404(factory, api, w):
    """Not theirs, not the pool: the advisor may not see it (domain/visibility.py)."""
    c = factory.cliente("derivado", w.a1.id)
    with unchanged(factory, c.id):
        body = assert_error(api.post("/api/sessions/start", w.t2, json={"cliente_id": c.id}),
                            404, "not_found")
        assert "holder" not in body and "estado" not in body


@pytest.mark.parametrize("estado", ["nuevo", "gestionado", "no_gestionado", "cerrado"])
def test_start_on_an_own_client_that_is_not_derived_is_409_invalid_state(factory, api, w,
                                                                          estado):
    c = factory.cliente(estado, w.a1.id)
    with unchanged(factory, c.id):
        body = assert_error(api.post("/api/sessions/start", w.t1, json={"cliente_id": c.id}),
                            409, "invalid_state")
        assert body["estado"] == estado


@pytest.mark.parametrize("estado", ["nuevo", "no_gestionado", "cerrado"])
def test_start_on_a_queue_client_nobody_derived_is_404(factory, api, w, estado):
    """A client in the GTR queue is not the advisor's to see."""
    c = factory.cliente(estado, None)
    with unchanged(factory, c.id):
        assert_error(api.post("/api/sessions/start", w.t1, json={"cliente_id": c.id}),
                     404, "not_found")


def test_derive_a_client_in_gestion_or_final_is_409(factory, api, w):
    live = _live(factory, api, w.a1, w.t1)
    done = factory.cliente("gestionado", w.a1.id)
    closed = factory.cliente("cerrado")
    with unchanged(factory, live.id, done.id, closed.id):
        for c in (live, done, closed):
            for body in ({}, {"asesor_id": w.a2.id}):
                assert_error(api.post(f"/api/clientes/{c.id}/derivar", w.g, json=body),
                             409, "invalid_state")


def test_derive_to_unknown_gtr_or_inactive_user_is_422_asesor_id(factory, api, w):
    inactive = factory.asesor()
    with factory.db.transaction() as tx:
        tx.get(User, inactive.id).active = False
    c = factory.cliente()
    with unchanged(factory, c.id):
        for target in (MISSING, w.gtr.id, inactive.id):
            assert_error(api.post(f"/api/clientes/{c.id}/derivar", w.g,
                                  json={"asesor_id": target}),
                         422, "validation_error", "asesor_id")


# --------------------------------------------------------------------- auth


def test_bad_credentials_on_start_are_401_and_open_nothing(factory, api, w):
    secret = factory.secret
    c = factory.cliente("derivado", w.a1.id)
    expired = issue_token(w.a1, secret, expires=-10)[0]
    forged = issue_token(w.a1, secret + "-not-it", expires=3600)[0]
    body = {"cliente_id": c.id}
    with unchanged(factory, c.id):
        assert_error(api.post("/api/sessions/start", expired, json=body), 401, "token_expired")
        assert_error(api.post("/api/sessions/start", forged, json=body), 401, "invalid_token")
        assert_error(api.post("/api/sessions/start", "garbage.not.jwt", json=body),
                     401, "invalid_token")
        assert_error(api.post("/api/sessions/start", json=body), 401, "unauthorized")
        assert_error(api.post("/api/sessions/start", json=body,
                              headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)
        assert_error(api.post("/api/sessions/start", json=body,
                              headers={"Authorization": f"Basic {factory.token(w.a1)}"}), 401)
        assert_error(api.post("/api/sessions/start", json=body,
                              headers={"Authorization": "Bearer "}), 401)
    for path in ("/api/auth/me", "/api/clientes", f"/api/sessions/status/{c.id}",
                 "/api/sessions/active", "/api/ws-stats", "/api/stats/sessions"):
        assert_error(api.get(path, expired), 401, "token_expired")
        assert_error(api.get(path), 401)


def test_token_with_unknown_role_or_bad_subject_is_invalid(factory, api, w):
    secret = factory.secret
    admin = SimpleNamespace(id=w.a1.id, role="admin", username="x", nombre="x")
    bad_sub = SimpleNamespace(id="abc", role="asesor", username="x", nombre="x")
    for user in (admin, bad_sub):
        token = issue_token(user, secret, 3600)[0]
        assert_error(api.get("/api/auth/me", token), 401, "invalid_token")


def test_token_of_a_user_that_does_not_exist_is_refused_not_a_500(factory, api, w):
    """A well-signed token whose user is gone (deleted account) must not crash
    a write: the answer is 401 and the pool client stays untouched."""
    ghost = SimpleNamespace(id=MISSING, role="asesor", username="ghost", nombre="Ghost")
    token = issue_token(ghost, factory.secret, 3600)[0]
    c = factory.cliente("derivado")  # in the pool: anyone may open it
    with unchanged(factory, c.id):
        assert_error(api.post("/api/sessions/start", token, json={"cliente_id": c.id}), 401)


def test_gtr_cannot_hold_a_session(factory, api, w):
    c = factory.cliente("derivado")
    live = _live(factory, api, w.a1, w.t1)
    with unchanged(factory, c.id, live.id):
        assert_error(api.post("/api/sessions/start", w.g, json={"cliente_id": c.id}),
                     403, "forbidden")
        assert_error(api.post("/api/sessions/heartbeat", w.g, json={"cliente_id": live.id}),
                     403, "forbidden")
        assert_error(api.post("/api/sessions/end", w.g,
                              json={"cliente_id": live.id, "resultado": "cerrado"}),
                     403, "forbidden")
        assert_error(api.post(f"/api/sessions/restore/{live.id}", w.g), 403, "forbidden")


def test_advisor_on_gtr_endpoints_is_403_and_changes_nothing(factory, api, w):
    nuevo = factory.cliente()
    live = _live(factory, api, w.a1, w.t1)
    before = count(factory, Cliente)
    calls = [
        ("POST", "/api/clientes", {"nombre": "X", "telefono": "+51 900 000 001"}),
        ("POST", f"/api/clientes/{nuevo.id}/derivar", {"asesor_id": w.a1.id}),
        ("POST", f"/api/clientes/{nuevo.id}/derivar", None),
        ("POST", "/api/sessions/sync", None),
        ("POST", f"/api/sessions/release/{live.id}", None),
        ("GET", "/api/ws-stats", None),
        ("GET", "/api/stats/sessions", None),
        ("GET", "/api/asesores", None),
    ]
    with unchanged(factory, nuevo.id, live.id):
        for method, path, body in calls:
            assert_error(api.call(method, path, w.t1, json=body), 403, "forbidden")
        r = api.post("/api/clientes/import", w.t1, data=b"nombre,telefono\nA,+51 1\n",
                     headers={"Content-Type": "text/csv"})
        assert_error(r, 403, "forbidden")
    assert count(factory, Cliente) == before


# ------------------------------------------------------------------- routing


@pytest.mark.parametrize("path", ["/api/nope", "/nope", "/api/sessions", "/api/clientes/1/x"])
def test_unknown_route_is_404_json(api, w, path):
    assert_error(api.get(path, w.g), 404, "not_found")
    assert_error(api.post(path, w.g, json={}), 404, "not_found")


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/sessions/start"), ("GET", "/api/sessions/end"),
    ("PUT", "/api/auth/login"), ("DELETE", "/api/clientes/1"),
    ("POST", "/api/sessions/status/1"), ("GET", "/api/clientes/import"),
    ("PATCH", "/api/clientes"),
])
def test_wrong_method_is_405_json(api, w, method, path):
    r = api.call(method, path, w.g)
    assert_error(r, 405, "method_not_allowed")
