"""Issue 18: the heartbeat's group commit (core/heartbeat.py, HotHeartbeat).
Heartbeats that arrive together share one round trip and one COMMIT, and
each caller still gets its own answer: its session read back, or None when
its UPDATE was refused (another's client, a wrong session id, a stale
token). A batch that fails is sent again one heartbeat at a time; a leader
that stops answering makes its waiters fail with 503 and does not wedge the
ones after. On MariaDB/MySQL (SQLite has no batches), real threads."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import update

from app.auth import decode_token
from app.registry import services
from core import heartbeat as hb_module
from core.db import Contended, retrying
from core.heartbeat import HotHeartbeat
from core.models import User
from domain.errors import Unavailable

pytestmark = pytest.mark.invariants

TIMEOUT = 600.0


@pytest.fixture()
def hot(mysql_url: str, inproc, monkeypatch):
    """The in-process web app's own group commit (its /metrics report it),
    extending by 10 minutes, not the tier's few seconds: no session of a
    test may expire while its threads start."""
    with inproc.app.app_context():
        own = services().sessions.hot
    monkeypatch.setattr(own, "timeout", TIMEOUT)
    return own


def _held(factory, api, n: int) -> list[tuple[Any, Any, Any, str]]:
    """n advisors, each holding one client: (user, claims, cliente, session id)."""
    out = []
    for _ in range(n):
        user = factory.asesor()
        token = factory.token(user)
        c = factory.cliente("derivado", user.id)
        r = api.post("/api/sessions/start", token, json={"cliente_id": c.id})
        assert r.status_code == 201, r.text
        out.append((user, decode_token(token, factory.secret).claims, c, r.json()["session_id"]))
    return out


def _together(calls: list, rounds: int) -> list[tuple[int, Any]]:
    """Run every call from its own thread, released together `rounds` times;
    (index, answer or exception) for each call of each round."""
    results: list[tuple[int, Any]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(calls))

    def one(i: int, fn) -> None:
        for _ in range(rounds):
            barrier.wait(timeout=30)
            try:
                out = fn()
            except BaseException as exc:  # noqa: BLE001 - asserted by the test
                out = exc
            with lock:
                results.append((i, out))

    threads = [threading.Thread(target=one, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    return results


def test_heartbeats_sent_together_share_round_trips_and_each_gets_its_own_answer(
        factory, api, hot):
    held = _held(factory, api, 10)
    stale_user, stale_claims, stale_c, _ = held[9]
    with hot.db.transaction() as tx:  # the last advisor is deactivated: refused
        tx.execute(update(User).where(User.id == stale_user.id).values(active=False))
    before = {c.id: factory.sessions_of(c.id)[-1].heartbeats for _, _, c, _ in held}
    # as SessionService.heartbeat calls it: a deadlock between two round trips
    # (a refused UPDATE may lock through another index) is run again
    extend = retrying(hot.extend)
    calls, expect = [], []
    for _user, claims, c, sid in held[:9]:
        calls.append(lambda cl=claims, c=c: extend(cl, c.id, None))
        expect.append(("ok", c.id, sid))
        calls.append(lambda cl=claims, c=c, sid=sid: extend(cl, c.id, sid))
        expect.append(("ok", c.id, sid))
    other_claims, other_c = held[0][1], held[1][2]
    calls.append(lambda: extend(other_claims, other_c.id, None))  # another's client
    expect.append(("refused", other_c.id, None))
    calls.append(lambda: extend(held[2][1], held[2][2].id, "0" * 36))  # a wrong id
    expect.append(("refused", held[2][2].id, None))
    calls.append(lambda: extend(stale_claims, stale_c.id, None))  # a stale token
    expect.append(("refused", stale_c.id, None))

    rounds = 6
    results = _together(calls, rounds)
    assert len(results) == len(calls) * rounds
    accepted: Counter[int] = Counter()
    for i, out in results:
        kind, cliente_id, sid = expect[i]
        assert not isinstance(out, BaseException), (expect[i], out)
        if kind == "refused":
            assert out is None, (expect[i], out)
            continue
        row, now = out
        assert (row.cliente_id, row.id, row.asesor_id) == (cliente_id, sid, held[i // 2][0].id)
        assert row.deadline_at == pytest.approx(row.last_activity_at + TIMEOUT, abs=0.01)
        assert now == pytest.approx(row.last_activity_at, abs=0.5)
        accepted[cliente_id] += 1
    for _, _, c, _ in held:  # every accepted heartbeat counted once, the refused none
        assert factory.sessions_of(c.id)[-1].heartbeats == before[c.id] + accepted[c.id]
    assert accepted[stale_c.id] == 0 and len(accepted) == 9
    # they did share: fewer round trips than heartbeats
    print(f"\n[group commit] {hot.batched} of {len(results)} heartbeats in "
          f"{hot.batches} batches")
    assert hot.batches >= 1 and hot.batched >= 2 * hot.batches
    metrics = api.get("/metrics").text  # what an operator sees of it
    assert f"albru_heartbeat_batches_total {float(hot.batches)}" in metrics
    assert f"albru_heartbeats_batched_total {float(hot.batched)}" in metrics


def test_a_failed_batch_is_sent_again_one_by_one(factory, api, hot, monkeypatch):
    held = _held(factory, api, 6)
    failed = []

    def fails(self, cur, batch):
        failed.append(len(batch))
        raise Contended("a deadlock, say")

    monkeypatch.setattr(HotHeartbeat, "_batch_trip", fails)
    batches_before = hot.batches
    results = _together([lambda cl=cl, c=c: hot.extend(cl, c.id, None)
                         for _, cl, c, _ in held], 4)
    for i, out in results:
        assert not isinstance(out, BaseException), out
        assert out is not None and out[0].cliente_id == held[i][2].id
    for _, _, c, _ in held:
        assert factory.sessions_of(c.id)[-1].heartbeats == 4
    assert failed, "no batch formed, so the fallback was not tried"
    assert hot.batches == batches_before


def test_a_leader_that_stops_answering_does_not_wedge_the_rest(factory, api, hot,
                                                               monkeypatch):
    held = _held(factory, api, 4)
    monkeypatch.setattr(hb_module, "BATCH_WAIT", 0.5)
    monkeypatch.setattr(hb_module, "SENDERS", 1)  # the others must wait for it
    real = HotHeartbeat._send
    stuck = threading.Event()

    def slow_first(self, batch):
        if not stuck.is_set():
            stuck.set()
            time.sleep(2.0)  # the server stops answering the first round trip
        real(self, batch)

    monkeypatch.setattr(HotHeartbeat, "_send", slow_first)
    (_, cl0, c0, _) = held[0]
    first: list[Any] = []
    leader = threading.Thread(target=lambda: first.append(hot.extend(cl0, c0.id, None)))
    leader.start()
    assert stuck.wait(5)
    waiters = _together([lambda cl=cl, c=c: hot.extend(cl, c.id, None)
                         for _, cl, c, _ in held[1:]], 1)
    # they waited past BATCH_WAIT behind the stuck leader: 503, nothing sent
    assert all(isinstance(out, Unavailable) for _, out in waiters), waiters
    leader.join(10)
    assert first and first[0] is not None and first[0][0].cliente_id == c0.id
    for _, _, c, _ in held[1:]:
        assert factory.sessions_of(c.id)[-1].heartbeats == 0
    # and the next heartbeats go through: nobody holds a lead that nobody runs
    for _, cl, c, _ in held:
        assert hot.extend(cl, c.id, None) is not None


class Killed(BaseException):
    """What killing a greenlet raises in it (GreenletExit is a BaseException)."""


def test_a_leader_killed_mid_batch_leaves_nobody_waiting(factory, api, hot, monkeypatch):
    held = _held(factory, api, 3)
    monkeypatch.setattr(hb_module, "SENDERS", 1)  # the others queue for one sender
    real = HotHeartbeat._send
    first = threading.Event()

    def dies_on_a_shared_batch(self, batch):
        if not first.is_set():
            first.set()
            time.sleep(1.0)  # the others queue behind this round trip
        elif len(batch) > 1:
            raise Killed()
        real(self, batch)

    monkeypatch.setattr(HotHeartbeat, "_send", dies_on_a_shared_batch)
    (_, cl0, c0, _) = held[0]
    leader = threading.Thread(target=lambda: hot.extend(cl0, c0.id, None))
    leader.start()
    assert first.wait(5)
    results = _together([lambda cl=cl, c=c: hot.extend(cl, c.id, None)
                         for _, cl, c, _ in held[1:]], 1)
    leader.join(10)
    # the one leading the shared batch was killed; the other was told, not left waiting
    kinds = sorted(type(out).__name__ for _, out in results)
    assert kinds == ["Killed", "Unavailable"], results
    for _, cl, c, _ in held:  # and the lead was not lost with it
        assert hot.extend(cl, c.id, None) is not None


def test_a_slow_round_trip_holds_up_only_the_heartbeats_it_carries(factory, api, hot,
                                                                   monkeypatch):
    """With SENDERS round trips out at once, one stuck on a row lock or a slow
    flush does not stop the process's other heartbeats (head-of-line)."""
    held = _held(factory, api, 1 + hb_module.SENDERS - 1)
    real = HotHeartbeat._send
    stuck = threading.Event()

    def slow_first(self, batch):
        if not stuck.is_set():
            stuck.set()
            time.sleep(3.0)
        real(self, batch)

    monkeypatch.setattr(HotHeartbeat, "_send", slow_first)
    (_, cl0, c0, _) = held[0]
    leader = threading.Thread(target=lambda: hot.extend(cl0, c0.id, None))
    leader.start()
    assert stuck.wait(5)
    t0 = time.monotonic()
    others = _together([lambda cl=cl, c=c: hot.extend(cl, c.id, None)
                        for _, cl, c, _ in held[1:]], 3)
    took = time.monotonic() - t0
    leader.join(10)
    assert all(out is not None and not isinstance(out, BaseException) for _, out in others)
    assert took < 2.0, f"the others waited {took:.2f} s behind the stuck round trip"


def test_behind_a_stuck_round_trip_a_heartbeat_waits_stall_then_goes(factory, api, hot,
                                                                   monkeypatch):
    """A heartbeat that finds a round trip out waits to share the next one
    (that is what saves the round trips), but one stuck on a row lock or a
    slow flush holds it up by STALL, not until it answers."""
    held = _held(factory, api, 2)
    monkeypatch.setattr(hb_module, "STALL", 0.3)
    real = HotHeartbeat._send
    stuck = threading.Event()

    def slow_first(self, batch):
        if not stuck.is_set():
            stuck.set()
            time.sleep(3.0)
        real(self, batch)

    monkeypatch.setattr(HotHeartbeat, "_send", slow_first)
    (_, cl0, c0, _), (_, cl1, c1, sid1) = held
    leader = threading.Thread(target=lambda: hot.extend(cl0, c0.id, None))
    leader.start()
    assert stuck.wait(5)
    t0 = time.monotonic()
    out = hot.extend(cl1, c1.id, None)
    took = time.monotonic() - t0
    leader.join(10)
    assert out is not None and out[0].id == sid1
    assert 0.3 <= took < 1.5, f"answered after {took:.2f} s (waits STALL = 0.3 s, then goes)"
