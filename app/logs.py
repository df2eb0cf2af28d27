"""Logging: one line per event, JSON in production, readable text in development.

Every line carries the context it happened in, whichever process wrote it:
request id, user, client id (cliente_id) and session id for HTTP requests and
Socket.IO events; task id and name for Celery tasks. The fields come from the
Flask request (HTTP or Socket.IO) or from the running task, so code in `core`
logs plainly and still gets them. Named `logs` so it never shadows `logging`."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request

from core.settings import Settings

REQUEST_ID_HEADER = "X-Request-ID"
#: A caller's request id is kept when it looks like one; anything else is replaced,
#: so a header cannot inject text into the logs.
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
CONTEXT_FIELDS = ("request_id", "user", "user_id", "cliente_id", "session_id", "sid",
                  "task_id", "task_name")
#: What a Celery task adds to its log lines (set by tasks.__init__ signal hooks).
task_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "albru_task_context", default=None)

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
access_log = logging.getLogger("albru.access")


def _socket_principal(sid: str) -> Any:
    """The user of one of this process' sockets, from the app's Socket.IO hub
    (app.sockets registers it); None outside a web process."""
    state = current_app.extensions.get("albru.sockets")
    return state.principal_of(sid) if state is not None else None


def _request_fields() -> dict[str, Any]:
    """Context of the current HTTP request or Socket.IO event (both run in a
    Flask request context; a socket event has `request.sid`)."""
    out: dict[str, Any] = {}
    ids = g.get("log_fields")
    if ids:
        out.update(ids)
    principal = g.get("principal")
    sid = getattr(request, "sid", None)
    if sid is not None:
        out["sid"] = sid
        if principal is None:
            principal = _socket_principal(sid)
        event = getattr(request, "event", None)
        args = (event or {}).get("args") or ()
        if args and isinstance(args[0], dict) and "cliente_id" not in out:
            cliente_id = args[0].get("cliente_id")
            if isinstance(cliente_id, int) and not isinstance(cliente_id, bool):
                out["cliente_id"] = cliente_id
    else:
        cliente_id = (request.view_args or {}).get("cliente_id")
        if cliente_id is not None and "cliente_id" not in out:
            out["cliente_id"] = cliente_id
    if principal is not None:
        out["user_id"] = principal.id
        out["user"] = principal.username
    return out


class ContextFilter(logging.Filter):
    """Adds the request/event/task fields to every record (None when absent)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields: dict[str, Any] = {}
        task = task_context.get()
        if task:
            fields.update(task)
        if has_request_context():
            with contextlib.suppress(Exception):  # logging must never fail the caller
                fields.update(_request_fields())
        for name in CONTEXT_FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, fields.get(name))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, context, extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and value is not None and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [rid=.. user=..]: message` for a developer's terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ctx)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        parts = [f"{k}={getattr(record, k)}" for k in CONTEXT_FIELDS
                 if getattr(record, k, None) is not None]
        record.ctx = f" [{' '.join(parts)}]" if parts else ""
        try:
            return super().format(record)
        finally:
            del record.ctx


def configure_logging(settings: Settings) -> None:
    """Root handler on stdout (containers: `docker compose logs`), replacing any
    earlier one so a process configured twice does not print lines twice."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    handler._albru = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_albru", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for noisy in ("engineio.server", "socketio.server", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


#: Answers up to this size are read for the session / client ids of the access line.
LOG_BODY_MAX = 4096


def init_request_logging(app: Flask) -> None:
    """Request id in and out, and one access line per HTTP request."""

    @app.before_request
    def _request_id() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.setdefault("request_started", time.perf_counter())  # shared with app.metrics
        g.log_fields = {"request_id": incoming if _REQUEST_ID_OK.match(incoming)
                        else uuid.uuid4().hex}

    @app.after_request
    def _access_line(response: Response) -> Response:
        fields = g.get("log_fields") or {}
        if "request_id" in fields:
            response.headers[REQUEST_ID_HEADER] = fields["request_id"]
        small = (response.content_length or LOG_BODY_MAX + 1) <= LOG_BODY_MAX
        if response.is_json and response.status_code < 500 and small:
            # A session or client answer is small; lists are not read again.
            body = response.get_json(silent=True)
            if isinstance(body, dict):  # the session a request made or touched
                for key in ("session_id", "cliente_id"):
                    if isinstance(body.get(key), str | int) and key not in fields:
                        fields[key] = body[key]
        started = g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        access_log.info(
            "%s %s %s %sms", request.method, request.path, response.status_code, duration_ms,
            extra={"method": request.method, "path": request.path,
                   "route": request.url_rule.rule if request.url_rule else None,
                   "status": response.status_code, "duration_ms": duration_ms,
                   "remote_addr": request.headers.get("X-Real-IP", request.remote_addr)},
        )
        return response


socket_log = logging.getLogger("albru.socket")


def instrument_socketio(sio: Any, principal_of: Callable[[str], Any],
                        count: Callable[[str], None]) -> None:
    """One log line and one counter per Socket.IO event, with the same fields
    as an HTTP request (user, client id, sid). Wraps Flask-SocketIO's single
    dispatch point (a private method: docs/internals.md), so app/sockets.py
    needs no change."""
    original = sio._handle_event
    if getattr(original, "_albru", False):
        original = original.__wrapped__

    def handle_event(handler: Any, message: str, namespace: str, sid: str, *args: Any) -> Any:
        started = time.perf_counter()
        outcome = "error"
        principal = principal_of(sid)  # before a disconnect handler forgets it
        try:
            result = original(handler, message, namespace, sid, *args)
            outcome = "ok"
            return result
        finally:
            count(message)
            fields: dict[str, Any] = {"sid": sid}
            principal = principal or principal_of(sid)
            if principal is not None:
                fields.update(user_id=principal.id, user=principal.username)
            if args and isinstance(args[0], dict) and isinstance(args[0].get("cliente_id"), int):
                fields["cliente_id"] = args[0]["cliente_id"]
            socket_log.info("socket %s %s", message, outcome,
                            extra={**fields, "event": message, "outcome": outcome,
                                   "duration_ms": round((time.perf_counter() - started) * 1000, 2)})

    handle_event._albru = True  # type: ignore[attr-defined]
    handle_event.__wrapped__ = original  # type: ignore[attr-defined]
    sio._handle_event = handle_event
