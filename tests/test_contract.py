"""The public API contract: the served OpenAPI document covers every /api
route, the docs page works without a CDN, and schemathesis, driven by the
document, finds no 5xx and no answer that breaks the documented schema
(statuses, bodies, headers), with a GTR and with an advisor token.

schemathesis runs against its own web process on its own database, so its
random writes (derive, release, sync, import...) never touch the rows of the
other tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pymysql
import pytest

from app.auth import hash_password, issue_token
from core.db import Database
from core.models import Base, Cliente, User
from harness.backends import Backends
from harness.stack import Stack
from tests.conftest import backends

SCHEMATHESIS = [sys.executable, "-m", "schemathesis.cli"]
MAX_EXAMPLES = 25
SEED = 20261127
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance,negative_data_rejection,"
          "unsupported_method,ignored_auth")
DOCS_ONLY = {"/api/openapi.json", "/api/docs", "/api/docs/", "/api/docs/init.js",
             "/api/docs/assets/<path:name>"}


# ------------------------------------------------------------- the document


def test_every_api_route_is_in_the_document(api):
    """A new endpoint without @operation fails here, not silently undocumented."""
    doc = api.get("/api/openapi.json").json()
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    from app import create_app

    app = create_app()
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule in DOCS_ONLY:
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routes |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes, "no /api routes found"
    assert routes == documented


def test_document_shape_security_and_errors(api):
    r = api.get("/api/openapi.json")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "the `token` of POST /api/auth/login"}
    assert doc["security"] == [{"bearerAuth": []}]
    public = {"/api/auth/login", "/api/health"}
    error = doc["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"error", "message"} and error["examples"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            responses = op["responses"]
            assert op.get("summary"), (method, path)
            if path in public:
                assert op["security"] == [], path
            else:
                assert "security" not in op, path  # the global bearer requirement
                assert responses["401"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorOut"}
            for status, answer in responses.items():
                if status.startswith(("4", "5")) and path != "/api/health":
                    assert answer["content"]["application/json"]["schema"]["$ref"] \
                        == "#/components/schemas/ErrorOut", (path, status)
            if "requestBody" in op and "application/json" in op["requestBody"]["content"]:
                assert {"400", "422"} <= set(responses), path
    start = doc["paths"]["/api/sessions/start"]["post"]
    assert start["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    assert doc["paths"]["/api/clientes/{cliente_id}"]["get"]["parameters"][0]["schema"] == {
        "type": "integer", "minimum": 1, "maximum": 2_147_483_647}
    login_body = doc["components"]["schemas"]["LoginIn"]
    assert login_body["required"] == ["username", "password"] and login_body["examples"]
    resultado = doc["components"]["schemas"]["Resultado"]
    assert set(resultado["enum"]) == {"gestionado", "no_gestionado", "cerrado"}


def test_docs_page_is_served_without_a_cdn(api):
    page = api.get("/api/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(ref.startswith("/api/docs/") for ref in refs), refs
    assert "<script>" not in page.text  # no inline script: the CSP allows only 'self'
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    for ref in refs:
        asset = api.get(ref)
        assert asset.status_code == 200 and len(asset.content) > 100, ref
    bundle = api.get("/api/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text
    assert api.get("/api/docs/assets/../../../etc/passwd").status_code == 404


# ------------------------------------------------------------- schemathesis


def _own_database(b: Backends, tmp: Path) -> tuple[str, Callable[[], None]]:
    """A fresh database for the fuzzed web process, and how to drop it."""
    if not b.database_url.startswith("mysql"):
        return f"sqlite:///{tmp / 'contract.db'}", lambda: None
    name = f"albru_contract_{os.getpid()}"
    host = b.database_url.split("@")[1].split(":")[0]

    def admin(sql: str) -> None:
        conn = pymysql.connect(host=host, port=3306, user="root", password="", connect_timeout=5)
        with conn.cursor() as cur:
            cur.execute(sql)
        conn.close()

    admin(f"DROP DATABASE IF EXISTS {name}")
    admin(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    url = b.database_url.replace(b.database_url.rsplit("/", 1)[1].split("?")[0], name)
    return url, lambda: admin(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="module")
def fuzz_stack(stack, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """A web process on its own database, seeded with a GTR, two advisors and
    clients in every state (ids 1.. exist, so generated ids hit real rows)."""
    tmp = Path(tmp_path_factory.mktemp("contract"))
    url, drop = _own_database(backends(), tmp)
    db = Database(url)
    Base.metadata.create_all(db.engine)
    with db.transaction() as tx:
        users = [User(username=f"{role}-{uuid.uuid4().hex[:6]}", role=role, active=True,
                      nombre=f"Fuzz {role}", password_hash=hash_password("pw"))
                 for role in ("gtr", "asesor", "asesor")]
        tx.add_all(users)
        tx.flush()
        gtr, a1, a2 = users
        for n, (estado, owner) in enumerate([("nuevo", None), ("derivado", a1.id),
                                             ("derivado", None), ("derivado", a2.id),
                                             ("no_gestionado", None), ("gestionado", a1.id),
                                             ("cerrado", None)] * 3):
            tx.add(Cliente(nombre=f"Fuzz {n}", telefono=f"+51 900 {n:06d}", estado=estado,
                           asesor_asignado=owner, lock_token=0))
        ids = SimpleNamespace(gtr=gtr.id, a1=a1.id)
    s = Stack(backends(), tmp, DATABASE_URL=url)
    s.start_web_live()
    secret = s.env["JWT_SECRET"]
    with db.transaction() as tx:
        gtr, a1 = tx.get(User, ids.gtr), tx.get(User, ids.a1)
        tokens = {"gtr": issue_token(gtr, secret, 3600)[0], "asesor": issue_token(a1, secret,
                                                                                 3600)[0]}
    yield SimpleNamespace(stack=s, db=db, tokens=tokens, tmp=tmp)
    s.stop()
    db.dispose()
    drop()


def run_schemathesis(fuzz, who: str) -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        SCHEMATHESIS + [
            "run", f"{fuzz.stack.base_url}/api/openapi.json",
            "-H", f"Authorization: Bearer {fuzz.tokens[who]}",
            "--checks", CHECKS,
            # logout revokes the fuzzer's token: every later call would be a 401
            # (logout itself: tests/test_revocation*.py)
            "--exclude-operation-id", "logout",
            # so do a password reset and a deactivation of the fuzzer's users, which
            # would leave the advisor's run all 401s (tests/test_gtr_api.py covers them)
            "--exclude-operation-id", "reset_password",
            "--exclude-operation-id", "deactivate_user",
            "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
            "--generation-deterministic",
            "--phases", "examples,coverage,fuzzing", "--workers", "1",
            "--request-timeout", "20", "--suppress-health-check", "all",
            "--no-color", "--output-truncate", "false",
            "--report", "har", "--report-har-path", str(fuzz.tmp / f"schemathesis-{who}.har"),
        ],
        capture_output=True, text=True, timeout=300,
        cwd=fuzz.tmp,  # its .schemathesis/ cache stays out of the work tree
    )
    seconds = time.perf_counter() - started
    out = done.stdout + done.stderr
    summary = re.findall(r"(\d+) generated", out)
    print(f"\nschemathesis as {who}: exit {done.returncode} in {seconds:.1f}s; "
          f"{summary[-1] if summary else '?'} cases\n{out[-1500:]}")
    return {"code": done.returncode, "out": out, "seconds": seconds,
            "cases": int(summary[-1]) if summary else None}


@pytest.mark.stack
@pytest.mark.parametrize("who", ["gtr", "asesor"])
def test_schemathesis_finds_no_5xx_and_no_schema_violation(fuzz_stack, who):
    result = run_schemathesis(fuzz_stack, who)
    assert result["code"] == 0, result["out"][-12000:]
    assert result["cases"] and result["cases"] >= 19 * 5, result["out"][-3000:]
    assert "500" not in json.dumps(re.findall(r"\[5\d\d\]", result["out"]))
