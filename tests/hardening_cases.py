"""Scenarios of issue 14 written once, run by the fast tier in-process
(tests/test_hardening.py) and by the stack tier on real processes
(tests/test_hardening_stack.py)."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import for_cliente

QUIET = 0.5


def emit_ack(listener: Any, event: str, *args: Any) -> Any:
    """Send `event` with `args` and return its acknowledgement, on a real
    python-socketio client or a Flask-SocketIO test client alike."""
    client = listener.client
    if hasattr(client, "tc"):  # tests.inprocess._SocketFacade
        return client.tc.emit(event, *args, callback=True)
    return client.call(event, args if len(args) != 1 else args[0], timeout=5)


def assert_refused(ack: Any, event: str) -> None:
    assert isinstance(ack, dict), ack
    assert ack["error"] == "reserved_event" and ack["status"] == 400, ack
    assert event in ack["message"], ack


def forged_disconnect_does_not_escape_the_expiry_close(factory, listen) -> None:
    """A client that emits `disconnect` used to be dropped from the token-expiry
    check while keeping its rooms; its socket is still closed when the token expires."""
    asesor = factory.asesor()
    ws = listen(factory.token(asesor, expires=3))
    ack = emit_ack(ws, "disconnect")
    assert_refused(ack, "disconnect")
    assert ws.client.connected
    data, _ = ws.wait_for("auth_error", timeout=10)
    assert data["error"] == "token_expired", data
    end = time.time() + 5
    while ws.client.connected and time.time() < end:
        time.sleep(0.1)
    assert not ws.client.connected


def forged_connect_does_not_switch_identity(factory, api, listen) -> None:
    """`connect` sent as an event with a GTR's token used to re-run the connect
    handler: the advisor's socket became the GTR's (rooms and identity)."""
    gtr, a, b = factory.gtr(), factory.asesor(), factory.asesor()
    g = factory.token(gtr)
    ws_g, ws_a = listen(g), listen(factory.token(a))
    for event, args in (("connect", ({}, {"token": g})), ("connect", ({"token": g},)),
                        ("connect_error", ({},)), ("Disconnect", ()), ("__disconnect_final", ())):
        assert_refused(emit_ack(ws_a, event, *args), event)
    assert ws_a.client.connected
    to_b = factory.cliente()
    r = api.post(f"/api/clientes/{to_b.id}/derivar", g, json={"asesor_id": b.id})
    assert r.status_code == 200, r.text
    ws_g.wait_for("CLIENT_DERIVED", for_cliente(to_b.id))
    time.sleep(QUIET)
    assert [n for n, d, _ in ws_a.events if for_cliente(to_b.id)(d)] == []
    # still the advisor, still served: a heartbeat is answered as before
    ack = emit_ack(ws_a, "heartbeat", {"cliente_id": to_b.id})
    assert ack["error"] in ("no_active_session", "forbidden", "not_found"), ack


def huge_socket_id_is_a_validation_error(factory, listen) -> None:
    asesor = factory.asesor()
    ws = listen(factory.token(asesor))
    for bad in (2**63, 2**64 + 5, 10**40):
        ack = emit_ack(ws, "heartbeat", {"cliente_id": bad})
        assert ack["error"] == "validation_error" and ack["status"] == 422, ack
        assert ack["field"] == "cliente_id", ack
    assert ws.client.connected


# CSV import (item 13): (text, line named) of files that must be a 422
BAD_CSV = {
    "unterminated-quote": ("nombre,telefono,notas\nAna,+51 900 1,\"call back\n"
                           "Luis,+51 900 2,ok\nRosa,+51 900 3,\n", 2),
    "text-after-quote": ("nombre,telefono,notas\nAna,+51 900 1,\"a\"b\n", 2),
    "huge-field": ("nombre,telefono,notas\nAna,+51 900 1,ok\nLuis,+51 900 2,"
                   + "x" * 131_073 + "\n", 3),
    "nul-byte": ("nombre,telefono\nAna,+51 900 1\nLu\x00is,+51 900 2\n", 3),
    "nul-cr-lines": ("nombre,telefono\rAna,+51 900 1\rLuis,+51\x00 900 2\r", 3),
}


def count_clientes(factory) -> int:
    from sqlalchemy import func, select

    from core.models import Cliente

    with factory.db.transaction() as tx:
        return tx.execute(select(func.count()).select_from(Cliente)).scalar_one()


def bad_csv_is_a_422_naming_the_line(factory, api, name: str) -> None:
    text, line = BAD_CSV[name]
    g = factory.token(factory.gtr())
    before = count_clientes(factory)
    r = api.post("/api/clientes/import", g,
                 files={"file": ("c.csv", text.encode(), "text/csv")})
    assert r.status_code == 422, r.text[:300]
    body = r.json()
    assert body["error"] == "validation_error", body
    assert body["line"] == line and f"line {line}" in body["message"], body
    assert count_clientes(factory) == before


def cr_only_csv_is_imported(factory, api) -> None:
    text = ("nombre,telefono,notas\rAna,+51 900 1,\"two\rlines\"\r"
            "Luis,+51 900 2,\r\rRosa,+51 900 3,x\r")
    g = factory.token(factory.gtr())
    r = api.post("/api/clientes/import", g, data=text.encode(),
                 headers={"Content-Type": "text/csv; charset=utf-8"})
    assert r.status_code == 201, r.text
    rows = [factory.get_cliente(i) for i in r.json()["ids"]]
    assert [(c.nombre, c.telefono, c.notas) for c in rows] == [
        ("Ana", "+51 900 1", "two\rlines"), ("Luis", "+51 900 2", None),
        ("Rosa", "+51 900 3", "x")]
