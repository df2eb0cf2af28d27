"""Issue 18, the event log's counter: every transition takes the next `seq`
under one row lock held until its commit, so what it sends while holding it
bounds how many transitions a second the engine can do under a full CPU."""

from __future__ import annotations

import threading

from sqlalchemy import delete, func, make_url, select

from core.db import Database
from core.eventlog import COUNTER_ID, create_schema, record
from core.models import EventCounter, EventEntry
from domain.events import Event, Push
from harness.backends import scratch_database
from harness.roundtrips import round_trips
from tests.conftest import backends


def _push(n: int) -> Push:
    return Push(Event.CLIENT_DERIVED, {"cliente_id": n, "ts": 1.0}, ["gtr-room"])


def test_taking_a_number_is_one_statement_under_the_lock(db):
    """On MySQL/MariaDB the counter's UPDATE hands the number back itself: the
    lock is held for UPDATE, INSERT and COMMIT, with no SELECT in between."""
    with db.transaction() as tx:
        record(tx, [_push(0)])  # pool warm
    ports = {make_url(backends().database_url).port or 3306: "database"}
    with round_trips(ports, this_thread=True, mysql="database") as seen, \
            db.transaction() as tx:
        pushes = [_push(1), _push(2)]
        record(tx, pushes)
    if db.engine.dialect.name == "mysql":
        assert seen["database:SELECT"] == 0, seen
        assert seen["database:UPDATE"] == 2 and seen["database:INSERT"] == 2, seen
    first, second = (p.payload["seq"] for p in pushes)
    assert second == first + 1
    with db.transaction() as tx:
        stored = dict(tx.execute(select(EventEntry.seq, EventEntry.payload)
                                 .where(EventEntry.seq.in_([first, second]))).all())
        counter = tx.execute(select(EventCounter.seq)
                             .where(EventCounter.id == COUNTER_ID)).scalar_one()
    assert {seq: p["cliente_id"] for seq, p in stored.items()} == {first: 1, second: 2}
    assert stored[first]["seq"] == first and counter >= second


def test_concurrent_transitions_get_consecutive_numbers_in_commit_order(db):
    """Eight writers at once: each number once, none skipped, and a number is
    never visible before a smaller one (the log's resumable-stream promise)."""
    with db.transaction() as tx:
        start = tx.execute(select(EventCounter.seq)
                           .where(EventCounter.id == COUNTER_ID)).scalar_one()
    taken: list[int] = []
    lock = threading.Lock()

    def writer(k: int) -> None:
        for i in range(25):
            with db.transaction() as tx:
                p = _push(k * 1000 + i)
                record(tx, [p])
            with lock:
                taken.append(p.payload["seq"])

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 200 and len(set(taken)) == 200
    mine = sorted(taken)
    with db.transaction() as tx:
        logged = tx.execute(select(EventEntry.seq).where(EventEntry.seq > start)
                            .order_by(EventEntry.seq)).scalars().all()
    # other writers of this run's database may interleave; ours are all there
    assert set(mine) <= set(logged)
    assert logged == list(range(start + 1, start + 1 + len(logged))), "a gap in the log"


def test_a_missing_counter_row_is_made_from_the_log(tmp_path):
    with scratch_database(backends(), "eventlog", str(tmp_path)) as url:
        db = Database(url, pool_size=2)
        try:
            create_schema(db)
            with db.transaction() as tx:
                record(tx, [_push(1), _push(2)])
            with db.transaction() as tx:
                tx.execute(delete(EventCounter))
            with db.transaction() as tx:
                p = _push(3)
                record(tx, [p])
            with db.transaction() as tx:
                assert tx.execute(select(func.max(EventEntry.seq))).scalar_one() == 3
            assert p.payload["seq"] == 3
        finally:
            db.dispose()
