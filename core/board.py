"""The board snapshot: what a reconnecting screen reloads when the event log
no longer holds what it missed.

It is read at a known `seq`: the log's end is read FIRST, so the rows are at
least that new. A client applies the events after `seq`; an event already
reflected in the rows only sets the same values again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select

from core.db import Database, db_now
from core.eventlog import EventLog
from core.models import Cliente, GestionSession, User
from core.visibility import visible_clause
from domain import lease
from domain.states import Estado, SessionStatus
from domain.visibility import Viewer

BOARD_STATES = (Estado.DERIVADO.value, Estado.EN_GESTION.value)


def board(db: Database, viewer: Viewer | None = None) -> dict[str, Any]:
    """Every client in derivado / en_gestion with its advisor and, for a live
    session, its deadline and seconds left, as far as `viewer` may see
    (domain/visibility.py)."""
    seq = EventLog(db).last_seq()
    q = (
        select(Cliente, GestionSession, User.nombre, db_now())
        .outerjoin(GestionSession, and_(GestionSession.id == Cliente.current_session_id,
                                        GestionSession.status == SessionStatus.ACTIVE.value))
        .outerjoin(User, User.id == Cliente.asesor_asignado)
        .where(Cliente.estado.in_(BOARD_STATES), visible_clause(viewer))
    )
    with db.transaction() as tx:
        rows = tx.execute(q.order_by(Cliente.id)).all()
        now = float(rows[0][3]) if rows else db.now()
    items = []
    for cliente, sess, asesor_nombre, _ in rows:
        items.append({
            "cliente_id": cliente.id,
            "nombre": cliente.nombre,
            "estado": cliente.estado,
            "asesor_id": cliente.asesor_asignado,
            "asesor_nombre": asesor_nombre,
            "session_id": sess.id if sess else None,
            "started_at": sess.started_at if sess else None,
            "deadline": sess.deadline_at if sess else None,
            "seconds_left": round(lease.seconds_left(sess.deadline_at, now), 3) if sess else None,
        })
    return {"seq": seq, "now": now, "items": items}
