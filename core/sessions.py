"""Session transitions: start, heartbeat, end, expire (timeout), release, restore.

Each transition is ONE database transaction whose UPDATE carries its own
precondition (state, holder, session id, deadline against the database clock),
so a stale or duplicated writer changes nothing. Side effects (Redis cache,
timeout task, pushes) happen only after the commit (core/changes.py). An
advisor is told nothing about a client they may not see (domain/visibility.py):
such a client answers 404 like an unknown one."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from core.cache import SessionCache
from core.changes import Change, Changes
from core.db import db_now, retrying
from core.heartbeat import HotHeartbeat, SessionRow
from core.historial import latest_session_id
from core.models import Cliente, GestionSession, User
from core.tokens import STALE_TOKEN, TokenClaims, honoured
from core.visibility import visible_cliente
from domain import lease
from domain.errors import (
    ClientLocked,
    Forbidden,
    InvalidState,
    InvalidToken,
    NoActiveSession,
    NotFound,
    SessionExpired,
)
from domain.events import Event, Push
from domain.states import (
    Estado,
    Resultado,
    SessionStatus,
    asesor_after_end,
    can_start,
    estado_after_end,
)
from domain.visibility import Viewer

log = logging.getLogger(__name__)

ACTIVE = SessionStatus.ACTIVE.value

#: Arms the timeout task: (session_id, cliente_id, delay_seconds). Injected by
#: the edge that owns the queue, so core never imports Celery.
ArmTimeout = Callable[[str, int, float], None]


def session_view(s: GestionSession | SessionRow, now: float) -> dict[str, Any]:
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


def live_session(tx: Session, cliente_id: int) -> tuple[GestionSession | None, float]:
    """The client's active session (if any) and the database clock."""
    row = tx.execute(
        select(GestionSession, db_now()).where(
            GestionSession.cliente_id == cliente_id, GestionSession.status == ACTIVE)
    ).first()
    if row is None:
        return None, float(tx.execute(select(db_now())).scalar_one())
    return row[0], float(row[1])


def reread(tx: Session, session_id: str) -> tuple[GestionSession, float]:
    """A session as this transaction just wrote it, and the database clock:
    one SELECT (the object in the session is refreshed, not reloaded)."""
    row = tx.execute(select(GestionSession, db_now()).where(GestionSession.id == session_id)
                     .execution_options(populate_existing=True)).one()
    return row[0], float(row[1])


def _latest_notes(notas: str | None) -> dict[str, str]:
    """The client record keeps the latest notes of a completed session."""
    return {"notas": notas} if notas and notas.strip() else {}


def _replaced_notes(before: str | None, notas: str | None) -> dict[str, str]:
    """The record's notes an end replaces, kept in its audit row (the notes a
    client was imported or created with stay readable: core.historial)."""
    if before and _latest_notes(notas) and before != notas:
        return {"notas_anteriores": before}
    return {}


def holder(tx: Session, asesor_id: int | None) -> dict[str, Any] | None:
    if asesor_id is None:
        return None
    user = tx.get(User, asesor_id)
    return {"asesor_id": asesor_id, "nombre": user.nombre if user else None}


def advisor(asesor_id: int) -> Viewer:
    return Viewer(asesor_id, is_gtr=False)


@dataclass
class Outcome:
    """What a use case returns: the session view plus what was pushed."""

    session: dict[str, Any]
    created: bool = False
    pushes: list[Push] = field(default_factory=list)


class SessionService:
    def __init__(self, changes: Changes, cache: SessionCache, arm_timeout: ArmTimeout,
                 timeout: float) -> None:
        self.changes = changes
        self.db = changes.db
        self.cache = cache
        self.arm_timeout = arm_timeout
        self.timeout = float(timeout)
        self.hot = HotHeartbeat(changes.db, self.timeout)

    # ------------------------------------------------------------ helpers

    def _own_live_session(self, tx: Session, asesor_id: int, cliente_id: int,
                          session_id: str | None) -> tuple[GestionSession, float]:
        """The caller's live session on this client, or the precise reason why
        not (404 for a client the advisor may not see)."""
        visible_cliente(tx, advisor(asesor_id), cliente_id)
        sess, now = live_session(tx, cliente_id)
        if sess is None:
            raise NoActiveSession(f"cliente {cliente_id} has no active session")
        if sess.asesor_id != asesor_id:
            raise Forbidden("the session belongs to another advisor",
                            holder=holder(tx, sess.asesor_id))
        if session_id is not None and session_id != sess.id:
            raise InvalidState("stale session id: a newer session holds this client",
                               session_id=sess.id)
        if lease.is_expired(sess.deadline_at, now):
            raise SessionExpired("the session has expired", deadline=sess.deadline_at)
        return sess, now

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

    def arm(self, session_id: str, cliente_id: int, delay: float) -> None:
        try:
            self.arm_timeout(session_id, cliente_id, delay)
        except Exception as exc:  # noqa: BLE001 - the periodic sweep is the safety net
            log.warning("could not arm timeout for session %s: %s", session_id, exc)

    # -------------------------------------------------------- transitions

    @retrying
    def start(self, asesor_id: int, cliente_id: int) -> Outcome:
        """Open a client: exactly one advisor wins a race, the others learn who."""
        sid = uuid.uuid4().hex
        with self.changes.begin() as ch:
            tx = ch.tx
            pre = visible_cliente(tx, advisor(asesor_id), cliente_id)
            pool = pre.asesor_asignado is None
            won = tx.execute(
                update(Cliente)
                .where(Cliente.id == cliente_id, Cliente.estado == Estado.DERIVADO.value,
                       or_(Cliente.asesor_asignado == asesor_id,
                           Cliente.asesor_asignado.is_(None)))
                .values(estado=Estado.EN_GESTION.value, asesor_asignado=asesor_id,
                        lock_token=Cliente.lock_token + 1, current_session_id=sid,
                        updated_at=db_now())
                .execution_options(synchronize_session=False)
            ).rowcount
            if not won:
                return self._start_refused(tx, asesor_id, cliente_id)
            # the session's fencing token is the lock_token the UPDATE just set:
            # copied inside the INSERT, not read back first (a round trip less)
            cols = {"id": literal(sid), "cliente_id": literal(cliente_id),
                    "asesor_id": literal(asesor_id), "token": Cliente.lock_token,
                    "status": literal(ACTIVE), "started_at": db_now(),
                    "last_activity_at": db_now(), "deadline_at": db_now() + self.timeout,
                    "heartbeats": literal(0), "from_pool": literal(pool)}
            tx.execute(insert(GestionSession).from_select(
                list(cols), select(*cols.values()).where(Cliente.id == cliente_id)))
            ch.audit(cliente_id=cliente_id, session_id=sid, actor_id=asesor_id, action="start",
                     from_state=Estado.DERIVADO.value, to_state=Estado.EN_GESTION.value,
                     detail={"pool": pool})
            sess, now = live_session(tx, cliente_id)
            assert sess is not None
            view = session_view(sess, now)
            ch.push(Event.CLIENT_IN_GESTION, rooms_asesor=asesor_id, rooms_pool=pool,
                    cliente_id=cliente_id, session_id=sid, estado=Estado.EN_GESTION.value,
                    asesor_id=asesor_id, deadline=view["deadline"], ts=now, pool=pool)
            ch.after("session cache", lambda: self.cache.put(view, self.timeout))
            ch.after("arming the timeout",
                     lambda: self.arm(sid, cliente_id, self.timeout + lease.REARM_MARGIN))
        return Outcome(view, created=True, pushes=ch.pushes)

    def _start_refused(self, tx: Session, asesor_id: int, cliente_id: int) -> Outcome:
        tx.expire_all()  # read the winner's row, not what this transaction saw first
        cliente = tx.get(Cliente, cliente_id)
        if cliente.estado == Estado.EN_GESTION.value:
            sess, now = live_session(tx, cliente_id)
            if sess is not None and sess.asesor_id == asesor_id:
                if lease.is_expired(sess.deadline_at, now):
                    raise SessionExpired("your session on this client has expired",
                                         deadline=sess.deadline_at)
                return Outcome(session_view(sess, now))  # a double click: same session
            # a pool race lost, or a client derived to us taken meanwhile: the
            # winner was pushed to every screen that showed the client
            raise ClientLocked(f"cliente {cliente_id} is being handled by another advisor",
                               holder=holder(tx, cliente.asesor_asignado))
        if not can_start(cliente.estado, cliente.asesor_asignado, asesor_id):
            if cliente.estado == Estado.DERIVADO.value:
                raise Forbidden(f"cliente {cliente_id} is derived to another advisor")
            raise InvalidState(
                f"cliente {cliente_id} is {cliente.estado}; only a derivado client can be opened",
                estado=cliente.estado)
        raise InvalidState("the client changed while opening it; retry")  # pragma: no cover

    @retrying
    def heartbeat(self, asesor_id: int, cliente_id: int, session_id: str | None = None, *,
                  claims: TokenClaims, copy_renewed: bool | None = None) -> Outcome:
        """Push the deadline forward. A session past its deadline is dead: no revival.

        The usual case is one round trip to the database (core/heartbeat.py: a
        conditional UPDATE that also checks the token `claims` against the
        user row and revoked_tokens, its read-back, COMMIT) and one to Redis:
        the rate limit's, which also renewed the copy's TTL (`copy_renewed`:
        whether the copy was there; None: not renewed yet, done here). Only a
        refused UPDATE takes the slow path, which says precisely why. A copy
        renewed for a heartbeat then refused is harmless: every path that
        ends a session deletes its copy, and the copy is a cache (core.cache)."""
        if claims.user_id != asesor_id:  # the UPDATE fences on the token's user
            raise ValueError("heartbeat: the claims are another user's")
        done = self.hot.extend(claims, cliente_id, session_id)
        if done is None:
            done = self._heartbeat_refused(asesor_id, cliente_id, session_id, claims)
        sess, now = done
        view = session_view(sess, now)
        if copy_renewed is None:
            copy_renewed = self.cache.extend(cliente_id, self.timeout)
        if not copy_renewed:
            self.cache.put(view, self.timeout)  # the copy was lost (or Redis is down)
        return Outcome(view)

    def _heartbeat_refused(self, asesor_id: int, cliente_id: int, session_id: str | None,
                           claims: TokenClaims) -> tuple[SessionRow, float]:
        """Why the heartbeat's UPDATE changed nothing (these raise): the token
        first (401, as for every command), then the session. A session that
        became live meanwhile (a racing start committed) is extended on a
        second try."""
        for attempt in (1, 2):
            with self.db.transaction() as tx:
                if not tx.execute(select(honoured(claims))).scalar():
                    raise InvalidToken(STALE_TOKEN)
                self._own_live_session(tx, asesor_id, cliente_id, session_id)
            if attempt == 1 and (done := self.hot.extend(claims, cliente_id, session_id)):
                return done
        raise SessionExpired("the session has expired")  # pragma: no cover

    def touch(self, asesor_id: int, cliente_id: int) -> bool:
        """Activity on a client the advisor holds counts as a heartbeat (the seed's
        activity tracker). Silent when there is nothing to extend."""
        try:
            done = self._touch(asesor_id, cliente_id)
        except Exception as exc:  # noqa: BLE001 - activity tracking is best effort
            log.warning("activity touch failed for cliente %s: %s", cliente_id, exc)
            return False
        if done:
            self.cache.extend(cliente_id, self.timeout)
        return bool(done)

    @retrying
    def _touch(self, asesor_id: int, cliente_id: int) -> int:
        with self.db.transaction() as tx:
            return self._extend(tx, asesor_id, cliente_id, None, heartbeat=False)

    @retrying
    def end(self, asesor_id: int, cliente_id: int, resultado: Resultado,
            notas: str | None = None, session_id: str | None = None) -> Outcome:
        with self.changes.begin() as ch:
            tx = ch.tx
            # held here: the session's identity map is weak, and the notes below
            # would otherwise read the row a second time
            cliente = tx.get(Cliente, cliente_id)
            sess, _ = self._own_live_session(tx, asesor_id, cliente_id, session_id)
            done = tx.execute(
                update(GestionSession)
                .where(GestionSession.id == sess.id, GestionSession.status == ACTIVE,
                       GestionSession.deadline_at > db_now())
                .values(status=SessionStatus.COMPLETED.value, ended_at=db_now(),
                        resultado=resultado.value, notas=notas)
                .execution_options(synchronize_session=False)
            ).rowcount
            if not done:
                self._own_live_session(tx, asesor_id, cliente_id, session_id)
                raise SessionExpired("the session has expired")  # pragma: no cover
            nuevo = estado_after_end(resultado).value
            asesor_after = asesor_after_end(resultado, asesor_id)
            replaced = _replaced_notes(cliente.notas, notas)
            tx.execute(
                update(Cliente)
                .where(Cliente.id == cliente_id, Cliente.current_session_id == sess.id)
                .values(estado=nuevo, asesor_asignado=asesor_after, current_session_id=None,
                        updated_at=db_now(), **_latest_notes(notas))
                .execution_options(synchronize_session=False))
            ch.audit(cliente_id=cliente_id, session_id=sess.id, actor_id=asesor_id,
                     action="end", from_state=Estado.EN_GESTION.value, to_state=nuevo,
                     detail={"resultado": resultado.value, **replaced})
            sess, now = reread(tx, sess.id)
            view = session_view(sess, now)
            ch.push(Event.CLIENT_COMPLETED, rooms_asesor=asesor_id, cliente_id=cliente_id,
                    session_id=sess.id, estado=nuevo, asesor_id=asesor_after, deadline=None,
                    ts=now, resultado=resultado.value, previous_asesor_id=asesor_id)
            ch.after("session cache", lambda: self.cache.delete(cliente_id))
        return Outcome(view, pushes=ch.pushes)

    @retrying
    def expire(self, session_id: str) -> lease.TimeoutDecision:
        """What a timeout task runs: expire if the deadline has come (by the
        database clock), else say how long to wait. Duplicates are no-ops."""
        with self.changes.begin() as ch:
            tx = ch.tx
            row = tx.execute(select(GestionSession, db_now())
                             .where(GestionSession.id == session_id)).first()
            if row is None:
                return lease.TimeoutDecision("noop")
            sess, now = row[0], float(row[1])
            decision = lease.decide_timeout(active=sess.status == ACTIVE,
                                            deadline=sess.deadline_at, now=now)
            if decision.action != "expire":
                return decision
            if not self.return_to_gtr(ch, sess, SessionStatus.TIMED_OUT, actor_id=None,
                                      reason="timeout", require_deadline=True):
                # a heartbeat or an end got there first
                tx.expire(sess)
                sess = tx.get(GestionSession, session_id)
                return lease.decide_timeout(active=sess.status == ACTIVE,
                                            deadline=sess.deadline_at, now=ch.now())
        return decision

    @retrying
    def release(self, actor_id: int | None, cliente_id: int, *,
                keep_notes: bool = True) -> dict[str, Any]:
        """GTR takes a client back from a live session (force-release).
        `keep_notes` goes out in the push: the advisor's console attaches the
        notes they had not saved to the client's history (or keeps them locally)."""
        with self.changes.begin() as ch:
            tx = ch.tx
            visible_cliente(tx, None, cliente_id)
            sess, _ = live_session(tx, cliente_id)
            if sess is None or not self.return_to_gtr(
                    ch, sess, SessionStatus.RELEASED, actor_id=actor_id, reason="released",
                    require_deadline=False, keep_notes=keep_notes):
                raise NoActiveSession(f"cliente {cliente_id} has no active session")
            tx.expire(sess)
            sess = tx.get(GestionSession, sess.id)
            view = session_view(sess, ch.now())
        return view

    def return_to_gtr(self, ch: Change, sess: GestionSession, status: SessionStatus, *,
                      actor_id: int | None, reason: str, require_deadline: bool,
                      keep_notes: bool | None = None) -> bool:
        """End a session without a result: the client goes back to the GTR queue.
        False when the session was no longer live (someone got there first).
        `keep_notes` (a force-release) is added to the push when given."""
        tx = ch.tx
        conds = [GestionSession.id == sess.id, GestionSession.status == ACTIVE]
        if require_deadline:
            conds.append(GestionSession.deadline_at <= db_now())
        done = tx.execute(
            update(GestionSession).where(and_(*conds))
            .values(status=status.value, ended_at=db_now())
            .execution_options(synchronize_session=False)
        ).rowcount
        if not done:
            return False
        tx.execute(
            update(Cliente)
            .where(Cliente.id == sess.cliente_id, Cliente.current_session_id == sess.id)
            .values(estado=Estado.NO_GESTIONADO.value, asesor_asignado=None,
                    current_session_id=None, updated_at=db_now())
            .execution_options(synchronize_session=False))
        ended_at = float(tx.execute(select(GestionSession.ended_at)
                                    .where(GestionSession.id == sess.id)).scalar_one())
        lateness = round(ended_at - sess.deadline_at, 3)
        ch.audit(cliente_id=sess.cliente_id, session_id=sess.id, actor_id=actor_id,
                 action=reason, from_state=Estado.EN_GESTION.value,
                 to_state=Estado.NO_GESTIONADO.value,
                 detail={"lateness": lateness} if reason == "timeout" else None)
        if reason == "timeout":
            log.info("session %s of cliente %s timed out %.3f s after its deadline",
                     sess.id, sess.cliente_id, lateness)
        ch.push(Event.CLIENT_RETURNED_TO_GTR, rooms_asesor=sess.asesor_id,
                cliente_id=sess.cliente_id, session_id=sess.id,
                estado=Estado.NO_GESTIONADO.value, asesor_id=None, deadline=sess.deadline_at,
                ts=ended_at, reason=reason, previous_asesor_id=sess.asesor_id,
                **({} if keep_notes is None else {"keep_notes": keep_notes}))
        cliente_id = sess.cliente_id
        ch.after("session cache", lambda: self.cache.delete(cliente_id))
        return True

    def restore(self, asesor_id: int, cliente_id: int, *, claims: TokenClaims) -> Outcome:
        """Rebuild the Redis side (and a timeout task) from MySQL after a page
        refresh or a Redis loss. Being back counts as activity."""
        out = self.heartbeat(asesor_id, cliente_id, claims=claims)
        self.cache.put(out.session, self.timeout)  # rebuilt whole, not only its TTL
        self.arm(out.session["session_id"], cliente_id,
                 out.session["seconds_left"] + lease.REARM_MARGIN)
        return out

    # ------------------------------------------------- the advisor's desk

    def close_open(self, asesor_id: int, resultado: Resultado,
                   notas: str | None = None) -> list[dict[str, Any]]:
        """End every live session of the advisor with `resultado` (and `notas`),
        as a logout that chose to end (or, with `no_gestionado`, return) them
        does. A session that expired or ended meanwhile is skipped: the timeout
        task or the other end has it. Returns the ended sessions."""
        with self.db.transaction() as tx:
            open_ = tx.execute(
                select(GestionSession.cliente_id, GestionSession.id)
                .where(GestionSession.asesor_id == asesor_id, GestionSession.status == ACTIVE)
                .order_by(GestionSession.started_at)).all()
        ended = []
        for cliente_id, session_id in open_:
            try:
                ended.append(self.end(asesor_id, cliente_id, resultado, notas,
                                      session_id).session)
            except (SessionExpired, NoActiveSession, InvalidState, Forbidden, NotFound):
                continue
        return ended

    @retrying
    def attach_notes(self, asesor_id: int, cliente_id: int, session_id: str,
                     notas: str) -> dict[str, Any]:
        """A draft the advisor could not close with (the session timed out, was
        released, or the network dropped) joins the client's history: the notes
        go to that session of theirs if it has ended without notes, and to the
        client record when it is the client's latest session. 404 for a client
        they may not see or a session not theirs; 409 if the session still runs
        (end it instead) or already has notes."""
        with self.changes.begin() as ch:
            tx = ch.tx
            cliente = visible_cliente(tx, advisor(asesor_id), cliente_id)
            sess = tx.get(GestionSession, session_id)
            if sess is None or sess.cliente_id != cliente_id or sess.asesor_id != asesor_id:
                raise NotFound(f"session {session_id} not found", session_id=session_id)
            if sess.status == ACTIVE:
                raise InvalidState("the session is still active: end it with its notes",
                                   session_id=session_id)
            done = tx.execute(
                update(GestionSession)
                .where(GestionSession.id == session_id, GestionSession.status != ACTIVE,
                       GestionSession.notas.is_(None))
                .values(notas=notas)
                .execution_options(synchronize_session=False)).rowcount
            if not done:
                raise InvalidState("the session already has notes", session_id=session_id)
            if latest_session_id(tx, cliente_id) == session_id and notas.strip():
                tx.execute(update(Cliente).where(Cliente.id == cliente_id)
                           .values(notas=notas, updated_at=db_now())
                           .execution_options(synchronize_session=False))
            ch.audit(cliente_id=cliente_id, session_id=session_id, actor_id=asesor_id,
                     action="notas", from_state=cliente.estado, to_state=cliente.estado,
                     detail={"chars": len(notas)})
            tx.expire(sess)
            return session_view(tx.get(GestionSession, session_id), ch.now())
