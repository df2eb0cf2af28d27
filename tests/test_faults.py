"""Issue 8, scenarios 4-7: faults injected into the real processes (web, worker,
beat as subprocesses; MariaDB/MySQL and Redis), each test failing if its
promise breaks:

4. a worker killed with kill -9 while holding many pending timeout tasks, and
   while executing a transition: every session still ends exactly once;
5. a web process killed: its socket clients resume on another one without gaps;
6. duplicated and reordered deliveries: one outcome wins, the other is a no-op;
7. a worker whose clock runs 2 s ahead never times a live session out early.

The module runs its own stack on its own database and Redis db number, so no
other test's worker or sweep can do (or hide) the work of the killed one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import socketio
from celery import Celery

from app.faults import HOLDING
from bench.invariants import check
from core.db import Database
from core.eventlog import create_schema
from harness.backends import Backends, scratch_database, scratch_redis
from harness.stack import Stack
from tests.conftest import (
    Api,
    Factory,
    Listener,
    backends,
    for_cliente,
    start_sessions,
    wait_settled,
)

pytestmark = pytest.mark.stack  # kills the stack's processes


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
TIMEOUT = 3.0  # SESSION_TIMEOUT of this module's stack
INTERVAL = 1.0  # WORKER_INTERVAL (s)
#: How long past its deadline a session may stay active when a worker is up:
#: one sweep period plus slack for a loaded 2-core machine.
STUCK_BOUND = INTERVAL + 3.0


@pytest.fixture(scope="module")
def fs(tmp_path_factory) -> Iterator[Stack]:
    """Web, worker, beat on a database and Redis db of their own."""
    work = tmp_path_factory.mktemp("faults")
    with scratch_database(backends(), "faults", str(work)) as db_url, \
            scratch_redis(backends()) as redis_url:
        database = Database(db_url)
        create_schema(database)
        database.dispose()
        own = Backends(db_url, redis_url, "faults db", "faults redis")
        stack = Stack(own, Path(work), SESSION_TIMEOUT=str(TIMEOUT),
                      WORKER_INTERVAL=str(int(INTERVAL * 1000)), LOG_FORMAT="json")
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()


@pytest.fixture(scope="module")
def fdb(fs: Stack) -> Iterator[Database]:
    database = Database(fs.backends.database_url)
    yield database
    database.dispose()


@pytest.fixture
def f(fs: Stack, fdb: Database) -> Factory:
    return Factory(fdb, fs.env["JWT_SECRET"])


@pytest.fixture
def api(fs: Stack) -> Api:
    return Api(fs.base_url)


@pytest.fixture
def gtr_ws(fs: Stack, f: Factory) -> Iterator[Listener]:
    ws = Listener(fs.base_url, f.token(f.gtr()))
    yield ws
    ws.close()


@pytest.fixture
def worker_back(fs: Stack) -> Iterator[None]:
    """Whatever a test did to the worker, the next test gets a normal one."""
    yield
    for name in [n for n in fs.procs if n.startswith("worker")]:
        fs.kill(name)
    fs.start_worker()
    fs.wait_healthy()


def assert_each_ended_once(fdb: Database, sessions: dict[int, dict[str, Any]],
                           status: str | None = "timed_out") -> None:
    ids = {s["session_id"] for s in sessions.values()}
    rep = check(fdb, stuck_bound=STUCK_BOUND, session_ids=ids)
    assert rep.ok, rep.problems()
    assert rep.sessions == len(ids) and rep.active == 0, rep.by_status
    if status:
        assert rep.by_status == {status: len(ids)}, rep.by_status


def task_lines(stack: Stack, name: str = "worker") -> list[dict[str, Any]]:
    """The worker's `albru.task` JSON log lines (one per task run)."""
    out = []
    for line in stack.log(name).splitlines():
        if '"albru.task"' in line:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def wait_log(stack: Stack, name: str, needle: str, timeout: float, after: int = 0) -> str:
    """The first line holding `needle` written after offset `after` of the log."""
    end = time.time() + timeout
    while time.time() < end:
        for line in stack.log(name)[after:].splitlines():
            if needle in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no {needle!r} in {name}.log within {timeout} s")


def unacked(stack: Stack) -> dict[str, str]:
    r = redis.Redis.from_url(stack.backends.redis_url, decode_responses=True)
    return r.hgetall("unacked")


def celery_client(stack: Stack) -> Celery:
    app = Celery(broker=stack.backends.redis_url)
    app.conf.update(task_serializer="json", accept_content=["json"])
    return app


# ------------------------------------------------------- 4. worker kill -9


def test_worker_killed_holding_many_timeout_tasks(fs, f, api, fdb, gtr_ws, worker_back):
    """kill -9 of the worker that holds 60 countdown tasks (unacknowledged in
    Redis): nothing is timed out while no worker runs; a new worker's sweep
    times every session out once; and when Redis hands the dead worker's
    messages back (after the visibility timeout: here, pushed back by hand,
    as kombu's restore does) they are no-ops."""
    sessions = start_sessions(api, f, 60)
    ids = {s["session_id"] for s in sessions.values()}
    # kill as soon as the worker holds them all, or just before the first deadline
    end = min(s["deadline"] for s in sessions.values()) - 0.3
    while time.time() < end:
        held_payloads = dict(unacked(fs))
        if sum(any(sid in v for v in held_payloads.values()) for sid in ids) == len(ids):
            break
        time.sleep(0.05)
    fs.kill("worker")
    # What the dead worker held: its unacknowledged messages (read after the
    # kill: nothing can ack them now) for sessions still active.
    held_payloads = dict(unacked(fs))
    held = {cid for cid, s in sessions.items()
            if any(s["session_id"] in v for v in held_payloads.values())
            and f.get_cliente(cid).estado == "en_gestion"}
    print(f"\n[kill -9 worker] it held {len(held)} of the {len(sessions)} timeout tasks")
    assert len(held) >= len(sessions) // 2, "the worker did not hold the timeout tasks"
    last_deadline = max(s["deadline"] for s in sessions.values())
    time.sleep(max(0.0, last_deadline - time.time()) + 1.5)
    assert all(f.get_cliente(c).estado == "en_gestion" for c in held), \
        "something timed sessions out with no worker running"

    spawned = time.time()
    fs.start_worker()
    wait_settled(f, sessions, timeout=60)
    recovered = time.time() - spawned
    for cid in sessions:
        gtr_ws.wait_for("CLIENT_RETURNED_TO_GTR", for_cliente(cid), timeout=10)
    print(f"\n[kill -9 worker, 60 pending] all timed out {recovered:.2f} s after a new worker "
          f"was spawned")
    assert recovered <= 30, "the sweep of a new worker took too long"
    assert_each_ended_once(fdb, sessions)

    # The dead worker's messages come back (kombu restores unacked messages
    # older than the visibility timeout by pushing them back on the queue).
    r = redis.Redis.from_url(fs.backends.redis_url)
    before = len(task_lines(fs))
    for payload in held_payloads.values():
        if any(sid in payload for sid in ids):
            message, _exchange, routing_key = json.loads(payload)
            r.lpush(routing_key or "celery", json.dumps(message))
    end = time.time() + 20
    while time.time() < end:
        runs = [t for t in task_lines(fs)[before:]
                if t.get("task_name") == "albru.session_timeout"]
        if len(runs) >= len(held):
            break
        time.sleep(0.2)
    redelivered = [t for t in task_lines(fs)[before:]
                   if t.get("task_name") == "albru.session_timeout" and t.get("session_id") in ids]
    assert len(redelivered) >= len(held), "the restored messages did not run"
    assert {t["result"] for t in redelivered} == {"noop"}, "a redelivered timeout did something"
    assert_each_ended_once(fdb, sessions)
    assert sum(len(gtr_ws.received("CLIENT_RETURNED_TO_GTR", for_cliente(c)))
               for c in sessions) == len(sessions)


@pytest.mark.parametrize("victim", ["whole worker", "pool process"])
def test_worker_killed_inside_a_transition(fs, f, api, fdb, gtr_ws, worker_back, victim):
    """The worker runs with FAULT_TRANSITION_DELAY (APP_ENV=test only): it holds
    each session transition open 3 s after its UPDATEs, before COMMIT, and logs
    its pid. We kill -9 then, so the kill provably lands inside the transition.
    The database rolls it back; the session is then timed out exactly once (by
    the new worker's sweep, or by the redelivered task when only the pool
    process died)."""
    fs.kill("worker")
    mark = len(fs.log("worker"))  # the log file is appended to across restarts
    fs.start_worker("worker", FAULT_TRANSITION_DELAY="3")
    fs.wait_healthy()
    sessions = start_sessions(api, f, 1)
    [cid] = sessions
    line = json.loads(wait_log(fs, "worker", HOLDING, timeout=TIMEOUT + 10, after=mark))
    pid = int(line["msg"].rsplit("pid ", 1)[1].rstrip(")"))
    if victim == "whole worker":
        fs.kill("worker")
    else:
        os.kill(pid, signal.SIGKILL)
    killed = time.time()
    time.sleep(0.5)
    [sess] = f.sessions_of(cid)
    if victim == "whole worker":
        # No worker runs now: the UPDATE we interrupted was rolled back.
        assert sess.status == "active", "the interrupted transition was committed"
        assert f.audit_of(cid)[-1].action == "start"
        fs.start_worker()  # a normal worker, no delay
    wait_settled(f, sessions, timeout=60)
    print(f"\n[kill -9 {victim} inside a transition] session timed out "
          f"{time.time() - killed:.2f} s after the kill")
    gtr_ws.wait_for("CLIENT_RETURNED_TO_GTR", for_cliente(cid), timeout=10)
    time.sleep(1.0)
    assert len(gtr_ws.received("CLIENT_RETURNED_TO_GTR", for_cliente(cid))) == 1
    assert_each_ended_once(fdb, sessions)
    assert [e.action for e in f.audit_of(cid)] == ["start", "timeout"]


# ----------------------------------------------------------- 5. web kill -9


class FailoverClient:
    """A GTR screen with two server addresses: when its server dies it connects
    to the other one, telling it the last seq it applied (auth.last_seq)."""

    def __init__(self, urls: list[str], token: str, last_seq: int) -> None:
        self.urls, self.token, self.last = urls, token, last_seq
        self.seqs: list[int] = []
        self.duplicates = 0
        self.resyncs: list[tuple[str, dict, float]] = []
        self.state: dict[int, tuple[str, int | None]] = {}
        self.lock = threading.Lock()
        self.lost_at: float | None = None
        self.closing = False
        self.index = 0
        self.client = self._connect(urls[0])

    def _connect(self, url: str) -> socketio.Client:
        client = socketio.Client(reconnection=False)
        client.on("*", lambda event, data=None: self._on(url, event, data))
        client.on("disconnect", self._lost)
        with self.lock:
            auth = {"token": self.token, "last_seq": self.last}
        client.connect(url, auth=auth, transports=["websocket"], wait_timeout=10)
        return client

    def _lost(self, *_a: Any) -> None:
        if self.closing:
            return
        self.lost_at = time.time()
        threading.Thread(target=self._failover, daemon=True).start()

    def _failover(self) -> None:
        for _ in range(100):
            self.index = (self.index + 1) % len(self.urls)
            try:
                self.client = self._connect(self.urls[self.index])
                return
            except socketio.exceptions.ConnectionError:
                time.sleep(0.1)

    def _on(self, url: str, event: str, data: Any) -> None:
        with self.lock:
            if event == "resync":
                self.resyncs.append((url, data, time.time()))
                return
            if not isinstance(data, dict) or not isinstance(data.get("seq"), int):
                return
            if data["seq"] <= self.last:
                self.duplicates += 1
                return
            self.seqs.append(data["seq"])
            self.last = data["seq"]
            if data.get("cliente_id") is not None:
                self.state[data["cliente_id"]] = (data["estado"], data["asesor_id"])

    def wait(self, pred, timeout: float, what: str) -> None:
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if pred():
                    return
            time.sleep(0.05)
        raise AssertionError(f"{what}: last seq {self.last}, resyncs {self.resyncs}")

    def close(self) -> None:
        self.closing = True
        if self.client.connected:
            self.client.disconnect()


def test_web_killed_clients_resume_on_another_process(fs, f, api, fdb):
    """Two web processes; GTR screens on web2; web2 is killed with SIGKILL while
    events flow (derives, starts, ends through web1, timeouts from the worker).
    Each screen connects to web1 with its last seq and ends with every seq once,
    in order, and the database's state."""
    url2 = fs.start_extra_web("web2")
    gt = f.token(f.gtr())
    advisors = [f.asesor() for _ in range(3)]
    tokens = {a.id: f.token(a) for a in advisors}
    start = api.get("/api/board", gt).json()["seq"]
    screens = [FailoverClient([url2, fs.base_url], gt, start) for _ in range(5)]
    stop = threading.Event()
    touched: list[int] = []
    errors: list[str] = []

    def traffic() -> None:
        i = 0
        while not stop.is_set():
            a = advisors[i % len(advisors)]
            try:
                c = f.cliente()
                touched.append(c.id)
                r = api.post(f"/api/clientes/{c.id}/derivar", gt, json={"asesor_id": a.id})
                assert r.status_code == 200, r.text
                r = api.post("/api/sessions/start", tokens[a.id], json={"cliente_id": c.id})
                assert r.status_code == 201, r.text
                if i % 3:  # one in three is left to time out (events from the worker)
                    api.post("/api/sessions/end", tokens[a.id],
                             json={"cliente_id": c.id, "resultado": "gestionado"})
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))
            i += 1
            time.sleep(0.02)

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        for s in screens:
            s.wait(lambda s=s: len(s.resyncs) >= 1, 10, "first resync")
        time.sleep(1.0)
        killed = time.time()
        fs.kill("web2")  # SIGKILL to the process group
        for s in screens:
            s.wait(lambda s=s: any(u == fs.base_url for u, _, _ in s.resyncs), 20,
                   "no resume on web1")
        time.sleep(1.5)  # events keep flowing on the new connection
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[:5]
    wait_settled(f, touched, timeout=TIMEOUT + INTERVAL + 15)
    for _ in range(20):  # compare at a moment no event happened
        final = api.get("/api/board", gt).json()["seq"]
        for s in screens:
            s.wait(lambda s=s, final=final: s.last >= final, 15, "did not catch up")
        truth = {cid: (c.estado, c.asesor_asignado) for cid in touched
                 for c in [f.get_cliente(cid)]}
        if api.get("/api/board", gt).json()["seq"] == final:
            break
    recovery = []
    for s in screens:
        s.close()
        with s.lock:
            assert s.duplicates == 0
            assert s.seqs == list(range(start + 1, s.last + 1)), "a gap or a reordering"
            resumed = [(u, d, at) for u, d, at in s.resyncs if u == fs.base_url]
            assert resumed[0][1]["status"] == "replayed", resumed
            recovery.append(resumed[0][2] - killed)
            wrong = {c: (s.state.get(c), truth[c]) for c in touched if s.state.get(c) != truth[c]}
        assert not wrong, f"screen state differs from the database: {list(wrong.items())[:3]}"
    print(f"\n[kill -9 web] 5 screens resumed on the other process {min(recovery):.2f}-"
          f"{max(recovery):.2f} s after the kill; {len(touched)} clients touched, "
          f"{final - start} events, no gap, no duplicate")
    assert max(recovery) < 10
    assert check(fdb, stuck_bound=STUCK_BOUND, since_seq=start).seq_gaps == []


# ------------------------------------------- 6. duplicated / reordered deliveries


def test_the_same_timeout_task_delivered_many_times_at_the_deadline(fs, f, api, fdb, gtr_ws):
    """Four extra copies of each session's timeout task, all due at its deadline,
    race the armed one and the sweep on two pool processes: one timeout each."""
    sessions = start_sessions(api, f, 15)
    celery = celery_client(fs)
    for cid, s in sessions.items():
        eta = datetime.fromtimestamp(s["deadline"] + 0.01, tz=UTC)
        for _ in range(4):
            celery.send_task("albru.session_timeout", args=[s["session_id"], cid], eta=eta)
    wait_settled(f, sessions, timeout=TIMEOUT + 15)
    time.sleep(2.0)  # every copy has run by now
    ids = {s["session_id"] for s in sessions.values()}
    runs = [t for t in task_lines(fs) if t.get("session_id") in ids]
    results = [t["result"] for t in runs]
    print(f"\n[duplicates] {len(runs)} timeout task runs for {len(ids)} sessions: "
          f"{ {r: results.count(r) for r in set(results)} }")
    assert len(runs) >= 5 * len(ids), "the copies did not all run"
    assert results.count("expire") <= len(ids)
    assert_each_ended_once(fdb, sessions)
    for cid in sessions:
        assert len(gtr_ws.received("CLIENT_RETURNED_TO_GTR", for_cliente(cid))) == 1


def test_a_late_heartbeat_or_end_changes_nothing(fs, f, api, fdb):
    """A heartbeat or end delivered after the session ended (completed or timed
    out), or carrying the id of an older session of the same client, is refused
    and changes nothing."""
    a = f.asesor()
    at = f.token(a)
    g = f.token(f.gtr())
    done = f.cliente("derivado", a.id)
    s1 = api.post("/api/sessions/start", at, json={"cliente_id": done.id}).json()
    assert api.post("/api/sessions/end", at, json={"cliente_id": done.id,
                                                    "resultado": "no_gestionado"}).ok
    before = f.snapshot(done.id)
    late = api.post("/api/sessions/heartbeat", at,
                    json={"cliente_id": done.id, "session_id": s1["session_id"]})
    assert late.status_code == 409 and late.json()["error"] == "no_active_session"
    again = api.post("/api/sessions/end", at, json={"cliente_id": done.id, "resultado": "cerrado"})
    assert again.status_code == 409
    ws = socketio.Client(reconnection=False)
    ws.connect(fs.base_url, auth={"token": at}, transports=["websocket"], wait_timeout=10)
    try:
        ack = ws.call("heartbeat", {"cliente_id": done.id}, timeout=5)
    finally:
        ws.disconnect()
    assert ack["error"] == "no_active_session"
    assert f.snapshot(done.id) == before

    # The client goes round again: a heartbeat or end of the OLD session is refused.
    assert api.post(f"/api/clientes/{done.id}/derivar", g, json={"asesor_id": a.id}).ok
    s2 = api.post("/api/sessions/start", at, json={"cliente_id": done.id}).json()
    before = f.snapshot(done.id)
    for path, body in (("heartbeat", {}), ("end", {"resultado": "gestionado"})):
        r = api.post(f"/api/sessions/{path}", at,
                     json={"cliente_id": done.id, "session_id": s1["session_id"], **body})
        assert r.status_code == 409 and r.json()["error"] == "invalid_state", r.text
    assert f.snapshot(done.id) == before

    # Timed out: a heartbeat that arrives after the timeout does not revive it.
    wait_settled(f, [done.id], timeout=TIMEOUT + 10)
    before = f.snapshot(done.id)
    r = api.post("/api/sessions/heartbeat", at,
                 json={"cliente_id": done.id, "session_id": s2["session_id"]})
    assert r.status_code == 409
    assert f.snapshot(done.id) == before
    assert [e.action for e in f.audit_of(done.id)] == ["start", "end", "derivar", "start",
                                                    "timeout"]


@pytest.mark.parametrize("call", ["end", "heartbeat"])
def test_an_end_or_heartbeat_racing_the_timeout(fs, f, api, fdb, gtr_ws, call):
    """Each session gets an end (or a heartbeat) sent within +-60 ms of its
    deadline, when the timeout task fires: exactly one outcome wins. A 200 end
    means completed and no timeout; a 200 heartbeat means the session lived on;
    a 409 means the timeout won and nothing else changed."""
    sessions = start_sessions(api, f, 24, per_advisor=4)
    answers: dict[int, int] = {}
    offsets = [(-0.06 + 0.12 * i / 23) for i in range(24)]

    def fire(cid: int, s: dict[str, Any], offset: float) -> None:
        time.sleep(max(0.0, s["deadline"] + offset - time.time()))
        body: dict[str, Any] = {"cliente_id": cid, "session_id": s["session_id"]}
        if call == "end":
            body["resultado"] = "gestionado"
        answers[cid] = Api(fs.base_url).post(f"/api/sessions/{call}", s["token"],
                                             json=body).status_code

    threads = [threading.Thread(target=fire, args=(cid, s, off))
               for (cid, s), off in zip(sessions.items(), offsets, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(answers.values()) <= {200, 409}, answers
    wait_settled(f, sessions, timeout=2 * TIMEOUT + 15)  # heartbeat winners time out later
    time.sleep(1.0)
    won = sum(1 for v in answers.values() if v == 200)
    print(f"\n[{call} vs timeout] {won} of {len(answers)} {call}s won, "
          f"{len(answers) - won} timeouts won")
    assert_each_ended_once(fdb, sessions, status=None)
    for cid, s in sessions.items():
        [sess] = f.sessions_of(cid)
        actions = [e.action for e in f.audit_of(cid)]
        if call == "end" and answers[cid] == 200:
            assert sess.status == "completed" and actions == ["start", "end"]
            assert not gtr_ws.received("CLIENT_RETURNED_TO_GTR", for_cliente(cid))
        else:
            assert sess.status == "timed_out" and actions == ["start", "timeout"]
            assert len(gtr_ws.received("CLIENT_RETURNED_TO_GTR", for_cliente(cid))) == 1
            if call == "heartbeat" and answers[cid] == 200:
                assert sess.heartbeats == 1 and sess.deadline_at > s["deadline"] + 1
            else:
                assert sess.heartbeats == 0 and sess.deadline_at == pytest.approx(s["deadline"])


# ---------------------------------------------------------------- 7. clock


def test_a_worker_clock_2s_ahead_never_times_out_early(fs, f, api, fdb, worker_back):
    """The only worker runs under libfaketime, its clock 2 s ahead (the process
    and its pool children). Countdown tasks therefore wake 2 s early: the
    database's clock says "not yet" and they re-arm. A live session (heartbeats
    every second, for 4 timeouts) is never timed out; a dead one is timed out
    after its deadline by the database's clock, not 2 s before."""
    if not Path(FAKETIME_LIB).exists() or not shutil.which("faketime"):
        if os.environ.get("ALBRU_REQUIRE_REAL_BACKENDS"):  # CI installs it (.ci/run)
            pytest.fail("libfaketime (Debian package faketime) is not installed")
        pytest.skip("libfaketime (Debian package faketime) is not installed")
    skew = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": "+2", "FAKETIME_NO_CACHE": "1"}
    fs.kill("worker")
    fs.start_worker("worker", **skew)
    fs.wait_healthy()
    a = f.asesor()
    at = f.token(a)
    live, dead = f.cliente("derivado", a.id), f.cliente("derivado", a.id)
    s_live = api.post("/api/sessions/start", at, json={"cliente_id": live.id}).json()
    s_dead = api.post("/api/sessions/start", at, json={"cliente_id": dead.id}).json()
    until = time.time() + 4 * TIMEOUT
    while time.time() < until:
        time.sleep(1.0)
        r = api.post("/api/sessions/heartbeat", at, json={"cliente_id": live.id})
        assert r.status_code == 200, f"the live session was ended: {r.text}"
    assert f.get_cliente(live.id).estado == "en_gestion"
    [sess] = f.sessions_of(dead.id)
    assert sess.status == "timed_out"
    lateness = sess.ended_at - sess.deadline_at
    runs = [t for t in task_lines(fs) if t.get("session_id") in
            (s_live["session_id"], s_dead["session_id"])]
    dead_runs = [t for t in runs if t["session_id"] == s_dead["session_id"]]
    results = [t["result"] for t in dead_runs]
    print(f"\n[clock +2 s] dead session timed out {lateness:.3f} s after its deadline "
          f"(database clock); its task ran {results}; the live one's re-armed "
          f"{len(runs) - len(dead_runs)} times")
    assert "rearm" in results, "no early wake-up: the skew did not reach the tasks"
    # the worker really lives 2 s ahead: its log stamp of the run that ended the
    # session is ~2 s after the database's ended_at
    expired = [t for t in dead_runs if t["result"] == "expire"]
    if expired:
        ahead = datetime.fromisoformat(expired[0]["ts"]).timestamp() - sess.ended_at
        print(f"[clock +2 s] worker log stamp - database ended_at = {ahead:.3f} s")
        assert 1.5 < ahead < 3.0, "the worker's clock is not 2 s ahead"
    assert 0 <= lateness <= 1.0, "timed out early, or late, by the database clock"
    end = api.post("/api/sessions/end", at, json={"cliente_id": live.id, "resultado": "cerrado"})
    assert end.status_code == 200
    assert [e.action for e in f.audit_of(live.id)] == ["start", "end"]
    assert [e.action for e in f.audit_of(dead.id)] == ["start", "timeout"]


# ------------------------------------- 4b. the timeouts a killed worker took


def test_after_a_worker_kill_live_sessions_still_time_out_on_time(tmp_path):
    """WORKER_INTERVAL 10 s, SESSION_TIMEOUT 15 s. The worker is killed holding
    the timeout tasks of two batches of live sessions (deadlines 5 s apart) and
    a new one is started at once. Those tasks are gone (Redis hands them back
    only after the visibility timeout, an hour). The sweep arms new ones for
    sessions due before its next run, so both batches time out on time (within
    1 s of the deadline, database clock), not when the next sweep happens to
    run (up to 10 s late: two batches 5 s apart cannot both be caught by it)."""
    with scratch_database(backends(), "rearm", str(tmp_path)) as db_url, \
            scratch_redis(backends()) as redis_url:
        database = Database(db_url)
        create_schema(database)
        stack = Stack(Backends(db_url, redis_url, "rearm db", "rearm redis"), tmp_path,
                      SESSION_TIMEOUT="15", WORKER_INTERVAL="10000", LOG_FORMAT="json")
        try:
            stack.start()
            f = Factory(database, stack.env["JWT_SECRET"])
            api = Api(stack.base_url)
            first = start_sessions(api, f, 5)
            time.sleep(5.0)
            second = start_sessions(api, f, 5)
            time.sleep(0.5)
            stack.kill("worker")
            stack.start_worker()
            sessions = {**first, **second}
            wait_settled(f, sessions, timeout=40)
            ids = {s["session_id"] for s in sessions.values()}
            rep = check(database, stuck_bound=11.0, session_ids=ids)
            print(f"\n[kill -9 worker, live sessions] lateness "
                  f"{sorted(round(x, 3) for x in rep.timeout_lateness)} s")
            assert rep.ok and rep.by_status == {"timed_out": 10}, (rep.problems(), rep.by_status)
            assert max(rep.timeout_lateness) <= 1.0, "timed out by the sweep, not on time"
        finally:
            stack.stop()
            database.dispose()
