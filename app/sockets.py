"""Socket.IO edge: authenticate, put the user in their rooms, hand off.

Rooms are chosen by the server from the token (gtr-room; asesor-room and
asesor-{id}); a client cannot join a room by asking. A client that connects
with `auth.last_seq` is first sent what it missed (app.realtime), then a
`resync` event, then live events. Connection and delivery counts are
published per process to Redis, so /api/ws-stats sums every web process."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, g, request
from flask_socketio import ConnectionRefusedError, SocketIO, join_room  # noqa: A004
from socketio import packet as socketio_packet
from sqlalchemy import select

from app.auth import InvalidToken, Principal, TokenExpired, authenticate, still_valid
from app.commands import SOCKET_COMMANDS, execute
from app.errors import error_body
from app.realtime import OrderedRedisManager
from core.models import RevokedToken, User
from core.services import Services
from core.settings import Settings
from domain.errors import DomainError
from domain.events import ASESOR_ROOM, GTR_ROOM, user_rooms
from domain.states import Role

log = logging.getLogger(__name__)

socketio = SocketIO()
NODE_ID = f"{socket.gethostname()}:{os.getpid()}"
STATS_EVERY = 10.0
EXPIRY_EVERY = 1.0  # how often sockets whose token has expired are closed
#: How often this process re-reads the users of its open sockets: a user
#: deactivated, whose password changed or who logged out (on any web process)
#: has their sockets closed within RECHECK_EVERY + EXPIRY_EVERY seconds.
RECHECK_EVERY = 2.0
ACK_GRACE = 0.1  # seconds an error acknowledgement gets to leave before a close
EXTENSION = "albru.sockets"


@dataclass
class Hub:
    """One app's Socket.IO state: its connections' users and its manager."""

    app: Flask
    services: Services
    manager: OrderedRedisManager
    principals: dict[str, Principal] = field(default_factory=dict)  # sid -> user, this process
    loop_started: bool = False

    def principal_of(self, sid: str) -> Principal | None:
        return self.principals.get(sid)

    def connection_count(self) -> int:
        return local_stats(self)["connections"]


def hub(app: Flask | None = None) -> Hub:
    return (app or current_app).extensions[EXTENSION]


def init_socketio(app: Flask, settings: Settings, services: Services) -> Hub:
    manager = OrderedRedisManager(settings.redis_url, settings.socketio_channel,
                                  services.events, services.breaker)
    state = app.extensions[EXTENSION] = Hub(app, services, manager)
    socketio.init_app(
        app,
        async_mode=settings.async_mode,
        client_manager=manager,
        cors_allowed_origins=origin_checker(settings.cors_origins),
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        json=None,
    )
    guard_reserved_events(socketio.server)
    return state


#: Names of the Socket.IO lifecycle (and the JS client's reserved names). The
#: server fires them itself; a client that sent one would otherwise run their
#: handlers: `disconnect` took it off the token-expiry close while it kept its
#: rooms, `connect` with another user's token switched the socket's identity.
RESERVED_EVENTS = frozenset({
    "connect", "connect_error", "disconnect", "disconnecting", "error",
    "newListener", "removeListener", "ping", "pong", "reconnect", "reconnect_attempt",
    "reconnect_error", "reconnect_failed",
})
_RESERVED_FOLDED = frozenset(e.casefold() for e in RESERVED_EVENTS)


def is_reserved(event: Any) -> bool:
    """A lifecycle name, or one dressed like it (any case, `__` internals)."""
    if not isinstance(event, str):
        return True  # not even a name: refused alike
    name = event.strip()
    return name.casefold() in _RESERVED_FOLDED or name.startswith("__")


def reserved_refusal(event: Any) -> dict[str, Any]:
    return {"error": "reserved_event", "status": 400,
            "message": f"{str(event)[:64]!r} is a reserved event name; a client may not send it"}


def guard_reserved_events(server: Any) -> None:
    """Refuse, before any handler runs, a client event named like a lifecycle
    event: an error acknowledgement (when one is asked for), nothing changed.
    python-socketio routes a client's EVENT packet named "connect" or
    "disconnect" to those handlers; this is the one place all events enter."""
    if server is None or getattr(server, "_albru_guarded", False):
        return
    handle = server._handle_event

    def guarded(eio_sid: str, namespace: str | None, id: Any, data: Any) -> Any:
        event = data[0] if isinstance(data, list) and data else None
        if not is_reserved(event):
            return handle(eio_sid, namespace, id, data)
        namespace = namespace or "/"
        sid = server.manager.sid_from_eio_sid(eio_sid, namespace)
        log.warning("refused reserved event %r from %s", str(event)[:64], sid)
        if id is not None and server.manager.is_connected(sid, namespace):
            server._send_packet(eio_sid, server.packet_class(
                socketio_packet.ACK, namespace=namespace, id=id, data=[reserved_refusal(event)]))
        return None

    server._handle_event = guarded
    server._albru_guarded = True


def origin_checker(allowed: tuple[str, ...]):
    """Browsers may connect from FRONTEND_URL (comma list, or *) or from the
    server's own origin (the UI served by Flask); other origins are refused."""

    def check(origin: str | None, environ: dict) -> bool:
        if origin is None or "*" in allowed:
            return True
        origin = origin.rstrip("/")
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin in allowed or origin == own

    return check


def _node_key(prefix: str, node: str = NODE_ID) -> str:
    return f"{prefix}:ws:node:{node}"


def local_stats(state: Hub, leaving: str | None = None) -> dict[str, Any]:
    """This process' connections per room; `leaving` is a sid being disconnected
    (still in its rooms while its disconnect handler runs)."""
    rooms = socketio.server.manager.rooms.get("/", {}) if socketio.server else {}
    per_room = {
        name: sum(1 for sid in members if sid != leaving)
        for name, members in rooms.items()
        if isinstance(name, str) and (name in (GTR_ROOM, ASESOR_ROOM) or name.startswith("asesor-"))
    }
    everyone = rooms.get(None, {})
    return {"node": NODE_ID, "connections": sum(1 for sid in everyone if sid != leaving),
            "rooms": per_room,
            "delivery": state.manager.stats.as_dict(),
            "last_seq": state.manager.last,
            "ts": time.time()}


def publish_stats(state: Hub, leaving: str | None = None) -> None:
    comps = state.services
    try:
        comps.redis.set(_node_key(comps.settings.key_prefix),
                        json.dumps(local_stats(state, leaving)), ex=int(STATS_EVERY * 3))
    except Exception as exc:  # noqa: BLE001 - statistics must never break a connection
        log.debug("ws stats not published: %s", exc)


def ws_stats(comps: Services) -> dict[str, Any]:
    """Connections per room and per process, summed over the live web processes."""
    nodes = []
    for key in comps.redis.scan_iter(match=_node_key(comps.settings.key_prefix, "*"), count=100):
        raw = comps.redis.get(key)
        if raw:
            nodes.append(json.loads(raw))
    rooms: dict[str, int] = {}
    delivery: dict[str, int] = {}
    for node in nodes:
        for name, count in node["rooms"].items():
            rooms[name] = rooms.get(name, 0) + count
        for name, count in node.get("delivery", {}).items():
            delivery[name] = delivery.get(name, 0) + count
    return {
        "connections": sum(n["connections"] for n in nodes),
        "rooms": rooms,
        "delivery": delivery,
        "nodes": sorted(nodes, key=lambda n: n["node"]),
    }


def recheck_principals(state: Hub) -> int:
    """Close this process' sockets whose user no longer honours their token
    (deactivated, password changed, logged out, deleted, role changed): one
    query for all the users connected here. Returns how many were closed."""
    connected = list(state.principals.items())
    if not connected:
        return 0
    ids = sorted({p.id for _, p in connected})
    jtis = sorted({p.jti for _, p in connected})
    try:
        with state.services.db.transaction() as tx:
            rows = {u.id: u for u in tx.execute(select(User).where(User.id.in_(ids))).scalars()}
            revoked = set(tx.execute(select(RevokedToken.jti)
                                     .where(RevokedToken.jti.in_(jtis))).scalars())
    except Exception as exc:  # noqa: BLE001 - database down: every command is refused anyway
        log.debug("socket principals not re-checked: %s", exc)
        return 0
    closed = 0
    for sid, principal in connected:
        if principal.jti in revoked or not still_valid(principal, rows.get(principal.id)):
            _close(state, sid, "invalid_token",
                   "the token was revoked (logout, password change or deactivation)")
            closed += 1
    return closed


def _stats_loop(state: Hub) -> None:
    """Publish this process' figures, close sockets whose token expired, and
    every RECHECK_EVERY seconds those whose token was revoked."""
    last_published = 0.0
    last_checked = 0.0
    while True:
        now = time.time()
        for sid, principal in list(state.principals.items()):
            if principal.expires_at is not None and principal.expires_at <= now:
                _close(state, sid, "token_expired", "the token has expired; log in again")
        if now - last_checked >= RECHECK_EVERY:
            last_checked = now
            with state.app.app_context():
                recheck_principals(state)
        if now - last_published >= STATS_EVERY:
            publish_stats(state)
            last_published = now
        socketio.sleep(EXPIRY_EVERY)


def _close(state: Hub, sid: str, code: str, message: str) -> None:
    """Tell the client why, then disconnect it (it must not reconnect as is)."""
    state.principals.pop(sid, None)
    try:
        socketio.server.emit("auth_error", {"error": code, "message": message}, to=sid,
                             namespace="/", ignore_queue=True)
        socketio.server.disconnect(sid, namespace="/", ignore_queue=True)
    except Exception as exc:  # noqa: BLE001 - it may be gone already
        log.debug("closing %s: %s", sid, exc)


def _last_seq(auth: Any) -> tuple[bool, int | None]:
    """(asked to resume?, the last seq seen). `last_seq: null` asks for a
    snapshot; a missing key means a plain (seed) client: rooms at once."""
    if not isinstance(auth, dict) or "last_seq" not in auth:
        return False, None
    value = auth["last_seq"]
    if value is None:
        return True, None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConnectionRefusedError({"error": "validation_error", "field": "last_seq",
                                      "message": "last_seq must be null or an integer >= 0"})
    return True, value


def _resume(state: Hub, sid: str, rooms: list[str], last_seen: int | None) -> None:
    try:
        state.manager.resume(sid, rooms, last_seen)
        publish_stats(state)
    except Exception as exc:  # noqa: BLE001 - the client must not hang: tell it
        log.warning("resume of %s failed: %s", sid, exc)
        try:
            socketio.server.emit("resync", {"status": "snapshot_required", "from_seq": last_seen,
                                            "last_seq": None, "replayed": 0,
                                            "error": "resume_failed"},
                                 to=sid, namespace="/", ignore_queue=True)
            for room in rooms:
                socketio.server.enter_room(sid, room, namespace="/")
        except Exception as again:  # noqa: BLE001 - it disconnected meanwhile
            log.debug("could not tell %s: %s", sid, again)


@socketio.on("connect")
def on_connect(auth: Any = None):
    state = hub()
    token = auth.get("token") if isinstance(auth, dict) else None
    try:
        principal = authenticate(token if isinstance(token, str) else None,
                                 state.services.settings.jwt_secret)
    except DomainError as exc:
        raise ConnectionRefusedError({"error": exc.code, "message": exc.message}) from None
    resuming, last_seen = _last_seq(auth)
    rooms = user_rooms(principal.role is Role.GTR, principal.id)
    if resuming:
        # After this handler returns, so the replay follows the CONNECT packet.
        socketio.start_background_task(_resume, state, request.sid, rooms, last_seen)
    else:
        for room in rooms:
            join_room(room)
    state.principals[request.sid] = principal
    if not state.loop_started:
        state.loop_started = True
        socketio.start_background_task(_stats_loop, state)
    publish_stats(state)
    return True


@socketio.on("disconnect")
def on_disconnect(*_args: Any):
    state = hub()
    state.principals.pop(request.sid, None)
    publish_stats(state, leaving=request.sid)


@socketio.on("join")
def on_join(*_args: Any):
    """Rooms follow from the token; asking for one is refused, never granted."""
    return {"error": "forbidden", "message": "rooms are assigned by the server", "status": 403}


def socket_command(name: str, data: Any) -> dict[str, Any]:
    """A command over the socket (app/commands.py): the same checks and errors
    as over REST. The answer is the REST body; an error also says its status."""
    state = hub()
    principal = state.principals.get(request.sid)
    if principal is None:
        return {"error": "unauthorized", "message": "not connected", "status": 401}
    g.principal = principal
    if principal.expires_at and principal.expires_at <= time.time():
        _close(state, request.sid, "token_expired", "the token has expired; log in again")
        return {"error": "token_expired", "message": "the token has expired; log in again",
                "status": 401}
    try:
        answer, _status = execute(SOCKET_COMMANDS[name], principal, data)
    except DomainError as exc:
        body, status = error_body(exc)
        if isinstance(exc, InvalidToken | TokenExpired):  # deactivated meanwhile: close,
            socketio.start_background_task(_close_after_ack, state, request.sid, exc)
        return {**body, "status": status}
    return answer


def _close_after_ack(state: Hub, sid: str, exc: DomainError) -> None:
    """Close a socket whose user may no longer be served, once its pending
    acknowledgement (which says why) has gone out."""
    socketio.sleep(ACK_GRACE)
    _close(state, sid, exc.code, exc.message)


@socketio.on("heartbeat")
def on_heartbeat(data: Any = None):
    """The same heartbeat as POST /api/sessions/heartbeat, over the socket."""
    return socket_command("heartbeat", data)


@socketio.on("*")
def on_unknown(event: str, *_args: Any):
    """An event nobody handles gets an error acknowledgement, not silence."""
    return {"error": "unknown_event", "message": f"unknown event {str(event)[:64]!r}",
            "status": 404}


@socketio.on_error_default
def on_error(exc: Exception):
    log.exception("socket handler failed: %s", exc)
    return {"error": "internal_error", "message": "unexpected server error", "status": 500}
