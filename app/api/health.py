"""Health, Socket.IO statistics and session statistics."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, current_app, jsonify, request

from app import queue
from app.auth import require
from app.contract import operation
from app.registry import services
from app.schemas import AsesorStatsOut, HealthOut, HealthQuery, StatsOut, WsStatsOut
from app.sockets import ws_stats
from domain.states import Role

bp = Blueprint("health", __name__, url_prefix="/api")


def _check(fn) -> dict:
    started = time.perf_counter()
    try:
        detail = fn()
        out = {"ok": True}
        if isinstance(detail, dict):
            out.update(detail)
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not raise
        out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    out["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return out


#: A report is reused for this long: any number of callers, one check.
HEALTH_TTL = 2.0
#: A caller waits this long for a report, then gets a 503 saying so.
HEALTH_BOUND = 2.5
#: A check that never came back no longer stops the next one from starting.
HEALTH_STUCK = 15.0
EXTENSION = "albru.health"


class HealthProbe:
    """Single-flight, cached deep checks. An anonymous caller never drives the
    database, Redis or the broker: at most one check runs at a time (in its own
    thread, on its own broker connection), its report serves every caller for
    HEALTH_TTL seconds, and no caller waits more than HEALTH_BOUND for it."""

    def __init__(self, run: Callable[[], dict], ttl: float = HEALTH_TTL,
                 bound: float = HEALTH_BOUND, stuck: float = HEALTH_STUCK) -> None:
        self.run, self.ttl, self.bound, self.stuck = run, ttl, bound, stuck
        self._lock = threading.Lock()
        self._report: dict | None = None
        self._at = float("-inf")
        self._started: float | None = None
        self._done = threading.Event()

    def report(self) -> dict:
        now = time.monotonic()
        with self._lock:
            if self._report is not None and now - self._at < self.ttl:
                return self._report
            if self._started is None or now - self._started > self.stuck:
                self._started = now
                self._done = threading.Event()
                threading.Thread(target=self._refresh, args=(self._done,), daemon=True,
                                 name="albru-health").start()
            done = self._done
        if done.wait(self.bound):
            with self._lock:
                if self._report is not None:
                    return self._report
        waited = round((time.monotonic() - now) * 1000, 1)
        late = {"ok": False, "error": f"no answer within {self.bound} s", "ms": waited}
        return {"status": "degraded", "time": time.time(),
                "checks": {part: dict(late) for part in ("database", "redis", "broker",
                                                          "workers")}}

    def _refresh(self, done: threading.Event) -> None:
        try:
            report = self.run()
        except Exception as exc:  # noqa: BLE001 - a health check reports, it does not raise
            report = {"status": "degraded", "time": time.time(),
                      "checks": {"health": {"ok": False, "ms": 0.0,
                                            "error": f"{type(exc).__name__}: {exc}"[:300]}}}
        with self._lock:
            if self._done is done:
                self._report, self._at, self._started = report, time.monotonic(), None
        done.set()


def _deep_checks(app: Flask) -> Callable[[], dict]:
    comps = services(app)
    celery_app = queue.celery(app)

    def broker():
        with celery_app.connection_for_write(transport_options={
                "socket_timeout": queue.PING_SOCKET_TIMEOUT,
                "socket_connect_timeout": queue.PING_SOCKET_TIMEOUT}) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)

    def workers():
        names = queue.ping_workers(celery_app)
        if not names:
            raise RuntimeError("no Celery worker answered")
        return {"workers": names}

    def run() -> dict:
        checks = {
            "database": _check(comps.db.ping),
            "redis": _check(comps.redis.ping),
            "broker": _check(broker),
            "workers": _check(workers),
        }
        healthy = all(c["ok"] for c in checks.values())
        return {"status": "ok" if healthy else "degraded", "checks": checks, "time": time.time()}

    return run


def probe(app: Flask) -> HealthProbe:
    found = app.extensions.get(EXTENSION)
    if found is None:
        found = app.extensions.setdefault(EXTENSION, HealthProbe(_deep_checks(app)))
    return found


@bp.get("/health")
@operation(tags=["ops"], query=HealthQuery, ok={200: HealthOut, 503: HealthOut}, public=True)
def health():
    """200 when the database, Redis, the broker and at least one worker answer,
    else 503 with the failing part named. `?live=1` only says the process is up."""
    # The checks run at most once per HEALTH_TTL whoever asks (the report is
    # shared), and no answer waits more than HEALTH_BOUND (HealthProbe).
    if request.args.get("live"):
        return jsonify({"status": "ok"})
    body = probe(current_app._get_current_object()).report()
    return jsonify(body), 200 if body["status"] == "ok" else 503


@bp.get("/ws-stats")
@operation(tags=["ops"], ok={200: WsStatsOut}, errors=(403,))
@require(Role.GTR)
def websocket_stats():
    """Socket.IO connections per room and per web process."""
    return jsonify(ws_stats(services()))


@bp.get("/stats/sessions")
@operation(tags=["ops"], ok={200: StatsOut}, errors=(403,))
@require(Role.GTR)
def session_stats():
    """Sessions today (in TIMEZONE): started, completed, timed out, released."""
    comps = services()
    stats = comps.reports.stats(_day_start(comps.settings.timezone))
    stats["timezone"] = comps.settings.timezone
    stats["day_end"] = _day_end(comps.settings.timezone)
    return jsonify(stats)


@bp.get("/stats/asesores")
@operation(tags=["ops"], ok={200: AsesorStatsOut}, errors=(403,))
@require(Role.GTR)
def asesor_stats():
    """Per advisor: live sessions; completed, timed out, released today; mean handling time."""
    comps = services()
    stats = comps.reports.stats_by_asesor(_day_start(comps.settings.timezone))
    stats["timezone"] = comps.settings.timezone
    stats["day_end"] = _day_end(comps.settings.timezone)
    return jsonify(stats)


def _day_start(timezone: str) -> float:
    """Midnight today in TIMEZONE, as epoch seconds ("today" of the figures)."""
    now = datetime.now(ZoneInfo(timezone))
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def _day_end(timezone: str) -> float:
    """The next midnight in TIMEZONE (when "today" rolls over), as epoch seconds;
    a screen reads the figures again then, without waiting for an event."""
    zone = ZoneInfo(timezone)
    tomorrow = datetime.now(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, datetime.min.time(), tzinfo=zone).timestamp()
