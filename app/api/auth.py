from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import select

from app.auth import current_user, issue_token, require, verify_password
from app.factory import components
from app.schemas import LoginIn, parse
from core.models import User
from domain.errors import Unauthorized

bp = Blueprint("auth", __name__, url_prefix="/api/auth")


@bp.post("/login")
def login():
    body = parse(LoginIn)
    comps = components()
    with comps.db.transaction() as tx:
        user = tx.execute(select(User).where(User.username == body.username)).scalar_one_or_none()
    ok = verify_password(user.password_hash if user else None, body.password)
    if not ok or user is None or not user.active:
        raise Unauthorized("wrong username or password")
    token, exp = issue_token(user, comps.settings.jwt_secret, comps.settings.jwt_expires)
    return jsonify({
        "token": token,
        "token_type": "Bearer",
        "expires_at": exp,
        "user": {"id": user.id, "username": user.username, "nombre": user.nombre,
                 "role": user.role},
        # what the front end needs to keep a session alive
        "session": {"timeout": comps.settings.session_timeout,
                    "heartbeat_interval": comps.settings.heartbeat_interval},
    })


@bp.get("/me")
@require()
def me():
    p = current_user()
    return jsonify({"id": p.id, "username": p.username, "nombre": p.nombre, "role": p.role.value})
