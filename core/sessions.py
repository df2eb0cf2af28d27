"""Session use cases: start, heartbeat, end, timeout, release, sweep, restore.

Each transition is ONE database transaction whose UPDATE carries its own
precondition (state, holder, session id, deadline against the database clock),
so a stale or duplicated writer changes nothing. Side effects (Redis cache,
timeout task, pushes) happen only after the commit."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from core.breaker import CircuitOpen
from core.cache import SessionCache
from core.db import Database, db_now
from core.eventlog import record
from core.models import AuditEntry, Cliente, GestionSession, User
from domain import lease
from domain.errors import (
    ClientLocked,
    Forbidden,
    InvalidState,
    NoActiveSession,
    NotFound,
    SessionExpired,
)
from domain.events import Event, Push, envelope, rooms_for
from domain.states import (
    Estado,
    Resultado,
    SessionStatus,
    asesor_after_end,
    can_start,
    estado_after_end,
)

log = logging.getLogger(__name__)

ACTIVE = SessionStatus.ACTIVE.value


class PushSink(Protocol):
    def publish(self, pushes: list[Push]) -> None: ...


#: Arms the timeout task: (session_id, cliente_id, delay_seconds). Injected by
#: the edge that owns the queue, so this module never imports Celery.
ArmTimeout = Callable[[str, int, float], None]


def audit(
    tx: Session,
    *,
    cliente_id: int,
    action: str,
    from_state: str | None,
    to_state: str | None,
    actor_id: int | None,
    session_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    tx.execute(
        insert(AuditEntry).values(
            cliente_id=cliente_id,
            session_id=session_id,
            actor_id=actor_id,
            action=action,
            from_state=from_state,
            to_state=to_state,
            at=db_now(),
            detail=detail,
        )
    )


def session_view(s: GestionSession, now: float) -> dict[str, Any]:
    """The JSON shape of a session everywhere (REST answers, Redis, pushes)."""
    return {
        "session_id": s.id,
        "cliente_id": s.cliente_id,
        "asesor_id": s.asesor_id,
        "token": s.token,
        "status": s.status,
        "started_at": s.started_at,
        "last_activity_at": s.last_activity_at,
        "deadline": s.deadline_at,
        "seconds_left": round(lease.seconds_left(s.deadline_at, now), 3)
        if s.status == ACTIVE
        else 0.0,
        "ended_at": s.ended_at,
        "resultado": s.resultado,
        "heartbeats": s.heartbeats,
    }


@dataclass
class Outcome:
    """What a use case returns: the session view plus what to do after commit."""

    session: dict[str, Any]
    created: bool = False
    pushes: list[Push] = field(default_factory=list)


class SessionService:
    def __init__(
        self,
        db: Database,
        cache: SessionCache,
        publisher: PushSink,
        arm_timeout: ArmTimeout,
        timeout: float,
    ) -> None:
        self.db = db
        self.cache = cache
        self.publisher = publisher
        self.arm_timeout = arm_timeout
        self.timeout = float(timeout)

    # ---------------------------------------------------------------- reads

    @staticmethod
    def _active(tx: Session, cliente_id: int) -> tuple[GestionSession | None, float]:
        row = tx.execute(
            select(GestionSession, db_now()).where(
                GestionSession.cliente_id == cliente_id, GestionSession.status == ACTIVE
            )
        ).first()
        if row is None:
            return None, float(tx.execute(select(db_now())).scalar_one())
        return row[0], float(row[1])

    @staticmethod
    def _cliente(tx: Session, cliente_id: int) -> Cliente:
        cliente = tx.get(Cliente, cliente_id)
        if cliente is None:
            raise NotFound(f"cliente {cliente_id} not found", cliente_id=cliente_id)
        return cliente

    @staticmethod
    def _holder(tx: Session, asesor_id: int | None) -> dict[str, Any] | None:
        if asesor_id is None:
            return None
        user = tx.get(User, asesor_id)
        return {"asesor_id": asesor_id, "nombre": user.nombre if user else None}

    def _own_live_session(
        self, tx: Session, asesor_id: int, cliente_id: int, session_id: str | None
    ) -> tuple[GestionSession, float]:
        """The caller's live session on this client, or the precise reason why not."""
        self._cliente(tx, cliente_id)
        sess, now = self._active(tx, cliente_id)
        if sess is None:
            raise NoActiveSession(f"cliente {cliente_id} has no active session")
        if sess.asesor_id != asesor_id:
            raise Forbidden(
                "the session belongs to another advisor",
                holder=self._holder(tx, sess.asesor_id),
            )
        if session_id is not None and session_id != sess.id:
            raise InvalidState("stale session id: a newer session holds this client",
                               session_id=sess.id)
        if lease.is_expired(sess.deadline_at, now):
            raise SessionExpired("the session has expired", deadline=sess.deadline_at)
        return sess, now

    # ---------------------------------------------------------- transitions

    @staticmethod
    def _update_live(tx: Session, session_id: str, **values: Any) -> int:
        """Change a session only while it is live by the database clock: the
        precondition that makes a late heartbeat or end lose to the timeout."""
        return tx.execute(
            update(GestionSession)
            .where(
                GestionSession.id == session_id,
                GestionSession.status == ACTIVE,
                GestionSession.deadline_at > db_now(),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount


    def _extend(self, tx: Session, asesor_id: int, cliente_id: int, session_id: str | None,
                *, heartbeat: bool) -> int:
        """Move the deadline of the advisor's live session on this client (live
        by the database clock, and `session_id` if given): one conditional UPDATE,
        shared by heartbeats and the activity tracker."""
        conds = [GestionSession.cliente_id == cliente_id,
                 GestionSession.asesor_id == asesor_id,
                 GestionSession.status == ACTIVE,
                 GestionSession.deadline_at > db_now()]
        if session_id is not None:
            conds.append(GestionSession.id == session_id)
        values: dict[str, Any] = {"last_activity_at": db_now(),
                                  "deadline_at": db_now() + self.timeout}
        if heartbeat:
            values["heartbeats"] = GestionSession.heartbeats + 1
        return tx.execute(
            update(GestionSession).where(*conds).values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount

    def start(self, asesor_id: int, cliente_id: int) -> Outcome:
        """Open a client: exactly one advisor wins a race, the others learn who."""
        sid = uuid.uuid4().hex
        with self.db.transaction() as tx:
            pre = self._cliente(tx, cliente_id)
            pool = pre.asesor_asignado is None
            won = tx.execute(
                update(Cliente)
                .where(
                    Cliente.id == cliente_id,
                    Cliente.estado == Estado.DERIVADO.value,
                    or_(Cliente.asesor_asignado == asesor_id, Cliente.asesor_asignado.is_(None)),
                )
                .values(
                    estado=Estado.EN_GESTION.value,
                    asesor_asignado=asesor_id,
                    lock_token=Cliente.lock_token + 1,
                    current_session_id=sid,
                    updated_at=db_now(),
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if not won:
                return self._start_refused(tx, asesor_id, cliente_id)
            token = tx.execute(
                select(Cliente.lock_token).where(Cliente.id == cliente_id)
            ).scalar_one()
            tx.execute(
                insert(GestionSession).values(
                    id=sid,
                    cliente_id=cliente_id,
                    asesor_id=asesor_id,
                    token=token,
                    status=ACTIVE,
                    started_at=db_now(),
                    last_activity_at=db_now(),
                    deadline_at=db_now() + self.timeout,
                    heartbeats=0,
                )
            )
            audit(tx, cliente_id=cliente_id, session_id=sid, actor_id=asesor_id, action="start",
                  from_state=Estado.DERIVADO.value, to_state=Estado.EN_GESTION.value,
                  detail={"pool": pool})
            sess, now = self._active(tx, cliente_id)
            assert sess is not None
            view = session_view(sess, now)
            push = Push(
                Event.CLIENT_IN_GESTION,
                envelope(Event.CLIENT_IN_GESTION, cliente_id=cliente_id, session_id=sid,
                         estado=Estado.EN_GESTION.value, asesor_id=asesor_id,
                         deadline=view["deadline"], ts=now, pool=pool),
                rooms_for(Event.CLIENT_IN_GESTION, asesor_id=asesor_id, pool=pool),
            )
            record(tx, [push])
        self.cache.put(view, self.timeout)
        self._arm(sid, cliente_id, self.timeout + lease.REARM_MARGIN)
        self.publisher.publish([push])
        return Outcome(view, created=True, pushes=[push])

    def _start_refused(self, tx: Session, asesor_id: int, cliente_id: int) -> Outcome:
        tx.expire_all()  # read the winner's row, not what this transaction saw first
        cliente = self._cliente(tx, cliente_id)
        if cliente.estado == Estado.EN_GESTION.value:
            sess, now = self._active(tx, cliente_id)
            if sess is not None and sess.asesor_id == asesor_id:
                if lease.is_expired(sess.deadline_at, now):
                    raise SessionExpired("your session on this client has expired",
                                         deadline=sess.deadline_at)
                return Outcome(session_view(sess, now))  # a double click: same session
            raise ClientLocked(
                f"cliente {cliente_id} is being handled by another advisor",
                holder=self._holder(tx, cliente.asesor_asignado),
            )
        if not can_start(cliente.estado, cliente.asesor_asignado, asesor_id):
            if cliente.estado == Estado.DERIVADO.value:
                raise Forbidden(f"cliente {cliente_id} is derived to another advisor")
            raise InvalidState(
                f"cliente {cliente_id} is {cliente.estado}; only a derivado client can be opened",
                estado=cliente.estado,
            )
        raise InvalidState("the client changed while opening it; retry")  # pragma: no cover

    def heartbeat(self, asesor_id: int, cliente_id: int, session_id: str | None = None) -> Outcome:
        """Push the deadline forward. A session past its deadline is dead: no revival.

        The usual case is one conditional UPDATE (the caller's live session on
        this client, by the database clock) and one read of the result; only
        when it changes nothing do the reads below say precisely why."""
        with self.db.transaction() as tx:
            if not self._extend(tx, asesor_id, cliente_id, session_id, heartbeat=True):
                # Say precisely why (these raise); a session committed meanwhile
                # (a racing start) is extended on the second try.
                self._own_live_session(tx, asesor_id, cliente_id, session_id)
                if not self._extend(tx, asesor_id, cliente_id, session_id, heartbeat=True):
                    self._own_live_session(tx, asesor_id, cliente_id, session_id)
                    raise SessionExpired("the session has expired")  # pragma: no cover
                tx.expire_all()  # the reads above cached the row before the update
            sess, now = self._active(tx, cliente_id)
            assert sess is not None
            view = session_view(sess, now)
        self.cache.put(view, self.timeout)
        return Outcome(view)

    def touch(self, asesor_id: int, cliente_id: int) -> bool:
        """Activity on a client the advisor holds counts as a heartbeat (the seed's
        activity tracker). Silent when there is nothing to extend."""
        try:
            with self.db.transaction() as tx:
                done = self._extend(tx, asesor_id, cliente_id, None, heartbeat=False)
        except Exception as exc:  # noqa: BLE001 - activity tracking is best effort
            log.warning("activity touch failed for cliente %s: %s", cliente_id, exc)
            return False
        if done:
            self.cache.extend(cliente_id, self.timeout)
        return bool(done)

    def end(
        self,
        asesor_id: int,
        cliente_id: int,
        resultado: Resultado,
        notas: str | None = None,
        session_id: str | None = None,
    ) -> Outcome:
        with self.db.transaction() as tx:
            sess, _ = self._own_live_session(tx, asesor_id, cliente_id, session_id)
            done = self._update_live(
                tx,
                sess.id,
                status=SessionStatus.COMPLETED.value,
                ended_at=db_now(),
                resultado=resultado.value,
                notas=notas,
            )
            if not done:
                self._own_live_session(tx, asesor_id, cliente_id, session_id)
                raise SessionExpired("the session has expired")  # pragma: no cover
            nuevo = estado_after_end(resultado).value
            tx.execute(
                update(Cliente)
                .where(Cliente.id == cliente_id, Cliente.current_session_id == sess.id)
                .values(
                    estado=nuevo,
                    asesor_asignado=asesor_after_end(resultado, asesor_id),
                    current_session_id=None,
                    updated_at=db_now(),
                )
                .execution_options(synchronize_session=False)
            )
            audit(tx, cliente_id=cliente_id, session_id=sess.id, actor_id=asesor_id, action="end",
                  from_state=Estado.EN_GESTION.value, to_state=nuevo,
                  detail={"resultado": resultado.value})
            tx.expire(sess)
            sess = tx.get(GestionSession, sess.id)
            now = float(tx.execute(select(db_now())).scalar_one())
            view = session_view(sess, now)
            push = Push(
                Event.CLIENT_COMPLETED,
                envelope(Event.CLIENT_COMPLETED, cliente_id=cliente_id, session_id=sess.id,
                         estado=nuevo, asesor_id=asesor_after_end(resultado, asesor_id),
                         deadline=None, ts=now, resultado=resultado.value,
                         previous_asesor_id=asesor_id),
                rooms_for(Event.CLIENT_COMPLETED, asesor_id=asesor_id),
            )
            record(tx, [push])
        self.cache.delete(cliente_id)
        self.publisher.publish([push])
        return Outcome(view, pushes=[push])

    def expire(self, session_id: str) -> lease.TimeoutDecision:
        """What a timeout task runs: expire if the deadline has come (by the
        database clock), else say how long to wait. Duplicates are no-ops."""
        with self.db.transaction() as tx:
            row = tx.execute(
                select(GestionSession, db_now()).where(GestionSession.id == session_id)
            ).first()
            if row is None:
                return lease.TimeoutDecision("noop")
            sess, now = row[0], float(row[1])
            decision = lease.decide_timeout(
                active=sess.status == ACTIVE, deadline=sess.deadline_at, now=now
            )
            if decision.action != "expire":
                return decision
            pushes = self._return_to_gtr(tx, sess, SessionStatus.TIMED_OUT, actor_id=None,
                                         reason="timeout", require_deadline=True)
            if pushes is None:  # a heartbeat or an end got there first
                tx.expire(sess)
                sess = tx.get(GestionSession, session_id)
                now = float(tx.execute(select(db_now())).scalar_one())
                return lease.decide_timeout(active=sess.status == ACTIVE,
                                            deadline=sess.deadline_at, now=now)
        self.cache.delete(sess.cliente_id)
        self.publisher.publish(pushes)
        return decision

    def release(self, actor_id: int, cliente_id: int) -> dict[str, Any]:
        """GTR takes a client back from a live session (force-release)."""
        with self.db.transaction() as tx:
            self._cliente(tx, cliente_id)
            sess, _ = self._active(tx, cliente_id)
            if sess is None:
                raise NoActiveSession(f"cliente {cliente_id} has no active session")
            pushes = self._return_to_gtr(tx, sess, SessionStatus.RELEASED, actor_id=actor_id,
                                         reason="released", require_deadline=False)
            if pushes is None:
                raise NoActiveSession(f"cliente {cliente_id} has no active session")
            tx.expire(sess)
            sess = tx.get(GestionSession, sess.id)
            now = float(tx.execute(select(db_now())).scalar_one())
            view = session_view(sess, now)
        self.cache.delete(cliente_id)
        self.publisher.publish(pushes)
        return view

    def _return_to_gtr(
        self,
        tx: Session,
        sess: GestionSession,
        status: SessionStatus,
        *,
        actor_id: int | None,
        reason: str,
        require_deadline: bool,
    ) -> list[Push] | None:
        """End a session without a result: client back to the GTR queue."""
        conds = [GestionSession.id == sess.id, GestionSession.status == ACTIVE]
        if require_deadline:
            conds.append(GestionSession.deadline_at <= db_now())
        done = tx.execute(
            update(GestionSession)
            .where(and_(*conds))
            .values(status=status.value, ended_at=db_now())
            .execution_options(synchronize_session=False)
        ).rowcount
        if not done:
            return None
        tx.execute(
            update(Cliente)
            .where(Cliente.id == sess.cliente_id, Cliente.current_session_id == sess.id)
            .values(
                estado=Estado.NO_GESTIONADO.value,
                asesor_asignado=None,
                current_session_id=None,
                updated_at=db_now(),
            )
            .execution_options(synchronize_session=False)
        )
        ended_at = float(
            tx.execute(select(GestionSession.ended_at).where(GestionSession.id == sess.id))
            .scalar_one()
        )
        lateness = round(ended_at - sess.deadline_at, 3)
        audit(tx, cliente_id=sess.cliente_id, session_id=sess.id, actor_id=actor_id,
              action=reason, from_state=Estado.EN_GESTION.value,
              to_state=Estado.NO_GESTIONADO.value,
              detail={"lateness": lateness} if reason == "timeout" else None)
        if reason == "timeout":
            log.info("session %s of cliente %s timed out %.3f s after its deadline",
                     sess.id, sess.cliente_id, lateness)
        pushes = [
            Push(
                Event.CLIENT_RETURNED_TO_GTR,
                envelope(Event.CLIENT_RETURNED_TO_GTR, cliente_id=sess.cliente_id,
                         session_id=sess.id, estado=Estado.NO_GESTIONADO.value,
                         asesor_id=None, deadline=sess.deadline_at, ts=ended_at,
                         reason=reason, previous_asesor_id=sess.asesor_id),
                rooms_for(Event.CLIENT_RETURNED_TO_GTR, asesor_id=sess.asesor_id),
            )
        ]
        record(tx, pushes)
        return pushes

    def _arm(self, session_id: str, cliente_id: int, delay: float) -> None:
        try:
            self.arm_timeout(session_id, cliente_id, delay)
        except Exception as exc:  # noqa: BLE001 - the periodic sweep is the safety net
            log.warning("could not arm timeout for session %s: %s", session_id, exc)

    # ------------------------------------------------------- reads for the API

    def status(self, cliente_id: int) -> dict[str, Any]:
        with self.db.transaction() as tx:
            cliente = self._cliente(tx, cliente_id)
            sess, now = self._active(tx, cliente_id)
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

    def restore(self, asesor_id: int, cliente_id: int) -> Outcome:
        """Rebuild the Redis side (and a timeout task) from MySQL after a page
        refresh or a Redis loss. Being back counts as activity."""
        out = self.heartbeat(asesor_id, cliente_id)
        self._arm(out.session["session_id"], cliente_id, out.session["seconds_left"]
                  + lease.REARM_MARGIN)
        return out

    def active(self, asesor_id: int | None = None) -> list[dict[str, Any]]:
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
        return {
            "active": int(active),
            "started_today": int(sum(per_status.values())),
            "completed_today": int(completed[0]),
            "timed_out_today": int(timed_out),
            "released_today": int(released),
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
                "mean_handling_seconds": round(mean, 3) if mean is not None else None,
            })
        return {"items": items, "day_start": day_start, "now": now}

    def push_extensions(self, since: float | None, window: float) -> tuple[int, float]:
        """One SESSIONS_EXTENDED event with the new deadline of every live
        session with activity after `since` (None: the last `window` seconds),
        so GTR countdowns stay true without one push per heartbeat. Returns
        (sessions reported, the `since` of the next call)."""
        with self.db.transaction() as tx:
            now = float(tx.execute(select(db_now())).scalar_one())
            since = now - window if since is None else since
            rows = tx.execute(
                select(GestionSession.cliente_id, GestionSession.id, GestionSession.deadline_at)
                .where(GestionSession.status == ACTIVE,
                       GestionSession.last_activity_at > since,
                       GestionSession.deadline_at > now)
                .order_by(GestionSession.cliente_id)
            ).all()
            if not rows:
                return 0, now
            push = Push(
                Event.SESSIONS_EXTENDED,
                envelope(Event.SESSIONS_EXTENDED, cliente_id=None, estado=None, asesor_id=None,
                         ts=now, since=since,
                         deadlines={str(cid): deadline for cid, _, deadline in rows},
                         sessions={str(cid): sid for cid, sid, _ in rows}),
                rooms_for(Event.SESSIONS_EXTENDED, asesor_id=None),
            )
            record(tx, [push])
        self.publisher.publish([push])
        return len(rows), now

    # ------------------------------------------------------------- recovery

    def sweep(self, limit: int = 1000) -> dict[str, int]:
        """The SeguimientoWorker: time out what is overdue, release orphan locks,
        and make Redis agree with MySQL. Safe to run anywhere, any number of times."""
        report = {"expired": 0, "orphans_released": 0, "redis_restored": 0, "redis_removed": 0}
        with self.db.transaction() as tx:
            overdue = tx.execute(
                select(GestionSession.id)
                .where(GestionSession.status == ACTIVE, GestionSession.deadline_at <= db_now())
                .order_by(GestionSession.deadline_at)
                .limit(limit)
            ).scalars().all()
        for sid in overdue:
            if self.expire(sid).action == "expire":
                report["expired"] += 1
        report["orphans_released"] = self._release_orphans()
        restored, removed = self._resync_cache()
        report["redis_restored"], report["redis_removed"] = restored, removed
        if any(report.values()):
            log.info("sweep: %s", report)
        return report

    def arm_due(self, within: float, limit: int = 1000) -> int:
        """Arm a timeout task for each live session whose deadline falls in the
        next `within` s. Its own task may have died with a worker (kill -9: Redis
        hands it back only after the visibility timeout, an hour), and the sweep
        alone would time it out up to WORKER_INTERVAL late. A second task for a
        session is harmless: one expires it, the other finds it ended (or, if a
        heartbeat moved the deadline, re-arms: at worst one more pending message)."""
        with self.db.transaction() as tx:
            rows = tx.execute(
                select(GestionSession.id, GestionSession.cliente_id,
                       GestionSession.deadline_at - db_now())
                .where(GestionSession.status == ACTIVE, GestionSession.deadline_at > db_now(),
                       GestionSession.deadline_at <= db_now() + within)
                .order_by(GestionSession.deadline_at)
                .limit(limit)
            ).all()
        for sid, cid, left in rows:
            self._arm(sid, cid, float(left) + lease.REARM_MARGIN)
        return len(rows)

    def _release_orphans(self) -> int:
        """Clients marked en_gestion with no live session behind them."""
        live = select(GestionSession.id).where(
            GestionSession.id == Cliente.current_session_id, GestionSession.status == ACTIVE
        )
        with self.db.transaction() as tx:
            orphans = tx.execute(
                select(Cliente.id, Cliente.asesor_asignado, Cliente.current_session_id).where(
                    Cliente.estado == Estado.EN_GESTION.value, ~live.exists()
                )
            ).all()
        count = 0
        for cid, asesor_id, sid in orphans:
            with self.db.transaction() as tx:
                done = tx.execute(
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
                audit(tx, cliente_id=cid, session_id=sid, actor_id=None, action="orphan_release",
                      from_state=Estado.EN_GESTION.value, to_state=Estado.NO_GESTIONADO.value)
                now = float(tx.execute(select(db_now())).scalar_one())
                push = Push(
                    Event.CLIENT_RETURNED_TO_GTR,
                    envelope(Event.CLIENT_RETURNED_TO_GTR, cliente_id=cid, session_id=sid,
                             estado=Estado.NO_GESTIONADO.value, asesor_id=None,
                             deadline=None, ts=now, reason="orphan",
                             previous_asesor_id=asesor_id),
                    rooms_for(Event.CLIENT_RETURNED_TO_GTR, asesor_id=asesor_id),
                )
                record(tx, [push])
            count += 1
            self.cache.delete(cid)
            self.publisher.publish([push])
        return count

    def _resync_cache(self) -> tuple[int, int]:
        try:
            cached = self.cache.cached_ids()
        except Exception as exc:  # noqa: BLE001 - Redis down: nothing to resync now
            # once per outage is enough: the breaker logged it (core.breaker)
            (log.debug if isinstance(exc, CircuitOpen) else log.warning)(
                "sweep could not read Redis: %s", exc)
            return 0, 0
        sessions = self.active()
        live = {s["cliente_id"]: s for s in sessions if s["seconds_left"] > 0}
        restored = 0
        for cid, view in live.items():
            if cid not in cached and self.cache.put(view, view["seconds_left"]):
                restored += 1
        removed = 0
        for cid in cached - live.keys():
            if self.cache.delete(cid):
                removed += 1
        return restored, removed
