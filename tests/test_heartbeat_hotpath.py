"""Issue 18, the heartbeat's hot path, in the fast tier: the token check inside
the UPDATE refuses what ensure_fresh refuses (one rule: core.tokens.honoured,
app.auth.still_valid its row form), and the hot pool (no pre-ping) survives a
connection the server dropped."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select, update

from app.auth import decode_token, still_valid
from core.db import Database
from core.models import RevokedToken, User
from core.tokens import honoured
from tests import heartbeat_cases as cases

pytestmark = pytest.mark.invariants

SECRET = "s" * 32


def test_deactivated_advisor_heartbeats_are_refused(factory, api, listen, db):
    cases.deactivated_advisor_heartbeats_are_refused(factory, api, listen, db)


def test_logged_out_token_heartbeats_are_refused(factory, api, listen):
    cases.logged_out_token_heartbeats_are_refused(factory, api, listen)


CHANGES = {
    "unchanged": {},
    "inactive": {"active": False},
    "other role": {"role": "gtr"},
    "newer version": {"token_version": User.token_version + 1},
    "other salt": {"token_salt": "0" * 32},
    "logged out": None,
}


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_sql_and_row_forms_of_the_token_rule_agree(db, factory, change):
    user = factory.asesor()
    principal = decode_token(factory.token(user), factory.secret)
    with db.transaction() as tx:
        if CHANGES[change] is None:
            tx.add(RevokedToken(jti=principal.jti, user_id=user.id, expires_at=2e9))
        elif CHANGES[change]:
            tx.execute(update(User).where(User.id == user.id).values(**CHANGES[change]))
    with db.transaction() as tx:
        in_sql = bool(tx.execute(select(honoured(principal.claims))).scalar())
        row = tx.get(User, user.id)
        revoked = tx.get(RevokedToken, principal.jti) is not None
        in_python = not revoked and still_valid(principal, row)
    assert in_sql == in_python == (change == "unchanged")


def _one(cur) -> int:
    cur.execute("SELECT CONNECTION_ID()")
    return int(cur.fetchone()[0])


def test_the_hot_pool_survives_a_dropped_connection(db):
    if db.url.startswith("sqlite"):
        pytest.skip("a server-side KILL needs MariaDB/MySQL")
    hot = Database(db.url, pool_size=2)
    try:
        first = hot.hot(_one)
        with db.engine.connect() as conn:
            conn.exec_driver_sql(f"KILL CONNECTION {first}")
        again = hot.hot(_one)  # no pre-ping: the dropped one is found, discarded, run again
        assert again != first
        assert hot.hot(_one) == again  # pooled, not a new connection per call
    finally:
        hot.dispose()


def test_a_heartbeat_renews_the_redis_copy_and_rebuilds_a_lost_one(factory, api, rds, server):
    asesor = factory.asesor()
    token = factory.token(asesor)
    c = factory.cliente("derivado", asesor.id)
    sid = api.post("/api/sessions/start", token, json={"cliente_id": c.id}).json()["session_id"]
    key = f"{server.env['KEY_PREFIX']}:session:{c.id}"
    full = server.session_timeout * 1000
    time.sleep(0.6)
    assert rds.pttl(key) < full - 500
    beat = api.post("/api/sessions/heartbeat", token, json={"cliente_id": c.id})
    assert beat.status_code == 200, beat.text
    assert rds.pttl(key) > full - 400  # the TTL is the time left again
    rds.delete(key)  # a Redis loss
    assert api.post("/api/sessions/heartbeat", token, json={"cliente_id": c.id}).status_code == 200
    assert rds.hget(key, "session_id") == sid and 0 < rds.pttl(key) <= full
