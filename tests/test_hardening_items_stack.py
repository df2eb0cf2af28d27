"""Issue 14 items 10 and 12 on real processes (the spawned web process, worker
and beat on MariaDB and Redis), with the invariant checker after each test.
The same scenarios run in-process in tests/test_visibility.py and
tests/test_hardening_b.py."""

from __future__ import annotations

import pytest

from tests import test_visibility as visibility

pytestmark = [pytest.mark.stack, pytest.mark.invariants]


# ------------------------------------------------------------------ item 10


def test_an_advisor_gets_404_for_every_client_they_may_not_see(factory, api):
    visibility.test_an_advisor_gets_404_for_every_client_they_may_not_see(factory, api)


def test_an_advisor_sees_own_pool_and_pool_taken_clients(factory, api):
    visibility.test_an_advisor_sees_own_pool_and_pool_taken_clients(factory, api)


# ------------------------------------------------------------------ item 12


def test_activity_does_not_extend_a_session_past_the_heartbeat_limit(factory, api, server, rds):
    """Once the advisor's heartbeats are refused (429), reading the client must
    not move the deadline either (it did: 200 reads moved it, each a write)."""
    asesor = factory.asesor()
    token = factory.token(asesor)
    c = factory.cliente("derivado", asesor.id)
    assert api.post("/api/sessions/start", token, json={"cliente_id": c.id}).status_code == 201
    # RATE_LIMIT_HEARTBEAT's default, 600/minute: spend the window's allowance
    rds.set(f"{server.env['KEY_PREFIX']}:rl:heartbeat:{asesor.id}", 600, px=60_000)
    hb = api.post("/api/sessions/heartbeat", token, json={"cliente_id": c.id})
    assert hb.status_code == 429, hb.text
    [before] = factory.sessions_of(c.id)
    for _ in range(50):
        assert api.get(f"/api/clientes/{c.id}", token).status_code == 200
    [after] = factory.sessions_of(c.id)
    assert after.deadline_at == before.deadline_at
    assert after.last_activity_at == before.last_activity_at
