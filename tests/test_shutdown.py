"""Graceful shutdown, on real processes: SIGTERM to a web process closes its
Socket.IO connections (clients see a disconnect and may reconnect elsewhere)
and the process exits 0; SIGTERM to a worker (warm shutdown) hands back the
countdown timeout tasks it holds, so another worker times the session out
with no sweep running."""

from __future__ import annotations

import dataclasses
import re
import signal
import threading
import time
from pathlib import Path

import pytest
import socketio

from harness.backends import scratch_redis
from harness.stack import Stack
from tests.conftest import Api, Factory, backends

pytestmark = pytest.mark.stack  # SIGTERM to real processes


@pytest.fixture
def own_backends():
    """The run's database, but a Redis db of their own: the session-wide
    stack's worker and beat must not take (or sweep) this test's tasks."""
    with scratch_redis(backends()) as url:
        yield dataclasses.replace(backends(), redis_url=url, _procs=[])


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_sigterm_to_web_closes_sockets_and_exits_zero(tmp_path: Path, db, own_backends, mode):
    s = Stack(own_backends, tmp_path, ASYNC_MODE=mode)
    s.start_web()
    try:
        s.wait_live()
        token = Factory(db, s.env["JWT_SECRET"]).token(Factory(db, s.env["JWT_SECRET"]).gtr())
        gone, back = threading.Event(), threading.Event()
        connects: list[float] = []
        restarted = [float("inf")]
        client = socketio.Client(reconnection=True, reconnection_delay=0.5,
                                 reconnection_delay_max=1)

        @client.on("connect")
        def _up():
            connects.append(time.time())
            if connects[-1] > restarted[0]:
                back.set()

        @client.on("disconnect")
        def _gone(*_args):
            gone.set()

        client.connect(s.base_url, auth={"token": token}, transports=["websocket"],
                       wait_timeout=10)
        assert client.connected
        web = s.procs["web"]
        signalled = time.time()
        web.send_signal(signal.SIGTERM)  # what docker stop sends to the process
        assert gone.wait(10), "the client saw no disconnect"
        assert web.wait(timeout=15) == 0, s.log("web")[-2000:]
        assert time.time() - signalled < 15
        assert "closing 1 Socket.IO connection(s)" in s.log("web")
        # The close is at the transport level, so the client keeps trying (a
        # Socket.IO-level "go away" would stop it): it comes back by itself as
        # soon as a web process listens again (here on the same port; behind
        # nginx, the other replica).
        time.sleep(2)  # the client retries meanwhile: nothing listens
        assert len(connects) == 1 and not client.connected, connects
        restarted[0] = time.time()
        s.start_web()
        s.wait_live()
        assert back.wait(30), "the client did not reconnect"
        end = time.time() + 5
        while not client.connected and time.time() < end:  # set just after the handler
            time.sleep(0.05)
        assert client.connected
        client.disconnect()
    finally:
        s.stop()


def test_sigterm_to_worker_hands_back_pending_timeouts(tmp_path: Path, db, own_backends):
    """No beat here: only the handed-back countdown task can time the session out."""
    s = Stack(own_backends, tmp_path, SESSION_TIMEOUT="8")
    s.start_web()
    s.start_worker()
    try:
        s.wait_healthy()
        factory = Factory(db, s.env["JWT_SECRET"])
        asesor = factory.asesor()
        c = factory.cliente("derivado", asesor.id)
        api = Api(s.base_url)
        r = api.post("/api/sessions/start", factory.token(asesor), json={"cliente_id": c.id})
        assert r.status_code == 201, r.text
        received = re.compile(r"Task albru\.session_timeout\[[0-9a-f-]+\] received")
        deadline = time.time() + 10
        while not received.search(s.log("worker")):  # the worker holds it, unacknowledged
            assert time.time() < deadline, "the worker never received the timeout task"
            time.sleep(0.1)
        worker = s.procs.pop("worker")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0, s.log("worker")[-3000:]
        assert "Restoring 1 unacknowledged message" in s.log("worker"), s.log("worker")[-3000:]
        assert factory.sessions_of(c.id)[-1].status == "active"  # not run before it was due
        s.start_worker()
        end = time.time() + s.session_timeout + 30
        while factory.sessions_of(c.id)[-1].status == "active":
            assert time.time() < end, "the handed-back timeout task was lost"
            time.sleep(0.2)
        last = factory.sessions_of(c.id)[-1]
        assert last.status == "timed_out"
        assert last.ended_at >= last.deadline_at
    finally:
        s.stop()
