"""The heartbeat's hot path: ONE conditional UPDATE that carries every
precondition (the caller's live session on this client by the database clock,
the session id if given, and the token still honoured by its user row: active,
role, version, salt, not logged out), its read-back and COMMIT, sent as one
multi-statement on MariaDB/MySQL (one round trip), on a raw connection of the
hot pool (core.db.Database.hot). Statements are compiled once per dialect and
their fixed parameters merged once; no ORM on the way. A refused UPDATE
changes nothing and the caller (core.sessions.SessionService.heartbeat)
explains it on the slow path.

Why: the heartbeat is what every advisor sends every 30 s; it cost 9 MySQL
round trips and 5-12x the CPU of a no-op request (docs/performance.md)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, NamedTuple

from sqlalchemy import Engine, bindparam, select, text, update

from core.db import Database, db_now
from core.models import GestionSession
from core.tokens import TokenClaims, honoured
from domain.errors import Unavailable
from domain.states import SessionStatus

log = logging.getLogger(__name__)

ACTIVE = SessionStatus.ACTIVE.value

#: The most heartbeats one round trip carries (a bound on the packet: about
#: 1 KB of SQL each).
BATCH_MAX = 32
#: Round trips of heartbeats one process may have out at once. Normally one
#: is: those that arrive while it is out wait and go together in the next
#: (what a batch saves is the round trip and the COMMIT's flush; with four out
#: at once heartbeats rarely waited, so rarely shared one: no gain at the
#: floor). A heartbeat that has waited STALL s opens another (up to SENDERS),
#: so a slow round trip (a row lock, a slow redo-log flush) holds up the
#: others by at most STALL: a bound on head-of-line blocking.
SENDERS = 4
STALL = 0.01
#: How long a heartbeat waits for the batch that carries it before a 503: a
#: bound in time past the database's own (pool wait, lock wait), reached only
#: when the server stops answering.
BATCH_WAIT = 60.0
#: Where the batch's read-back lists its clients (ints, formatted here).
_IDS = "__ALBRU_IDS__"


class SessionRow(NamedTuple):
    """A session as read back (the attributes session_view reads)."""

    id: str
    cliente_id: int
    asesor_id: int
    token: int
    status: str
    started_at: float
    last_activity_at: float
    deadline_at: float
    ended_at: float | None
    resultado: str | None
    heartbeats: int


#: What the read-back reads: the rest of an active session is known (the
#: caller's ids, status active, no end, no resultado), and every column read
#: costs a field descriptor parsed in Python (the read-back's main CPU cost).
READ = ("id", "token", "started_at", "last_activity_at", "deadline_at", "heartbeats")


class _Stmt:
    """One compiled statement: its SQL and how to turn the call's values into
    DBAPI parameters (a dict for pyformat, a tuple for qmark), with the
    statement's own literals merged once, not per call."""

    def __init__(self, engine: Engine, stmt: Any) -> None:
        compiled = stmt.compile(dialect=engine.dialect)
        self.sql: str = compiled.string
        self.fixed: dict[str, Any] = {k: v for k, v in compiled.params.items() if v is not None}
        self.order: tuple[str, ...] | None = (tuple(compiled.positiontup)
                                              if compiled.positiontup else None)

    def params(self, values: dict[str, Any]) -> Any:
        merged = {**self.fixed, **values}
        return tuple(merged[n] for n in self.order) if self.order else merged


def _multi(upd: _Stmt, read: _Stmt) -> _Stmt:
    """UPDATE; read-back; COMMIT as one multi-statement (MariaDB/MySQL,
    pyformat): one round trip. Their literals must agree by name."""
    clash = {k for k in upd.fixed.keys() & read.fixed.keys() if upd.fixed[k] != read.fixed[k]}
    if clash or upd.order or read.order:
        raise RuntimeError(f"cannot join the heartbeat's statements: {clash or 'positional'}")
    multi = _Stmt.__new__(_Stmt)
    multi.sql = f"{upd.sql}; {read.sql}; COMMIT"
    multi.fixed = {**upd.fixed, **read.fixed}
    multi.order = None
    return multi


class _Call:
    """One heartbeat waiting in the group commit: its values, then its answer."""

    __slots__ = ("cliente_id", "key", "values", "done", "finished", "lead", "answer", "error")

    def __init__(self, cliente_id: int, key: str, values: dict[str, Any]) -> None:
        self.cliente_id = cliente_id
        self.key = key  # "any" or "sid": which UPDATE
        self.values = values
        self.done = threading.Event()
        self.finished = False
        self.lead = False  # handed the lead of the group commit
        self.answer: Any = None
        self.error: BaseException | None = None

    def settle(self, answer: Any = None, error: BaseException | None = None) -> None:
        self.answer, self.error, self.finished = answer, error, True
        self.done.set()

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.answer


class HotHeartbeat:
    """The compiled statements of one database, and the hot unit of work.

    On MariaDB/MySQL the heartbeats of one process are group-committed: with
    no round trip out a heartbeat goes at once; those that arrive while one is
    out wait, and the next sender takes them together (their UPDATEs, one
    read-back and one COMMIT in one packet). Nothing waits for company, and
    nothing waits more than STALL behind a slow round trip (another opens, up
    to SENDERS). Why: under load most of a heartbeat's cost is the round trip
    and the commit (a redo-log flush), which a batch pays once
    (docs/performance.md). A batch that fails is sent
    again one heartbeat at a time, so each caller gets its own answer."""

    def __init__(self, db: Database, timeout: float) -> None:
        self.db = db
        self.timeout = float(timeout)
        self._stmts: dict[str, _Stmt] | None = None
        self._lock = threading.Lock()
        self._queue: list[_Call] = []
        self._senders = 0  # round trips out now
        #: batches sent and heartbeats they carried (tests, bench)
        self.batches = 0
        self.batched = 0

    def _compiled(self) -> dict[str, _Stmt]:
        if self._stmts is None:
            engine = self.db.hot_engine
            token = honoured(user_id=bindparam("user_id"), role=bindparam("role"),
                             version=bindparam("version"), salt=bindparam("salt"),
                             jti=bindparam("jti"))
            conds = [GestionSession.cliente_id == bindparam("cliente_id"),
                     GestionSession.asesor_id == bindparam("user_id"),
                     GestionSession.status == ACTIVE,
                     GestionSession.deadline_at > db_now()]
            values = {"last_activity_at": db_now(),
                      "deadline_at": db_now() + bindparam("timeout"),
                      "heartbeats": GestionSession.heartbeats + 1}
            read = select(*(getattr(GestionSession, c) for c in READ), db_now()).where(
                GestionSession.cliente_id == bindparam("cliente_id"),
                GestionSession.status == ACTIVE)
            stmts = {
                "any": _Stmt(engine, update(GestionSession).where(*conds, token)
                             .values(**values)),
                "sid": _Stmt(engine, update(GestionSession)
                             .where(*conds, GestionSession.id == bindparam("session_id"), token)
                             .values(**values)),
                "read": _Stmt(engine, read),
            }
            if engine.dialect.name in ("mysql", "mariadb"):
                for name in ("any", "sid"):
                    stmts[f"{name}+read"] = _multi(stmts[name], stmts["read"])
                table = GestionSession.__table__.name
                stmts["read*"] = _Stmt(engine, select(
                    GestionSession.cliente_id, *(getattr(GestionSession, c) for c in READ),
                    db_now()).where(GestionSession.status == ACTIVE,
                                    text(f"{table}.cliente_id IN ({_IDS})")))
            self._stmts = stmts
        return self._stmts

    def extend(self, claims: TokenClaims, cliente_id: int,
               session_id: str | None) -> tuple[SessionRow, float] | None:
        """Extend and read back in one transaction: the session and the
        database clock; None when the UPDATE changed nothing (the caller says
        why)."""
        if not claims.salt:
            return None
        stmts = self._compiled()
        values = {"cliente_id": cliente_id, "user_id": claims.user_id, "role": claims.role,
                  "version": claims.version, "salt": claims.salt, "jti": claims.jti,
                  "timeout": self.timeout}
        if session_id is not None:
            values["session_id"] = session_id
        call = _Call(cliente_id, "sid" if session_id is not None else "any", values)
        if "read*" not in stmts:  # SQLite: two statements, one writer anyway
            return self.db.hot(lambda cur: self._two_trips(cur, call))
        return self._group_commit(call)

    # -- the group commit ------------------------------------------------

    def _group_commit(self, call: _Call) -> tuple[SessionRow, float] | None:
        """Send or wait (the class's docstring). With no round trip out a
        heartbeat goes at once; else it waits for the next batch, and after
        STALL s still queued it opens another round trip (up to SENDERS), so
        a slow one (a lock wait, a slow flush) holds up the others by at most
        STALL. Every change of the queue and of the slots is made under the
        lock; a sender whose own heartbeat is answered hands its slot to the
        first waiter."""
        with self._lock:
            self._queue.append(call)
            sends = self._senders == 0
            if sends:
                self._senders += 1
        give_up = time.monotonic() + BATCH_WAIT
        while True:
            if not sends:
                signalled = call.done.wait(STALL)
                with self._lock:
                    if call.lead:  # handed a slot
                        call.lead, sends = False, True
                        call.done.clear()
                    elif call.finished:
                        return call.outcome()
                    elif signalled or call not in self._queue:
                        pass  # carried by a round trip that is out: bounded
                    elif self._senders < SENDERS:  # stalled: open another
                        self._senders += 1
                        sends = True
                    elif time.monotonic() > give_up:
                        self._queue.remove(call)
                        raise Unavailable("database busy: the heartbeat was not sent")
                continue
            try:
                with self._lock:
                    batch = [] if call.finished else self._queue[:BATCH_MAX]
                    del self._queue[: len(batch)]
                    if not batch:  # answered, or carried by another sender
                        self._hand_over()
                        sends = False
                        if call.finished:
                            return call.outcome()
                        continue
                try:
                    self._send(batch)
                finally:  # a sender killed mid-batch: nobody is left waiting
                    for c in batch:
                        if not c.finished:
                            c.settle(error=Unavailable("database busy: the heartbeat was lost"))
            except BaseException:
                with self._lock:
                    self._hand_over()
                raise

    def _hand_over(self) -> None:
        """Give up a sender's slot (under the lock): to the first waiter not
        already handed one (two senders may finish before it wakes), or free it."""
        for waiting in self._queue:
            if not waiting.lead:
                waiting.lead = True
                waiting.done.set()
                return
        self._senders -= 1

    def _send(self, batch: list[_Call]) -> None:
        """Answer every call of `batch` (never raises: each caller raises its
        own error). A batch that fails is sent again one call at a time."""
        if len(batch) > 1:
            try:
                answers = self.db.hot(lambda cur: self._batch_trip(cur, batch), commits=True)
            except Exception as exc:  # noqa: BLE001 - each call is tried alone below
                log.info("heartbeat batch of %d failed (%s); sending each alone",
                         len(batch), str(exc)[:200])
            else:
                self.batches += 1
                self.batched += len(batch)
                for c, answer in zip(batch, answers, strict=True):
                    c.settle(answer)
                return
        for c in batch:
            try:
                c.settle(self.db.hot(lambda cur, c=c: self._one_trip(cur, c), commits=True))
            except Exception as exc:  # noqa: BLE001 - re-raised in the caller
                c.settle(error=exc)

    def _one_trip(self, cur: Any, call: _Call) -> tuple[SessionRow, float] | None:
        multi = self._compiled()[call.key + "+read"]
        cur.execute(multi.sql, multi.params(call.values))
        done = cur.rowcount >= 1
        cur.nextset()
        row = cur.fetchone()
        cur.nextset()  # the COMMIT's answer: an error raises here
        return self._row(call, row[:-1], row[-1]) if done else None

    def _batch_trip(self, cur: Any, batch: list[_Call]) -> list[tuple[SessionRow, float] | None]:
        """The batch's UPDATEs (in client order: two batches lock rows in the
        same order), one read-back of their clients and COMMIT, as one
        packet; values escaped by the driver (mogrify), the ids are ints."""
        stmts = self._compiled()
        order = sorted(batch, key=lambda c: c.cliente_id)
        read = stmts["read*"]
        ids = ",".join(str(int(c.cliente_id)) for c in order)
        sql = "; ".join([*(cur.mogrify(stmts[c.key].sql, stmts[c.key].params(c.values))
                           for c in order),
                         cur.mogrify(read.sql, read.params({})).replace(_IDS, ids), "COMMIT"])
        cur.execute(sql)
        done = {}
        for i, c in enumerate(order):
            if i:
                cur.nextset()
            done[id(c)] = cur.rowcount >= 1
        cur.nextset()
        rows = {row[0]: row for row in cur.fetchall()}
        cur.nextset()  # the COMMIT's answer: an error raises here
        out: list[tuple[SessionRow, float] | None] = []
        for c in batch:
            row = rows.get(c.cliente_id) if done[id(c)] else None
            out.append(self._row(c, row[1:-1], row[-1]) if row is not None else None)
        return out

    def _two_trips(self, cur: Any, call: _Call) -> tuple[SessionRow, float] | None:
        stmts = self._compiled()
        upd, read = stmts[call.key], stmts["read"]
        cur.execute(upd.sql, upd.params(call.values))
        if cur.rowcount < 1:
            return None
        cur.execute(read.sql, read.params(call.values))
        row = cur.fetchone()
        return self._row(call, row[:-1], row[-1])

    @staticmethod
    def _row(call: _Call, cols: Any, now: Any) -> tuple[SessionRow, float]:
        sid, token, started, last, deadline, beats = cols
        return SessionRow(sid, call.cliente_id, call.values["user_id"], token, ACTIVE, started,
                          last, deadline, None, None, beats), float(now)
