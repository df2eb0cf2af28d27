"""HTTP and Socket.IO edges of the ALBRU session engine.

This module stays light on purpose: `python -m app.server` must monkey-patch
(eventlet/gevent) before Flask, Redis or SQLAlchemy are imported."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

    from core.settings import Settings


def create_app(settings: Settings | None = None, *, role: str = "cli") -> Flask:
    """Build the Flask app. `role` is "web" (REST + Socket.IO server, used by
    `python -m app.server`), "worker" (Celery) or "cli" (`flask --app app ...`);
    only "web" runs a Socket.IO server, the others push through the message queue."""
    from app.factory import build_app

    return build_app(settings, role=role)
