"""REST blueprints. Handlers authenticate, validate and hand off to `core`."""

from __future__ import annotations

from flask import Flask, g, request
from werkzeug.routing import IntegerConverter

from app.ratelimit import enforce
from app.registry import services
from core.ratelimit import RateLimited
from core.settings import Settings
from domain.states import Role

#: Endpoints that manage the session themselves: no extra activity touch.
_SESSION_ENDPOINTS = {"sessions.start", "sessions.heartbeat", "sessions.end",
                      "sessions.restore", "sessions.release"}


class IdConverter(IntegerConverter):
    """A row id in a path: 1 .. 2^31-1 written canonically (no sign, no leading
    zero: `/api/clientes/007` is not client 7), else 404 (no database ever sees it)."""

    regex = r"[1-9][0-9]{0,9}"

    def __init__(self, url_map, *args, **kwargs) -> None:
        super().__init__(url_map, min=1, max=2_147_483_647)


def register_blueprints(app: Flask, settings: Settings) -> None:
    from app.api import auth, bench, board, clientes, health, sessions, users

    app.url_map.converters["id"] = IdConverter
    for module in (auth, clientes, sessions, board, health, users):
        app.register_blueprint(module.bp)
    if settings.bench_endpoints:
        app.register_blueprint(bench.bp)

    @app.after_request
    def activity_tracker(response):
        """Any successful call of an advisor about a client they hold keeps the
        session alive, as the seed's activityTracker middleware did. Each such
        extension counts against the advisor's heartbeat limit (it is a
        heartbeat by other means): past the limit the call is answered but
        the deadline does not move."""
        principal = g.get("principal")
        cliente_id = (request.view_args or {}).get("cliente_id")
        if (
            principal is not None
            and principal.role is Role.ASESOR
            and isinstance(cliente_id, int)
            and response.status_code < 400
            and request.endpoint not in _SESSION_ENDPOINTS
        ):
            try:
                enforce("heartbeat", str(principal.id), headers=False)
            except RateLimited:
                return response
            services().sessions.touch(principal.id, cliente_id)
        return response
