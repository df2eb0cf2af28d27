"""The token freshness rule in SQL: one expression, used by the per-request
check (app.auth.ensure_fresh) and inside the heartbeat's own UPDATE
(core.heartbeat), so a deactivated or logged-out advisor is refused on the
next call whichever way it comes, at no extra round trip on the hot path.

app.auth.still_valid is the same rule over a user row already read (the
socket revocation loop reads rows in bulk); tests/test_revocation.py holds
the two to the same answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, not_

from core.models import RevokedToken, User

#: What a refused token is told (401 invalid_token), whichever check refused it.
STALE_TOKEN = "the token's user is unknown, inactive or has another role, or the token was revoked"  # noqa: E501, S105 - a message, not a secret


@dataclass(frozen=True)
class TokenClaims:
    """What a signed token says about its user (app.auth.Principal's part
    that the database must still honour)."""

    user_id: int
    role: str
    version: int
    salt: str
    jti: str


def honoured(claims: TokenClaims | None = None, **binds: Any) -> ColumnElement[bool]:
    """True while the user row honours the token: it exists, is active, has the
    token's role, version and (non-empty) salt, and the token's jti is not in
    revoked_tokens. With `binds` (user_id, role, version, salt, jti as
    bindparams) instead of `claims`: a statement compiled once."""
    if claims is not None:
        if not claims.salt:
            return false()
        binds = {"user_id": claims.user_id, "role": claims.role, "version": claims.version,
                 "salt": claims.salt, "jti": claims.jti}
    return and_(
        exists().where(User.id == binds["user_id"], User.active.is_(True),
                       User.role == binds["role"], User.token_version == binds["version"],
                       User.token_salt == binds["salt"], User.token_salt != ""),
        not_(exists().where(RevokedToken.jti == binds["jti"])))
