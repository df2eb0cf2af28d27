"""`create_app` proper: settings, components, Celery, blueprints, Socket.IO."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import Engine, MetaData

from app.components import Components
from app.logs import configure_logging
from app.settings import ROOT, Settings

MIGRATIONS_DIR = ROOT / "migrations"


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
    app.config.update(
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,  # a CSV import of ~10k clients fits
        ALBRU_SETTINGS=settings,
    )

    app.json.sort_keys = False  # keep the documented field order

    from tasks import celery_init_app
    from tasks.sessions import arm_timeout

    celery_init_app(app, settings)
    app.extensions["albru"] = Components.build(settings, arm_timeout=arm_timeout)

    from app import cli, contract, errors, http_policy
    from app.api import IdConverter, register_blueprints

    app.url_map.converters["id"] = IdConverter

    errors.register(app)
    if role == "web":
        from app.logs import init_request_logging
        from app.metrics import init_http_metrics

        init_request_logging(app)
        init_http_metrics(app)
    http_policy.register(app, settings)
    if settings.proxy_hops:
        # Behind nginx the TCP peer is the proxy: rate limits and logs need the
        # client's address, which only the trusted hops may tell.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops,
                                x_proto=settings.proxy_hops, x_host=settings.proxy_hops)
    register_blueprints(app)
    contract.register(app)
    cli.register(app)

    if role == "cli":
        from flask_migrate import Migrate

        from core.models import Base

        target = SchemaTarget(app.extensions["albru"].db.engine, Base.metadata)
        Migrate(app, target, directory=str(MIGRATIONS_DIR), compare_type=True,
                render_as_batch=True)

    if role == "web":
        from app.sockets import init_socketio

        init_socketio(app, settings)
        from app import webui

        webui.register(app)
        from app.logs import instrument_socketio
        from app.sockets import NODE_ID, socketio

        instrument_socketio(socketio)
        from app.fallback import start_fallback

        start_fallback(app, socketio, NODE_ID)
    return app


def components() -> Components:
    """The current app's components (inside a request, a CLI command or a task)."""
    return current_app.extensions["albru"]
