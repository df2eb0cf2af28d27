"""Issue 18, the heartbeat's hot path, in the fast tier: the token check inside
the UPDATE refuses what ensure_fresh refuses (one rule: core.tokens.honoured,
app.auth.still_valid its row form), and the hot pool (no pre-ping) survives a
connection the server dropped."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import make_url, select, update

from app.auth import decode_token, still_valid
from core.db import Database
from core.models import RevokedToken, User
from core.ratelimit import RateLimited, RateLimiter
from core.tokens import honoured
from harness.roundtrips import round_trips
from tests import heartbeat_cases as cases
from tests.conftest import backends

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


def test_a_heartbeat_is_one_round_trip_to_redis_and_one_to_the_database(factory, api):
    """The rate limit and the session copy's TTL in one Lua call; the UPDATE,
    its read-back and COMMIT in one multi-statement (MariaDB/MySQL)."""
    asesor = factory.asesor()
    token = factory.token(asesor)
    c = factory.cliente("derivado", asesor.id)
    assert api.post("/api/sessions/start", token, json={"cliente_id": c.id}).status_code == 201
    api.post("/api/sessions/heartbeat", token, json={"cliente_id": c.id})  # pools warm
    ports = {make_url(backends().redis_url).port or 6379: "redis",
             make_url(backends().database_url).port or 3306: "database"}
    with round_trips(ports, this_thread=True) as seen:
        beat = api.post("/api/sessions/heartbeat", token, json={"cliente_id": c.id})
    assert beat.status_code == 200, beat.text
    assert seen["redis"] == 1, seen
    if backends().database_url.startswith("mysql"):
        assert seen["database"] == 1, seen


def test_the_limiter_renews_the_copy_in_its_own_call_only_within_the_limit(rds):
    limiter = RateLimiter(rds, f"rl-renew-{uuid.uuid4().hex[:8]}")
    copy = f"{limiter.prefix}:session:1"
    rds.set(copy, "x", px=1_000)
    assert limiter.hit_and_renew("heartbeat", "7", (2, 60), (copy, 60_000))[2] is True
    assert rds.pttl(copy) > 50_000
    assert limiter.hit_and_renew("heartbeat", "7", (2, 60), (f"{copy}-gone", 60_000))[2] is False
    assert not rds.exists(f"{copy}-gone")  # renewing never creates the copy
    rds.pexpire(copy, 1_000)
    with pytest.raises(RateLimited):  # the third within the window: refused, not renewed
        limiter.hit_and_renew("heartbeat", "7", (2, 60), (copy, 60_000))
    assert rds.pttl(copy) <= 1_000
    assert limiter.hit_and_renew("heartbeat", "7", None, (copy, 60_000)) == (-1, 0, None)
    assert limiter.hit_and_renew("login", "7", (2, 60))[2] is None  # nothing asked
