"""/api/sessions: the advisor's handling session (seed's routes/sessions.js)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from app.auth import current_user, require
from app.contract import operation
from app.factory import components
from app.ratelimit import enforce
from app.schemas import (
    ActiveOut,
    ClienteRef,
    EndIn,
    SessionOut,
    StartOut,
    StatusOut,
    SweepOut,
    parse,
)
from domain.errors import Forbidden, NotFound
from domain.states import Role

bp = Blueprint("sessions", __name__, url_prefix="/api/sessions")


def _advisor() -> int:
    user = current_user()
    if user.role is not Role.ASESOR:
        raise Forbidden("only an advisor (asesor) holds handling sessions")
    return user.id


@bp.post("/start")
@operation(tags=["sessions"], body=ClienteRef, ok={201: StartOut, 200: StartOut},
           errors=(400, 403, 404, 409, 413, 422, 429))
@require()
def start():
    """Open a client: 201 a new session, 200 (`resumed`) if you already hold it,
    409 `client_locked` (with `holder`) if another advisor won it."""
    body = parse(ClienteRef)
    advisor = _advisor()
    enforce("start", str(advisor))
    out = components().sessions.start(advisor, body.cliente_id)
    return jsonify({**out.session, "resumed": not out.created}), 201 if out.created else 200


@bp.post("/heartbeat")
@operation(tags=["sessions"], body=ClienteRef, ok={200: SessionOut},
           errors=(400, 403, 404, 409, 413, 422, 429))
@require()
def heartbeat():
    """Keep your session alive: the deadline moves to now + SESSION_TIMEOUT."""
    body = parse(ClienteRef)
    advisor = _advisor()
    enforce("heartbeat", str(advisor))
    out = components().sessions.heartbeat(advisor, body.cliente_id, body.session_id)
    return jsonify(out.session)


@bp.post("/end")
@operation(tags=["sessions"], body=EndIn, ok={200: SessionOut},
           errors=(400, 403, 404, 409, 413, 422))
@require()
def end():
    """End your session with a resultado; the client takes it as its state."""
    body = parse(EndIn)
    out = components().sessions.end(_advisor(), body.cliente_id, body.resultado, body.notas,
                                    body.session_id)
    return jsonify(out.session)


@bp.get("/status/<id:cliente_id>")
@operation(tags=["sessions"], ok={200: StatusOut}, errors=(404,))
@require()
def status(cliente_id: int):
    """A client's state and live session (Redis copy and its TTL included)."""
    view = components().sessions.status(cliente_id)
    user = current_user()
    session = view["session"]
    if not user.is_gtr and view["asesor_asignado"] not in (None, user.id) and not (
        session and session["asesor_id"] == user.id
    ):
        raise NotFound(f"cliente {cliente_id} not found", cliente_id=cliente_id)
    return jsonify(view)


@bp.post("/restore/<id:cliente_id>")
@operation(tags=["sessions"], ok={200: SessionOut}, errors=(403, 404, 409))
@require()
def restore(cliente_id: int):
    """Rebuild the Redis session of a client you hold (after a page refresh)."""
    out = components().sessions.restore(_advisor(), cliente_id)
    return jsonify(out.session)


@bp.get("/active")
@operation(tags=["sessions"], ok={200: ActiveOut})
@require()
def active():
    """Live sessions (an advisor: their own)."""
    user = current_user()
    items = components().sessions.active(None if user.is_gtr else user.id)
    return jsonify({"items": items, "count": len(items)})


@bp.post("/sync")
@operation(tags=["sessions"], ok={200: SweepOut}, errors=(403,))
@require(Role.GTR)
def sync():
    """Run the sweep now (timeouts, orphan locks, Redis resync)."""
    return jsonify(components().sessions.sweep())


@bp.post("/release/<id:cliente_id>")
@operation(tags=["sessions"], ok={200: SessionOut}, errors=(403, 404, 409))
@require(Role.GTR)
def release(cliente_id: int):
    """Force-release a live session: the client goes back to `no_gestionado`."""
    return jsonify(components().sessions.release(current_user().id, cliente_id))
