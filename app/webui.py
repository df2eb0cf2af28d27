"""The built web UI (web/dist) served by the web process: hashed assets as
files under /assets/, and the UI's own routes (/, /login, /gtr, /asesor; see
web/src/lib/route.ts) as index.html, so a page refresh on them works. Only
those paths, and only GET: /api, /socket.io, /metrics and every other path
answer as before the UI existed (404 / 405 JSON). Without a build the pages
say how to make one (nginx serves the same files in compose)."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, send_from_directory

from core.settings import ROOT
from domain.errors import NotFound

DIST = ROOT / "web" / "dist"
#: The UI: its own scripts, styles and images; fetches and the socket to its origin.
UI_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
          "base-uri 'none'; form-action 'self'")
NOT_BUILT = """<!doctype html>
<html lang="es"><head><meta charset="utf-8"><title>ALBRU: interfaz no compilada</title></head>
<body><h1>La interfaz web no está compilada</h1>
<p>The web UI is not built: run <code>make web</code> (or <code>cd web &amp;&amp; npm ci
&amp;&amp; npm run build</code>; needs Node 20+) and reload. The API is at
<a href="/api/docs">/api/docs</a>.</p></body></html>
"""

bp = Blueprint("webui", __name__)


def _ui_headers(response: Response, *, cache: str) -> Response:
    response.headers["Content-Security-Policy"] = UI_CSP
    response.headers["Cache-Control"] = cache
    return response


def _index() -> Response:
    if not (DIST / "index.html").is_file():
        return _ui_headers(Response(NOT_BUILT, 503, mimetype="text/html"), cache="no-store")
    return _ui_headers(send_from_directory(DIST, "index.html", max_age=0), cache="no-cache")


@bp.get("/")
def home() -> Response:
    return _index()


@bp.get("/<any(login, gtr, asesor):page>")
def page(page: str) -> Response:
    """A page refresh on one of the UI's routes loads the UI, which shows it."""
    return _index()


@bp.get("/assets/<path:name>")
def asset(name: str) -> Response:
    """Vite names assets by content hash: they never change under one name."""
    assets = DIST / "assets"
    target = (assets / name).resolve()
    if not (target.is_file() and target.is_relative_to(assets.resolve())):
        raise NotFound(f"no such file: /assets/{name}")
    response = send_from_directory(assets, name, max_age=31536000)
    return _ui_headers(response, cache="public, max-age=31536000, immutable")


def register(app: Flask) -> None:
    app.register_blueprint(bp)
