"""Reads for screens and operators: a client's session status, live sessions,
and the day's figures (in TIMEZONE). Nothing here changes state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select

from core.cache import SessionCache
from core.db import Database, db_now
from core.models import AuditEntry, Cliente, GestionSession, User
from core.sessions import live_session, session_view
from core.visibility import visible_cliente
from domain.states import Resultado, SessionStatus
from domain.visibility import Viewer

ACTIVE = SessionStatus.ACTIVE.value


class Reports:
    def __init__(self, db: Database, cache: SessionCache) -> None:
        self.db = db
        self.cache = cache

    def status(self, viewer: Viewer | None, cliente_id: int) -> dict[str, Any]:
        """A client's state and live session (with the Redis copy's TTL);
        404 for a client the viewer may not see."""
        with self.db.transaction() as tx:
            cliente = visible_cliente(tx, viewer, cliente_id)
            sess, now = live_session(tx, cliente_id)
            view = session_view(sess, now) if sess else None
            estado, asignado = cliente.estado, cliente.asesor_asignado
        cached = self.cache.get(cliente_id) if view else None
        return {
            "cliente_id": cliente_id,
            "estado": estado,
            "asesor_asignado": asignado,
            "active": bool(view) and view["seconds_left"] > 0,
            "session": view,
            "cached": cached is not None,
            "cache_ttl": self.cache.ttl(cliente_id) if cached else None,
        }

    def active(self, asesor_id: int | None = None) -> list[dict[str, Any]]:
        """Live sessions, soonest deadline first (an advisor's own when asesor_id)."""
        with self.db.transaction() as tx:
            q = select(GestionSession, db_now()).where(GestionSession.status == ACTIVE)
            if asesor_id is not None:
                q = q.where(GestionSession.asesor_id == asesor_id)
            rows = tx.execute(q.order_by(GestionSession.deadline_at)).all()
            return [session_view(s, float(now)) for s, now in rows]

    def stats(self, day_start: float) -> dict[str, Any]:
        with self.db.transaction() as tx:
            now = float(tx.execute(select(db_now())).scalar_one())
            active = tx.execute(
                select(func.count()).where(GestionSession.status == ACTIVE,
                                           GestionSession.deadline_at > now)
            ).scalar_one()
            per_status = dict(
                tx.execute(
                    select(GestionSession.status, func.count())
                    .where(GestionSession.started_at >= day_start)
                    .group_by(GestionSession.status)
                ).all()
            )
            ended_today = and_(GestionSession.ended_at >= day_start)
            completed = tx.execute(
                select(func.count(), func.avg(GestionSession.ended_at - GestionSession.started_at))
                .where(ended_today, GestionSession.status == SessionStatus.COMPLETED.value)
            ).one()
            timed_out = tx.execute(
                select(func.count()).where(
                    ended_today, GestionSession.status == SessionStatus.TIMED_OUT.value)
            ).scalar_one()
            released = tx.execute(
                select(func.count()).where(
                    ended_today, GestionSession.status == SessionStatus.RELEASED.value)
            ).scalar_one()
            handled = tx.execute(
                select(func.count()).where(
                    ended_today, GestionSession.status == SessionStatus.COMPLETED.value,
                    GestionSession.resultado == Resultado.GESTIONADO.value)
            ).scalar_one()
        return {
            "active": int(active),
            "started_today": int(sum(per_status.values())),
            "completed_today": int(completed[0]),
            "timed_out_today": int(timed_out),
            "released_today": int(released),
            "handled_today": int(handled),
            "mean_handling_seconds": round(float(completed[1]), 3) if completed[1] else None,
            "day_start": day_start,
            "now": now,
        }

    def stats_by_asesor(self, day_start: float) -> dict[str, Any]:
        """The GTR board's per-advisor figures: live sessions now; completed,
        timed out and mean handling time of the sessions ended since `day_start`.
        One grouped query per figure, so the cost does not grow with the day."""
        with self.db.transaction() as tx:
            now = float(tx.execute(select(db_now())).scalar_one())
            users = tx.execute(select(User.id, User.nombre).where(User.role == "asesor")
                               .order_by(User.id)).all()
            active = dict(tx.execute(
                select(GestionSession.asesor_id, func.count())
                .where(GestionSession.status == ACTIVE, GestionSession.deadline_at > now)
                .group_by(GestionSession.asesor_id)).all())
            ended = tx.execute(
                select(GestionSession.asesor_id, GestionSession.status, func.count(),
                       func.avg(GestionSession.ended_at - GestionSession.started_at))
                .where(GestionSession.ended_at >= day_start)
                .group_by(GestionSession.asesor_id, GestionSession.status)).all()
            handled = dict(tx.execute(
                select(GestionSession.asesor_id, func.count())
                .where(GestionSession.ended_at >= day_start,
                       GestionSession.status == SessionStatus.COMPLETED.value,
                       GestionSession.resultado == Resultado.GESTIONADO.value)
                .group_by(GestionSession.asesor_id)).all())
        per: dict[int, dict[str, Any]] = {}
        for asesor_id, status, count, mean in ended:
            row = per.setdefault(asesor_id, {})
            row[status] = (int(count), float(mean) if mean is not None else None)
        items = []
        for uid, nombre in users:
            row = per.get(uid, {})
            done, mean = row.get(SessionStatus.COMPLETED.value, (0, None))
            items.append({
                "asesor_id": uid,
                "nombre": nombre,
                "active": int(active.get(uid, 0)),
                "completed_today": done,
                "timed_out_today": row.get(SessionStatus.TIMED_OUT.value, (0, None))[0],
                "released_today": row.get(SessionStatus.RELEASED.value, (0, None))[0],
                "handled_today": int(handled.get(uid, 0)),
                "mean_handling_seconds": round(mean, 3) if mean is not None else None,
            })
        return {"items": items, "day_start": day_start, "now": now}

    def presence_rows(self, day_start: float) -> dict[str, Any]:
        """Per active advisor: their live session (client, since when) and their
        last activity today (a session's start, heartbeat or end)."""
        with self.db.transaction() as tx:
            now = float(tx.execute(select(db_now())).scalar_one())
            users = tx.execute(select(User.id, User.nombre, User.username)
                               .where(User.role == "asesor", User.active.is_(True))
                               .order_by(User.nombre, User.id)).all()
            live = {row.asesor_id: row for row in tx.execute(
                select(GestionSession.asesor_id, GestionSession.cliente_id,
                       GestionSession.started_at, Cliente.nombre)
                .join(Cliente, Cliente.id == GestionSession.cliente_id)
                .where(GestionSession.status == ACTIVE, GestionSession.deadline_at > now)
                .order_by(GestionSession.started_at)).all()}
            last = dict(tx.execute(
                select(GestionSession.asesor_id,
                       func.max(func.coalesce(GestionSession.ended_at,
                                              GestionSession.last_activity_at)))
                .where(GestionSession.started_at >= day_start)
                .group_by(GestionSession.asesor_id)).all())
        return {"now": now, "items": [
            {"asesor_id": uid, "nombre": nombre, "username": username,
             "cliente_id": live[uid].cliente_id if uid in live else None,
             "cliente_nombre": live[uid].nombre if uid in live else None,
             "session_started": float(live[uid].started_at) if uid in live else None,
             "last_activity": float(last[uid]) if last.get(uid) is not None else None}
            for uid, nombre, username in users]}

    def returns(self, limit: int = 50) -> dict[str, Any]:
        """The latest returns to GTR (timed out, released, orphan lock released),
        newest first, from the audit log: the GTR alert list survives a reload."""
        reasons = {"timeout": "timeout", "released": "released", "orphan_release": "orphan"}
        with self.db.transaction() as tx:
            now = float(tx.execute(select(db_now())).scalar_one())
            rows = tx.execute(
                select(AuditEntry.id, AuditEntry.cliente_id, AuditEntry.action, AuditEntry.at,
                       Cliente.nombre, GestionSession.asesor_id, User.nombre)
                .join(Cliente, Cliente.id == AuditEntry.cliente_id)
                .outerjoin(GestionSession, GestionSession.id == AuditEntry.session_id)
                .outerjoin(User, User.id == GestionSession.asesor_id)
                .where(AuditEntry.action.in_(list(reasons)))
                .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)).all()
        return {"now": now, "items": [
            {"id": rid, "cliente_id": cid, "nombre": nombre, "reason": reasons[action],
             "at": float(at), "asesor_id": asesor_id, "asesor_nombre": asesor_nombre}
            for rid, cid, action, at, nombre, asesor_id, asesor_nombre in rows]}
