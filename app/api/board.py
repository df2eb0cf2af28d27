"""The board snapshot and the event log over REST: how a screen resyncs."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.auth import current_user, require
from app.factory import components
from core.board import board
from domain.errors import ValidationFailed
from domain.events import resume_plan, user_rooms, visible
from domain.states import Role

bp = Blueprint("board", __name__, url_prefix="/api")

MAX_EVENTS = 1000


def _int_arg(name: str, default: int | None, minimum: int, maximum: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be an integer", field=name) from None
    if not minimum <= value <= maximum:
        raise ValidationFailed(f"{name} must be between {minimum} and {maximum}", field=name)
    return value


@bp.get("/board")
@require()
def get_board():
    """GTR: every client in derivado / en_gestion; an advisor: theirs and the pool."""
    user = current_user()
    return jsonify(board(components().db, None if user.role is Role.GTR else user.id))


@bp.get("/events")
@require()
def get_events():
    """Events after `after` that this user may see, in order (at most `limit`).
    `snapshot_required: true` when the log no longer holds them: reload /api/board."""
    after = _int_arg("after", None, 0, 2**62)
    if after is None:
        raise ValidationFailed("after is required (the last seq you saw)", field="after")
    limit = _int_arg("limit", 500, 1, MAX_EVENTS)
    user = current_user()
    rooms = user_rooms(user.role is Role.GTR, user.id)
    log = components().events
    window = log.window()
    if resume_plan(after, window.first, window.last) == "snapshot":
        return jsonify({"snapshot_required": True, "last_seq": window.last, "events": []})
    events = log.after(after, window.last, limit=limit)
    more = bool(events) and events[-1].seq < window.last
    return jsonify({
        "snapshot_required": False,
        "last_seq": events[-1].seq if more else window.last,
        "more": more,
        "events": [ev.payload for ev in events if visible(ev.rooms, rooms)],
    })
