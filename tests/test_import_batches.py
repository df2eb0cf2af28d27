"""Issue 14 item 5 in the fast tier: a CSV import writes in bounded batches
(one transaction each) after validating every line; what a later batch's
failure answers. The timing on SQLite is tests/test_import_stack.py."""

from __future__ import annotations

import pytest

from app.registry import services
from domain.errors import Unavailable

pytestmark = pytest.mark.invariants  # bench.invariants.check after each test


def _csv(n: int) -> bytes:
    return ("nombre,telefono\n" + "".join(f"Lote {i},+51 900 {i:06d}\n" for i in range(n))).encode()


def test_an_import_is_written_in_batches(factory, api, server, monkeypatch):
    import core.clientes

    svc = services(server.app).clientes
    sizes = []
    create_many = svc._create_many

    def counted(actor_id, rows, action):
        sizes.append(len(rows))
        return create_many(actor_id, rows, action)

    monkeypatch.setattr(core.clientes, "IMPORT_BATCH", 2)
    monkeypatch.setattr(svc, "_create_many", counted)
    g = factory.token(factory.gtr())
    r = api.post("/api/clientes/import", g, files={"file": ("c.csv", _csv(5), "text/csv")})
    assert r.status_code == 201, r.text
    assert sizes == [2, 2, 1]
    assert r.json()["imported"] == 5 and len(set(r.json()["ids"])) == 5


def test_a_bad_line_anywhere_writes_nothing(factory, api, server, monkeypatch):
    import core.clientes

    svc = services(server.app).clientes
    monkeypatch.setattr(core.clientes, "IMPORT_BATCH", 2)
    monkeypatch.setattr(svc, "_create_many", lambda *a: (_ for _ in ()).throw(AssertionError))
    g = factory.token(factory.gtr())
    text = _csv(5) + b"Sin telefono,\n"
    r = api.post("/api/clientes/import", g, files={"file": ("c.csv", text, "text/csv")})
    assert r.status_code == 422 and r.json()["line"] == 7, r.text


def test_a_later_batch_failing_says_what_was_created(factory, api, server, monkeypatch):
    import core.clientes

    svc = services(server.app).clientes
    create_many = svc._create_many
    calls = []

    def second_fails(actor_id, rows, action):
        calls.append(1)
        if len(calls) == 2:
            raise Unavailable("database unavailable")
        return create_many(actor_id, rows, action)

    monkeypatch.setattr(core.clientes, "IMPORT_BATCH", 2)
    monkeypatch.setattr(svc, "_create_many", second_fails)
    g = factory.token(factory.gtr())
    r = api.post("/api/clientes/import", g, files={"file": ("c.csv", _csv(5), "text/csv")})
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["error"] == "unavailable" and body["created"] == 2, body
    assert "the first 2 clients of the file were created" in body["message"], body
