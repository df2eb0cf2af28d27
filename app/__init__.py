"""HTTP and Socket.IO edges of the ALBRU session engine.

This module stays light on purpose: `python -m app.server` must monkey-patch
(eventlet/gevent) before Flask, Redis or SQLAlchemy are imported."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

    from app.settings import Settings


def create_app(settings: Settings | None = None, *, role: str = "web") -> Flask:
    """Build the Flask app. `role` is "web" (REST + Socket.IO server) or
    "worker" (Celery: no Socket.IO server, pushes go through the message queue)."""
    from app.factory import build_app

    return build_app(settings, role=role)
