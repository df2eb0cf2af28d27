"""The one way an edge reaches the services: `services()` inside a request, a
socket event, a CLI command or a task (they all run in the app's context).

Kept apart from app/factory.py, which builds the app and imports every edge:
the edges import this small module instead, so nothing imports the factory
back (no import circle)."""

from __future__ import annotations

from flask import Flask, current_app

from core.services import Services

EXTENSION = "albru"


def services(app: Flask | None = None) -> Services:
    """The current app's services (or `app`'s)."""
    return (app or current_app).extensions[EXTENSION]
