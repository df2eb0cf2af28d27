"""JWT login and the role checks every endpoint and socket goes through."""

from __future__ import annotations

import functools
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jwt
from flask import g, request
from sqlalchemy import select

from app.registry import services
from core.db import first_in_next, first_pending
from core.tokens import STALE_TOKEN, TokenClaims, honoured
from core.users import hash_password, verify_password  # noqa: F401 - re-exported
from domain.errors import DomainError, Forbidden, InvalidToken, Unauthorized
from domain.states import Role
from domain.visibility import Viewer

ALGORITHM = "HS256"
#: A token's `sub`: a user id as issue_token writes it (1 .. 2^31-1, canonical).
ID_CLAIM = re.compile(r"[1-9][0-9]{0,9}")
#: A token's `jti`: 32 hex digits, random per token (what a logout revokes).
JTI_CLAIM = re.compile(r"[0-9a-f]{32}")
MAX_ID = 2_147_483_647
class TokenExpired(Unauthorized):
    code = "token_expired"


@dataclass(frozen=True)
class Principal:
    id: int
    role: Role
    username: str
    nombre: str
    expires_at: float | None = None  # the token's exp: a socket outliving it is closed
    version: int = 0  # the user's token_version when the token was issued
    salt: str = ""  # the user's token_salt: never matches a recycled id's new user
    jti: str = ""  # this token's id: a logout revokes it alone (core.models.RevokedToken)

    @property
    def is_gtr(self) -> bool:
        return self.role is Role.GTR

    @property
    def claims(self) -> TokenClaims:
        """What the database must still honour (core.tokens.honoured)."""
        return TokenClaims(self.id, self.role.value, self.version, self.salt, self.jti)

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
        # revocation (ensure_fresh): a password change, deactivation or logout
        # bumps the user's token_version; the salt is random per user row
        "tv": int(getattr(user, "token_version", 0) or 0),
        "uk": str(getattr(user, "token_salt", "") or ""),
        "jti": secrets.token_hex(16),  # a logout revokes this token alone
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), exp


def decode_token(token: str | None, secret: str) -> Principal:
    if not token:
        raise Unauthorized("a bearer token is required")
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub", "role", "tv", "uk", "jti"]})
        sub = claims["sub"]
        if not isinstance(sub, str) or not ID_CLAIM.fullmatch(sub) or int(sub) > MAX_ID:
            raise ValueError("sub is not a user id")  # e.g. >= 2^63: never sent to the database
        version, salt, jti = claims["tv"], claims["uk"], claims["jti"]
        if isinstance(version, bool) or not isinstance(version, int) or not isinstance(salt, str):
            raise ValueError("tv/uk are not a token version and salt")
        if not isinstance(jti, str) or not JTI_CLAIM.fullmatch(jti):
            raise ValueError("jti is not a token id")
        return Principal(
            id=int(sub),
            role=Role(claims["role"]),
            username=str(claims.get("username", "")),
            nombre=str(claims.get("nombre", "")),
            expires_at=float(claims["exp"]),
            version=version,
            salt=salt,
            jti=jti,
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
        _check_fresh(tx, principal)


def _check_fresh(tx: Any, principal: Principal) -> None:
    if not tx.execute(select(honoured(principal.claims))).scalar():
        raise InvalidToken(STALE_TOKEN)
    g.fresh_principal = principal


@contextmanager
def fresh_first(principal: Principal) -> Iterator[None]:
    """ensure_fresh, as the first statement of the first transaction the block
    opens (core.db.first_in_next) instead of a transaction of its own: the
    same rule and answers, a pool checkout, PING and COMMIT fewer. A stale
    token rolls that transaction back before it changed anything (401). If the
    block opened none, or failed before it did, the check runs on its own, so
    a stale token still gets its 401 first."""
    if g.get("fresh_principal") is principal:
        yield
        return
    with first_in_next(functools.partial(_check_fresh, principal=principal)):
        try:
            yield
        except DomainError:
            if first_pending():
                ensure_fresh(principal)
            raise
        if first_pending():
            ensure_fresh(principal)


def still_valid(principal: Principal, user: Any) -> bool:
    """The user row still honours this token: it exists, is active, has the
    token's role, the token's version (a password change, a deactivation or a
    logout everywhere bumps it) and the token's salt (a recycled id is another
    user). A logged-out token (its jti in revoked_tokens) is the caller's check."""
    return (user is not None and bool(user.active) and user.role == principal.role.value
            and user.token_version == principal.version and user.token_salt == principal.salt
            and bool(principal.salt))


def authenticate(token: str | None, secret: str, *, fresh: bool = True) -> Principal:
    """The token's principal, checked against the database (see ensure_fresh)
    unless `fresh` is False: then the caller's command checks it (fresh_in_run)."""
    principal = decode_token(token, secret)
    if fresh:
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


def require(role: Role | None = None, *, fresh: bool = True) -> Callable:
    """Authenticate the request; with `role`, also demand that role. `fresh`
    False: only for a view that runs a command which checks the token itself
    (`fresh_in_run`, the heartbeat, in its own statement; `fresh_in_tx`, start
    and end, in its transaction)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            principal = authenticate(bearer_token(), services().settings.jwt_secret,
                                     fresh=fresh)
            if role is not None and principal.role is not role:
                if not fresh:
                    ensure_fresh(principal)
                raise Forbidden(f"this needs the {role.value} role")
            g.principal = principal
            return view(*args, **kwargs)

        return wrapper

    return decorator
