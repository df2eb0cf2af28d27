from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import select

from app.auth import current_user, issue_token, require, verify_password
from app.contract import operation
from app.ratelimit import client_ip, enforce
from app.registry import services
from app.schemas import LoginIn, LoginOut, LogoutIn, LogoutQuery, UserOut, parse, parse_query
from core.models import User
from domain.errors import Unauthorized
from domain.states import Role

bp = Blueprint("auth", __name__, url_prefix="/api/auth")


@bp.post("/login")
@operation(tags=["auth"], body=LoginIn, ok={200: LoginOut}, errors=(400, 401, 413, 429),
           public=True)
def login():
    """Log in: a bearer token for REST and Socket.IO, and the session timing."""
    body = parse(LoginIn)
    # per username and address: guessing one account's password is slowed down,
    # and one office behind a NAT does not lock out everyone's login
    enforce("login", f"{body.username.lower()}|{client_ip()}")
    comps = services()
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
                    "heartbeat_interval": comps.settings.heartbeat_interval,
                    "idle_after": comps.settings.idle_after},
    })


@bp.post("/logout")
@operation(tags=["auth"], query=LogoutQuery, body=LogoutIn, body_optional=True, ok={204: None},
           errors=(400, 413, 422))
@require()
def logout():
    """Log out: this token is revoked (401 on REST at once; its open sockets, on
    every web process, are closed within a few seconds); the user's other
    screens stay logged in. `?everywhere=1` revokes every token of the user.
    `open_sessions` first ends (`end`, with `resultado`) or returns (`return`)
    the caller's open sessions."""
    query = parse_query(LogoutQuery)
    choice = parse(LogoutIn, optional=True)
    p = current_user()
    if choice.closing is not None and p.role is Role.ASESOR:
        services().sessions.close_open(p.id, choice.closing, choice.notas)
    if query.is_everywhere:
        services().users.revoke_tokens(p.id)
    else:
        services().users.revoke_token(p.id, p.jti, p.expires_at or 0.0)
    return "", 204


@bp.get("/me")
@operation(tags=["auth"], ok={200: UserOut})
@require()
def me():
    """The token's user."""
    p = current_user()
    return jsonify({"id": p.id, "username": p.username, "nombre": p.nombre, "role": p.role.value})
