"""Recovery and periodic work (the seed's SeguimientoWorker): time out what is
overdue, release orphan locks, make Redis agree with MySQL, put back the
due-queue entries Redis lost (core/timers.py), and batch the deadlines
heartbeats moved into one push. Safe to run anywhere, any number of times: every change goes
through the same fenced transitions as the requests (core/sessions.py)."""

from __future__ import annotations

import logging

from sqlalchemy import Select, select, update

from core.breaker import CircuitOpen
from core.changes import Changes
from core.db import db_now
from core.models import Cliente, GestionSession
from core.reports import Reports
from core.sessions import ArmTimeout, SessionService, session_view
from core.timers import TimerQueue
from domain import lease
from domain.events import Event
from domain.states import Estado, SessionStatus

log = logging.getLogger(__name__)

ACTIVE = SessionStatus.ACTIVE.value


class Sweeper:
    def __init__(self, changes: Changes, sessions: SessionService, reports: Reports,
                 timers: TimerQueue, resync_interval: float = 0.0) -> None:
        self.changes = changes
        self.resync_interval = resync_interval
        self.timers = timers
        self.db = changes.db
        self.sessions = sessions
        self.reports = reports
        self.cache = sessions.cache

    def sweep(self, limit: int = 1000, full: bool = True) -> dict[str, int]:
        """The SeguimientoWorker: time out what is overdue, release orphan locks,
        and make Redis agree with MySQL. Safe to run anywhere, any number of times.

        `full=False` (the periodic sweep) resyncs Redis only when it is due
        (SessionCache.claim_resync): reading every live id from both stores
        each WORKER_INTERVAL was most of a sweep's cost, a burst that the
        heartbeats felt (docs/performance.md). The copies decide nothing, a
        heartbeat rewrites a missing one, and a Redis that lost its data is
        resynced at the next sweep."""
        report = {"expired": 0, "orphans_released": 0, "redis_restored": 0, "redis_removed": 0}
        with self.db.transaction() as tx:
            overdue = tx.execute(
                select(GestionSession.id)
                .where(GestionSession.status == ACTIVE, GestionSession.deadline_at <= db_now())
                .order_by(GestionSession.deadline_at)
                .limit(limit)
            ).scalars().all()
        for sid in overdue:
            if self.sessions.expire(sid).action == "expire":
                report["expired"] += 1
        report["orphans_released"] = self._release_orphans()
        restored, removed = self._resync_cache(full)
        report["redis_restored"], report["redis_removed"] = restored, removed
        if any(report.values()):
            log.info("sweep: %s", report)
        return report

    def arm_due(self, within: float, limit: int = 1000) -> int:
        """Put back in the due-queue each live session whose deadline falls in
        the next `within` s and that the queue does not hold (Redis lost it, or
        restarted empty), and send its task if it is due within the horizon.
        Sessions the queue holds are left alone: the queue re-sends a task lost
        with a killed worker by itself (core.timers.SENT_LEASE), so the sweep
        adds no duplicate. Returns how many were missing."""
        with self.db.transaction() as tx:
            rows = tx.execute(
                select(GestionSession.id, GestionSession.cliente_id,
                       GestionSession.deadline_at - db_now())
                .where(GestionSession.status == ACTIVE, GestionSession.deadline_at > db_now(),
                       GestionSession.deadline_at <= db_now() + within)
                .order_by(GestionSession.deadline_at)
                .limit(limit)
            ).all()
        try:
            return self.timers.arm_many(
                ((sid, cid, float(left) + lease.REARM_MARGIN) for sid, cid, left in rows),
                only_new=True)
        except Exception as exc:  # noqa: BLE001 - Redis down: the fallback times them out
            (log.debug if isinstance(exc, CircuitOpen) else log.warning)(
                "sweep could not check the due-queue: %s", exc)
            return 0

    @staticmethod
    def orphans_query() -> Select:
        """Clients marked en_gestion with no live session behind them: an
        anti-join that reads the locked clients from
        ix_clientes_estado_asesor_session alone (a scan of the whole table
        was a third of each sweep), one primary-key probe each."""
        return (
            select(Cliente.id, Cliente.asesor_asignado, Cliente.current_session_id)
            .outerjoin(GestionSession, (GestionSession.id == Cliente.current_session_id)
                       & (GestionSession.status == ACTIVE))
            .where(Cliente.estado == Estado.EN_GESTION.value, GestionSession.id.is_(None))
        )

    def _release_orphans(self) -> int:
        with self.db.transaction() as tx:
            orphans = tx.execute(self.orphans_query()).all()
        count = 0
        for cid, asesor_id, sid in orphans:
            with self.changes.begin() as ch:
                done = ch.tx.execute(
                    update(Cliente)
                    .where(
                        Cliente.id == cid,
                        Cliente.estado == Estado.EN_GESTION.value,
                        Cliente.current_session_id == sid
                        if sid is not None
                        else Cliente.current_session_id.is_(None),
                    )
                    .values(estado=Estado.NO_GESTIONADO.value, asesor_asignado=None,
                            current_session_id=None, updated_at=db_now())
                    .execution_options(synchronize_session=False)
                ).rowcount
                if not done:
                    continue
                ch.audit(cliente_id=cid, session_id=sid, actor_id=None, action="orphan_release",
                         from_state=Estado.EN_GESTION.value, to_state=Estado.NO_GESTIONADO.value)
                ch.push(Event.CLIENT_RETURNED_TO_GTR, rooms_asesor=asesor_id, cliente_id=cid,
                        session_id=sid, estado=Estado.NO_GESTIONADO.value, asesor_id=None,
                        deadline=None, ts=ch.now(), reason="orphan",
                        previous_asesor_id=asesor_id)
                ch.after("session cache", lambda cid=cid: self.cache.delete(cid))
            count += 1
        return count

    def _resync_cache(self, full: bool = True) -> tuple[int, int]:
        try:
            if not (self.cache.claim_resync(self.resync_interval) or full):
                return 0, 0
            cached = self.cache.cached_ids()
        except Exception as exc:  # noqa: BLE001 - Redis down: nothing to resync now
            # once per outage is enough: the breaker logged it (core.breaker)
            (log.debug if isinstance(exc, CircuitOpen) else log.warning)(
                "sweep could not read Redis: %s", exc)
            return 0, 0
        # Ids first, full rows only for what is missing: loading every live
        # session as an ORM object each sweep cost the worker ~1 KB per session.
        with self.db.transaction() as tx:
            live_ids = set(tx.execute(
                select(GestionSession.cliente_id)
                .where(GestionSession.status == ACTIVE, GestionSession.deadline_at > db_now())
            ).scalars())
        restored = 0
        missing = sorted(live_ids - cached)  # mostly sessions started since the SCAN
        for i in range(0, len(missing), 500):
            with self.db.transaction() as tx:
                rows = tx.execute(
                    select(GestionSession, db_now())
                    .where(GestionSession.cliente_id.in_(missing[i:i + 500]),
                           GestionSession.status == ACTIVE)
                ).all()
                views = [session_view(sess, float(now)) for sess, now in rows]
            for view in views:
                if view["seconds_left"] > 0 and self.cache.put(view, view["seconds_left"]):
                    restored += 1
        removed = 0
        for cid in cached - live_ids:
            if self.cache.delete(cid):
                removed += 1
        return restored, removed

    def push_extensions(self, since: float | None, window: float) -> tuple[int, float]:
        """One SESSIONS_EXTENDED event with the new deadline of every live
        session with activity after `since` (None: the last `window` seconds),
        so GTR countdowns stay true without one push per heartbeat. Returns
        (sessions reported, the `since` of the next call)."""
        with self.changes.begin() as ch:
            now = ch.now()
            since = now - window if since is None else since
            rows = ch.tx.execute(
                select(GestionSession.cliente_id, GestionSession.id, GestionSession.deadline_at)
                .where(GestionSession.status == ACTIVE,
                       GestionSession.last_activity_at > since,
                       GestionSession.deadline_at > now)
                .order_by(GestionSession.cliente_id)
            ).all()
            if not rows:
                return 0, now
            ch.push(Event.SESSIONS_EXTENDED, rooms_asesor=None, cliente_id=None, estado=None,
                    asesor_id=None, ts=now, since=since,
                    deadlines={str(cid): deadline for cid, _, deadline in rows},
                    sessions={str(cid): sid for cid, sid, _ in rows})
        return len(rows), now

    def rearm_live(self, arm: ArmTimeout | None = None) -> int:
        """Arm the timeout of every live session again (after a worker lost the
        tasks it held with its broker connection, or Redis came back empty). An
        extra task is harmless: it re-arms or does nothing."""
        with self.db.transaction() as tx:
            rows = tx.execute(
                select(GestionSession.id, GestionSession.cliente_id,
                       GestionSession.deadline_at - db_now())
                .where(GestionSession.status == ACTIVE)
                .order_by(GestionSession.deadline_at)
            ).all()
        items = [(sid, cid, max(0.0, float(left)) + lease.REARM_MARGIN) for sid, cid, left in rows]
        if arm is not None:
            for item in items:
                arm(*item)
        else:
            self.timers.arm_many(items)
        return len(items)
