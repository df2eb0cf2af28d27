"""Issue 14 in the fast tier (in-process, nothing spawned): health that no
crowd can wedge, reserved socket events, bad ids, CSV import input."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.api.health import HealthProbe
from app.registry import services
from tests import hardening_cases as cases

pytestmark = pytest.mark.invariants  # bench.invariants.check after each test

# ------------------------------------------------------------------ item 1


def test_health_checks_run_once_for_a_crowd():
    """50 callers at once share one run of the checks (an anonymous crowd
    never drives the database, Redis or the broker)."""
    runs = []

    def run():
        runs.append(1)
        time.sleep(0.3)
        return {"status": "ok", "checks": {}, "time": time.time()}

    probe = HealthProbe(run, ttl=5.0, bound=2.0)
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: probe.report(), range(50)))
    assert len(runs) == 1
    assert all(a["status"] == "ok" for a in answers)


def test_health_answers_within_its_bound_when_a_check_hangs():
    release = threading.Event()
    runs = []

    def run():
        runs.append(1)
        release.wait(30)
        return {"status": "ok", "checks": {}, "time": time.time()}

    probe = HealthProbe(run, ttl=5.0, bound=0.5, stuck=30.0)
    try:
        t0 = time.monotonic()
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: probe.report(), range(20)))
        assert time.monotonic() - t0 < 3.0
        assert all(a["status"] == "degraded" for a in answers)
        assert answers[0]["checks"]["workers"]["ok"] is False
        assert len(runs) == 1  # the hung check is not piled upon
    finally:
        release.set()
    time.sleep(0.1)
    assert probe.report()["status"] == "ok"


def test_a_start_whose_timeout_task_cannot_be_sent_still_answers(factory, api, server,
                                                                 monkeypatch):
    """The post-commit step (arming the timeout task) fails: the start is
    committed and answered; the sweep is the safety net."""
    svc = services(server.app)

    def broker_refuses(*_args):
        raise ConnectionError("the broker cannot take the timeout task")

    monkeypatch.setattr(svc.sessions, "arm_timeout", broker_refuses)
    asesor = factory.asesor()
    token = factory.token(asesor)
    c = factory.cliente("derivado", asesor.id)
    r = api.post("/api/sessions/start", token, json={"cliente_id": c.id})
    assert r.status_code == 201, r.text
    [sess] = factory.sessions_of(c.id)
    assert sess.status == "active" and factory.get_cliente(c.id).estado == "en_gestion"
    hb = api.post("/api/sessions/heartbeat", token, json={"cliente_id": c.id})
    assert hb.status_code == 200, hb.text


def test_a_failing_after_commit_step_never_raises(db):
    from core.changes import Changes

    class Sink:
        def publish(self, pushes):
            raise AssertionError("nothing to publish")

    ran = []
    with Changes(db, Sink()).begin() as change:
        change.after("a broker that refuses", lambda: 1 / 0)
        change.after("the next step", lambda: ran.append(1))
    assert ran == [1]


# ------------------------------------------------------------------ item 7


def test_reserved_disconnect_event_is_refused_and_expiry_still_closes(factory, listen):
    cases.forged_disconnect_does_not_escape_the_expiry_close(factory, listen)


def test_reserved_connect_event_does_not_switch_identity(factory, api, listen):
    cases.forged_connect_does_not_switch_identity(factory, api, listen)


@pytest.mark.parametrize("name", ["connect", "disconnect", "connect_error", "CONNECT",
                                  "disconnecting", "__disconnect_final", "newListener"])
def test_reserved_names(name):
    from app.sockets import is_reserved

    assert is_reserved(name)


@pytest.mark.parametrize("name", ["heartbeat", "join", "connected_users", "message"])
def test_ordinary_names(name):
    from app.sockets import is_reserved

    assert not is_reserved(name)


# ------------------------------------------------------------------ item 14

HUGE_SUBS = [str(2**63), str(2**64), "9" * 40, "007", "-3", "0", " 5", "5.0"]


@pytest.mark.parametrize("sub", HUGE_SUBS)
def test_a_token_whose_sub_is_no_user_id_is_invalid(sub):
    """A `sub` >= 2^63 reached the database (500 on SQLite): refused before."""
    import jwt

    from app.auth import ALGORITHM, InvalidToken, decode_token

    token = jwt.encode({"sub": sub, "role": "asesor", "exp": int(time.time()) + 600},
                       "s" * 32, algorithm=ALGORITHM)
    with pytest.raises(InvalidToken):
        decode_token(token, "s" * 32)


def test_a_token_with_a_huge_sub_is_a_401(api, factory):
    import jwt

    from app.auth import ALGORITHM

    token = jwt.encode({"sub": str(2**63), "role": "gtr", "exp": int(time.time()) + 600},
                       factory.secret, algorithm=ALGORITHM)
    r = api.get("/api/clientes", token)
    assert r.status_code == 401, r.text
    assert r.json() == {"error": "invalid_token", "message": "the token is not valid"}


def test_path_ids_with_leading_zeros_are_not_found(api, factory):
    gtr = factory.gtr()
    g = factory.token(gtr)
    c = factory.cliente()
    assert api.get(f"/api/clientes/{c.id}", g).status_code == 200
    for path in (f"/api/clientes/0{c.id}", f"/api/clientes/00{c.id}",
                 f"/api/sessions/status/0{c.id}", f"/api/clientes/+{c.id}"):
        r = api.get(path, g)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"] == "not_found", r.text
    before = factory.snapshot(c.id)
    r = api.post(f"/api/sessions/release/0{c.id}", g)
    assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
    assert factory.snapshot(c.id) == before


def test_socket_heartbeat_with_a_huge_id_is_a_validation_error(factory, listen):
    cases.huge_socket_id_is_a_validation_error(factory, listen)


# ------------------------------------------------------------------ item 13


@pytest.mark.parametrize("name", sorted(cases.BAD_CSV))
def test_bad_csv_is_a_422_naming_the_line(factory, api, name):
    cases.bad_csv_is_a_422_naming_the_line(factory, api, name)


def test_cr_only_csv_is_imported(factory, api):
    cases.cr_only_csv_is_imported(factory, api)


def test_a_nul_byte_is_refused_by_the_rest_create_too(factory, api):
    g = factory.token(factory.gtr())
    r = api.post("/api/clientes", g, json={"nombre": "A\x00na", "telefono": "+51 900 1"})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "nombre", r.text


def test_formula_leading_values_are_stored_as_typed_and_neutralised_for_export(factory, api):
    from domain.clientes import spreadsheet_safe

    g = factory.token(factory.gtr())
    text = ("nombre,telefono,email,documento,notas\n"
            "=HYPERLINK(\"http://x\"),+51 900 1,@evil,-1,+cmd|' /C calc'!A0\n")
    r = api.post("/api/clientes/import", g, files={"file": ("c.csv", text.encode(), "text/csv")})
    assert r.status_code == 201, r.text
    [cid] = r.json()["ids"]
    c = factory.get_cliente(cid)
    assert (c.nombre, c.telefono, c.email, c.documento, c.notas) == (
        '=HYPERLINK("http://x")', "+51 900 1", "@evil", "-1", "+cmd|' /C calc'!A0")
    assert [spreadsheet_safe(v) for v in (c.nombre, c.telefono, c.email, c.documento)] == [
        '\'=HYPERLINK("http://x")', "'+51 900 1", "'@evil", "'-1"]
    assert spreadsheet_safe("Ana") == "Ana" and spreadsheet_safe(None) is None
    assert spreadsheet_safe("\tx") == "'\tx"
