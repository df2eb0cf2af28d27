"""Issue 18, a start's and an end's cost: the token check rides in the
command's own transaction (app.auth.fresh_first, core.db.first_in_next)
instead of one of its own. The same answers as before: a stale token is a 401
that changes nothing, and comes before every other refusal."""

from __future__ import annotations

import greenlet
import pytest
from sqlalchemy import make_url

from core.db import Database, first_in_next, first_pending
from core.eventlog import EventLog
from core.models import User
from core.users import UserService
from harness.roundtrips import round_trips

pytestmark = pytest.mark.invariants


def _stale(kind: str, api, db, user: User, token: str) -> None:
    if kind == "deactivated":
        UserService(db).set_active(user.username, False)
    elif kind == "logged out":
        assert api.post("/api/auth/logout", token).status_code == 204
    else:  # a password change bumps the token version
        UserService(db).set_password(user.username, "another-pass-1")


def _refused(r) -> None:
    assert r.status_code == 401 and r.json()["error"] == "invalid_token", r.text


@pytest.mark.parametrize("kind", ["deactivated", "logged out", "password changed"])
def test_start_and_end_refuse_a_stale_token_and_change_nothing(factory, api, db, kind):
    a = factory.asesor()
    token = factory.token(a)
    held = factory.cliente("derivado", a.id)
    waiting = factory.cliente("derivado", a.id)
    assert api.post("/api/sessions/start", token, json={"cliente_id": held.id}).status_code == 201
    _stale(kind, api, db, a, token)
    before = (factory.snapshot(held.id), factory.snapshot(waiting.id), EventLog(db).last_seq())
    _refused(api.post("/api/sessions/start", token, json={"cliente_id": waiting.id}))
    _refused(api.post("/api/sessions/end", token,
                      json={"cliente_id": held.id, "resultado": "gestionado"}))
    assert (factory.snapshot(held.id), factory.snapshot(waiting.id),
            EventLog(db).last_seq()) == before


def test_a_stale_token_gets_its_401_before_any_other_refusal(factory, api, db):
    a, g = factory.asesor(), factory.gtr()
    ta, tg = factory.token(a), factory.token(g)
    other = factory.cliente("derivado", factory.asesor().id)
    UserService(db).set_active(a.username, False)
    UserService(db).set_active(g.username, False)
    for path in ("/api/sessions/start", "/api/sessions/end"):
        _refused(api.post(path, ta, json={}))  # not 422
        _refused(api.post(path, ta, json={"cliente_id": 2_000_000_000,
                                          "resultado": "gestionado"}))  # not 404
        _refused(api.post(path, ta, json={"cliente_id": other.id,
                                          "resultado": "gestionado"}))  # not 403/409
        _refused(api.post(path, tg, json={"cliente_id": other.id,
                                          "resultado": "gestionado"}))  # not 403 (role)


def test_a_start_and_an_end_are_one_transaction_each(factory, api, mysql_url):
    """Before: a transaction for the token check, then the command's; each
    with a PING, a COMMIT and the pool's ROLLBACK after it."""
    port = make_url(mysql_url).port or 3306
    a = factory.asesor()
    token = factory.token(a)
    c, warm = factory.cliente("derivado", a.id), factory.cliente("derivado", a.id)
    api.post("/api/sessions/start", token, json={"cliente_id": warm.id})  # pools warm
    # round trips in all, at most: 14 and 16 before this change and its
    # siblings (the fencing token copied inside the INSERT, one re-read of
    # the ended session with the clock, the client's row read once by an end)
    for path, body, status, most in (
            ("/api/sessions/start", {"cliente_id": c.id}, 201, 9),
            ("/api/sessions/end", {"cliente_id": c.id, "resultado": "gestionado"}, 200, 10)):
        with round_trips({port: "mysql"}, this_thread=True, mysql="mysql") as seen:
            r = api.post(path, token, json=body)
        assert r.status_code == status, r.text
        assert (seen["mysql:COMMIT"], seen["mysql:PING"], seen["mysql:ROLLBACK"]) == (1, 1, 0), \
            (path, seen)
        assert seen["mysql"] <= most, (path, seen)


def test_a_check_armed_by_one_greenlet_is_not_run_by_another(tmp_path):
    """Under gevent or eventlet each request is a greenlet: a check one request
    armed (core.db.first_in_next) must run in that request's transaction, not
    in another's that happens to open first."""
    database = Database(f"sqlite:///{tmp_path / 'greenlets.db'}")
    ran: list[str] = []

    def request_a() -> None:
        with first_in_next(lambda tx: ran.append("A's check")):
            other.switch()  # B opens a transaction meanwhile
            assert first_pending()
            with database.transaction():
                ran.append("A's transaction")
            assert not first_pending()

    def request_b() -> None:
        with database.transaction():
            ran.append("B's transaction")
        first.switch()

    first, other = greenlet.greenlet(request_a), greenlet.greenlet(request_b)
    first.switch()
    assert ran == ["B's transaction", "A's check", "A's transaction"]
    database.dispose()
