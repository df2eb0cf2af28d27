"""Issue 14 on real processes: what a hostile or unlucky day broke."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bench.invariants import check
from tests import hardening_cases as cases

pytestmark = [pytest.mark.stack, pytest.mark.invariants]

FLOOD = 50
#: An answer of /api/health, flood or not (HEALTH_BOUND 2.5 s plus a loaded machine).
HEALTH_ANSWER = 6.0
#: A start or a heartbeat while health is flooded.
CALL_ANSWER = 5.0


def _health(base_url: str) -> tuple[int, float]:
    started = time.monotonic()
    try:
        status = requests.get(f"{base_url}/api/health", timeout=20).status_code
    except requests.RequestException:
        status = 0
    return status, time.monotonic() - started


def test_a_health_flood_answers_and_blocks_nothing(factory, api, stack, db):
    """Item 1: ~10 concurrent anonymous health calls used to wedge the web
    process for good (hold-and-wait on the broker pool); a start then hung
    after committing. Now 50 at once all answer within the bound, and a start
    and a heartbeat sent during a flood answer at once."""
    asesor = factory.asesor()
    token = factory.token(asesor)
    c = factory.cliente("derivado", asesor.id)
    with ThreadPoolExecutor(FLOOD + 2) as pool:
        flood = [pool.submit(_health, stack.base_url) for _ in range(FLOOD)]
        time.sleep(0.2)  # the flood is in
        t0 = time.monotonic()
        r = api.post("/api/sessions/start", token, json={"cliente_id": c.id})
        start_took = time.monotonic() - t0
        assert r.status_code == 201, r.text
        t0 = time.monotonic()
        hb = api.post("/api/sessions/heartbeat", token, json={"cliente_id": c.id})
        heartbeat_took = time.monotonic() - t0
        answers = [f.result() for f in flood]
    assert hb.status_code == 200, hb.text
    assert start_took < CALL_ANSWER, start_took
    assert heartbeat_took < CALL_ANSWER, heartbeat_took
    assert all(status in (200, 503) for status, _ in answers), answers
    slowest = max(took for _, took in answers)
    assert slowest < HEALTH_ANSWER, answers
    # and the process is not left wedged: a second flood, then a health and an end
    with ThreadPoolExecutor(FLOOD) as pool:
        again = list(pool.map(lambda _: _health(stack.base_url), range(FLOOD)))
    assert max(took for _, took in again) < HEALTH_ANSWER, again
    status, _ = _health(stack.base_url)
    assert status == 200
    end = api.post("/api/sessions/end", token, json={"cliente_id": c.id,
                                                     "resultado": "gestionado"})
    assert end.status_code == 200, end.text
    rep = check(db, stuck_bound=30.0, session_ids={r.json()["session_id"]})
    assert rep.ok, rep.problems()


# ------------------------------------------------------------------ item 7


def test_reserved_disconnect_event_is_refused_and_expiry_still_closes(factory, listen):
    cases.forged_disconnect_does_not_escape_the_expiry_close(factory, listen)


def test_reserved_connect_event_does_not_switch_identity(factory, api, listen):
    cases.forged_connect_does_not_switch_identity(factory, api, listen)


# ------------------------------------------------------------------ item 14


def test_socket_heartbeat_with_a_huge_id_is_a_validation_error(factory, listen):
    cases.huge_socket_id_is_a_validation_error(factory, listen)


def test_a_url_over_8_kib_is_a_json_414(factory, stack):
    token = factory.token(factory.gtr())
    r = requests.get(f"{stack.base_url}/api/clientes", params={"q": "x" * 9000},
                     headers={"Authorization": f"Bearer {token}"}, timeout=15)
    assert r.status_code == 414, r.text
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert r.json()["error"] == "uri_too_long" and r.json()["message"], r.text
    # the process still serves
    assert requests.get(f"{stack.base_url}/api/health?live=1", timeout=5).status_code == 200


# ------------------------------------------------------------------ item 13


@pytest.mark.parametrize("name", ["unterminated-quote", "huge-field", "nul-byte"])
def test_bad_csv_is_a_422_naming_the_line(factory, api, name):
    cases.bad_csv_is_a_422_naming_the_line(factory, api, name)


def test_cr_only_csv_is_imported(factory, api):
    cases.cr_only_csv_is_imported(factory, api)
