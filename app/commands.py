"""One command layer under both edges. A command is declared once (its input
model, the role it needs, its rate limit, what it runs) and REST and Socket.IO
both call `execute`, so a heartbeat sent either way gets the same validation,
the same auth freshness (a deactivated user is refused on the next call), the
same per-user rate limit and the same error codes. Socket acknowledgements of
errors carry exactly the REST error body, plus its HTTP `status`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.auth import Principal, ensure_fresh, fresh_first
from app.ratelimit import enforce
from app.registry import services
from app.schemas import ClienteRef, DeriveCmd, EndIn, Nothing, ReleaseCmd, validate
from core.services import Services
from domain.errors import DomainError, Forbidden
from domain.states import Role


@dataclass(frozen=True)
class Command:
    name: str
    body: type  # a pydantic model of app.schemas
    role: Role | None
    #: the configured rate limit counted per user (Settings.rate_limit), or None
    limit: str | None
    #: (services, principal, body), plus `renewed=` when `renews_copy`
    run: Callable[..., tuple[dict[str, Any], int]]
    forbidden: str = "this needs another role"
    #: `run` checks the token against the database itself, inside its own
    #: statement (the heartbeat: core/heartbeat.py), so the separate check
    #: runs only to explain a refusal; the answers stay those of ensure_fresh.
    fresh_in_run: bool = False
    #: `run` opens a transaction before anything else (start, end): the token
    #: check rides in it as its first statement (app.auth.fresh_first).
    fresh_in_tx: bool = False
    #: `run` renews the client's session copy in Redis (core.cache): do it in
    #: the rate limit's round trip, and tell `run` (keyword `renewed`) whether
    #: the copy was there (None: not renewed there, `run` renews it itself).
    renews_copy: bool = False


def execute(cmd: Command, principal: Principal, payload: Any,
            path: dict[str, Any] | None = None) -> tuple[dict[str, Any], int]:
    """Run `cmd` for `principal` on `payload` (a JSON object; path parameters
    merged in): fresh user (401), validate (422), role (403), limit (429), run.
    A `fresh_in_run` or `fresh_in_tx` command checks freshness itself, and
    here only when it is refused before running, so a stale token still gets
    its 401 before anything else."""
    deferred = cmd.fresh_in_run or cmd.fresh_in_tx
    if not deferred:
        ensure_fresh(principal)
    try:
        data = dict(payload) if isinstance(payload, dict) else {}
        data.update(path or {})
        body = validate(cmd.body, data)
        if cmd.role is not None and principal.role is not cmd.role:
            raise Forbidden(cmd.forbidden)
        svc = services()
        renew = (svc.sessions.cache.key(body.cliente_id), int(svc.sessions.timeout * 1000)) \
            if cmd.renews_copy else None
        renewed = enforce(cmd.limit, str(principal.id), renew=renew) \
            if cmd.limit is not None else None
    except DomainError:
        if deferred:
            ensure_fresh(principal)
        raise
    if cmd.renews_copy:
        return cmd.run(svc, principal, body, renewed=renewed)
    if cmd.fresh_in_tx:
        with fresh_first(principal):
            return cmd.run(svc, principal, body)
    return cmd.run(svc, principal, body)


# ------------------------------------------------------------ the commands

ADVISOR_ONLY = "only an advisor (asesor) holds handling sessions"


def _start(svc: Services, user: Principal, b: ClienteRef) -> tuple[dict, int]:
    out = svc.sessions.start(user.id, b.cliente_id)
    return {**out.session, "resumed": not out.created}, 201 if out.created else 200


START = Command("start", ClienteRef, Role.ASESOR, "start", _start, ADVISOR_ONLY,
                fresh_in_tx=True)
HEARTBEAT = Command(
    "heartbeat", ClienteRef, Role.ASESOR, "heartbeat",
    lambda svc, user, b, renewed: (svc.sessions.heartbeat(
        user.id, b.cliente_id, b.session_id, claims=user.claims,
        copy_renewed=renewed).session, 200),
    ADVISOR_ONLY, fresh_in_run=True, renews_copy=True)
END = Command(
    "end", EndIn, Role.ASESOR, None,
    lambda svc, user, b: (svc.sessions.end(user.id, b.cliente_id, b.resultado, b.notas,
                                           b.session_id).session, 200),
    ADVISOR_ONLY, fresh_in_tx=True)
RESTORE = Command(
    "restore", ClienteRef, Role.ASESOR, None,
    lambda svc, user, b: (svc.sessions.restore(user.id, b.cliente_id,
                                               claims=user.claims).session, 200),
    ADVISOR_ONLY)
RELEASE = Command(
    "release", ReleaseCmd, Role.GTR, None,
    lambda svc, user, b: (svc.sessions.release(user.id, b.cliente_id,
                                               keep_notes=b.keep_notes), 200),
    "this needs the gtr role")
DERIVE = Command(
    "derive", DeriveCmd, Role.GTR, None,
    lambda svc, user, b: (svc.clientes.derive(user.id, b.cliente_id, b.asesor_id), 200),
    "this needs the gtr role")
SYNC = Command("sync", Nothing, Role.GTR, None,
               lambda svc, user, b: (svc.sweeper.sweep(), 200), "this needs the gtr role")

#: What a Socket.IO client may send (event name -> command); everything else
#: is answered `unknown_event`.
SOCKET_COMMANDS: dict[str, Command] = {"heartbeat": HEARTBEAT}
