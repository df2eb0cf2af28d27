"""The web UI is typed against the server's contract, and the committed types
cannot drift from it: web/openapi.json must be the document the app serves,
web/src/api/schema.gen.ts what openapi-typescript makes of it, and
web/src/api/events.gen.ts what domain/events.py says. Fix a failure with
`make web-contract` and commit the result. Also: nothing built, installed or
secret is tracked by git."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.stack import ROOT
from scripts.web_contract import EVENTS_TS, OPENAPI, events_text, openapi_text

WEB = ROOT / "web"
SCHEMA_TS = WEB / "src" / "api" / "schema.gen.ts"
REQUIRE = os.environ.get("ALBRU_REQUIRE_BROWSER") == "1"
HINT = "run `make web-contract` and commit web/openapi.json and web/src/api/*.gen.ts"


def test_committed_openapi_is_the_servers():
    committed = json.loads(OPENAPI.read_text())
    current = json.loads(openapi_text())
    assert committed == current, f"web/openapi.json is stale: {HINT}"
    assert "/api/stats/asesores" in current["paths"]


def test_committed_event_types_are_the_codes():
    assert EVENTS_TS.read_text() == events_text(), f"events.gen.ts is stale: {HINT}"


def test_event_types_name_every_event_and_envelope_field():
    """The generator itself reads domain/events.py (not a copy of its names)."""
    from domain.events import ENVELOPE, Event

    text = events_text()
    assert json.dumps([e.value for e in Event]) in text
    for field in ENVELOPE:
        assert f"  {field}: " in text


@pytest.mark.stack
def test_committed_typescript_is_what_openapi_typescript_makes(tmp_path: Path):
    tool = WEB / "node_modules" / ".bin" / "openapi-typescript"
    if not (shutil.which("node") and tool.exists()):
        if REQUIRE:
            pytest.fail("ALBRU_REQUIRE_BROWSER=1 but web/node_modules is missing (make web)")
        pytest.skip("Node or web/node_modules missing (make web installs them)")
    out = tmp_path / "schema.gen.ts"
    subprocess.run([str(tool), str(OPENAPI), "-o", str(out)], cwd=WEB, check=True,
                   capture_output=True, timeout=120)
    assert out.read_text() == SCHEMA_TS.read_text(), f"schema.gen.ts is stale: {HINT}"


@pytest.mark.stack
def test_nothing_built_installed_or_secret_is_tracked():
    if not (ROOT / ".git").exists() or not shutil.which("git"):
        pytest.skip("not a git checkout")
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    bad = [f for f in files if any(part in ("node_modules", "dist", ".venv", "__pycache__",
                                            "test-results")
                                   or part.startswith(".env")
                                   for part in Path(f).parts)]
    assert not bad, f"tracked but must not be: {bad[:10]}"
    assert "web/package-lock.json" in files
