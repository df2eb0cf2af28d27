"""Fixtures: real backends, the real stack (web + worker + beat), factories
that write straight to the database, an API client and Socket.IO listeners."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
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
from harness.backends import Backends, choose
from harness.stack import Stack

_BACKENDS: Backends | None = None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stack: needs the real web + worker + beat processes")


def backends() -> Backends:
    global _BACKENDS
    if _BACKENDS is None:
        _BACKENDS = choose()
        print(f"\n[albru tests] {_BACKENDS.describe()}")
    return _BACKENDS


def pytest_report_header(config: pytest.Config) -> str:
    return f"albru backends: {backends().describe()}"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _BACKENDS is not None:
        _BACKENDS.close()


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
def stack(db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logdir = Path(tmp_path_factory.mktemp("stack-logs"))
    s = Stack(backends(), logdir)
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


@pytest.fixture
def factory(db: Database, stack: Stack) -> Factory:
    return Factory(db, stack.env["JWT_SECRET"])


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


@pytest.fixture
def api(stack: Stack) -> Api:
    return Api(stack.base_url)


class Listener:
    """A real python-socketio client that records every event it receives."""

    def __init__(self, url: str, token: str | None, **connect_kw: Any) -> None:
        self.events: list[tuple[str, Any, float]] = []
        self._cond = threading.Condition()
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", self._on_any)
        self.client.connect(url, auth={"token": token} if token else None,
                            transports=["websocket"], wait_timeout=10, **connect_kw)

    def _on_any(self, event: str, data: Any = None) -> None:
        with self._cond:
            self.events.append((event, data, time.time()))
            self._cond.notify_all()

    def wait_for(self, event: str, pred: Callable[[Any], bool] = lambda d: True,
                 timeout: float = 10) -> tuple[Any, float]:
        end = time.time() + timeout
        with self._cond:
            while True:
                for name, data, at in self.events:
                    if name == event and pred(data):
                        return data, at
                left = end - time.time()
                if left <= 0:
                    raise AssertionError(f"no {event} within {timeout}s; got {self.names()}")
                self._cond.wait(left)

    def received(self, event: str, pred: Callable[[Any], bool] = lambda d: True) -> list[Any]:
        with self._cond:
            return [d for n, d, _ in self.events if n == event and pred(d)]

    def names(self) -> list[str]:
        with self._cond:
            return [n for n, _, _ in self.events]

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


@pytest.fixture
def listen(stack: Stack) -> Iterator[Callable[..., Listener]]:
    opened: list[Listener] = []

    def _open(token: str | None, **kw: Any) -> Listener:
        listener = Listener(stack.base_url, token, **kw)
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
