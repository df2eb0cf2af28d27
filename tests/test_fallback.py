"""The parts of the Redis-outage handling that need no running system: the
circuit breaker against a dead Redis port, the database lease (on the test
database and on SQLite, which `make run` uses), and the deferred timeout arms.
The whole behaviour under real faults is tests/test_outages.py."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from core.breaker import Breaker, CircuitOpen
from core.cache import SessionCache, make_redis
from core.db import Database
from core.eventlog import create_schema
from core.fallback import DeferredArms, Lease
from harness.backends import free_port


def test_a_dead_redis_costs_one_attempt_per_cooldown_not_one_per_call() -> None:
    breaker = Breaker("redis", cooldown=0.5)
    client = make_redis(f"redis://127.0.0.1:{free_port()}/0", breaker)  # nothing listens
    cache = SessionCache(client, "t")
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert breaker.is_open and breaker.failures >= 1
    failures = breaker.failures
    started = time.perf_counter()
    for _ in range(200):
        assert cache.get(1) is None  # the cache still answers "not cached"
        with pytest.raises(CircuitOpen):
            client.ping()
    assert time.perf_counter() - started < 0.5
    assert breaker.failures == failures  # not one connection tried
    time.sleep(0.55)
    with pytest.raises(redis.ConnectionError) as probe:
        client.ping()  # the one probe of this cooldown: really tried, and failed
    assert not isinstance(probe.value, CircuitOpen)
    assert breaker.failures == failures + 1


def test_the_breaker_closes_when_redis_answers(rds) -> None:
    breaker = Breaker("redis", cooldown=0.2)
    breaker.failure(RuntimeError("simulated"))
    client = make_redis(_url_of(rds), breaker)
    with pytest.raises(CircuitOpen):
        client.ping()
    time.sleep(0.25)
    assert client.ping() is True
    assert not breaker.is_open


def _url_of(client: redis.Redis) -> str:
    kw = client.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/{kw.get('db', 0)}"


@pytest.fixture(params=["test database", "sqlite"])
def lease_db(request, db, tmp_path):
    if request.param == "sqlite":
        sqlite = Database(f"sqlite:///{tmp_path}/lease.db")
        create_schema(sqlite)
        yield sqlite
        sqlite.dispose()
    else:
        yield db


def test_one_lease_holder_at_a_time_until_it_expires(lease_db: Database) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    a = Lease(lease_db, name, "web-a", ttl=0.6)
    b = Lease(lease_db, name, "web-b", ttl=0.6)
    assert a.acquire()
    assert not b.acquire()
    assert a.acquire()  # renewal by the holder
    assert not b.acquire()
    time.sleep(0.7)  # a died: its lease runs out (database clock)
    assert b.acquire()
    assert not a.acquire()
    b.release()
    assert a.acquire()


def test_deferred_arms_keep_what_the_broker_refused_and_arm_it_later() -> None:
    armed: list[tuple[str, int, float]] = []
    down = True

    def arm(session_id: str, cliente_id: int, delay: float) -> None:
        if down:
            raise ConnectionError("broker down")
        armed.append((session_id, cliente_id, delay))

    breaker = Breaker("redis", cooldown=60)
    arms = DeferredArms(arm, breaker)
    arms("s1", 1, 5.0)  # fails: the breaker opens, the arm is kept
    assert breaker.is_open and arms.pending == 1
    arms("s2", 2, 0.1)  # breaker open: not even tried
    assert arms.pending == 2 and armed == []
    assert arms.flush() == 0 and arms.pending == 2  # still down: kept
    down = False
    time.sleep(0.15)
    assert arms.flush() == 2 and arms.pending == 0
    delays = {sid: delay for sid, _, delay in armed}
    assert 4.5 < delays["s1"] <= 5.0  # the time left, not the whole delay again
    assert delays["s2"] == 0.0  # already due: at once
