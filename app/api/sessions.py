"""/api/sessions: the advisor's handling session (seed's routes/sessions.js).
The transitions are commands (app/commands.py), shared with Socket.IO."""

from __future__ import annotations

from flask import Blueprint, jsonify

from app import commands
from app.auth import current_user, require
from app.contract import operation
from app.registry import services
from app.schemas import (
    ActiveOut,
    ClienteRef,
    EndIn,
    NotasIn,
    ReleaseIn,
    SessionOut,
    StartOut,
    StatusOut,
    SweepOut,
    json_object,
)
from domain.states import Role

bp = Blueprint("sessions", __name__, url_prefix="/api/sessions")


def run(cmd: commands.Command, *, body: bool = True, **path):
    """A command over REST: the JSON body (when the command takes one) plus the
    path's parameters."""
    payload = json_object() if body else {}
    answer, status = commands.execute(cmd, current_user(), payload, path)
    return jsonify(answer), status


@bp.post("/start")
@operation(tags=["sessions"], body=ClienteRef, ok={201: StartOut, 200: StartOut},
           errors=(400, 403, 404, 409, 413, 422, 429))
@require(fresh=False)  # the START command checks the token in its own transaction
def start():
    """Open a client: 201 a new session, 200 (`resumed`) if you already hold it,
    409 `client_locked` (with `holder`) if another advisor won it."""
    return run(commands.START)


@bp.post("/heartbeat")
@operation(tags=["sessions"], body=ClienteRef, ok={200: SessionOut},
           errors=(400, 403, 404, 409, 413, 422, 429))
@require(fresh=False)  # the HEARTBEAT command checks the token in its own UPDATE
def heartbeat():
    """Keep your session alive: the deadline moves to now + SESSION_TIMEOUT."""
    return run(commands.HEARTBEAT)


@bp.post("/end")
@operation(tags=["sessions"], body=EndIn, ok={200: SessionOut},
           errors=(400, 403, 404, 409, 413, 422))
@require(fresh=False)  # the END command checks the token in its own transaction
def end():
    """End your session with a resultado; the client takes it as its state."""
    return run(commands.END)


@bp.get("/status/<id:cliente_id>")
@operation(tags=["sessions"], ok={200: StatusOut}, errors=(404,))
@require()
def status(cliente_id: int):
    """A client's state and live session (Redis copy and its TTL included)."""
    return jsonify(services().reports.status(current_user().viewer, cliente_id))


@bp.post("/restore/<id:cliente_id>")
@operation(tags=["sessions"], ok={200: SessionOut}, errors=(403, 404, 409))
@require()
def restore(cliente_id: int):
    """Rebuild the Redis session of a client you hold (after a page refresh)."""
    return run(commands.RESTORE, body=False, cliente_id=cliente_id)


@bp.get("/active")
@operation(tags=["sessions"], ok={200: ActiveOut})
@require()
def active():
    """Live sessions (an advisor: their own)."""
    user = current_user()
    items = services().reports.active(None if user.is_gtr else user.id)
    return jsonify({"items": items, "count": len(items)})


@bp.post("/sync")
@operation(tags=["sessions"], ok={200: SweepOut}, errors=(403,))
@require(Role.GTR)
def sync():
    """Run the sweep now (timeouts, orphan locks, Redis resync)."""
    return run(commands.SYNC, body=False)


@bp.post("/release/<id:cliente_id>")
@operation(tags=["sessions"], body=ReleaseIn, body_optional=True, ok={200: SessionOut},
           errors=(400, 403, 404, 409, 413, 422))
@require(Role.GTR)
def release(cliente_id: int):
    """Force-release a live session: the client goes back to `no_gestionado`.
    `keep_notes` (default true) travels in the advisor's push: their console
    attaches the notes they had not saved to the client's history."""
    payload = json_object(optional=True)
    answer, status = commands.execute(commands.RELEASE, current_user(), payload,
                                      {"cliente_id": cliente_id})
    return jsonify(answer), status


#: Attach a lost draft's notes to the caller's own ended session (the desk).
NOTES = commands.Command(
    "notes", NotasIn, Role.ASESOR, None,
    lambda svc, user, b: (svc.sessions.attach_notes(user.id, b.cliente_id, b.session_id,
                                                    b.notas), 200),
    commands.ADVISOR_ONLY)


@bp.post("/notas")
@operation(tags=["sessions"], body=NotasIn, ok={200: SessionOut},
           errors=(400, 403, 404, 409, 413, 422))
@require()
def notas():
    """Attach notes to your own session that ended without them (a timeout, a
    force-release, a lost connection): they join the client's history, and the
    client record when it is its latest session. 409 if it still runs or has notes."""
    return run(NOTES)
