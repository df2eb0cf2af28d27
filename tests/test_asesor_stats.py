"""GET /api/stats/asesores: the GTR board's per-advisor figures, from the real
web process, worker (the timeout) and database."""

from __future__ import annotations

import time

import pytest


def figures_of(api, token: str, asesor_id: int) -> dict:
    r = api.get("/api/stats/asesores", token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["timezone"] and body["day_start"] <= body["now"]
    [row] = [i for i in body["items"] if i["asesor_id"] == asesor_id]
    return row


@pytest.mark.stack
def test_figures_count_live_completed_and_timed_out_sessions(factory, api, stack):
    gtr, asesor, other = factory.gtr(), factory.asesor(), factory.asesor()
    g, a = factory.token(gtr), factory.token(asesor)
    done, lost = (factory.cliente("derivado", asesor.id) for _ in range(2))
    assert figures_of(api, g, asesor.id) == {
        "asesor_id": asesor.id, "nombre": asesor.nombre, "active": 0, "completed_today": 0,
        "timed_out_today": 0, "released_today": 0, "handled_today": 0,
        "mean_handling_seconds": None}

    assert api.post("/api/sessions/start", a, json={"cliente_id": done.id}).status_code == 201
    assert figures_of(api, g, asesor.id)["active"] == 1
    time.sleep(0.5)
    r = api.post("/api/sessions/end", a, json={"cliente_id": done.id, "resultado": "gestionado"})
    assert r.status_code == 200, r.text

    assert api.post("/api/sessions/start", a, json={"cliente_id": lost.id}).status_code == 201
    limit = time.time() + stack.session_timeout + 15
    while factory.get_cliente(lost.id).estado != "no_gestionado":
        assert time.time() < limit, "the worker did not time the session out"
        time.sleep(0.2)

    row = figures_of(api, g, asesor.id)
    assert (row["active"], row["completed_today"], row["timed_out_today"]) == (0, 1, 1)
    assert row["handled_today"] == 1  # «Gest.»: the completed one was gestionado
    assert 0.5 <= row["mean_handling_seconds"] < 10
    assert figures_of(api, g, other.id)["completed_today"] == 0  # per advisor, not global


def test_figures_are_for_gtr_only(factory, api):
    assert api.get("/api/stats/asesores", factory.token(factory.asesor())).status_code == 403
    assert api.get("/api/stats/asesores").status_code == 401
