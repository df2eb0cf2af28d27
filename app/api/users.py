"""The people who log in, managed by GTR from the admin screen: the same
UserService as `flask --app app users ...` (core/users.py)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import select

from app.api.health import _day_start
from app.auth import current_user, require
from app.contract import operation
from app.registry import services
from app.schemas import AdminUserIn, AdminUserOut, PasswordIn, PresenceOut, parse
from app.sockets import ws_stats
from core.models import User
from domain.errors import Conflict, NotFound
from domain.events import asesor_room
from domain.presence import presence
from domain.states import Role

bp = Blueprint("users", __name__, url_prefix="/api")


def _username(user_id: int) -> str:
    with services().db.transaction() as tx:
        name = tx.execute(select(User.username).where(User.id == user_id)).scalar_one_or_none()
    if name is None:
        raise NotFound(f"user {user_id} not found", user_id=user_id)
    return name


@bp.get("/users")
@operation(tags=["users"], ok={200: list[AdminUserOut]}, errors=(403,))
@require(Role.GTR)
def list_users():
    """Every user (advisors and supervisors), active or not."""
    return jsonify(services().users.list())


@bp.post("/users")
@operation(tags=["users"], body=AdminUserIn, ok={201: AdminUserOut},
           errors=(400, 403, 409, 413, 422))
@require(Role.GTR)
def create_user():
    """Create an advisor or a supervisor; 409 when the username is taken."""
    body = parse(AdminUserIn)
    user = services().users.create(body.username, body.role, body.nombre, body.password)
    return jsonify(user), 201


@bp.post("/users/<id:user_id>/password")
@operation(tags=["users"], body=PasswordIn, ok={200: AdminUserOut},
           errors=(400, 403, 404, 413, 422))
@require(Role.GTR)
def reset_password(user_id: int):
    """Set a user's password; every token they hold is refused from then on."""
    body = parse(PasswordIn)
    return jsonify(services().users.set_password(_username(user_id), body.password))


@bp.post("/users/<id:user_id>/deactivate")
@operation(tags=["users"], ok={200: AdminUserOut}, errors=(403, 404, 409))
@require(Role.GTR)
def deactivate_user(user_id: int):
    """Refuse the user's logins and tokens, close their sockets and return every
    client they hold to GTR. Not yourself: 409."""
    if user_id == current_user().id:
        raise Conflict("you cannot deactivate yourself", field="user_id")
    return jsonify(services().users.set_active(_username(user_id), False))


@bp.post("/users/<id:user_id>/activate")
@operation(tags=["users"], ok={200: AdminUserOut}, errors=(403, 404))
@require(Role.GTR)
def activate_user(user_id: int):
    """Let a deactivated user log in again (with new tokens only)."""
    return jsonify(services().users.set_active(_username(user_id), True))


@bp.get("/presence")
@operation(tags=["users"], ok={200: PresenceOut}, errors=(403,))
@require(Role.GTR)
def get_presence():
    """Each active advisor: en sesión / disponible / inactivo / desconectado,
    since when, and the client of their live session. Connected means a
    socket in their room on any web process (the processes' published
    figures in Redis, refreshed at every connect and disconnect)."""
    comps = services()
    idle = comps.settings.presence_idle
    try:
        rooms = ws_stats(comps)["rooms"]
    except Exception:  # noqa: BLE001 - Redis down: connections unknown, shown as none
        rooms = {}
    data = comps.reports.presence_rows(_day_start(comps.settings.timezone))
    items = []
    for row in data["items"]:
        connections = int(rooms.get(asesor_room(row["asesor_id"]), 0))
        estado, since = presence(connected=connections > 0,
                                 session_started=row["session_started"],
                                 last_activity=row["last_activity"], now=data["now"],
                                 idle_after=idle)
        items.append({"asesor_id": row["asesor_id"], "nombre": row["nombre"],
                      "username": row["username"], "estado": estado.value, "since": since,
                      "connections": connections,
                      "cliente_id": row["cliente_id"] if connections else None,
                      "cliente_nombre": row["cliente_nombre"] if connections else None})
    return jsonify({"items": items, "now": data["now"], "idle_after": idle})
