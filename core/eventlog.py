"""The durable event log: every push gets its sequence number here, inside the
transaction of the change it reports.

The next number comes from one counter row, locked until the transition
commits. So sequence order is commit order, and when event N is visible every
event before N is visible too (a rolled-back transition gives its number back).
A process that sees N+2 arrive before N+1 can therefore read N+1 from here at
once. The log is bounded by length and age (`trim`, run by the sweep)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
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
    """Take the next number, locking the counter row until the commit. On
    MySQL/MariaDB one statement: LAST_INSERT_ID(expr) hands the new value back
    in the UPDATE's own answer (its insert id), so no SELECT follows while the
    lock is held: every transition waits on this row, and under a full CPU
    each round trip inside the lock was a wait for the whole engine."""
    mysql = tx.get_bind().dialect.name == "mysql"
    bump = (update(EventCounter).where(EventCounter.id == COUNTER_ID)
            .values(seq=func.last_insert_id(EventCounter.seq + 1) if mysql
                    else EventCounter.seq + 1)
            .execution_options(synchronize_session=False))
    done = tx.execute(bump)
    if not done.rowcount:
        ensure_counter(tx)
        done = tx.execute(bump)
    if mysql:
        return int(done.lastrowid)
    return int(tx.execute(select(EventCounter.seq).where(EventCounter.id == COUNTER_ID))
               .scalar_one())


def record(tx: Session, pushes: list[Push]) -> None:
    """Give each push its `seq` and store it. Call it as the LAST write of the
    transaction: the counter lock is then held only until the commit, and no
    transition waits for it while holding another row (no lock cycles)."""
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
