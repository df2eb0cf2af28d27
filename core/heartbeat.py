"""The heartbeat's hot path: ONE conditional UPDATE that carries every
precondition (the caller's live session on this client by the database clock,
the session id if given, and the token still honoured by its user row: active,
role, version, salt, not logged out), its read-back and COMMIT, on a raw
connection of the hot pool (core.db.Database.hot). Statements are compiled
once per dialect; no ORM on the way. A refused UPDATE changes nothing and the
caller (core.sessions.SessionService.heartbeat) explains it on the slow path.

Why: the heartbeat is what every advisor sends every 30 s; it cost 9 MySQL
round trips and 5-12x the CPU of a no-op request (docs/performance.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.engine import Compiled

from core.db import Database, db_now
from core.models import GestionSession
from core.tokens import TokenClaims, honoured
from domain.states import SessionStatus

ACTIVE = SessionStatus.ACTIVE.value

#: The read-back's columns, in the order session_view's object needs them.
COLUMNS = ("id", "cliente_id", "asesor_id", "token", "status", "started_at",
           "last_activity_at", "deadline_at", "ended_at", "resultado", "heartbeats")


@dataclass(frozen=True)
class _Stmt:
    sql: str
    compiled: Compiled

    def params(self, values: dict[str, Any]) -> Any:
        """The DBAPI parameters: a dict (pyformat) or a tuple (qmark)."""
        merged = self.compiled.construct_params(values)
        order = self.compiled.positiontup
        return tuple(merged[n] for n in order) if order else merged


def _compile(engine: Engine, stmt: Any) -> _Stmt:
    compiled = stmt.compile(dialect=engine.dialect)
    return _Stmt(compiled.string, compiled)


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
            read = select(*(getattr(GestionSession, c) for c in COLUMNS), db_now()).where(
                GestionSession.cliente_id == bindparam("cliente_id"),
                GestionSession.status == ACTIVE)
            self._stmts = {
                "any": _compile(engine, update(GestionSession).where(*conds, token)
                                .values(**values)),
                "sid": _compile(engine, update(GestionSession)
                                .where(*conds, GestionSession.id == bindparam("session_id"),
                                       token).values(**values)),
                "read": _compile(engine, read),
            }
        return self._stmts

    def extend(self, claims: TokenClaims, cliente_id: int,
               session_id: str | None) -> tuple[GestionSession, float] | None:
        """Extend and read back in one transaction: the session (a detached
        object, for session_view) and the database clock; None when the UPDATE
        changed nothing (the caller says why)."""
        stmts = self._compiled()
        values = {"cliente_id": cliente_id, "user_id": claims.user_id, "role": claims.role,
                  "version": claims.version, "salt": claims.salt, "jti": claims.jti,
                  "timeout": self.timeout, "session_id": session_id}
        upd = stmts["sid" if session_id is not None else "any"]

        def work(cur: Any) -> tuple[GestionSession, float] | None:
            if not claims.salt:
                return None
            cur.execute(upd.sql, upd.params(values))
            if cur.rowcount < 1:
                return None
            cur.execute(stmts["read"].sql, stmts["read"].params(values))
            row = cur.fetchone()
            sess = GestionSession(**dict(zip(COLUMNS, row[:-1], strict=True)))
            return sess, float(row[-1])

        return self.db.hot(work)
