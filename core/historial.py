"""A client's handling history, for the advisor's desk: every session of the
client, newest first (when, by whom, result, duration, notes), and how long the
client has waited since it was last derived. Read-only; visibility is the one
rule of domain/visibility.py (404 for a client the viewer may not see)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Database, db_now
from core.models import AuditEntry, GestionSession, User
from core.visibility import visible_cliente
from domain.states import Estado
from domain.visibility import Viewer

#: Sessions returned at most (the newest); a client is rarely handled more often.
HISTORY_LIMIT = 100


def entry_view(s: GestionSession, asesor_nombre: str | None) -> dict[str, Any]:
    """One earlier (or the current) handling of a client."""
    end = s.ended_at
    return {
        "session_id": s.id,
        "asesor_id": s.asesor_id,
        "asesor_nombre": asesor_nombre,
        "status": s.status,
        "started_at": s.started_at,
        "ended_at": end,
        "duration": round(end - s.started_at, 3) if end is not None else None,
        "resultado": s.resultado,
        "notas": s.notas,
    }


def historial(db: Database, viewer: Viewer | None, cliente_id: int,
              limit: int = HISTORY_LIMIT) -> dict[str, Any]:
    """The client's sessions, newest first, and when it was last derived
    (`derivado_at`, database clock; None if never) with the clock's `now`,
    so a screen can say how long it has waited. `notas_origen`: the notes the
    client was imported or created with (the record keeps the latest session's)."""
    with db.transaction() as tx:
        cliente = visible_cliente(tx, viewer, cliente_id)
        rows = tx.execute(
            select(GestionSession, User.nombre)
            .join(User, User.id == GestionSession.asesor_id, isouter=True)
            .where(GestionSession.cliente_id == cliente_id)
            .order_by(GestionSession.started_at.desc(), GestionSession.id.desc())
            .limit(limit)).all()
        derivado_at = tx.execute(
            select(AuditEntry.at)
            .where(AuditEntry.cliente_id == cliente_id,
                   AuditEntry.to_state == Estado.DERIVADO.value)
            .order_by(AuditEntry.id.desc()).limit(1)).scalar()
        now = float(tx.execute(select(db_now())).scalar_one())
        replaced = tx.execute(
            select(AuditEntry.detail)
            .where(AuditEntry.cliente_id == cliente_id, AuditEntry.action == "end")
            .order_by(AuditEntry.id)).scalars()
        origen = next((d["notas_anteriores"] for d in replaced
                       if isinstance(d, dict) and d.get("notas_anteriores")), cliente.notas)
        return {
            "cliente_id": cliente_id,
            "estado": cliente.estado,
            "derivado_at": float(derivado_at) if derivado_at is not None else None,
            "now": now,
            "notas_origen": origen,
            "items": [entry_view(s, nombre) for s, nombre in rows],
        }


def latest_session_id(tx: Session, cliente_id: int) -> str | None:
    """The id of the client's most recent session (None: never handled)."""
    return tx.execute(
        select(GestionSession.id).where(GestionSession.cliente_id == cliente_id)
        .order_by(GestionSession.started_at.desc(), GestionSession.id.desc()).limit(1)
    ).scalar()

