"""The visibility rule of domain/visibility.py, applied to rows: one client
loaded for a viewer (404 when they may not see it) and the same rule as a SQL
condition for lists (clients, board)."""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select, true
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from core.models import Cliente, GestionSession
from domain.errors import NotFound
from domain.states import Estado, SessionStatus
from domain.visibility import ClientFacts, Viewer, may_see

ACTIVE = SessionStatus.ACTIVE.value


def _pool_session(cliente_id_col) -> ColumnElement[bool]:
    """A live session taken from the pool. Its own alias: the board's query
    joins gestion_sessions too, and must not correlate with it."""
    s = aliased(GestionSession)
    return exists(select(s.id).where(s.cliente_id == cliente_id_col, s.status == ACTIVE,
                                     s.from_pool.is_(True)))


def _last_holder(cliente_id_col) -> ColumnElement[int | None]:
    """The advisor of the client's most recent session."""
    s = aliased(GestionSession)
    return (select(s.asesor_id).where(s.cliente_id == cliente_id_col)
            .order_by(s.started_at.desc(), s.id.desc()).limit(1).scalar_subquery())


def facts(tx: Session, cliente: Cliente) -> ClientFacts:
    pool_session, last_holder = False, None
    if cliente.estado == Estado.EN_GESTION:
        pool_session = bool(tx.execute(select(_pool_session(Cliente.id)).where(
            Cliente.id == cliente.id)).scalar())
    elif cliente.estado == Estado.NO_GESTIONADO and cliente.asesor_asignado is None:
        last_holder = tx.execute(select(_last_holder(Cliente.id)).where(
            Cliente.id == cliente.id)).scalar()
    return ClientFacts(cliente.estado, cliente.asesor_asignado, pool_session, last_holder)


def visible_cliente(tx: Session, viewer: Viewer | None, cliente_id: int) -> Cliente:
    """The client, if it exists and `viewer` (None: the system) may see it; else
    404 with the same answer as an unknown id."""
    cliente = tx.get(Cliente, cliente_id)
    if cliente is None:
        raise NotFound(f"cliente {cliente_id} not found", cliente_id=cliente_id)
    if viewer is None or may_see(viewer, ClientFacts(cliente.estado, cliente.asesor_asignado)):
        # GTR, the advisor's own client or the pool: the row alone decides, and
        # the extra facts could only widen what the rule allows. Why: an end or
        # a heartbeat's refusal by the holder skipped a SELECT for nothing.
        return cliente
    if not may_see(viewer, facts(tx, cliente)):
        raise NotFound(f"cliente {cliente_id} not found", cliente_id=cliente_id)
    return cliente


def visible_clause(viewer: Viewer | None) -> ColumnElement[bool]:
    """The rule as a WHERE condition on Cliente (for lists)."""
    if viewer is None or viewer.is_gtr:
        return true()
    return or_(
        Cliente.asesor_asignado == viewer.id,
        and_(Cliente.estado == Estado.DERIVADO.value, Cliente.asesor_asignado.is_(None)),
        and_(Cliente.estado == Estado.EN_GESTION.value, _pool_session(Cliente.id)),
        and_(Cliente.estado == Estado.NO_GESTIONADO.value, Cliente.asesor_asignado.is_(None),
             _last_holder(Cliente.id) == viewer.id),
    )
