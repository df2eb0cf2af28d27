"""Fixtures for both tiers: real backends (chosen at first use, never at
collection), factories that write straight to the database, an API client
and Socket.IO listeners.

A test marked `stack` gets them on the real system (web + worker + beat as
processes, harness.stack); any other test gets them on the app built in this
process (tests/inprocess.py), and may spawn no process at all: the fast tier
is `pytest -m "not stack"` (`make test-fast`)."""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import socketio
from sqlalchemy import select

from app.auth import hash_password, issue_token
from core.db import Database
from core.eventlog import create_schema
from core.models import AuditEntry, Cliente, GestionSession, User
from harness.backends import Backends, choose, redis_server_binary
from harness.stack import Stack
from tests.inprocess import EventRecorder, InProcess, InProcessApi, InProcessListener

_BACKENDS: Backends | None = None


def backends() -> Backends:
    """The run's database and Redis, chosen (and a private Redis started when
    none answers) the first time a test needs them."""
    global _BACKENDS
    if _BACKENDS is None:
        _BACKENDS = choose()
        print(f"\n[albru tests] {_BACKENDS.describe()}")
    return _BACKENDS


@pytest.fixture
def mysql_url() -> str:
    """The run's database URL when it is MariaDB/MySQL (pools, round trips on
    the wire); the test is skipped on SQLite."""
    url = backends().database_url
    if not url.startswith("mysql"):
        pytest.skip("MariaDB/MySQL only: this run's database is SQLite")
    return url


def pytest_report_header(config: pytest.Config) -> str:
    return "albru backends: chosen at first use (MariaDB/Redis when they answer, " \
        "else SQLite and a private redis-server)"


_EXIT = {"status": 0, "inproc": False}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT["status"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _BACKENDS is not None:
        _BACKENDS.close()
    if _EXIT["inproc"]:
        # The in-process app's background loops (Socket.IO channel listener,
        # event-log tail, stats, broker fallback) are daemon threads with no
        # stop, and they have used greenlet (Celery's thread ids): tearing
        # them down in interpreter finalization crashes greenlet now and then
        # (SIGSEGV in ~ThreadStateCreator, python-greenlet/greenlet#411). All
        # is reported and cleaned by now, so leave without finalization.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT["status"])


def on_stack(request: pytest.FixtureRequest) -> bool:
    """Is this test (or module, for a module-scoped fixture) of the stack tier?"""
    return request.node.get_closest_marker("stack") is not None


# ----------------------------------------------- the fast tier spawns nothing

_execute_child = subprocess.Popen._execute_child  # type: ignore[attr-defined]
_fork = os.fork


def _allowed(program: str) -> bool:
    """The one process the fast tier may start: the private redis-server of
    harness.backends, when no Redis answers on this machine."""
    binary = redis_server_binary()
    return bool(binary) and os.path.realpath(program) == os.path.realpath(binary)


def _guarded_execute_child(self, args, executable, *rest, **kw):
    argv = [args] if isinstance(args, str | bytes | os.PathLike) else list(args)
    program = os.fsdecode(executable or argv[0])
    if not _allowed(program):
        raise RuntimeError(f"a test outside the stack tier started a process ({argv!r}): "
                           "mark it @pytest.mark.stack")
    return _execute_child(self, args, executable, *rest, **kw)


def _guarded_fork():
    raise RuntimeError("a test outside the stack tier forked: mark it @pytest.mark.stack")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [i.nodeid for i in items
                if "stack" in getattr(i, "fixturenames", ()) and not i.get_closest_marker("stack")]
    if unmarked:
        raise pytest.UsageError("tests using the `stack` fixture must be marked "
                                f"@pytest.mark.stack: {unmarked}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Outside the stack tier, starting a process (setup, test or teardown) is an error."""
    fast = item.get_closest_marker("stack") is None
    if fast:
        subprocess.Popen._execute_child = _guarded_execute_child  # type: ignore[attr-defined]
        os.fork = _guarded_fork
    try:
        yield
    finally:
        if fast:
            subprocess.Popen._execute_child = _execute_child  # type: ignore[attr-defined]
            os.fork = _fork


# ------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def db() -> Iterator[Database]:
    database = Database(backends().database_url)
    create_schema(database)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def rds() -> redis.Redis:
    return redis.Redis.from_url(backends().redis_url, decode_responses=True)


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    """One JWT secret for the run: the spawned stack's and the in-process app's."""
    return f"test-secret-{uuid.uuid4().hex}{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def stack(db: Database, jwt_secret: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logdir = Path(tmp_path_factory.mktemp("stack-logs"))
    s = Stack(backends(), logdir, JWT_SECRET=jwt_secret)
    try:
        s.start()
    except Exception:
        s.stop()
        for name in ("web", "worker", "beat"):
            p = logdir / f"{name}.log"
            if p.exists():
                print(f"----- {name}.log -----\n{p.read_text(errors='replace')[-4000:]}")
        raise
    yield s
    s.stop()


@pytest.fixture(scope="session")
def inproc(db: Database, jwt_secret: str) -> InProcess:
    """The web app in this process, on the run's database and Redis."""
    _EXIT["inproc"] = True
    return InProcess(backends(), JWT_SECRET=jwt_secret)


@pytest.fixture(autouse=True)
def _inproc_owns_celery(request: pytest.FixtureRequest) -> None:
    """Before each test, the in-process app (once built) sends its own tasks
    (see InProcess.own_celery)."""
    if _EXIT["inproc"] and not on_stack(request):
        request.getfixturevalue("inproc").own_celery()


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Stack | InProcess:
    """The system under test: the spawned stack for a `stack` test, else the
    in-process app. Both have .env (JWT_SECRET, KEY_PREFIX...) and .session_timeout."""
    return request.getfixturevalue("stack" if on_stack(request) else "inproc")


_seq = itertools.count(1)


class Factory:
    """Rows made straight in the database, with unique names per test run."""

    def __init__(self, db: Database, secret: str) -> None:
        self.db = db
        self.secret = secret
        self.run = uuid.uuid4().hex[:6]

    def user(self, role: str = "asesor", password: str = "secret-pass") -> User:
        n = next(_seq)
        with self.db.transaction() as tx:
            user = User(username=f"{role}{n}-{self.run}", password_hash=hash_password(password),
                        role=role, nombre=f"{role.upper()} {n}", active=True)
            tx.add(user)
            tx.flush()
            tx.refresh(user)
            return user

    def asesor(self) -> User:
        return self.user("asesor")

    def gtr(self) -> User:
        return self.user("gtr")

    def cliente(self, estado: str = "nuevo", asesor_id: int | None = None) -> Cliente:
        n = next(_seq)
        with self.db.transaction() as tx:
            c = Cliente(nombre=f"Cliente {n}", telefono=f"+51 900 {n:06d}", estado=estado,
                        asesor_asignado=asesor_id, lock_token=0)
            tx.add(c)
            tx.flush()
            tx.refresh(c)
            return c

    def token(self, user: User, expires: int = 3600) -> str:
        return issue_token(user, self.secret, expires)[0]

    # reads for assertions
    def get_cliente(self, cliente_id: int) -> Cliente:
        with self.db.transaction() as tx:
            return tx.get(Cliente, cliente_id)

    def sessions_of(self, cliente_id: int) -> list[GestionSession]:
        with self.db.transaction() as tx:
            return list(tx.execute(select(GestionSession)
                                   .where(GestionSession.cliente_id == cliente_id)
                                   .order_by(GestionSession.started_at)).scalars())

    def audit_of(self, cliente_id: int) -> list[AuditEntry]:
        with self.db.transaction() as tx:
            return list(tx.execute(select(AuditEntry).where(AuditEntry.cliente_id == cliente_id)
                                   .order_by(AuditEntry.id)).scalars())

    def snapshot(self, cliente_id: int) -> tuple:
        """Everything a request could change about a client, to prove it did not."""
        c = self.get_cliente(cliente_id)
        sessions = [(s.id, s.status, s.deadline_at, s.heartbeats, s.resultado)
                    for s in self.sessions_of(cliente_id)]
        return (c.estado, c.asesor_asignado, c.lock_token, c.current_session_id,
                tuple(sessions), len(self.audit_of(cliente_id)))


@pytest.fixture(autouse=True)
def _invariants_after(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under @pytest.mark.invariants: the database's promises still hold for
    the sessions this test started and the events it logged (bench.invariants)."""
    marker = request.node.get_closest_marker("invariants")
    if marker is None or marker.kwargs.get("skip"):
        yield
        return
    from bench.invariants import check
    from core.eventlog import EventLog

    db: Database = request.getfixturevalue("db")

    def session_ids() -> set[str]:
        with db.transaction() as tx:
            return set(tx.execute(select(GestionSession.id)).scalars())

    since_seq, before = EventLog(db).last_seq(), session_ids()
    yield
    # a session may be active past its deadline for a sweep period (+ a loaded machine)
    rep = check(db, stuck_bound=30.0, session_ids=session_ids() - before, since_seq=since_seq)
    assert rep.ok, f"invariants broken after the test: {rep.problems()}"


@pytest.fixture
def factory(db: Database, server: Stack | InProcess) -> Factory:
    return Factory(db, server.env["JWT_SECRET"])


class Api:
    """requests against the real web process, with an optional bearer token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def call(self, method: str, path: str, token: str | None = None, **kw: Any):
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.base_url + path, headers=headers, timeout=15, **kw)

    def get(self, path: str, token: str | None = None, **kw: Any):
        return self.call("GET", path, token, **kw)

    def post(self, path: str, token: str | None = None, **kw: Any):
        return self.call("POST", path, token, **kw)


def start_sessions(api: Api, f: Factory, n: int, per_advisor: int = 10
                   ) -> dict[int, dict[str, Any]]:
    """n live sessions on the real web process (cliente_id -> the start answer
    and its token), started 10 at a time so that even on a loaded machine they
    all start well within one timeout; `per_advisor` clients per advisor."""
    todo: list[tuple[int, str]] = []
    for i in range(n):
        if i % per_advisor == 0:
            asesor = f.asesor()
            token = f.token(asesor)
        todo.append((f.cliente("derivado", asesor.id).id, token))

    def one(item: tuple[int, str]) -> tuple[int, dict[str, Any]]:
        cid, token = item
        r = Api(api.base_url).post("/api/sessions/start", token, json={"cliente_id": cid})
        assert r.status_code == 201, r.text
        return cid, {**r.json(), "token": token}

    with ThreadPoolExecutor(10) as pool:
        return dict(pool.map(one, todo))


def wait_settled(f: Factory, cids, timeout: float) -> None:
    """Until none of these clients is en_gestion any more (or fail)."""
    end = time.time() + timeout
    pending = set(cids)
    while pending and time.time() < end:
        pending = {c for c in pending if f.get_cliente(c).estado == "en_gestion"}
        time.sleep(0.2)
    assert not pending, f"{len(pending)} sessions never ended: {sorted(pending)[:5]}"


@pytest.fixture
def api(server: Stack | InProcess) -> Api | InProcessApi:
    if isinstance(server, InProcess):
        return InProcessApi(server.app)
    return Api(server.base_url)


class Listener(EventRecorder):
    """A real python-socketio client that records every event it receives."""

    def __init__(self, url: str, token: str | None, **connect_kw: Any) -> None:
        super().__init__()
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", self._on_any)
        self.client.connect(url, auth={"token": token} if token else None,
                            transports=["websocket"], wait_timeout=10, **connect_kw)

    def _on_any(self, event: str, data: Any = None) -> None:
        self._record(event, data)

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


@pytest.fixture
def listen(server: Stack | InProcess) -> Iterator[Callable[..., Listener | InProcessListener]]:
    """Socket.IO listeners: real clients of the stack's web process, or
    Flask-SocketIO test clients of the in-process app."""
    opened: list[Listener | InProcessListener] = []

    def _open(token: str | None, **kw: Any) -> Listener | InProcessListener:
        if isinstance(server, InProcess):
            assert not kw, f"in-process listeners take no connect options: {kw}"
            listener: Listener | InProcessListener = InProcessListener(server, token)
        else:
            listener = Listener(server.base_url, token, **kw)
        opened.append(listener)
        return listener

    yield _open
    for listener in opened:
        listener.close()


def connect_error_of(url: str, auth: Any) -> str:
    """Connect a bare client with `auth`; it must be refused. Returns what
    connect_error carried, as text."""
    client = socketio.Client(reconnection=False)
    seen: list = []
    client.on("connect_error", lambda data=None: seen.append(data))
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect(url, auth=auth, transports=["websocket"], wait_timeout=10)
        assert not client.connected
    finally:
        if client.connected:
            client.disconnect()
    return str(seen)


def for_cliente(cliente_id: int) -> Callable[[Any], bool]:
    return lambda d: isinstance(d, dict) and d.get("cliente_id") == cliente_id
