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

from typing import Any, NamedTuple

from sqlalchemy import Engine, bindparam, select, update

from core.db import Database, db_now
from core.models import GestionSession
from core.tokens import TokenClaims, honoured
from domain.states import SessionStatus

ACTIVE = SessionStatus.ACTIVE.value


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


class HotHeartbeat:
    """The compiled statements of one database, and the hot unit of work."""

    def __init__(self, db: Database, timeout: float) -> None:
        self.db = db
        self.timeout = float(timeout)
        self._stmts: dict[str, _Stmt] | None = None

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
        upd, read = stmts["sid" if session_id is not None else "any"], stmts["read"]

        multi = stmts.get(("sid" if session_id is not None else "any") + "+read")

        def one_trip(cur: Any) -> tuple[SessionRow, float] | None:
            assert multi is not None
            cur.execute(multi.sql, multi.params(values))
            done = cur.rowcount >= 1
            cur.nextset()
            row = cur.fetchone()
            cur.nextset()  # the COMMIT's answer: an error raises here
            return read_back(row) if done else None

        def read_back(row: Any) -> tuple[SessionRow, float]:
            sid, token, started, last, deadline, beats, now = row
            return SessionRow(sid, cliente_id, claims.user_id, token, ACTIVE, started, last,
                              deadline, None, None, beats), float(now)

        if multi is not None:
            return self.db.hot(one_trip, commits=True)

        def work(cur: Any) -> tuple[SessionRow, float] | None:
            cur.execute(upd.sql, upd.params(values))
            if cur.rowcount < 1:
                return None
            cur.execute(read.sql, read.params(values))
            return read_back(cur.fetchone())

        return self.db.hot(work)
