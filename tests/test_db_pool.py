"""The connection pools under a burst: no connection is opened beyond the
pool's size (an overflow connection was opened for a burst and closed after
it, over and over under steady load: issue 18), and a caller that finds every
connection busy waits a bounded time, then gets `Unavailable` (503)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event, text

from core import db as core_db
from core.db import Database
from domain.errors import Unavailable


def _burst(database: Database, callers: int, hold: float, hot: bool) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(callers)

    def one() -> None:
        start.wait()
        try:
            if hot:
                database.hot(lambda cur: (cur.execute("SELECT SLEEP(%s)", (hold,)),
                                          cur.fetchall()))
            else:
                with database.transaction() as tx:
                    tx.execute(text("SELECT SLEEP(:s)"), {"s": hold})
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


@pytest.mark.parametrize("hot", [False, True], ids=["main pool", "hot pool"])
def test_a_burst_opens_no_connection_beyond_the_pool(mysql_url, hot):
    database = Database(mysql_url, pool_size=3)
    engine = database.hot_engine if hot else database.engine
    opened: list[int] = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    try:
        for _ in range(3):  # three bursts of 4x the pool, as under steady load
            assert _burst(database, 12, 0.05, hot) == []
        assert len(opened) == 3, f"{len(opened)} connections opened for a pool of 3"
    finally:
        database.dispose()


def test_a_caller_finding_every_connection_busy_gets_a_503_in_bounded_time(
        mysql_url, monkeypatch):
    monkeypatch.setattr(core_db, "POOL_WAIT", 0.3)
    database = Database(mysql_url, pool_size=1)
    holder = threading.Thread(target=_burst, args=(database, 1, 1.5, False))
    try:
        holder.start()
        time.sleep(0.3)  # the only connection is taken
        started = time.monotonic()
        with pytest.raises(Unavailable, match="busy"), database.transaction() as tx:
            tx.execute(text("SELECT 1"))
        assert time.monotonic() - started < 1.2
    finally:
        holder.join(5)
        database.dispose()
