"""The benchmark's floor, registered only when BENCH_ENDPOINTS=1 (refused in
production): a no-op endpoint and a bare emit through the same Redis message
queue, so `make bench` can say how close the engine is to its framework."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.registry import services
from domain.events import GTR_ROOM

bp = Blueprint("bench", __name__, url_prefix="/api/bench")

#: The event name of a bare emit (not logged, no seq: not part of the contract).
BENCH_EVENT = "BENCH_EMIT"


@bp.post("/noop")
def noop():
    """Parses the body and answers: the cost of the web stack alone."""
    body = request.get_json(silent=True) or {}
    return jsonify({"ok": True, "echo": body.get("id")})


@bp.post("/emit")
def emit():
    """One emit to gtr-room through the Redis message queue, as a push would
    travel, without a transaction or the event log."""
    body = request.get_json(silent=True) or {}
    services().publisher.emit_raw(BENCH_EVENT, {"id": body.get("id")}, [GTR_ROOM])
    return jsonify({"ok": True})
