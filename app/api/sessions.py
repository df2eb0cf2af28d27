"""/api/sessions: the advisor's handling session (seed's routes/sessions.js)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from app.auth import current_user, require
from app.factory import components
from app.schemas import ClienteRef, EndIn, parse
from domain.errors import Forbidden, NotFound
from domain.states import Role

bp = Blueprint("sessions", __name__, url_prefix="/api/sessions")


def _advisor() -> int:
    user = current_user()
    if user.role is not Role.ASESOR:
        raise Forbidden("only an advisor (asesor) holds handling sessions")
    return user.id


@bp.post("/start")
@require()
def start():
    body = parse(ClienteRef)
    out = components().sessions.start(_advisor(), body.cliente_id)
    return jsonify({**out.session, "resumed": not out.created}), 201 if out.created else 200


@bp.post("/heartbeat")
@require()
def heartbeat():
    body = parse(ClienteRef)
    out = components().sessions.heartbeat(_advisor(), body.cliente_id, body.session_id)
    return jsonify(out.session)


@bp.post("/end")
@require()
def end():
    body = parse(EndIn)
    out = components().sessions.end(_advisor(), body.cliente_id, body.resultado, body.notas,
                                    body.session_id)
    return jsonify(out.session)


@bp.get("/status/<id:cliente_id>")
@require()
def status(cliente_id: int):
    view = components().sessions.status(cliente_id)
    user = current_user()
    session = view["session"]
    if not user.is_gtr and view["asesor_asignado"] not in (None, user.id) and not (
        session and session["asesor_id"] == user.id
    ):
        raise NotFound(f"cliente {cliente_id} not found", cliente_id=cliente_id)
    return jsonify(view)


@bp.post("/restore/<id:cliente_id>")
@require()
def restore(cliente_id: int):
    out = components().sessions.restore(_advisor(), cliente_id)
    return jsonify(out.session)


@bp.get("/active")
@require()
def active():
    user = current_user()
    items = components().sessions.active(None if user.is_gtr else user.id)
    return jsonify({"items": items, "count": len(items)})


@bp.post("/sync")
@require(Role.GTR)
def sync():
    return jsonify(components().sessions.sweep())


@bp.post("/release/<id:cliente_id>")
@require(Role.GTR)
def release(cliente_id: int):
    return jsonify(components().sessions.release(current_user().id, cliente_id))
