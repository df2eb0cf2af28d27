"""Health, Socket.IO statistics and session statistics."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, jsonify, request

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


@bp.get("/health")
@operation(tags=["ops"], query=HealthQuery, ok={200: HealthOut, 503: HealthOut}, public=True)
def health():
    """200 when the database, Redis, the broker and at least one worker answer,
    else 503 with the failing part named. `?live=1` only says the process is up."""
    if request.args.get("live"):
        return jsonify({"status": "ok"})
    comps = services()
    celery_app = queue.celery(current_app)

    def broker():
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)

    def workers():
        names = queue.ping_workers(celery_app)
        if not names:
            raise RuntimeError("no Celery worker answered")
        return {"workers": names}

    checks = {
        "database": _check(comps.db.ping),
        "redis": _check(comps.redis.ping),
        "broker": _check(broker),
        "workers": _check(workers),
    }
    healthy = all(c["ok"] for c in checks.values())
    body = {"status": "ok" if healthy else "degraded", "checks": checks, "time": time.time()}
    return jsonify(body), 200 if healthy else 503


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
    return jsonify(stats)


@bp.get("/stats/asesores")
@operation(tags=["ops"], ok={200: AsesorStatsOut}, errors=(403,))
@require(Role.GTR)
def asesor_stats():
    """Per advisor: live sessions; completed, timed out, released today; mean handling time."""
    comps = services()
    stats = comps.reports.stats_by_asesor(_day_start(comps.settings.timezone))
    stats["timezone"] = comps.settings.timezone
    return jsonify(stats)


def _day_start(timezone: str) -> float:
    """Midnight today in TIMEZONE, as epoch seconds ("today" of the figures)."""
    now = datetime.now(ZoneInfo(timezone))
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
