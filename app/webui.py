"""The built web UI (web/dist) served by the web process: hashed assets as
files, and the UI's own routes (/, /login, /gtr, /asesor) as index.html, so a
page refresh on them works. /api, /socket.io and /metrics are
never shadowed: an unknown path under them stays a JSON 404. Without a build
the pages say how to make one (nginx serves the same files in compose).
Any other path is a 404, as before the UI existed."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, send_from_directory
from werkzeug.routing import PathConverter

from app.settings import ROOT
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

#: The UI's own pages (web/src/lib/route.ts): a refresh on them must load the UI.
CLIENT_ROUTES = frozenset({"", "login", "gtr", "asesor"})

bp = Blueprint("webui", __name__)


class UiPath(PathConverter):
    """A path whose first segment is not a server one: the UI's rule then never
    matches /api/..., so those keep their own 404 and 405 answers."""

    regex = r"(?!(?:api|socket\.io|metrics)(?:/|$))[^/].*?"


def _ui_headers(response: Response, *, cache: str) -> Response:
    response.headers["Content-Security-Policy"] = UI_CSP
    response.headers["Cache-Control"] = cache
    return response


@bp.get("/")
@bp.get("/<uipath:path>")
def ui(path: str = "") -> Response:
    dist: Path = DIST
    page = path.split("/", 1)[0] in CLIENT_ROUTES
    if not (dist / "index.html").is_file():
        if not page:
            raise NotFound(f"no such resource: /{path}")
        return _ui_headers(Response(NOT_BUILT, 503, mimetype="text/html"), cache="no-store")
    target = (dist / path).resolve()
    if path and target.is_file() and target.is_relative_to(dist.resolve()):
        # Vite names assets by content hash: they never change under one name.
        immutable = path.startswith("assets/")
        response = send_from_directory(dist, path, max_age=31536000 if immutable else 0)
        return _ui_headers(response, cache="public, max-age=31536000, immutable"
                           if immutable else "no-cache")
    if not page:
        raise NotFound(f"no such resource: /{path}")  # not a file and not one of the UI's pages
    return _ui_headers(send_from_directory(dist, "index.html", max_age=0), cache="no-cache")


def register(app: Flask) -> None:
    app.url_map.converters["uipath"] = UiPath
    app.register_blueprint(bp)
