"""One unit of work for every state change: the transaction, its audit rows,
its events (given their `seq` by the event log as the transaction's last
write), then, only after the commit, the side effects (Redis, timeout task)
and the pushes. Every transition of core/ goes through `Changes.begin()`, so
"audit + event log + publish after commit" is written once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.db import Database, db_now
from core.eventlog import record
from core.models import AuditEntry
from domain.events import Event, Push, envelope, rooms_for

log = logging.getLogger(__name__)


class PushSink(Protocol):
    def publish(self, pushes: list[Push]) -> None: ...


@dataclass
class Change:
    """What a transition writes and what must follow its commit."""

    tx: Session
    pushes: list[Push] = field(default_factory=list)
    steps: list[tuple[str, Callable[[], Any]]] = field(default_factory=list)

    def now(self) -> float:
        """The database clock, read inside the transaction."""
        return float(self.tx.execute(select(db_now())).scalar_one())

    def audit(self, *, cliente_id: int, action: str, from_state: str | None,
              to_state: str | None, actor_id: int | None, session_id: str | None = None,
              detail: dict[str, Any] | None = None) -> None:
        """Every transition, once: who (None = the system), what, when, from which state."""
        self.audit_many([{"cliente_id": cliente_id, "action": action, "from_state": from_state,
                          "to_state": to_state, "actor_id": actor_id, "session_id": session_id,
                          "detail": detail}])

    def audit_many(self, entries: list[dict[str, Any]]) -> None:
        """Audit rows (fields as `audit` takes them) in one statement, stamped by
        the database clock: an import writes hundreds at once."""
        rows = [{"session_id": None, "detail": None, **entry} for entry in entries]
        self.tx.execute(insert(AuditEntry).values(at=db_now()), rows)

    def push(self, event: Event, *, rooms_asesor: int | None, rooms_pool: bool = False,
             extra_rooms: list[str] | None = None, **fields: Any) -> Push:
        """An event for the log and, after commit, for the rooms it concerns
        (domain.events.rooms_for); `fields` make its envelope."""
        rooms = rooms_for(event, asesor_id=rooms_asesor, pool=rooms_pool) + list(extra_rooms or [])
        item = Push(event, envelope(event, **fields), rooms)
        self.pushes.append(item)
        return item

    def after(self, what: str, step: Callable[[], Any]) -> None:
        """Run `step` after the commit (before the pushes). A failure is logged,
        never raised: the change is committed, and the sweep is the safety net."""
        self.steps.append((what, step))


class Changes:
    def __init__(self, db: Database, publisher: PushSink) -> None:
        self.db = db
        self.publisher = publisher

    @contextmanager
    def begin(self) -> Iterator[Change]:
        with self.db.transaction() as tx:
            change = Change(tx)
            yield change
            if change.pushes:
                record(tx, change.pushes)  # last write: the counter lock is held briefly
        for what, step in change.steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - committed already; the sweep repairs
                log.warning("after commit, %s failed: %s", what, exc)
        if change.pushes:
            self.publisher.publish(change.pushes)
