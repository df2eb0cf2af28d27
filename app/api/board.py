"""The board snapshot and the event log over REST: how a screen resyncs."""

from __future__ import annotations

from flask import Blueprint, jsonify

from app.auth import current_user, require
from app.contract import operation
from app.registry import services
from app.schemas import BoardOut, EventsOut, EventsQuery, parse_query
from domain.events import resume_plan, user_rooms, visible
from domain.states import Role

bp = Blueprint("board", __name__, url_prefix="/api")


@bp.get("/board")
@operation(tags=["realtime"], ok={200: BoardOut})
@require()
def get_board():
    """The board: every client in derivado / en_gestion (an advisor: theirs and the pool)."""
    return jsonify(services().board(current_user().viewer))


@bp.get("/events")
@operation(tags=["realtime"], query=EventsQuery, ok={200: EventsOut}, errors=(422,))
@require()
def get_events():
    """The events after `after` that you may see, in order (at most `limit`);
    `snapshot_required` when the log no longer holds them: reload /api/board."""
    q = parse_query(EventsQuery)
    user = current_user()
    rooms = user_rooms(user.role is Role.GTR, user.id)
    log = services().events
    window = log.window()
    if resume_plan(q.after, window.first, window.last) == "snapshot":
        return jsonify({"snapshot_required": True, "last_seq": window.last, "more": False,
                        "events": []})
    events = log.after(q.after, window.last, limit=q.limit)
    more = bool(events) and events[-1].seq < window.last
    return jsonify({
        "snapshot_required": False,
        "last_seq": events[-1].seq if more else window.last,
        "more": more,
        "events": [ev.payload for ev in events if visible(ev.rooms, rooms)],
    })
