"""`create_app` proper: settings, services, Celery, blueprints, Socket.IO.

The only module that imports every edge; none of them imports it back (they
reach the services through app.registry)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from sqlalchemy import Engine, MetaData

from app import queue
from app.logs import configure_logging
from app.registry import EXTENSION
from core.services import Services
from core.settings import ROOT, Settings

MIGRATIONS_DIR = ROOT / "migrations"
#: A CSV import of ~10k clients fits; bigger bodies get 413.
MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class SchemaTarget:
    """What Flask-Migrate calls `db`: our engine and models' metadata (we use
    plain SQLAlchemy, not Flask-SQLAlchemy). migrations/env.py reads both."""

    engine: Engine
    metadata: MetaData


def build_app(settings: Settings | None = None, *, role: str = "cli") -> Flask:
    settings = settings or Settings.from_env()
    configure_logging(settings)
    app = Flask("albru")
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY)
    app.json.sort_keys = False  # keep the documented field order

    celery_app = queue.celery_init_app(app, settings)
    svc = app.extensions[EXTENSION] = Services.build(settings, queue.timeout_arming(celery_app))

    if role == "worker":
        # A Celery process (worker, beat, Flower) serves no HTTP: none of the
        # blueprints, OpenAPI contract or CLI are imported (4-5 MB less RSS in
        # each of the worker's processes, measured for issue 19).
        return app

    from app import cli, contract, errors, http_policy
    from app.api import register_blueprints

    errors.register(app)
    if role == "web":
        from app import logs, metrics, sockets

        logs.init_request_logging(app)
        metrics.init_http_metrics(app, svc, lambda: sockets.hub(app).connection_count())
    http_policy.register(app, settings)
    if settings.proxy_hops:
        # Behind nginx the TCP peer is the proxy: rate limits and logs need the
        # client's address, which only the trusted hops may tell.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops,
                                x_proto=settings.proxy_hops, x_host=settings.proxy_hops)
    register_blueprints(app, settings)
    contract.register(app)
    cli.register(app)

    if role == "cli":
        from flask_migrate import Migrate

        from core.models import Base

        Migrate(app, SchemaTarget(svc.db.engine, Base.metadata),
                directory=str(MIGRATIONS_DIR), compare_type=True, render_as_batch=True)

    if role == "web":
        from app import fallback, webui

        hub = sockets.init_socketio(app, settings, svc)
        counter = metrics.app_metrics(app).socket_events
        logs.instrument_socketio(sockets.socketio, hub.principal_of,
                                 lambda name: counter.labels(name).inc())
        webui.register(app)
        fallback.start_fallback(app, sockets.socketio, sockets.NODE_ID)
    return app
