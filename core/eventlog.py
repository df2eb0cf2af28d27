"""The durable event log: every push gets its sequence number here, inside the
transaction of the change it reports.

The next number comes from one counter row, locked until the transition
commits. So sequence order is commit order, and when event N is visible every
event before N is visible too (a rolled-back transition gives its number back).
A process that sees N+2 arrive before N+1 can therefore read N+1 from here at
once. The log is bounded by length and age (`trim`, run by the sweep)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.db import Database, db_now
from core.models import Base, EventCounter, EventEntry
from domain.events import Push

COUNTER_ID = 1


def ensure_counter(tx: Session) -> None:
    """Create the counter row once (schema creation and the first migration)."""
    if tx.get(EventCounter, COUNTER_ID) is None:
        start = tx.execute(select(func.max(EventEntry.seq))).scalar() or 0
        tx.execute(insert(EventCounter).values(id=COUNTER_ID, seq=start))


def create_schema(db: Database) -> None:
    """The tables that do not exist yet, and the counter's one row."""
    Base.metadata.create_all(db.engine)
    with db.transaction() as tx:
        ensure_counter(tx)


def _next_seq(tx: Session) -> int:
    """Take the next number, locking the counter row until the commit."""
    bump = (update(EventCounter).where(EventCounter.id == COUNTER_ID)
            .values(seq=EventCounter.seq + 1).execution_options(synchronize_session=False))
    if not tx.execute(bump).rowcount:
        ensure_counter(tx)
        tx.execute(bump)
    return int(tx.execute(select(EventCounter.seq).where(EventCounter.id == COUNTER_ID))
               .scalar_one())


def record(tx: Session, pushes: list[Push]) -> None:
    """Give each push its `seq` and store it. Call it as the LAST write of the
    transaction: the counter lock is then held only until the commit, and no
    transition waits for it while holding another row (no lock cycles)."""
    if tx.get_bind().dialect.name == "mysql":
        _record_mysql(tx, pushes)
        return
    for push in pushes:
        seq = _next_seq(tx)
        push.payload["seq"] = seq
        tx.execute(
            insert(EventEntry).values(
                seq=seq,
                type=push.event.value,
                cliente_id=push.payload.get("cliente_id"),
                rooms=list(push.rooms),
                payload=push.payload,
                at=push.payload.get("ts") or db_now(),
            )
        )


#: One push on MySQL/MariaDB: the counter's UPDATE hands the new number back
#: in its own answer (LAST_INSERT_ID(expr) is its insert id) and the INSERT
#: takes it on the server, so both go as one packet. A missing counter row
#: (ROW_COUNT() 0) makes seq NULL: the INSERT fails instead of logging a stale
#: number, and nothing of the packet stays.
_TAKE_AND_LOG = (
    f"UPDATE {EventCounter.__tablename__} SET seq = LAST_INSERT_ID(seq + 1) WHERE id = %s; "
    f"INSERT INTO {EventEntry.__tablename__} (seq, type, cliente_id, rooms, payload, at) "
    "VALUES (IF(ROW_COUNT() = 1, LAST_INSERT_ID(), NULL), %s, %s, %s, "
    "JSON_SET(%s, '$.seq', LAST_INSERT_ID()), COALESCE(%s, UNIX_TIMESTAMP(NOW(6)) + 0E0))"
)
_NULL_IN_NOT_NULL = 1048


def _record_mysql(tx: Session, pushes: list[Push]) -> None:
    """Every push's number and row in one round trip, then the caller's
    COMMIT: two round trips hold the counter lock, not four. Every transition
    waits on that row, and under a full CPU each round trip inside the lock
    was a wait on a busy process (a convoy at 40 starts/s on 2 cores,
    docs/performance.md)."""
    tx.flush()  # the transition's own writes go first, outside the lock
    conn = tx.connection()
    raw = conn.connection.driver_connection
    dbapi = conn.dialect.loaded_dbapi
    sql = "; ".join([_TAKE_AND_LOG] * len(pushes))
    params: list[Any] = []
    for push in pushes:
        params += [COUNTER_ID, push.event.value, push.payload.get("cliente_id"),
                   json.dumps(list(push.rooms)), json.dumps(push.payload),
                   push.payload.get("ts")]
    for attempt in (1, 2):
        cursor = raw.cursor()
        try:
            cursor.execute(sql, params)
            seqs = []
            for i in range(len(pushes)):
                if i:
                    cursor.nextset()
                seqs.append(int(cursor.lastrowid))  # the UPDATE's answer
                cursor.nextset()  # the INSERT's: its error raises here
            break
        except dbapi.Error as exc:
            if attempt == 1 and exc.args and exc.args[0] == _NULL_IN_NOT_NULL:
                ensure_counter(tx)  # no counter row: make it, then once more
                continue
            raise DBAPIError.instance(
                sql, params, exc, dbapi.Error, dialect=conn.dialect,
                connection_invalidated=conn.dialect.is_disconnect(exc, raw, cursor)) from exc
        finally:
            with contextlib.suppress(dbapi.Error):  # a lost connection: raised above
                cursor.close()
    for push, seq in zip(pushes, seqs, strict=True):
        push.payload["seq"] = seq


@dataclass(frozen=True)
class LoggedEvent:
    seq: int
    type: str
    rooms: list[str]
    payload: dict[str, Any]


@dataclass(frozen=True)
class Window:
    """What the log holds: events `first`..`last` (first is None when empty)."""

    first: int | None
    last: int


class EventLog:
    """Reads and trimming of the log (writes go through `record`)."""

    def __init__(self, db: Database, deployment: str = "") -> None:
        self.db = db
        #: whose log this is (Settings.deployment_id): its `seq` numbers mean
        #: nothing to another deployment, so pushes stamped otherwise are refused
        self.deployment = deployment

    def last_seq(self) -> int:
        with self.db.transaction() as tx:
            return self._last(tx)

    @staticmethod
    def _last(tx: Session) -> int:
        last = tx.execute(
            select(EventCounter.seq).where(EventCounter.id == COUNTER_ID)
        ).scalar()
        return int(last or 0)

    def window(self) -> Window:
        with self.db.transaction() as tx:
            first = tx.execute(select(func.min(EventEntry.seq))).scalar()
            return Window(first=int(first) if first is not None else None, last=self._last(tx))

    def after(self, seq: int, upto: int | None = None, limit: int = 10_000) -> list[LoggedEvent]:
        """Events with sequence > seq (and <= upto), in order."""
        q = select(EventEntry).where(EventEntry.seq > seq)
        if upto is not None:
            q = q.where(EventEntry.seq <= upto)
        with self.db.transaction() as tx:
            rows = tx.execute(q.order_by(EventEntry.seq).limit(limit)).scalars().all()
            return [LoggedEvent(r.seq, r.type, list(r.rooms), dict(r.payload)) for r in rows]

    def trim(self, max_len: int, max_age: float) -> int:
        """Drop events beyond the newest `max_len` or older than `max_age` s."""
        with self.db.transaction() as tx:
            last = self._last(tx)
            by_len = tx.execute(
                delete(EventEntry).where(EventEntry.seq <= last - max_len)
                .execution_options(synchronize_session=False)
            ).rowcount
            by_age = tx.execute(
                delete(EventEntry).where(EventEntry.at < db_now() - max_age)
                .execution_options(synchronize_session=False)
            ).rowcount
        return int(by_len or 0) + int(by_age or 0)
