"""Flask serves the built UI (app/webui.py) without shadowing the server's
own paths. Uses the web app's test client: no database is touched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app import webui


@pytest.fixture(scope="module")
def web_app():
    from app.factory import build_app
    from core.settings import Settings

    return build_app(Settings.from_env({"APP_ENV": "development"}, dotenv=False), role="web")


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    monkeypatch.setattr(webui, "DIST", tmp_path)
    yield tmp_path


def test_client_routes_get_index_and_assets_are_immutable(web_app, dist):
    c = web_app.test_client()
    for path in ("/", "/gtr", "/asesor", "/login"):
        r = c.get(path)
        assert r.status_code == 200 and b'id=root' in r.data, path
        assert r.headers["Cache-Control"] == "no-cache"
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    r = c.get("/assets/index-abc123.js")
    assert r.status_code == 200 and r.data == b"console.log(1)"
    assert "immutable" in r.headers["Cache-Control"]
    assert c.get("/assets/missing-1.js").status_code == 404
    assert c.get("/../app/webui.py").status_code == 404
    for unknown in ("/etc/passwd", "/favicon.ico", "/no-such-page", "/static/x.js"):
        r = c.get(unknown)
        assert r.status_code == 404 and b"id=root" not in r.data, unknown


def test_server_paths_are_never_shadowed(web_app, dist):
    c = web_app.test_client()
    r = c.get("/api/no-such-thing")
    assert r.status_code == 404 and r.is_json and r.json["error"] == "not_found"
    assert c.post("/api/no-such-thing").status_code == 404
    assert c.post("/nope", json={}).status_code == 404  # as before the UI existed
    r = c.get("/api/sessions/start")
    assert r.status_code == 405 and "POST" in r.headers["Allow"]
    assert c.get("/api/health?live=1").json == {"status": "ok"}
    assert c.get("/metrics").status_code == 200
    assert b"id=root" not in c.get("/metrics").data
    assert b"id=root" not in c.get("/socket.io/").data


def test_missing_build_says_how_to_make_one(web_app, tmp_path, monkeypatch):
    monkeypatch.setattr(webui, "DIST", tmp_path / "nothing")
    r = web_app.test_client().get("/gtr")
    assert r.status_code == 503
    assert b"make web" in r.data and b"npm run build" in r.data
    assert web_app.test_client().get("/etc/passwd").status_code == 404
