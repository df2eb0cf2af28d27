"""`create_app` proper: settings, components, Celery, blueprints, Socket.IO."""

from __future__ import annotations

import logging

from flask import Flask, current_app

from app.components import Components
from app.settings import Settings


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


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
    http_policy.register(app, settings)
    register_blueprints(app)
    contract.register(app)
    cli.register(app)

    if role == "web":
        from app.sockets import init_socketio

        init_socketio(app, settings)
    return app


def components() -> Components:
    """The current app's components (inside a request, a CLI command or a task)."""
    return current_app.extensions["albru"]
