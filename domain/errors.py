"""Domain errors. Each carries an HTTP-ish status and a stable machine code,
so the edges (REST, Socket.IO) can answer without knowing the rules."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 409
    code = "conflict"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class ClientLocked(Conflict):
    """Another advisor holds the client: the answer says who."""

    code = "client_locked"


class InvalidState(Conflict):
    code = "invalid_state"


class SessionExpired(Conflict):
    code = "session_expired"


class NoActiveSession(Conflict):
    code = "no_active_session"


class ValidationFailed(DomainError):
    status = 422
    code = "validation_error"


class Unavailable(DomainError):
    status = 503
    code = "unavailable"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class InvalidToken(Unauthorized):
    """The token's user no longer honours it (unknown, inactive, another role,
    a newer token version or salt) or the token was logged out. Here, not in
    the app, because the heartbeat checks it inside its own UPDATE (core)."""

    code = "invalid_token"
