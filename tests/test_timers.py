"""Issue 19: timers that scale. A session's timeout waits in the Redis
due-queue (core/timers.py) until it is due within TIMER_HORIZON; only then is
its Celery countdown task sent.

The fast tests drive the queue in this process on the run's real Redis and
database (a prefix and a send of their own). The stack tests run the real
worker and beat and fail on the code before the due-queue: ended sessions
kept a countdown task each in the broker, and a killed worker's timeouts
waited for the sweep (or Redis' one-hour visibility timeout)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from sqlalchemy import update

from bench.invariants import check
from core.db import Database, db_now
from core.eventlog import create_schema
from core.models import GestionSession
from core.timers import SENT_LEASE, TimerQueue
from harness.backends import Backends, scratch_database, scratch_redis
from harness.stack import Stack
from tests.conftest import Api, Factory, backends, start_sessions, wait_settled

# ------------------------------------------------------------- the queue itself


@pytest.fixture
def queue(inproc, db: Database) -> Iterator[tuple[TimerQueue, list[tuple[str, int, float]]]]:
    sent: list[tuple[str, int, float]] = []
    client = inproc.app.extensions["albru"].redis
    q = TimerQueue(client, f"test-timers-{uuid.uuid4().hex[:8]}", db,
                   lambda sid, cid, delay: sent.append((sid, cid, delay)), horizon=5.0)
    yield q, sent
    client.delete(q.key)


def _session(api, factory) -> tuple[str, int, str]:
    asesor = factory.asesor()
    cliente = factory.cliente("derivado", asesor.id)
    token = factory.token(asesor)
    r = api.post("/api/sessions/start", token, json={"cliente_id": cliente.id})
    assert r.status_code == 201, r.text
    return r.json()["session_id"], cliente.id, token


def _due_now(q: TimerQueue, sid: str) -> None:
    """As if its time had come (the drainer claims score <= Redis' clock)."""
    q.redis.zadd(q.key, {sid: 0}, xx=True)


def _set_deadline(db: Database, sid: str, seconds_from_now: float) -> None:
    with db.transaction() as tx:
        tx.execute(update(GestionSession).where(GestionSession.id == sid)
                   .values(deadline_at=db_now() + seconds_from_now)
                   .execution_options(synchronize_session=False))


def test_a_far_timeout_waits_in_redis_and_a_near_one_is_sent(queue):
    q, sent = queue
    q.arm("far", 1, 60.0)
    q.arm("near", 2, 2.0)
    assert sent == [("near", 2, 2.0)]  # only the one due within the horizon
    now = float(q.redis.time()[0])
    assert q.redis.zscore(q.key, "far") == pytest.approx(now + 60 - 5, abs=1.5)
    # a sent one stays, leased: looked at again SENT_LEASE s after its wake-up
    assert q.redis.zscore(q.key, "near") == pytest.approx(now + 2 + SENT_LEASE, abs=1.5)
    assert q.pending() == 2


def test_ensure_adds_only_what_the_queue_lost(queue):
    q, sent = queue
    q.arm("held", 1, 60.0)
    before = q.redis.zscore(q.key, "held")
    assert q.arm_many([("held", 1, 1.0), ("lost", 2, 1.0)], only_new=True) == 1
    assert q.redis.zscore(q.key, "held") == before  # untouched, no task sent for it
    assert sent == [("lost", 2, 1.0)]


def test_drain_drops_ended_defers_extended_and_sends_due(queue, api, factory, db):
    q, sent = queue
    ended, ended_cid, token = _session(api, factory)
    r = api.post("/api/sessions/end", token,
                 json={"cliente_id": ended_cid, "resultado": "gestionado"})
    assert r.status_code == 200, r.text
    extended, ext_cid, _ = _session(api, factory)
    _set_deadline(db, extended, 120.0)  # heartbeats moved it far
    due, due_cid, _ = _session(api, factory)
    _set_deadline(db, due, 2.0)
    for sid, cid in ((ended, ended_cid), (extended, ext_cid), (due, due_cid), ("gone", 1)):
        q.arm(sid, cid, 60.0)
        _due_now(q, sid)
    report = q.drain()
    assert (report.claimed, report.dropped, report.deferred, report.sent) == (4, 2, 1, 1)
    assert q.redis.zscore(q.key, ended) is None and q.redis.zscore(q.key, "gone") is None
    now = float(q.redis.time()[0])
    assert q.redis.zscore(q.key, extended) == pytest.approx(now + 120 - 5, abs=2)
    [(sid, cid, countdown)] = sent
    assert (sid, cid) == (due, due_cid) and 1.0 < countdown <= 2.1
    assert report.pending_timers == 2


def test_a_task_lost_with_its_worker_is_sent_again(queue, api, factory, db):
    """Nobody confirmed the sent task (its worker died): once its lease is over
    the drain sends it again; no visibility timeout involved."""
    q, sent = queue
    sid, cid, _ = _session(api, factory)
    _set_deadline(db, sid, 1.0)
    q.arm(sid, cid, 1.0)
    assert len(sent) == 1
    assert q.drain().sent == 0  # leased: not yet
    _due_now(q, sid)  # the lease ran out
    assert q.drain().sent == 1 and len(sent) == 2


def test_a_drain_claims_each_entry_once(queue, api, factory, db):
    """Two drains at once (two pool processes) never send the same session twice."""
    q, sent = queue
    sid, cid, _ = _session(api, factory)
    _set_deadline(db, sid, 2.0)
    q.arm(sid, cid, 60.0)
    _due_now(q, sid)
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda _: q.drain(), range(4)))
    assert sum(r.sent for r in reports) == 1 and len(sent) == 1


# ------------------------------------------------------ the real worker and beat

TIMEOUT = 20.0  # long enough that a fresh session waits in the due-queue (horizon 5 s)


@pytest.fixture
def ts(tmp_path: Path) -> Iterator[tuple[Stack, Database]]:
    """Web, worker, beat on a database and Redis db of their own; the sweep
    only every 60 s, so it cannot be what times sessions out here."""
    with scratch_database(backends(), "timers", str(tmp_path)) as db_url, \
            scratch_redis(backends()) as redis_url:
        database = Database(db_url)
        create_schema(database)
        stack = Stack(Backends(db_url, redis_url, "timers db", "timers redis"), tmp_path,
                      SESSION_TIMEOUT=str(TIMEOUT), WORKER_INTERVAL="60000", LOG_FORMAT="json")
        try:
            stack.start()
            yield stack, database
        finally:
            stack.stop()
            database.dispose()


def _broker(stack: Stack) -> tuple[int, dict[str, str]]:
    """(messages queued, the unacknowledged ones a worker holds)."""
    r = redis.Redis.from_url(stack.backends.redis_url, decode_responses=True)
    return int(r.llen("celery")), r.hgetall("unacked")


@pytest.mark.stack
def test_ended_sessions_leave_no_message_in_the_broker(ts):
    """40 sessions started, 30 ended at once: the broker holds at most 1.1
    messages per live session (before: one countdown task per started
    session, 4.0 per live one, each held in the worker until its deadline);
    the 10 live ones still time out on time and the ended ones never run."""
    stack, database = ts
    f = Factory(database, stack.env["JWT_SECRET"])
    api = Api(stack.base_url)
    sessions = start_sessions(Api(stack.base_url), f, 40, per_advisor=1)
    ended = dict(list(sessions.items())[:30])
    for cid, s in ended.items():
        r = api.post("/api/sessions/end", s["token"],
                     json={"cliente_id": cid, "resultado": "gestionado"})
        assert r.status_code == 200, r.text
    live = {cid: s for cid, s in sessions.items() if cid not in ended}
    time.sleep(1.0)  # what the worker would have received by now
    # before any deadline is within the horizon: no timeout task is due yet
    assert time.time() < min(s["deadline"] for s in live.values()) - 6.0, "too slow to tell"
    queued, unacked = _broker(stack)
    per_live = (queued + len(unacked)) / len(live)
    print(f"\n[due-queue] 40 started, 30 ended: {queued} queued + {len(unacked)} unacked "
          f"broker messages for {len(live)} live sessions ({per_live:.2f} per live session)")
    assert per_live <= 1.1
    wait_settled(f, live, timeout=TIMEOUT + 10)
    rep = check(database, stuck_bound=4.0, session_ids={s["session_id"] for s in
                                                         sessions.values()})
    assert rep.ok, rep.problems()
    assert rep.by_status == {"completed": 30, "timed_out": 10}, rep.by_status
    assert max(rep.timeout_lateness) <= 1.0, rep.timeout_lateness


@pytest.mark.stack
def test_a_killed_workers_timeouts_come_back_without_the_sweep(ts):
    """kill -9 of the worker holding the countdown tasks of 10 sessions due in
    under 5 s; a new worker starts after their deadlines. They are timed out a
    few seconds later by the due-queue's lease: not by the sweep (every 60 s
    here), not after Redis' visibility timeout (an hour) (before: 40-60 s, at
    the next sweep)."""
    stack, database = ts
    f = Factory(database, stack.env["JWT_SECRET"])
    sessions = start_sessions(Api(stack.base_url), f, 10, per_advisor=1)
    ids = {s["session_id"] for s in sessions.values()}
    first = min(s["deadline"] for s in sessions.values())
    while time.time() < first - 0.5:  # until the worker holds all 10 tasks
        _, unacked = _broker(stack)
        if sum(any(sid in v for v in unacked.values()) for sid in ids) == len(ids):
            break
        time.sleep(0.1)
    stack.kill("worker")
    _, unacked = _broker(stack)
    held = sum(any(sid in v for v in unacked.values()) for sid in ids)
    assert held == len(ids), f"the worker held {held} of the {len(ids)} timeout tasks"
    last = max(s["deadline"] for s in sessions.values())
    time.sleep(max(0.0, last - time.time()) + 1.0)
    assert all(f.get_cliente(c).estado == "en_gestion" for c in sessions)
    spawned = time.time()
    stack.start_worker()
    wait_settled(f, sessions, timeout=20)
    took = time.time() - spawned
    print(f"\n[kill -9, due-queue] 10 held timeouts done {took:.2f} s after a new worker "
          "was spawned")
    assert took <= 15.0
    rep = check(database, stuck_bound=25.0, session_ids=ids)
    assert rep.ok and rep.by_status == {"timed_out": 10}, (rep.problems(), rep.by_status)
