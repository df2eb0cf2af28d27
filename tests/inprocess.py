"""The fast tier's system under test: the web app built in the test process
(`create_app(settings, role="web")`, ASYNC_MODE=threading) on the run's real
database and Redis, reached through Flask's test client and Flask-SocketIO's
test client. No process is spawned: the tests that need the real web, worker
or beat processes are marked `stack` and use harness.stack instead.

`InProcessApi` and `InProcessListener` offer what conftest's `Api` and
`Listener` offer over the network, so a test body runs unchanged in either
tier (conftest picks by the test's `stack` marker)."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import socketio
from flask import Flask
from requests.structures import CaseInsensitiveDict

from harness.backends import Backends
from harness.stack import system_env


def settings_from_env(env: Mapping[str, str]):
    """The one place the tests turn variables into Settings (the settings
    module is being moved; only this import follows it)."""
    from core.settings import Settings

    return Settings.from_env(env)


class InProcess:
    """The app of a web process, in this process. Same settings as the spawned
    stack's (harness.stack.system_env), so timeouts and limits read the same."""

    base_url = None  # nothing listens on a port

    def __init__(self, backends: Backends, **overrides: str) -> None:
        from app import create_app

        self.env = {**system_env(backends), "ASYNC_MODE": "threading", **overrides}
        self.settings = settings_from_env(self.env)
        self.app: Flask = create_app(self.settings, role="web")
        # Flask-SocketIO registers itself here (init_app); one per process.
        self.socketio = self.app.extensions["socketio"]
        self.server = self.socketio.server
        self._allow_test_clients()
        self.own_celery()

    def own_celery(self) -> None:
        """Make this app's Celery app the process' current and default one again.
        The tasks are `shared_task`s, which resolve to whichever Celery app was
        built last in the thread (or set default): a test that builds another
        app (say on a dead Redis) would otherwise send this app's timeout tasks
        to that app's broker, open this app's Redis breaker and set its broker
        fallback sweeping. (Reported to the lead: the app should arm through
        its own Celery app.)"""
        celery = self.app.extensions["celery"]  # registered by app.queue.celery_init_app
        celery.set_current()
        celery.set_default()

    @property
    def session_timeout(self) -> float:
        return float(self.env["SESSION_TIMEOUT"])

    def _allow_test_clients(self) -> None:
        """Flask-SocketIO's test client refuses a server with a message queue
        (ours: the Redis manager that orders pushes) and starts the manager
        again for every client. Here pushes DO travel through Redis, which is
        the point; so the check is skipped and the manager started once."""
        manager = self.server.manager
        start = manager.initialize
        started = threading.Lock()
        state = {"done": False}

        def initialize_once() -> None:
            with started:
                if not state["done"]:
                    state["done"] = True
                    start()

        manager.initialize = initialize_once

    def socket_client(self, auth: Any):
        """A Flask-SocketIO test client on this app (connected, or refused)."""
        if self.socketio.server is not self.server:
            raise RuntimeError("another app re-initialised the process' SocketIO server")
        import flask_socketio.test_client as tc

        real = tc.PubSubManager
        tc.PubSubManager = _NoQueue  # the only check in SocketIOTestClient.__init__
        try:
            return self.socketio.test_client(self.app, auth=auth)
        finally:
            tc.PubSubManager = real


class _NoQueue:
    """Matches no manager (see InProcess._allow_test_clients)."""


# ---------------------------------------------------------------- REST


class InProcessResponse:
    """The parts of requests.Response the tests read."""

    def __init__(self, r) -> None:
        self.status_code: int = r.status_code
        self.content: bytes = r.get_data()
        self.text: str = r.get_data(as_text=True)
        headers: CaseInsensitiveDict = CaseInsensitiveDict()
        for name, value in r.headers.items():  # repeated headers joined, as requests does
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers

    def json(self) -> Any:
        return json.loads(self.content)


class InProcessApi:
    """conftest.Api's interface over Flask's test client (a client per call,
    so threads may call at once)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def call(self, method: str, path: str, token: str | None = None, **kw: Any):
        headers = dict(kw.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kw.pop("timeout", None)
        if "params" in kw:
            kw["query_string"] = kw.pop("params")
        files = kw.pop("files", None)
        if files:
            form = {}
            for field, spec in files.items():
                name, content, *ctype = spec
                content = content.encode() if isinstance(content, str) else content
                form[field] = (io.BytesIO(content), name, *ctype)
            kw["data"] = form
            kw["content_type"] = "multipart/form-data"
        r = self.app.test_client().open(path, method=method, headers=headers, **kw)
        try:
            return InProcessResponse(r)
        finally:
            r.close()

    def get(self, path: str, token: str | None = None, **kw: Any):
        return self.call("GET", path, token, **kw)

    def post(self, path: str, token: str | None = None, **kw: Any):
        return self.call("POST", path, token, **kw)


# ------------------------------------------------------------- Socket.IO


class _Recorder(list):
    """The test client's packet queue: every event is also given to the listener."""

    def __init__(self, on_event: Callable[[dict], None]) -> None:
        super().__init__()
        self.on_event = on_event

    def append(self, item: dict) -> None:
        super().append(item)
        self.on_event(item)


class _SocketFacade:
    """What tests use of socketio.Client: connected, call(), disconnect()."""

    def __init__(self, tc) -> None:
        self.tc = tc

    @property
    def connected(self) -> bool:
        return self.tc.is_connected()

    def call(self, event: str, data: Any = None, timeout: float = 60) -> Any:
        return self.tc.emit(event, data, callback=True)

    def emit(self, event: str, data: Any = None) -> None:
        self.tc.emit(event, data)

    def disconnect(self) -> None:
        if self.tc.is_connected():
            self.tc.disconnect()


class EventRecorder:
    """What every test listener offers: the events received, in order, and
    waiting for one (conftest.Listener over the network, InProcessListener here)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, float]] = []
        self._cond = threading.Condition()

    def _record(self, event: str, data: Any) -> None:
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


class InProcessListener(EventRecorder):
    """conftest.Listener's interface over a Flask-SocketIO test client: pushes
    come through Redis and the app's ordering manager to this client's rooms."""

    def __init__(self, inproc: InProcess, token: str | None) -> None:
        super().__init__()
        tc = inproc.socket_client({"token": token} if token else None)
        if not tc.is_connected():
            raise socketio.exceptions.ConnectionError("the server refused the connection")
        early, tc.queue = tc.queue, _Recorder(self._on_packet)
        for item in early:
            self._on_packet(item)
        self.client = _SocketFacade(tc)

    def _on_packet(self, item: dict) -> None:
        args = item.get("args") or []
        self._record(item["name"], args[0] if len(args) == 1 else (args or None))

    def close(self) -> None:
        self.client.disconnect()
