"""JWT login and the role checks every endpoint and socket goes through."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from flask import g, request

from app.registry import services
from core.models import User
from core.users import hash_password, verify_password  # noqa: F401 - re-exported
from domain.errors import Forbidden, Unauthorized
from domain.states import Role
from domain.visibility import Viewer

ALGORITHM = "HS256"
#: A token's `sub`: a user id as issue_token writes it (1 .. 2^31-1, canonical).
ID_CLAIM = re.compile(r"[1-9][0-9]{0,9}")
MAX_ID = 2_147_483_647
class TokenExpired(Unauthorized):
    code = "token_expired"


class InvalidToken(Unauthorized):
    code = "invalid_token"


@dataclass(frozen=True)
class Principal:
    id: int
    role: Role
    username: str
    nombre: str
    expires_at: float | None = None  # the token's exp: a socket outliving it is closed

    @property
    def is_gtr(self) -> bool:
        return self.role is Role.GTR

    @property
    def viewer(self) -> Viewer:
        """Who is looking, for the visibility rule (domain/visibility.py)."""
        return Viewer(self.id, self.is_gtr)


def issue_token(user: Any, secret: str, expires: int) -> tuple[str, int]:
    now = int(time.time())
    exp = now + expires
    claims = {
        "sub": str(user.id),
        "role": user.role,
        "username": user.username,
        "nombre": user.nombre,
        "iat": now,
        "exp": exp,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), exp


def decode_token(token: str | None, secret: str) -> Principal:
    if not token:
        raise Unauthorized("a bearer token is required")
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub", "role"]})
        sub = claims["sub"]
        if not isinstance(sub, str) or not ID_CLAIM.fullmatch(sub) or int(sub) > MAX_ID:
            raise ValueError("sub is not a user id")  # e.g. >= 2^63: never sent to the database
        return Principal(
            id=int(sub),
            role=Role(claims["role"]),
            username=str(claims.get("username", "")),
            nombre=str(claims.get("nombre", "")),
            expires_at=float(claims["exp"]),
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired("the token has expired; log in again") from None
    except (jwt.InvalidTokenError, ValueError, KeyError):
        raise InvalidToken("the token is not valid") from None


def ensure_fresh(principal: Principal) -> None:
    """A valid signature is not enough: the user must still exist, be active
    and have the role the token claims (a deactivated advisor is out at once).
    Checked once per request or socket event, whichever edge it came by."""
    if g.get("fresh_principal") is principal:
        return
    with services().db.transaction() as tx:
        user = tx.get(User, principal.id)
        if user is None or not user.active or user.role != principal.role.value:
            raise InvalidToken("the token's user is unknown, inactive or has another role")
    g.fresh_principal = principal


def authenticate(token: str | None, secret: str) -> Principal:
    """The token's principal, checked against the database (see ensure_fresh)."""
    principal = decode_token(token, secret)
    ensure_fresh(principal)
    return principal


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def current_user() -> Principal:
    return g.principal


def require(role: Role | None = None) -> Callable:
    """Authenticate the request; with `role`, also demand that role."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            principal = authenticate(bearer_token(), services().settings.jwt_secret)
            if role is not None and principal.role is not role:
                raise Forbidden(f"this needs the {role.value} role")
            g.principal = principal
            return view(*args, **kwargs)

        return wrapper

    return decorator
