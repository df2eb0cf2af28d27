"""Issue 14, items 2, 3, 6, 12 in the fast tier (in-process, nothing spawned)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, update

from app.registry import services
from bench.invariants import check
from core.models import AuditEntry, Cliente, EventCounter, GestionSession

pytestmark = pytest.mark.invariants  # bench.invariants.check after each test

# ------------------------------------------------------------------ item 2

PAIRS = 40
STARTERS = 4


def _race(fns):
    """Run the callables at the same moment (a barrier), return their results."""
    barrier = threading.Barrier(len(fns))

    def go(fn):
        barrier.wait()
        return fn()

    with ThreadPoolExecutor(len(fns)) as pool:
        return list(pool.map(go, fns))


def _assert_clients_consistent(db, cliente_ids, session_ids):
    """One active session per client, en_gestion iff one active session, one
    start and at most one terminal audit row per session."""
    with db.transaction() as tx:
        for cid in cliente_ids:
            c = tx.get(Cliente, cid)
            active = tx.execute(select(GestionSession.id).where(
                GestionSession.cliente_id == cid, GestionSession.status == "active")).all()
            assert len(active) <= 1, (cid, active)
            assert (c.estado == "en_gestion") == (len(active) == 1), (cid, c.estado, active)
            if active:
                assert c.current_session_id == active[0][0]
        for sid in session_ids:
            actions = [a for (a,) in tx.execute(select(AuditEntry.action)
                                                .where(AuditEntry.session_id == sid)).all()]
            assert actions.count("start") == 1, (sid, actions)
            assert sum(a in ("end", "timeout", "released") for a in actions) <= 1, (sid, actions)


@pytest.mark.stack  # 40 racing pairs take ~7 s: kept out of the one-minute tier
def test_racing_end_heartbeat_and_start_never_answer_503(factory, api, server, db):
    """An end and a heartbeat at the same moment (the user clicks close as the
    timer fires), and advisors racing for pool clients: on MariaDB these
    deadlock (1213); the transaction is run again, never answered 503."""
    race_end_heartbeat_and_start(factory, api, db, PAIRS)


def race_end_heartbeat_and_start(factory, api, db, pairs):
    PAIRS = pairs  # noqa: N806 - the module's default, overridden
    with db.transaction() as tx:
        since = int(tx.execute(select(func.coalesce(func.max(EventCounter.seq), 0))).scalar())
    asesores = [factory.asesor() for _ in range(PAIRS)]
    tokens = [factory.token(a) for a in asesores]
    clients = [factory.cliente("derivado", a.id) for a in asesores]
    sids = set()
    for t, c in zip(tokens, clients, strict=True):
        r = api.post("/api/sessions/start", t, json={"cliente_id": c.id})
        assert r.status_code == 201, r.text
        sids.add(r.json()["session_id"])
    calls = []
    for t, c in zip(tokens, clients, strict=True):
        calls += [lambda t=t, c=c: api.post("/api/sessions/end", t, json={
                      "cliente_id": c.id, "resultado": "cerrado"}),
                  lambda t=t, c=c: api.post("/api/sessions/heartbeat", t,
                                            json={"cliente_id": c.id})]
    pool_clients = [factory.cliente("derivado") for _ in range(PAIRS // 2)]
    for c in pool_clients:
        calls += [lambda t=t, c=c: api.post("/api/sessions/start", t, json={"cliente_id": c.id})
                  for t in tokens[:STARTERS]]
    answers = _race(calls)
    codes = [r.status_code for r in answers]
    assert not [r.text for r in answers if r.status_code >= 500], codes
    ends = answers[0:2 * PAIRS:2]
    assert all(r.status_code == 200 for r in ends), [r.text for r in ends]
    starts = answers[2 * PAIRS:]
    winners = [r for r in starts if r.status_code == 201]
    assert len(winners) == len(pool_clients), codes
    sids |= {r.json()["session_id"] for r in winners}
    _assert_clients_consistent(db, [c.id for c in clients + pool_clients], sids)
    rep = check(db, stuck_bound=30.0, session_ids=sids, since_seq=since)
    assert rep.ok, rep.problems()

def _deadlocked_end(factory, api, db, *, dummies=30):
    """A real InnoDB deadlock with an `end` as its victim: a heavier transaction
    (it changed `dummies` rows) holds the client's row, the end locks its
    session row and waits for the client's row, then the heavy one asks for
    the session row. Returns (the end's answer, its cliente, the heavy one's
    outcome)."""
    asesor = factory.asesor()
    token = factory.token(asesor)
    c = factory.cliente("derivado", asesor.id)
    r = api.post("/api/sessions/start", token, json={"cliente_id": c.id})
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    others = [factory.cliente("nuevo").id for _ in range(dummies)]
    answer: list = []
    with db.engine.connect() as conn, conn.begin():
        conn.execute(update(Cliente).where(Cliente.id.in_(others))
                     .values(notas=func.concat(func.coalesce(Cliente.notas, ""), "x")))
        conn.execute(select(Cliente.id).where(Cliente.id == c.id).with_for_update())
        t = threading.Thread(target=lambda: answer.append(api.post(
            "/api/sessions/end", token, json={"cliente_id": c.id, "resultado": "cerrado"})))
        t.start()
        time.sleep(1.0)  # the end holds its session row and waits for the client's
        conn.execute(select(GestionSession.id).where(GestionSession.id == sid)
                     .with_for_update())  # a cycle: InnoDB rolls the lighter (the end) back
    t.join(30)
    assert answer, "the end never answered"
    return answer[0], c, sid


def test_a_deadlocked_end_is_run_again_not_answered_503(factory, api, server, db):
    with db.transaction() as tx:
        since = int(tx.execute(select(func.coalesce(func.max(EventCounter.seq), 0))).scalar())
    r, c, sid = _deadlocked_end(factory, api, db)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed"
    _assert_clients_consistent(db, [c.id], {sid})
    rep = check(db, stuck_bound=30.0, session_ids={sid}, since_seq=since)
    assert rep.ok, rep.problems()


def test_a_503_never_carries_the_driver_message(factory, api, server, db, monkeypatch):
    """Retries exhausted (one attempt allowed): 503 "database unavailable", and
    the driver's text (\"Deadlock found when trying to get lock\") only in the log."""
    import core.db
    monkeypatch.setattr(core.db, "RETRY_ATTEMPTS", 1, raising=False)
    r, c, sid = _deadlocked_end(factory, api, db)
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["error"] == "unavailable" and "reason" not in body, body
    assert "deadlock" not in r.text.lower() and "1213" not in r.text, body
    [sess] = factory.sessions_of(c.id)
    assert sess.status == "active"  # nothing half-written
    _assert_clients_consistent(db, [c.id], {sid})


# ----------------------------------------------------------------- item 12


def test_activity_does_not_extend_a_session_past_the_heartbeat_limit(factory, api, server, rds):
    """Once the advisor's heartbeats are refused (429), reading the client
    must not move the deadline either: activity counts against the same limit."""
    svc = services(server.app)
    asesor = factory.asesor()
    token = factory.token(asesor)
    c = factory.cliente("derivado", asesor.id)
    assert api.post("/api/sessions/start", token, json={"cliente_id": c.id}).status_code == 201
    count, window = svc.settings.rate_limit("heartbeat")
    rds.set(f"{svc.settings.key_prefix}:rl:heartbeat:{asesor.id}", count, px=window * 1000)
    hb = api.post("/api/sessions/heartbeat", token, json={"cliente_id": c.id})
    assert hb.status_code == 429, hb.text
    [before] = factory.sessions_of(c.id)
    for _ in range(20):
        assert api.get(f"/api/clientes/{c.id}", token).status_code == 200
    [after] = factory.sessions_of(c.id)
    assert after.deadline_at == before.deadline_at
    assert after.last_activity_at == before.last_activity_at
