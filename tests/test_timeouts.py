"""Timeouts on the real worker: never early, within 1 s of the deadline, never
for a live session, harmless when duplicated, and recovered after kill -9."""

from __future__ import annotations

import signal
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from celery import Celery

from tests.conftest import for_cliente

pytestmark = pytest.mark.stack  # the worker and beat time sessions out


def _start(api, factory, asesor, cliente):
    r = api.post("/api/sessions/start", factory.token(asesor), json={"cliente_id": cliente.id})
    assert r.status_code == 201, r.text
    return r.json()


def test_heartbeats_keep_a_session_alive_past_its_first_deadline(factory, api, listen, stack):
    gtr, asesor = factory.gtr(), factory.asesor()
    cliente = factory.cliente("derivado", asesor.id)
    gtr_ws, asesor_ws = listen(factory.token(gtr)), listen(factory.token(asesor))
    a = factory.token(asesor)
    started = _start(api, factory, asesor, cliente)
    hb = None
    until = started["deadline"] + 2 * stack.session_timeout  # well past the first deadline
    while time.time() < until:
        time.sleep(stack.session_timeout / 3)
        hb = api.post("/api/sessions/heartbeat", a, json={"cliente_id": cliente.id})
        assert hb.status_code == 200, hb.text
    assert gtr_ws.received("CLIENT_RETURNED_TO_GTR", for_cliente(cliente.id)) == []
    assert factory.get_cliente(cliente.id).estado == "en_gestion"
    last_deadline = hb.json()["deadline"]

    ev, received_at = gtr_ws.wait_for("CLIENT_RETURNED_TO_GTR", for_cliente(cliente.id),
                                      timeout=stack.session_timeout + 5)
    lateness = received_at - last_deadline
    print(f"\n[timeout] GTR received CLIENT_RETURNED_TO_GTR {lateness:.3f} s after the deadline")
    assert 0 <= lateness <= 1.0
    assert ev["reason"] == "timeout" and ev["estado"] == "no_gestionado"
    assert ev["previous_asesor_id"] == asesor.id
    asesor_ws.wait_for("CLIENT_RETURNED_TO_GTR", for_cliente(cliente.id))
    c = factory.get_cliente(cliente.id)
    assert (c.estado, c.asesor_asignado, c.current_session_id) == ("no_gestionado", None, None)
    [sess] = factory.sessions_of(cliente.id)
    assert sess.status == "timed_out" and sess.ended_at >= sess.deadline_at
    timeouts = [e for e in factory.audit_of(cliente.id) if e.action == "timeout"]
    assert len(timeouts) == 1 and timeouts[0].actor_id is None
    # the advisor learns it is over
    r = api.post("/api/sessions/heartbeat", a, json={"cliente_id": cliente.id})
    assert r.status_code == 409 and r.json()["error"] == "no_active_session"
    r = api.post("/api/sessions/end", a, json={"cliente_id": cliente.id, "resultado": "gestionado"})
    assert r.status_code == 409


def test_many_timeouts_fire_within_a_second_and_never_early(factory, api, listen, stack):
    gtr = factory.gtr()
    gtr_ws = listen(factory.token(gtr))
    sessions = {}
    for _ in range(20):
        asesor = factory.asesor()
        cliente = factory.cliente("derivado", asesor.id)
        sessions[cliente.id] = _start(api, factory, asesor, cliente)
    late = []
    for cid, started in sessions.items():
        _, at = gtr_ws.wait_for("CLIENT_RETURNED_TO_GTR", for_cliente(cid),
                                timeout=stack.session_timeout + 5)
        late.append(at - started["deadline"])
    for cid in sessions:
        [sess] = factory.sessions_of(cid)
        assert sess.status == "timed_out"
        assert sess.ended_at >= sess.deadline_at  # by the database clock: never early
    print(f"\n[timeout] 20 sessions: lateness at the GTR client p50 "
          f"{statistics.median(late):.3f} s, max {max(late):.3f} s")
    assert min(late) >= 0
    assert max(late) <= 1.0


def test_a_duplicated_or_stale_timeout_task_is_harmless(factory, api, stack):
    asesor = factory.asesor()
    live = factory.cliente("derivado", asesor.id)
    ended = factory.cliente("derivado", asesor.id)
    a = factory.token(asesor)
    s_live = _start(api, factory, asesor, live)
    s_ended = _start(api, factory, asesor, ended)
    api.post("/api/sessions/end", a, json={"cliente_id": ended.id, "resultado": "cerrado"})
    before_live, before_ended = factory.snapshot(live.id), factory.snapshot(ended.id)

    celery = Celery(broker=stack.env["REDIS_URL"])
    celery.conf.update(task_serializer="json", accept_content=["json"])
    for _ in range(3):  # duplicates delivered now, long before the deadline
        celery.send_task("albru.session_timeout", args=[s_live["session_id"], live.id])
        celery.send_task("albru.session_timeout", args=[s_ended["session_id"], ended.id])
    time.sleep(1.0)
    assert factory.snapshot(live.id) == before_live  # re-armed, not expired early
    assert factory.snapshot(ended.id) == before_ended  # already over: a no-op

    # keep the live one going past its first deadline: the early tasks re-armed
    # themselves for the new deadline instead of firing at the old one
    time.sleep(max(0.0, s_live["deadline"] - time.time() - 1.0))
    hb = api.post("/api/sessions/heartbeat", a, json={"cliente_id": live.id})
    assert hb.status_code == 200
    time.sleep(1.5)
    assert factory.get_cliente(live.id).estado == "en_gestion"
    wait_until = hb.json()["deadline"] + 3
    while time.time() < wait_until and factory.get_cliente(live.id).estado == "en_gestion":
        time.sleep(0.1)
    assert factory.get_cliente(live.id).estado == "no_gestionado"
    assert [e.action for e in factory.audit_of(live.id)].count("timeout") == 1


@pytest.fixture
def beat_paused(stack):
    """No scheduled sweep while a test proves what POST /api/sessions/sync does."""
    stack.kill("beat", signal.SIGTERM)
    yield
    stack.start_beat()


def test_sweep_releases_orphans_and_resyncs_redis(factory, api, rds, stack, beat_paused):
    gtr, asesor = factory.gtr(), factory.asesor()
    g = factory.token(gtr)
    orphan = factory.cliente("en_gestion", asesor.id)  # locked, no session behind it
    live = factory.cliente("derivado", asesor.id)
    started = _start(api, factory, asesor, live)
    prefix = stack.env["KEY_PREFIX"]
    rds.delete(f"{prefix}:session:{live.id}")  # Redis lost the live session
    ghost = f"{prefix}:session:{orphan.id}"
    rds.hset(ghost, mapping={"session_id": "ghost"})  # and kept one that is not live

    report = api.post("/api/sessions/sync", g).json()
    assert report["orphans_released"] >= 1
    assert report["redis_restored"] >= 1
    c = factory.get_cliente(orphan.id)
    assert (c.estado, c.asesor_asignado) == ("no_gestionado", None)
    assert [e.action for e in factory.audit_of(orphan.id)] == ["orphan_release"]
    assert rds.hget(f"{prefix}:session:{live.id}", "session_id") == started["session_id"]
    assert rds.exists(ghost) == 0


def test_beat_sweep_releases_orphans_on_its_own(factory, stack):
    asesor = factory.asesor()
    orphan = factory.cliente("en_gestion", asesor.id)
    deadline = time.time() + stack.worker_interval + 5
    while time.time() < deadline and factory.get_cliente(orphan.id).estado == "en_gestion":
        time.sleep(0.2)
    assert factory.get_cliente(orphan.id).estado == "no_gestionado"


@pytest.mark.stack
def test_kill_9_worker_loses_no_session(factory, api, listen, stack):
    """A worker killed while holding every pending timeout task: once a worker
    is back, each overdue session is timed out within WORKER_INTERVAL + a few s."""
    gtr = factory.gtr()
    gtr_ws = listen(factory.token(gtr))
    pairs = []
    for _ in range(10):
        asesor = factory.asesor()
        pairs.append((asesor, factory.cliente("derivado", asesor.id)))
    # All ten at once: started one after another on a loaded machine, the first
    # could time out (3 s) before the last one had started.
    with ThreadPoolExecutor(len(pairs)) as pool:
        started = dict(zip((c.id for _, c in pairs),
                           pool.map(lambda p: _start(api, factory, *p), pairs), strict=True))
    time.sleep(0.5)  # the worker has received the countdown tasks
    stack.kill("worker")  # SIGKILL to the whole worker (main and pool processes)
    try:
        _overdue_sessions_time_out_after_restart(factory, api, stack, gtr_ws, started)
    finally:
        if "worker" not in stack.procs:  # later tests need a worker
            stack.start_worker()


def _overdue_sessions_time_out_after_restart(factory, api, stack, gtr_ws, started):
    last_deadline = max(s["deadline"] for s in started.values())
    time.sleep(max(0.0, last_deadline - time.time()) + 1.0)
    # nobody ran the timeouts: the sessions are overdue but still held
    assert all(factory.get_cliente(cid).estado == "en_gestion" for cid in started)
    health = api.get("/api/health")
    assert health.status_code == 503
    assert health.json()["checks"]["workers"]["ok"] is False
    assert health.json()["checks"]["database"]["ok"] is True

    spawned = time.time()
    stack.start_worker()
    stack.wait_healthy()
    back = time.time()
    bound = back + stack.worker_interval + 3
    for cid in started:
        _, at = gtr_ws.wait_for("CLIENT_RETURNED_TO_GTR", for_cliente(cid),
                                timeout=max(0.1, bound - time.time()))
        assert at <= bound
    print(f"\n[kill -9] all 10 overdue sessions timed out "
          f"{max(at for *_, at in gtr_ws.events) - spawned:.2f} s after the new worker "
          f"was started ({back - spawned:.2f} s until it answered a ping)")
    for cid in started:
        [sess] = factory.sessions_of(cid)
        assert sess.status == "timed_out"
        assert [e.action for e in factory.audit_of(cid)].count("timeout") == 1
        c = factory.get_cliente(cid)
        assert (c.estado, c.asesor_asignado) == ("no_gestionado", None)
