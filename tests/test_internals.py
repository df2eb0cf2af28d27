"""The private (or undocumented) library internals the engine relies on are
still there, and still behave the way the overrides assume.

One check per entry of docs/internals.md (the last test keeps that file and
this one in step). Each test looks at the LIBRARY side: the attribute, the
signature, the call path our subclass or wrapper sits on. In-process only: no
network, no Redis, no database, no process; a Flask-SocketIO test client at
most. When one fails after an upgrade, read its entry in docs/internals.md
before touching the test: the override it guards is probably broken too."""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import re
import threading
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import celery
import engineio
import flask
import flask_socketio
import kombu
import pytest
import redis
import socketio
from celery import bootsteps
from celery.app.defaults import NAMESPACES
from celery.utils.imports import symbol_by_name
from celery.worker.consumer import Consumer as CeleryConsumer
from celery.worker.worker import WorkController
from spectree import SpecTree
from spectree.plugins.flask_plugin import FlaskPlugin
from werkzeug.routing import IntegerConverter

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "internals.md"
DEAD_URL = "redis://127.0.0.1:1/0"  # never connected to: every check below is offline


class Sentinel(Exception):
    """Raised by a probe to prove the library called it."""


def params(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


def source(func: Any) -> str:
    return inspect.getsource(func)


# --------------------------------------------------------------- versions


def reviewed_versions() -> dict[str, str]:
    """The `| package | version |` rows under "## Reviewed against"."""
    section = DOC.read_text().split("## Reviewed against", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Za-z0-9_.-]+)` \| `([^`]+)` \|", section, re.M)
    return dict(rows)


def pinned_versions() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", line)
        if match:
            pins[match[1].lower()] = match[2]
    return pins


def test_reviewed_versions_are_the_pinned_and_installed_ones():
    """An upgrade of any library listed in docs/internals.md fails here until
    someone has re-read its entries, run this file and bumped the version."""
    reviewed = reviewed_versions()
    assert {"python-socketio", "flask-socketio", "python-engineio", "redis", "celery",
            "kombu", "gevent", "spectree", "flask-migrate"} <= set(reviewed)
    pins = pinned_versions()
    for package, seen in reviewed.items():
        assert pins.get(package) == seen, (
            f"{package}: requirements.txt pins {pins.get(package)}, docs/internals.md was "
            f"reviewed against {seen}: re-check its entries, then update the table")
        assert version(package) == seen, f"{package} {version(package)} installed, not {seen}"


# --------------------------------------------------------- python-socketio


class ProbeRedisManager(socketio.RedisManager):
    """A RedisManager that never touches Redis: `_publish` is recorded."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(DEAD_URL, channel="albru-test", **kwargs)
        self.published: list[dict] = []
        self.handled: list[dict] = []

    def _publish(self, data: dict) -> None:
        self.published.append(data)


def test_socketio_listener_loop_calls_handle_emit_for_other_hosts():
    """`OrderedRedisManager._handle_emit`: python-socketio's listener thread
    (`_thread` -> `_listen` -> `_redis_listen_with_retries`) hands every `emit`
    message of another manager to `self._handle_emit`, and drops its own."""

    class Probe(ProbeRedisManager):
        def _redis_listen_with_retries(self):
            channel = self.channel.encode()
            other = {"method": "emit", "event": "e", "data": [{"seq": 1}], "namespace": "/",
                     "room": ["gtr-room"], "host_id": "another-manager"}
            own = {**other, "host_id": self.host_id, "data": [{"seq": 2}]}
            yield {"type": "subscribe", "channel": channel, "data": 1}
            yield {"type": "message", "channel": b"another-channel", "data": json.dumps(other)}
            yield {"type": "message", "channel": channel, "data": json.dumps(own).encode()}
            yield {"type": "message", "channel": channel, "data": json.dumps(other).encode()}

        def _handle_emit(self, message):
            self.handled.append(message)

    manager = Probe()
    manager.server = SimpleNamespace(logger=logging.getLogger("test_internals"))
    manager.pubsub = SimpleNamespace(unsubscribe=lambda channel: None)
    listener = threading.Thread(target=manager._thread, daemon=True)
    listener.start()
    listener.join(5)  # the base thread returns once the listen generator is exhausted
    assert not listener.is_alive(), "python-socketio's _thread no longer stops after _listen"
    assert [m["data"] for m in manager.handled] == [[{"seq": 1}]]


def test_socketio_listener_helpers_we_call_exist():
    """`OrderedRedisManager._redis_listen_with_retries` calls `_redis_connect()`,
    then `self.pubsub.subscribe(self.channel)` and `self.pubsub.listen()`;
    `_redis_connect` must still set `self.pubsub` (and connect nothing)."""
    assert params(socketio.RedisManager._redis_connect) == ["self"]
    assert inspect.isgeneratorfunction(socketio.RedisManager._redis_listen_with_retries)
    assert "_redis_listen_with_retries()" in source(socketio.RedisManager._listen)
    manager = ProbeRedisManager()
    assert manager.pubsub is None and manager.channel == "albru-test"
    manager._redis_connect()  # lazy: builds the client and the PubSub, no socket yet
    assert isinstance(manager.pubsub, redis.client.PubSub)
    assert callable(manager.pubsub.subscribe) and callable(manager.pubsub.listen)


#: sha256 of python-socketio's own `RedisManager._redis_listen_with_retries`
#: when our copy (OrderedRedisManager) was taken from it.
LISTEN_LOOP_SHA256 = "a19262da0295db203961f4868ce9544ec2db02a989fc5067b7a028fdf9bf9e2a"


def test_socketio_listener_loop_we_copied_is_unchanged():
    """`OrderedRedisManager._redis_listen_with_retries` is a COPY of the
    library's loop (with a shorter wait and a catch-up): if upstream changes
    its loop (a fix, sentinel handling...), re-read it and port the change."""
    text = source(socketio.RedisManager._redis_listen_with_retries)
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert digest == LISTEN_LOOP_SHA256, (
        "python-socketio's RedisManager._redis_listen_with_retries changed:\n" + text)


def local_server(manager: socketio.RedisManager):
    """A python-socketio server on `manager` with one client connected to "/"
    and in gtr-room; what it sends is recorded at Engine.IO's public
    `send`/`send_packet` (no transport)."""
    server = socketio.Server(async_mode="threading", client_manager=manager)
    sent: list[Any] = []
    server.eio.send = lambda eio_sid, data: sent.append(data)
    server.eio.send_packet = lambda eio_sid, pkt: sent.append(pkt.data)
    sid = manager.connect("eio-1", "/")
    manager.enter_room(sid, "/", "gtr-room")
    return server, sid, sent


def test_socketio_handle_emit_delivers_our_message_shape():
    """`OrderedRedisManager._deliver`/`_fill` call the base `_handle_emit` with
    messages they build themselves (`event`, `data` as a one-item list,
    `namespace`, `room` as a list; no `host_id`, `binary`, `callback`): the base
    must still deliver those to the room's members."""
    assert params(socketio.PubSubManager._handle_emit) == ["self", "message"]
    manager = ProbeRedisManager(write_only=True)
    _server, _sid, sent = local_server(manager)
    manager._handle_emit({"event": "client_locked", "data": [{"seq": 7}], "namespace": "/",
                          "room": ["gtr-room", "asesor-9"]})
    assert sent == ['2["client_locked",{"seq":7}]']
    assert manager.published == []


def connected_client(manager: socketio.RedisManager | None = None):
    """A Flask-SocketIO app (threading mode) with one test client in gtr-room."""
    app = flask.Flask("internals")
    sio = flask_socketio.SocketIO(app, async_mode="threading", client_manager=manager)
    sids: list[str] = []

    @sio.on("connect")
    def on_connect(auth=None):
        sids.append(flask.request.sid)
        flask_socketio.join_room("gtr-room")

    client = sio.test_client(app)
    assert client.is_connected()
    return app, sio, client, sids[0]


def test_socketio_manager_rooms_layout():
    """`local_stats` (app/sockets.py) reads `socketio.server.manager.rooms`:
    namespace -> room -> {sid: eio_sid}, the `None` room holding every
    connected client of the namespace."""
    _app, sio, client, sid = connected_client()
    rooms = sio.server.manager.rooms
    assert set(rooms["/"]["gtr-room"]) == {sid}
    assert set(rooms["/"][None]) == {sid}
    client.disconnect()
    assert sid not in rooms.get("/", {}).get(None, {})


def test_socketio_server_calls_with_ignore_queue_stay_local():
    """`Server.emit(..., ignore_queue=True)`, `Server.disconnect(...,
    ignore_queue=True)` and `Server.enter_room` from a background task
    (resume, `_close`) act on this process' client only, without publishing."""
    assert "ignore_queue" in params(socketio.Server.emit)
    assert "ignore_queue" in params(socketio.Server.disconnect)
    assert params(socketio.Server.enter_room)[:4] == ["self", "sid", "room", "namespace"]
    manager = ProbeRedisManager(write_only=True)
    server, sid, sent = local_server(manager)
    server.emit("resync", {"status": "replayed"}, to=sid, namespace="/", ignore_queue=True)
    server.enter_room(sid, "asesor-7", namespace="/")
    assert sid in manager.rooms["/"]["asesor-7"]
    assert sent == ['2["resync",{"status":"replayed"}]']
    assert manager.published == []
    server.emit("x", {}, to=sid, namespace="/")  # without the flag: through Redis too
    assert [m["method"] for m in manager.published] == ["emit"]
    server.disconnect(sid, namespace="/", ignore_queue=True)
    assert not manager.is_connected(sid, "/")
    assert [m["method"] for m in manager.published] == ["emit"]


def test_socketio_host_id_is_per_manager():
    """The Publisher (core/publisher.py) is a second, write-only RedisManager in
    the same web process: the process' own pushes reach its listener only
    because `_thread` skips messages by `host_id`, which is per manager."""
    first, second = ProbeRedisManager(write_only=True), ProbeRedisManager(write_only=True)
    assert first.host_id != second.host_id
    assert "host_id" in source(socketio.PubSubManager._thread)
    assert "redis_options" in params(socketio.RedisManager.__init__)
    assert "write_only" in params(socketio.RedisManager.__init__)


def test_socketio_manager_initialize_runs_at_first_connect():
    """`OrderedRedisManager.initialize` reads the log's end and starts the tail
    loop with `self.server.start_background_task`: python-socketio must call
    it once, when the first client connects, with `server` set."""
    seen = []

    class Probe(socketio.Manager):
        def initialize(self):
            seen.append(self.server)
            super().initialize()

    server = socketio.Server(async_mode="threading", client_manager=Probe())
    assert seen == []
    on_eio_connect = server.eio.handlers["connect"]  # what Engine.IO calls per connection
    on_eio_connect("eio-1", {})
    on_eio_connect("eio-2", {})
    assert seen == [server]
    assert callable(server.start_background_task) and callable(server.sleep)


# --------------------------------------------------------- Flask-SocketIO


def test_flask_socketio_dispatches_through_handle_event():
    """`instrument_socketio` (app/logs.py) replaces `SocketIO._handle_event` on
    the instance, after the handlers are registered: every event, the
    catch-all `*` included, must still be dispatched through that attribute,
    with (handler, message, namespace, sid, *args), and `request.event` set."""
    assert params(flask_socketio.SocketIO._handle_event) == [
        "self", "handler", "message", "namespace", "sid", "args"]
    app, sio, client, sid = connected_client()
    events = []

    @sio.on("heartbeat")
    def on_heartbeat(data=None):
        events.append(flask.request.event)
        return {"ok": data["cliente_id"]}

    @sio.on("*")
    def on_unknown(event, *_args):
        return {"error": "unknown_event", "event": event}

    @sio.on("disconnect")
    def on_disconnect(*_args):
        pass

    seen = []
    original = sio._handle_event

    def wrapper(handler, message, namespace, sid, *args):
        seen.append((message, namespace, sid, args))
        return original(handler, message, namespace, sid, *args)

    sio._handle_event = wrapper
    assert client.emit("heartbeat", {"cliente_id": 3}, callback=True) == {"ok": 3}
    assert client.emit("nope", 1, callback=True) == {"error": "unknown_event", "event": "nope"}
    assert seen == [("heartbeat", "/", sid, ({"cliente_id": 3},)), ("*", "/", sid, ("nope", 1))]
    assert events == [{"message": "heartbeat", "args": ({"cliente_id": 3},)}]
    client.disconnect()
    assert seen[-1][0] == "disconnect"


def test_flask_socketio_wsgi_server_attribute():
    """`serve_gevent` (app/server.py) sets `socketio.wsgi_server` itself, as
    `SocketIO.run` would: `SocketIO.stop()` under gevent stops that object."""
    assert flask_socketio.SocketIO().wsgi_server is None
    assert "self.wsgi_server.stop()" in source(flask_socketio.SocketIO.stop)


# --------------------------------------------------------- python-engineio


def test_engineio_abort_close_sends_no_close_packet():
    """`_drain_and_exit` (app/server.py) walks `sio.server.eio.sockets` and calls
    `Socket.close(wait=False, abort=True, reason=eio.reason.SERVER_DISCONNECT)`:
    the transport goes away without an Engine.IO CLOSE packet, so clients
    reconnect, and the disconnect handler still runs with that reason."""
    assert engineio.Server.reason.SERVER_DISCONNECT == "server disconnect"
    assert params(engineio.socket.Socket.close) == ["self", "wait", "abort", "reason"]
    sio = socketio.Server(async_mode="threading")
    eio = sio.eio
    assert isinstance(eio, engineio.Server) and eio.sockets == {}
    reasons = []
    eio.on("disconnect", lambda sid, reason: reasons.append((sid, reason)))
    for sid in ("a", "b"):
        eio.sockets[sid] = engineio.socket.Socket(eio, sid)
    for sock in list(eio.sockets.values()):
        sock.close(wait=False, abort=True, reason=eio.reason.SERVER_DISCONNECT)
    queued = [eio.sockets["a"].queue.get_nowait() for _ in range(eio.sockets["a"].queue.qsize())]
    assert queued == [None]  # no packet.CLOSE before the end marker
    assert reasons == [("a", "server disconnect"), ("b", "server disconnect")]
    polite = engineio.socket.Socket(eio, "c")
    polite.close(wait=False, abort=False)
    assert polite.queue.get_nowait().packet_type == engineio.packet.CLOSE


# ------------------------------------------------------------------- gevent


def test_gevent_handler_hooks():
    """`serve_gevent` subclasses `pywsgi.WSGIHandler.run_application` (then sets
    `self.close_connection` for a WebSocket, reading `self.environ`) and
    `pywsgi.WSGIServer.handle(sock, address)`: the keep-alive loop must still
    stop on `close_connection` after `run_application`."""
    from gevent import pywsgi

    assert params(pywsgi.WSGIHandler.run_application) == ["self"]
    assert pywsgi.WSGIHandler.close_connection is False
    assert "self.run_application()" in source(pywsgi.WSGIHandler.handle_one_response)
    one_request = source(pywsgi.WSGIHandler.handle_one_request)
    assert one_request.index("self.handle_one_response()") < one_request.index(
        "if self.close_connection")
    assert "self.environ = " in one_request
    assert params(pywsgi.WSGIServer.handle) == ["self", "sock", "address"]
    assert {"log", "handler_class"} <= set(params(pywsgi.WSGIServer.__init__))


# ------------------------------------------------------------------ redis-py


def test_redis_connection_methods_we_override():
    """`guarded_connection_class` (core/breaker.py) overrides `connect()`,
    `send_packed_command(command, check_health)` and `read_response(*a, **kw)`
    of `redis.Connection`, and reads `self._sock` (None until connected)."""
    assert params(redis.Connection.connect) == ["self"]
    assert params(redis.Connection.send_packed_command) == ["self", "command", "check_health"]
    assert params(redis.Connection.read_response)[:2] == ["self", "disable_decoding"]
    conn = redis.Connection(host="127.0.0.1", port=1)
    assert conn._sock is None


def test_redis_pool_and_commands_go_through_our_methods():
    """The pool calls our `connect()` before handing a connection out (the
    breaker's check), `send_command` calls our `send_packed_command`, and a
    `connection_class` given to `Redis.from_url` (directly, or through
    python-socketio's `redis_options`, the PubSub included) is the one used."""

    class Refusing(redis.Connection):
        def connect(self):
            raise Sentinel("connect")

    client = redis.Redis.from_url(DEAD_URL, connection_class=Refusing)
    assert client.connection_pool.connection_class is Refusing
    with pytest.raises(Sentinel):
        client.ping()
    manager = socketio.RedisManager(DEAD_URL, redis_options={"connection_class": Refusing})
    manager._redis_connect()
    with pytest.raises(Sentinel):
        manager.pubsub.subscribe("albru-test")

    class Recording(redis.Connection):
        def send_packed_command(self, command, check_health=True):
            raise Sentinel(command)

    with pytest.raises(Sentinel):
        Recording(host="127.0.0.1", port=1).send_command("PING")

    class Reading(redis.Connection):
        def connect(self):
            pass

        def can_read(self, timeout=0):
            return False

        def send_packed_command(self, command, check_health=True):
            pass

        def read_response(self, *args, **kwargs):
            raise Sentinel("read_response")

    with pytest.raises(Sentinel):
        redis.Redis.from_url(DEAD_URL, connection_class=Reading).ping()


# ------------------------------------------------------------- Celery/kombu


def test_celery_consumer_hooks_we_override():
    """`tasks.reconnect.Consumer` overrides `on_connection_error_after_connected
    (exc)` and `ensure_connected(conn)` of Celery's consumer and is plugged in
    with the `worker_consumer` setting."""
    assert params(CeleryConsumer.on_connection_error_after_connected) == ["self", "exc"]
    assert params(CeleryConsumer.ensure_connected) == ["self", "conn"]
    assert NAMESPACES["worker"]["consumer"].default == "celery.worker.consumer:Consumer"
    assert "worker_consumer" in source(WorkController.setup_defaults)
    ours = re.search(r'"worker_consumer": "([\w.:]+)"', (ROOT / "celery_config.py").read_text())
    assert ours, "celery_config.py no longer sets worker_consumer"
    assert symbol_by_name(ours[1]).__mro__[1] is CeleryConsumer


def consumer_stub(connection: Any) -> SimpleNamespace:
    conf = SimpleNamespace(worker_cancel_long_running_tasks_on_connection_loss=True,
                           worker_enable_prefetch_count_reduction=False,
                           broker_connection_retry_on_startup=True,
                           broker_connection_retry=True, broker_connection_max_retries=None)
    return SimpleNamespace(connection=connection, app=SimpleNamespace(conf=conf),
                           first_connection_attempt=True, broker_connection_retry_attempt=0,
                           pool=None, qos_global=None)


def test_celery_closes_the_lost_connection_through_the_instance_attribute():
    """`Consumer.on_connection_error_after_connected` replaces the instance's
    `connection.close` before calling super(): Celery must still read
    `self.connection.close` from the instance when it drops the connection, and
    kombu's `ignore_errors` must still be what wraps it."""
    conn = kombu.Connection("memory://")
    closed = []
    conn.close = lambda: closed.append(True)
    stub = consumer_stub(conn)
    CeleryConsumer.on_connection_error_after_connected(stub, OSError("lost"))
    assert closed == [True] and stub.connection is None
    assert "ignore_errors(connection, connection.close)" in source(
        CeleryConsumer.on_connection_error_after_connected)


def test_celery_ensure_connected_calls_conn_ensure_connection():
    """`Consumer.ensure_connected` replaces `conn.ensure_connection` with a
    partial carrying `interval_start`, `interval_step`, `interval_max`: Celery
    must call that instance attribute and pass none of those itself (a keyword
    given at call time would override the partial's)."""
    conn = kombu.Connection("memory://")
    calls = []

    def record(*args, **kwargs):
        calls.append((args, kwargs))
        return conn

    conn.ensure_connection = record
    assert CeleryConsumer.ensure_connected(consumer_stub(conn), conn) is conn
    (args, kwargs), = calls
    assert not {"interval_start", "interval_step", "interval_max"} & set(kwargs)
    assert len(args) == 2  # errback, max_retries
    ours = ["interval_start", "interval_step", "interval_max"]
    assert set(ours) <= set(params(kombu.Connection._ensure_connection))
    real = kombu.Connection("memory://")
    partial = functools.partial(real.ensure_connection, interval_start=0.5, interval_step=0.5,
                                interval_max=2.0)
    assert partial(None, 1, callback=None) is real


def test_celery_bootstep_we_require_exists():
    """`RearmAfterReconnect.requires = ("celery.worker.consumer.tasks:Tasks",)`
    (tasks/reconnect.py), added with `app.steps["consumer"].add(...)`: the step
    is built once, after Tasks, and its `start(parent)` runs again on every
    consumer restart (the same instance: it counts its starts)."""
    name = "celery.worker.consumer.tasks:Tasks"
    assert name in CeleryConsumer.Blueprint.default_steps
    tasks_step = symbol_by_name(name)
    assert issubclass(tasks_step, bootsteps.StartStopStep)
    assert params(bootsteps.StartStopStep.start) == ["self", "parent"]
    app = celery.Celery("internals", set_as_current=False)
    assert isinstance(app.steps["consumer"], set)

    class Probe(bootsteps.StartStopStep):
        requires = (name,)

    parent = SimpleNamespace(app=app, steps=[])
    bootsteps.Blueprint(steps=[Probe], name="consumer").apply(parent)
    kinds = [type(step) for step in parent.steps]
    assert kinds.index(tasks_step) < kinds.index(Probe)
    assert "step.start(parent)" in source(bootsteps.Blueprint.start)
    loop = source(CeleryConsumer.start)
    assert "blueprint.restart(self)" in loop and "blueprint.start(self)" in loop
    assert "apply(" not in loop  # restarted steps are the same instances


# ----------------------------------------------------------------- spectree


def test_spectree_parse_path_leaves_our_converter_to_us():
    """`AlbruFlaskPlugin.parse_path` (app/contract.py) calls super() and fills
    in the parameters whose `schema` is None: the ones of our `id` converter."""
    assert params(FlaskPlugin.parse_path) == ["self", "route", "path_parameter_descriptions"]
    seen = []

    class Probe(FlaskPlugin):
        def parse_path(self, route, path_parameter_descriptions):
            path, parameters = super().parse_path(route, path_parameter_descriptions)
            seen.append((path, parameters))
            return path, parameters

    app = flask.Flask("internals")
    app.url_map.converters["id"] = _IdConverter
    app.add_url_rule("/api/clientes/<id:cliente_id>", "cliente", lambda cliente_id: "")
    api = SpecTree(backend=Probe, app=app)
    with app.app_context():
        assert "/api/clientes/{cliente_id}" in api.spec["paths"]
    assert seen == [("/api/clientes/{cliente_id}", [
        {"name": "cliente_id", "in": "path", "required": True, "schema": None,
         "description": ""}])]


class _IdConverter(IntegerConverter):
    """Stands for app.api.IdConverter: a converter spectree does not know."""


# ------------------------------------------------------------ Flask-Migrate


def test_flask_migrate_takes_a_plain_schema_target():
    """`build_app` (app/factory.py) gives Flask-Migrate a `SchemaTarget(engine,
    metadata)` instead of a Flask-SQLAlchemy `db`; migrations/env.py reads it
    back as `current_app.extensions["migrate"].db` and `.configure_args`."""
    from flask_migrate import Migrate
    from sqlalchemy import MetaData

    app = flask.Flask("internals")
    target = SimpleNamespace(engine=object(), metadata=MetaData())
    Migrate(app, target, directory="migrations", compare_type=True, render_as_batch=True)
    config = app.extensions["migrate"]
    assert config.db is target and config.metadata is target.metadata
    assert config.configure_args == {"compare_type": True, "render_as_batch": True}
    env = (ROOT / "migrations" / "env.py").read_text()
    assert 'extensions["migrate"].db' in env and "configure_args" in env


# ---------------------------------------------------------------- the list


def test_socketio_server_event_entry_point_we_guard():
    assert params(socketio.Server._handle_event) == ["self", "eio_sid", "namespace", "id", "data"]
    server = socketio.Server()
    assert callable(server._send_packet) and server.packet_class is not None
    assert callable(server.manager.sid_from_eio_sid) and callable(server.manager.is_connected)
    # the event name is data[0]; the handler runs after this entry point
    assert "data[0]" in source(socketio.Server._handle_event)
    assert "_handle_event_internal" in source(socketio.Server._handle_event)


def test_gevent_answers_an_overlong_request_line_from_handle_one_request():
    from gevent import pywsgi

    body = source(pywsgi.WSGIHandler.handle_one_request)
    assert "414" in body and "return" in body


def test_eventlet_reads_response_414_at_call_time():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import eventlet.wsgi

    assert isinstance(eventlet.wsgi.RESPONSE_414, bytes)
    # used by name inside the server's code, not copied at import
    assert re.search(r"\bRESPONSE_414\b", inspect.getsource(eventlet.wsgi.HttpProtocol))


def test_pymysql_keeps_the_status_of_the_servers_last_answer():
    import pymysql.connections
    from pymysql.constants import SERVER_STATUS
    from pymysql.protocol import MysqlPacket

    assert SERVER_STATUS.SERVER_STATUS_IN_TRANS == 1
    conn = pymysql.connections.Connection(defer_connect=True)
    conn._execute_command = lambda *args: None  # nothing on the wire
    for status in (0x0001, 0x0000):  # in a transaction, then not
        ok = bytes([0, 0, 0]) + status.to_bytes(2, "little") + bytes(2)  # OK, 0 rows
        conn._read_packet = lambda ok=ok: MysqlPacket(ok, "utf8")
        conn.commit()
        assert conn.server_status == status
    # a query's answer (result set or OK) updates it too
    assert "self.server_status = result.server_status" in source(
        pymysql.connections.Connection._read_query_result)


def test_docs_internals_lists_exactly_these_tests():
    listed = set(re.findall(r"`(test_\w+)`", DOC.read_text()))
    here = {name for name, obj in globals().items()
            if name.startswith("test_") and callable(obj)}
    assert listed - here == set(), "docs/internals.md names tests that do not exist"
    assert here - listed == set(), "tests missing from docs/internals.md"

